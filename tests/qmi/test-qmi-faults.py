#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Fault and option tests of the qmi plugin against ql-fake-qmi (a fake qmi-proxy). Must run in a
private network namespace (ql-netns-run.py). Every case checks that quantra-l explains the error
in words, exits non-zero without crashing, and that the card has no logical channel left open,
both after each command and when the fake stops. Prints TAP.

usage: test-qmi-faults.py PATH-TO-ql-fake-qmi"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import case  # noqa: E402

FAKE = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="ql-qmi-faults-")


class Fake(qltest.Fake):
    def __init__(self, *args, seed=3):
        state = os.path.join(TMP, f"euicc-{len(qltest.results)}.state")
        super().__init__(FAKE, state, *args, seed=seed)

    def stop(self):
        """Stops the fake; returns (open channels, power cycles)."""
        left = super().stop(timeout=30)
        cycles = qltest.report(self.out, "power-cycles")
        assert cycles is not None, f"the fake did not report: {self.out!r}"
        return left, cycles


def ql(spec, *args, expect=0):
    r = qltest.quantra(*args, device=spec, expect=expect)
    r.out["_took"] = r.took
    return r.out


def fault_case(fault, args, code, words, spec_suffix=""):
    fake = Fake("--fault", fault)
    try:
        err = ql(fake.spec + spec_suffix, *args, expect=code)["error"]
        for w in words:
            assert w in err["message"], f"{w!r} not in {err['message']!r}"
        assert fake.open_channels() == 0, "a logical channel was left open"
    finally:
        left, _ = fake.stop()
    assert left == 0, f"{left} logical channel(s) left open"
    return err


@case("a channel is opened and closed for every command")
def _():
    fake = Fake()
    try:
        info = ql(fake.spec, "chip", "info")
        assert len(info["eid"]) == 32
        assert fake.open_channels() == 0
        iccids = [p["iccid"] for p in ql(fake.spec, "profile", "list")["profiles"]]
        assert len(iccids) == 3, iccids
        assert fake.open_channels() == 0
        ql(fake.spec, "profile", "enable", iccids[0])
        assert fake.open_channels() == 0
        ql(fake.spec, "profile", "enable", "8944000000000000001", expect=3)
        assert fake.open_channels() == 0
    finally:
        left, cycles = fake.stop()
    assert left == 0 and cycles == 0, (left, cycles)


@case("access-denied: the modem refuses logical channels")
def _():
    fault_case("access-denied", ["chip", "info"], 5, ["AccessDenied", "logical channels"])


@case("timeout: a Send APDU that is never answered")
def _():
    err = fault_case("timeout", ["chip", "info"], 9, ["did not answer", "UIM Send APDU", "2 s"],
                     spec_suffix="?timeout=2")
    assert err["name"].endswith(".Timeout"), err


@case("vanish: the modem goes away mid-session")
def _():
    fault_case("vanish", ["profile", "list"], 5, ["went away"])


@case("unknown-status: the card answers 6F00")
def _():
    fault_case("unknown-status", ["profile", "list"], 4, ["6F00"])


@case("qmi-error: a QMI error libqmi does not know")
def _():
    fault_case("qmi-error", ["chip", "info"], 5, ["0x0200", "UIM Send APDU"])


@case("switch-slot: the eUICC in physical slot 2")
def _():
    fake = Fake("--euicc-slot", "2")
    try:
        # slot 1 is active and empty: a clear error, nothing switched behind the user's back
        err = ql(fake.spec, "chip", "info", expect=5)["error"]
        assert "no card is ready in UIM slot 1" in err["message"], err
        info = ql(fake.spec + "?slot=2&switch-slot=1", "chip", "info")
        assert len(info["eid"]) == 32
        # the card needed ~0.8 s after the switch; the plugin waited for it
        assert info["_took"] >= 0.7, info["_took"]
        assert fake.open_channels() == 0
        # now active: no second switch, no wait
        ql(fake.spec + "?slot=2&switch-slot=1", "chip", "info")
    finally:
        left, _ = fake.stop()
    assert left == 0, f"{left} logical channel(s) left open"


@case("power-cycle: the SIM is power-cycled after a profile switch only")
def _():
    fake = Fake()
    try:
        spec = fake.spec + "?power-cycle=1"
        iccids = [p["iccid"] for p in ql(spec, "profile", "list")["profiles"]]
        ql(spec, "profile", "enable", iccids[1])
        ql(spec, "profile", "disable", iccids[1])
        assert fake.open_channels() == 0
    finally:
        left, cycles = fake.stop()
    assert left == 0, f"{left} logical channel(s) left open"
    assert cycles == 2, f"{cycles} power cycles, wanted 2 (one per switch, none for the list)"


@case("bad parameters are refused before the modem is touched")
def _():
    fake = Fake()
    try:
        for suffix, words in [("?slot=9", "slot=9"), ("?bogus=1", "unknown parameter"),
                              ("?timeout=0", "timeout=0")]:
            err = ql(fake.spec + suffix, "chip", "info", expect=2)["error"]
            assert words in err["message"], err
        err = ql("qmi:/nonexistent/cdc-wdm9", "chip", "info", expect=3)["error"]
        assert "no QMI port" in err["message"], err
    finally:
        left, _ = fake.stop()
    assert left == 0


@case("vanish-on-load: the modem goes away mid-download")
def _():
    qltest.interrupted_download(FAKE, TMP, "vanish-on-load", ["--fault", "vanish-on-load"],
                                r"went away during UIM Send APDU")


@case("timeout-on-load: a Send APDU of the profile load is never answered")
def _():
    qltest.interrupted_download(FAKE, TMP, "timeout-on-load", ["--fault", "timeout-on-load"],
                                r"did not answer UIM Send APDU within 2 s", params="timeout=2",
                                codes=(qltest.EXIT_TIMEOUT,))


qltest.finish(TMP)
