#!/usr/bin/python3
# The contract of tests/mm/ql-mm-mock that end-to-end tests rely on: the one handshake line,
# the stdin control commands, ModemManager's re-probe after an uninhibit (new index, ICCID from
# --iccid-command), "not running" with --absent, and exit 0 on SIGTERM. Python stdlib + gdbus.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import check  # noqa: E402

MOCK = os.environ.get('QL_MM_MOCK', os.path.join(os.path.dirname(__file__), 'ql-mm-mock'))
GDBUS = os.environ.get('QL_GDBUS', 'gdbus')
UID0 = '/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1'
NEW_ICCID = '8944500000000000777'


class Mock:
    def __init__(self, *args):
        self.proc = subprocess.Popen([MOCK, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        self.env = dict(os.environ)
        self.handshake = line
        if line.startswith('DBUS_SYSTEM_BUS_ADDRESS='):
            self.env['DBUS_SYSTEM_BUS_ADDRESS'] = line.split('=', 1)[1]

    def command(self, cmd):
        self.proc.stdin.write(cmd + '\n')
        self.proc.stdin.flush()
        out = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                return out + ['<eof>']
            line = line.rstrip('\n')
            if line == 'ok' or line.startswith('error:'):
                return out + [line]
            out.append(line)

    def inhibit(self, uid, inhibit):
        return subprocess.run([GDBUS, 'call', '--system', '--dest',
                               'org.freedesktop.ModemManager1', '--object-path',
                               '/org/freedesktop/ModemManager1', '--method',
                               'org.freedesktop.ModemManager1.InhibitDevice', uid,
                               'true' if inhibit else 'false'],
                              env=self.env, capture_output=True, text=True, check=False)

    def stop(self):
        self.proc.stdin.close()
        self.proc.send_signal(signal.SIGTERM)
        rest = self.proc.stdout.read()
        return self.proc.wait(timeout=10), rest


def main():
    print('1..9')
    mock = Mock('--qmi', 'qmi:/dev/cdc-wdm0', '--eid', '89049032000000000000000000000011',
                '--mbim', 'mbim:/tmp/fake-mbim0', '--reprobe-ms', '100',
                '--iccid-command', f'echo {NEW_ICCID}')
    check('handshake line', mock.handshake.startswith('DBUS_SYSTEM_BUS_ADDRESS=unix:'),
          mock.handshake)
    out = mock.command('list')
    check('two modems listed', len(out) == 3 and out[0].startswith('modem 0 ') and
          out[1].startswith('modem 1 ') and out[2] == 'ok', out)

    r = mock.inhibit(UID0, True)
    out = mock.command('list')
    check('inhibit removes the modem', r.returncode == 0 and len(out) == 2 and
          out[0].startswith('modem 1 '), [r.stderr] + out)
    r = mock.inhibit(UID0, True)
    check('a second inhibit is refused', r.returncode != 0 and 'InProgress' in r.stderr,
          r.stderr)
    r = mock.inhibit(UID0, False)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        out = mock.command('list')
        if any(line.startswith('modem 2 ') for line in out):
            break
        time.sleep(0.1)
    check('uninhibit re-probes under a new index with the --iccid-command ICCID',
          r.returncode == 0 and f'modem 2 /org/freedesktop/ModemManager1/Modem/2 {UID0} '
          f'{NEW_ICCID}' in out, [r.stderr] + out)
    out = mock.command('calls')
    check('InhibitDevice calls recorded',
          out == [f'inhibit {UID0} true', f'inhibit {UID0} true', f'inhibit {UID0} false',
                  'ok'], out)
    out = mock.command('frobnicate')
    check('unknown commands are refused in words', out == ['error: unknown command: frobnicate'],
          out)
    code, rest = mock.stop()
    check('exit 0 on SIGTERM', code == 0, rest)

    absent = Mock('--absent')
    r = absent.inhibit(UID0, True)
    code, _ = absent.stop()
    check('--absent: nobody owns the ModemManager name',
          r.returncode != 0 and 'ServiceUnknown' in r.stderr and code == 0, r.stderr)
    return 0 if qltest.all_ok() else 1


if __name__ == '__main__':
    sys.exit(main())
