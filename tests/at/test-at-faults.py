#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Faults of the AT transport, through ql-fake-at (a fake modem on a pty): each must end the
command with a clear error and the right exit code, without a crash, and leave no logical channel
open on the card. Usage: test-at-faults.py PATH-TO-ql-fake-at. Prints TAP."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import EXIT_DEVICE, EXIT_NOT_FOUND, EXIT_TIMEOUT, EXIT_USAGE, case  # noqa: E402

FAKE = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="ql-at-faults-")
run = qltest.answer


def with_fake(name, *args):
    return qltest.with_fake(FAKE, TMP, name, *args, seed=2)


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
    msg = run(fake.spec + "?timeout=2", "profile", "list", expect=EXIT_TIMEOUT)
    assert "did not answer AT+CGLA within 2 s" in msg, msg
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
        msg = run(f"at:{name}?timeout=1", "chip", "info", expect=EXIT_TIMEOUT)
        assert "does not answer AT commands" in msg, msg
    finally:
        os.close(master)
        os.close(slave)


@case("the modem vanishes mid-download (the pty is closed)")
def _():
    qltest.interrupted_download(FAKE, TMP, "vanish-on-load", ["--fault", "vanish-on-load"],
                                r"went away")


qltest.finish(TMP)
