#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Faults of the PC/SC transport, through ql-fake-pcsc (a real pcscd with the vpcd driver):
each must end the command with a clear error and the right exit code, without a crash, and leave
no logical channel open on the card. Usage: test-pcsc-faults.py PATH-TO-ql-fake-pcsc. Prints TAP."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("QL_BUILD_ROOT", "build")
QL = os.path.join(BUILD, "src", "cli", "quantra-l")
FAKE = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="ql-pcsc-faults-")
results = []

EXIT_USAGE, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_DEVICE, EXIT_TIMEOUT = 2, 3, 4, 5, 9


class Fake:
    def __init__(self, name, *args):
        cmd = [FAKE, "--state", os.path.join(TMP, name + ".state"), "--seed", "2"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"device (\S+)", line)
        if not m:
            raise AssertionError(f"{FAKE} exited with {self.proc.wait()} before its device line")
        self.spec = m.group(1)

    def stop(self):
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, f"the fake exited {self.proc.returncode}"
        m = re.search(r"open-channels (\d+)", out)
        assert m, f"the fake did not report its open channels: {out!r}"
        return int(m.group(1))


def run(spec, *args, expect=0, timeout=120):
    cmd = [QL, "--direct", spec, "--json"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if p.returncode < 0:
        raise AssertionError(f"{cmd} killed by signal {-p.returncode}: {p.stderr}")
    if p.returncode != expect:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}, wanted {expect}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    out = json.loads(p.stdout)
    if expect != 0:
        return out["error"]["message"]
    return out


def case(name):
    def wrap(fn):
        try:
            fn()
            results.append((True, name, ""))
        except Exception as e:
            results.append((False, name, f"{type(e).__name__}: {e}"))
        return fn
    return wrap


def with_fake(name, *args):
    """Runs the body with a fake, then asserts that the card has no channel left open."""
    def deco(fn):
        @case(name)
        def _():
            fake = Fake(re.sub(r"\W+", "-", name), *args)
            try:
                fn(fake)
            finally:
                left = fake.stop()
            assert left == 0, f"{left} logical channel(s) left open"
        return fn
    return deco


@with_fake("the card is pulled out mid-session", "--fault", "removed", "--fault-skip", "1")
def _(fake):
    msg = run(fake.spec, "chip", "info", expect=EXIT_DEVICE)
    assert re.search(r"removed|could not exchange", msg), msg
    time.sleep(1.5)  # pcscd polls the reader a few times a second
    msg = run(fake.spec, "chip", "info", expect=EXIT_NOT_FOUND)
    assert "no card" in msg or "no reader holds a card" in msg, msg


@with_fake("the card answers 6F00", "--fault", "unknown-status")
def _(fake):
    msg = run(fake.spec, "chip", "info", expect=EXIT_REFUSED)
    assert "6F00" in msg, msg
    # the card itself is fine: the next session works
    assert len(run(fake.spec, "chip", "info")["eid"]) == 32


@with_fake("a mute card times out, then the reader recovers", "--fault", "timeout",
           "--hang", "6")
def _(fake):
    start = time.monotonic()
    msg = run(fake.spec + "&timeout=2", "chip", "info", expect=EXIT_TIMEOUT)
    took = time.monotonic() - start
    assert "did not answer within 2 s" in msg, msg
    assert took < 5.5, f"the timeout took {took:.1f} s"
    # the reader gives up on the mute card and it comes back; meanwhile it is absent or busy
    deadline = time.monotonic() + 40
    while True:
        cmd = [QL, "--direct", fake.spec, "--json", "chip", "info"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        assert p.returncode >= 0, f"killed by signal {-p.returncode}: {p.stderr}"
        if p.returncode == 0:
            break
        assert p.returncode in (EXIT_DEVICE, EXIT_NOT_FOUND), p.stdout + p.stderr
        assert time.monotonic() < deadline, f"the card never came back: {p.stdout}"
        time.sleep(0.5)


@with_fake("errors in words: unknown reader, bad parameter")
def _(fake):
    sock = fake.spec.split("?", 1)[1]
    msg = run(f"pcsc:No%20Such%20Reader?{sock}", "chip", "info", expect=EXIT_NOT_FOUND)
    assert "no reader 'No Such Reader'" in msg and "Virtual PCD 00 00" in msg, msg
    msg = run(f"pcsc:?{sock}&speed=9", "chip", "info", expect=EXIT_USAGE)
    assert "unknown parameter 'speed'" in msg, msg
    msg = run(f"pcsc:Virtual?{sock}&timeout=0", "chip", "info", expect=EXIT_USAGE)
    assert "timeout=0" in msg, msg
    # first reader with a card, by number and by prefix
    assert len(run(f"pcsc:0?{sock}", "chip", "info")["eid"]) == 32
    assert len(run(f"pcsc:Virtual%20PCD?{sock}&block=120", "chip", "info")["eid"]) == 32


@case("pcscd is not running")
def _():
    msg = run(f"pcsc:?socket={TMP}/none/pcscd.comm", "chip", "info", expect=EXIT_DEVICE)
    assert "pcscd is not running" in msg, msg


print(f"1..{len(results)}")
for i, (ok, name, msg) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if not ok:
        for line in msg.splitlines():
            print(f"# {line}")
sys.exit(0 if all(r[0] for r in results) else 1)
