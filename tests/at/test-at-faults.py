#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Faults of the AT transport, through ql-fake-at (a fake modem on a pty): each must end the
command with a clear error and the right exit code, without a crash, and leave no logical channel
open on the card. Usage: test-at-faults.py PATH-TO-ql-fake-at. Prints TAP."""

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
TMP = tempfile.mkdtemp(prefix="ql-at-faults-")
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


@with_fake("the modem vanishes mid-session", "--fault", "vanish", "--fault-skip", "1")
def _(fake):
    msg = run(fake.spec, "chip", "info", expect=EXIT_DEVICE)
    assert "went away" in msg, msg
    # the port is gone for good
    msg = run(fake.spec, "chip", "info", expect=EXIT_NOT_FOUND)
    assert "No such file" in msg, msg


@with_fake("+CME ERROR: 3 to AT+CGLA", "--fault", "error")
def _(fake):
    msg = run(fake.spec, "chip", "info", expect=EXIT_DEVICE)
    assert "refused AT+CGLA: +CME ERROR: 3 (operation not allowed)" in msg, msg
    assert len(run(fake.spec, "chip", "info")["eid"]) == 32


@with_fake("no answer to AT+CGLA", "--fault", "timeout")
def _(fake):
    start = time.monotonic()
    msg = run(fake.spec + "?timeout=2", "profile", "list", expect=EXIT_TIMEOUT)
    took = time.monotonic() - start
    assert "did not answer AT+CGLA within 2 s" in msg, msg
    assert took < 8, f"the timeout took {took:.1f} s"
    assert len(run(fake.spec, "profile", "list")["profiles"]) == 2


@with_fake("a noisy modem that keeps echoing still works", "--fault", "garbage")
def _(fake):
    eid = run(fake.spec, "chip", "info")["eid"]
    assert len(eid) == 32, eid
    p = run(fake.spec, "profile", "list")["profiles"]
    run(fake.spec, "profile", "enable", p[0]["iccid"])
    assert run(fake.spec, "chip", "info")["eid"] == eid


@with_fake("session ids that are not channel numbers", "--quirk", "session-offset")
def _(fake):
    p = run(fake.spec, "profile", "list")["profiles"]
    assert len(p) == 2, p
    run(fake.spec, "profile", "nickname", p[1]["iccid"], "Home")
    assert run(fake.spec, "profile", "list")["profiles"][1]["nickname"] == "Home"


@with_fake("+CCHO answered with a bare session id", "--quirk", "bare-ccho")
def _(fake):
    assert len(run(fake.spec, "chip", "info")["eid"]) == 32


@with_fake("errors in words: parameters")
def _(fake):
    msg = run(fake.spec + "?baud=12345", "chip", "info", expect=EXIT_USAGE)
    assert "baud=12345" in msg, msg
    msg = run(fake.spec + "?parity=odd", "chip", "info", expect=EXIT_USAGE)
    assert "unknown parameter 'parity'" in msg, msg
    assert len(run(fake.spec + "?baud=9600&block=100&timeout=5", "chip", "info")["eid"]) == 32


@case("not a modem")
def _():
    msg = run("at:/dev/null", "chip", "info", expect=EXIT_USAGE)
    assert "not a serial port" in msg, msg
    msg = run("at:/dev/ttyQL-none", "chip", "info", expect=EXIT_NOT_FOUND)
    assert "cannot open /dev/ttyQL-none" in msg, msg


@case("a tty that never answers")
def _():
    import pty
    master, slave = pty.openpty()
    try:
        name = os.ttyname(slave)
        start = time.monotonic()
        msg = run(f"at:{name}?timeout=1", "chip", "info", expect=EXIT_TIMEOUT)
        assert "does not answer AT commands" in msg, msg
        assert time.monotonic() - start < 10
    finally:
        os.close(master)
        os.close(slave)


print(f"1..{len(results)}")
for i, (ok, name, msg) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if not ok:
        for line in msg.splitlines():
            print(f"# {line}")
sys.exit(0 if all(r[0] for r in results) else 1)
