#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Faults of the PC/SC transport, through ql-fake-pcsc (a real pcscd with the vpcd driver):
each must end the command with a clear error and the right exit code, without a crash, and leave
no logical channel open on the card. Usage: test-pcsc-faults.py PATH-TO-ql-fake-pcsc. Prints TAP."""

import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import (EXIT_DEVICE, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_TIMEOUT,  # noqa: E402
                    EXIT_USAGE, case)

FAKE = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="ql-pcsc-faults-")
run = qltest.answer


def with_fake(name, *args):
    return qltest.with_fake(FAKE, TMP, name, *args, seed=2)


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
    msg = run(fake.spec + "&timeout=2", "chip", "info", expect=EXIT_TIMEOUT)
    assert "did not answer within 2 s" in msg, msg
    # the reader gives up on the mute card and it comes back; meanwhile it is absent or busy
    deadline = time.monotonic() + 40
    while True:
        r = qltest.quantra("chip", "info", device=fake.spec, expect=None)
        if r.rc == 0:
            break
        assert r.rc in (EXIT_DEVICE, EXIT_NOT_FOUND), f"{r.out}{r.stderr}"
        assert time.monotonic() < deadline, f"the card never came back: {r.out}"
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


@case("the card is pulled out mid-download")
def _():
    qltest.interrupted_download(FAKE, TMP, "removed-on-load", ["--fault", "removed-on-load"],
                                r"removed|could not exchange")


qltest.finish(TMP)
