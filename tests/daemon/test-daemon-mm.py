#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-esimd beside (mock) ModemManager: a modem that appears while the service runs
becomes an Euicc object, and goes when ModemManager drops it; modems without an eUICC are not
exported and the debug log says why; back-to-back profile switches share one inhibition, given
back after the configured delay, and the Euicc follows the modem ModemManager re-creates. The
mock (tests/mm/ql-mm-mock) runs its own bus; the modem's QMI port is the fake qmi-proxy backed
by a virtual eUICC, so this runs in a private network namespace.

usage: test-daemon-mm.py QL_FAKE_QMI QL_MM_MOCK"""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qldaemon as q  # noqa: E402
from qldaemon import v  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import QL, case  # noqa: E402

FAKE_QMI, MOCK = sys.argv[1:3]
TMP = tempfile.mkdtemp(prefix="ql-esimd-mm-")
MM = "org.freedesktop.ModemManager1"
MM_PATH = "/org/freedesktop/ModemManager1"
UID = "/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1"  # the mock's first modem


class MockBus:
    """The mock ModemManager and the bus it starts (permissive: the service may own its name)"""

    def __init__(self, *args):
        self.proc, m = qltest.start([MOCK, *args], r"DBUS_SYSTEM_BUS_ADDRESS=(\S+)",
                                    stdin=subprocess.PIPE)
        self.address = m.group(1)
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)

    def command(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        out = []
        while True:
            line = self.proc.stdout.readline().rstrip("\n")
            if line == "ok" or line.startswith("error") or not line:
                assert line == "ok", f"mock: {cmd}: {line}"
                return out
            out.append(line)

    def stop(self):
        qltest.stop(self.proc)


fake = qltest.Fake(FAKE_QMI, os.path.join(TMP, "qmi.state"), seed=2)
iccid_cmd = (f"{QL} --direct '{fake.spec}' --json profile list | /usr/bin/python3 -c "
             "'import json,sys; p=[x[\"iccid\"] for x in json.load(sys.stdin)[\"profiles\"]"
             " if x[\"state\"]==\"enabled\"]; print(p[0] if p else \"\")'")
direct_eid = qltest.quantra("chip", "info", device=fake.spec).out["eid"]
mock = MockBus("--qmi", fake.spec, "--eid", "89049032123451234512345678901235",
               "--at", "/dev/ttyQLTEST0",
               "--qmi", "qmi:" + os.path.join(TMP, "no-such-port"),
               "--reprobe-ms", "300", "--iccid-command", iccid_cmd)
watcher = q.Client(mock)
polkit = q.Polkit(mock, watcher)
polkit.allow_all()
# the QMI modem is not there when the service starts
watcher.call(MM_PATH, MM, "InhibitDevice", (UID, True), "(sb)", dest=MM)
config = q.write_config(os.path.join(TMP, "conf"), os.path.join(TMP, "pki"), {},
                        daemon={"uninhibit-delay": 1})
daemon = q.Daemon(mock, config, watcher, euiccs=0)
EUICC = q.ROOT + "/Euicc/" + direct_eid


def modem_path():
    return [l.split()[2] for l in mock.command("list") if l.split()[3] == UID]


def removed(path):
    return [a for p, i, m, a in watcher.signals
            if m == "InterfacesRemoved" and a[0] == path]


@case("modems without an eUICC are not exported, and the debug log says why")
def _():
    q.wait_until(lambda: "ttyQLTEST0" in daemon.text() and "no-such-port" in daemon.text(), 60,
                 "the scan of the other modems")
    log = daemon.text()
    # the AT-only modem's TTY (ModemManager's) is tried under an inhibit, and is not there
    assert any("is not exported: no eUICC through at:/dev/ttyQLTEST0" in l
               for l in log.splitlines()), log
    assert any("is not exported: no eUICC through" in l for l in log.splitlines()), log
    assert watcher.euiccs() == [], watcher.euiccs()


@case("a modem added while the service runs appears as an Euicc, named by the EID read "
      "through it")
def _():
    watcher.call(MM_PATH, MM, "InhibitDevice", (UID, False), "(sb)", dest=MM)
    q.wait_until(lambda: watcher.euiccs() == [EUICC], 60, "the modem's Euicc")
    props = watcher.props(EUICC, q.EUICC)
    assert props["ModemObjectPath"] == modem_path()[0], (props, modem_path())
    assert props["Transport"].split("?")[0] == fake.spec.split("?")[0], props
    assert len(props["Profiles"]) == 2, props


@case("quantra-l -m N goes through the service to that modem's eUICC")
def _():
    path = modem_path()[0]
    for sel in (path, path.rsplit("/", 1)[1]):
        p = subprocess.run([QL, "-m", sel, "--json", "chip", "info"], env=mock.env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, (sel, p.returncode, p.stderr)
        out = json.loads(p.stdout)
        assert out["eid"] == direct_eid, (sel, out)
    # and a modem the service does not know is named in the error
    p = subprocess.run([QL, "-m", "999", "chip", "info"], env=mock.env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode != 0 and "999" in p.stderr, (p.returncode, p.stderr)


@case("back-to-back switches share one inhibition, given back after the last; the Euicc "
      "stays and follows the re-created modem")
def _():
    client = q.Client(mock)
    profiles = client.profiles(EUICC)
    first, second = sorted(profiles)
    mock.command("calls")  # what came before
    old_modem = watcher.prop(EUICC, q.EUICC, "ModemObjectPath")
    p1 = client.call_async(q.ROOT + "/Profile/" + first, q.PROFILE, "Enable", ({},), "(a{sv})")
    p2 = client.call_async(q.ROOT + "/Profile/" + second, q.PROFILE, "Enable", ({},),
                           "(a{sv})")
    assert p1.wait().error is None and p2.wait().error is None, (p1.error, p2.error)
    q.wait_until(lambda: watcher.prop(EUICC, q.EUICC, "ModemObjectPath") not in ("/",
                                                                                 old_modem),
                 90, "the modem re-created by ModemManager")
    calls = [l for l in mock.command("calls") if UID in l]
    assert calls[-2:] == [f"inhibit {UID} true", f"inhibit {UID} false"] and \
        len([c for c in calls if c.endswith("true")]) == 2, calls  # the test's own + ours
    assert removed(EUICC) == [], "the Euicc went away during the switch"
    assert client.profiles(EUICC)[second]["State"] == "enabled"
    assert watcher.prop(EUICC, q.EUICC, "ModemObjectPath") == modem_path()[0]
    q.wait_until(lambda: f"SIM {second}" in daemon.text(), 60,
                 "ModemManager showing the new ICCID")
    client.close()


@case("the modem removed from ModemManager: its Euicc and profiles go")
def _():
    profiles = watcher.prop(EUICC, q.EUICC, "Profiles")
    mock.command(f"remove {UID}")
    q.wait_until(lambda: removed(EUICC), 60, "InterfacesRemoved for the Euicc")
    assert watcher.euiccs() == []
    objects = watcher.objects()
    assert not [p for p in profiles if p in objects], objects


code = daemon.stop()
if code != 0:
    qltest.fail("quantra-esimd stopped cleanly", daemon.text())
watcher.close()
polkit.stop()
mock.stop()
if fake.stop() != 0:
    qltest.fail("no logical channel left open", fake.out)
qltest.finish(TMP)
