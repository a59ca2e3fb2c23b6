#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""MBIM faults through the fake modem: each must give a clear error and a non-zero exit from
quantra-l (never a crash), and leave no logical channel open on the card. Also the SIM slot
mapping (?slot=N). Usage: test-mbim-faults.py PATH-TO-ql-fake-mbim. Prints TAP."""

import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import case  # noqa: E402

FAKE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(qltest.BUILD, "tests", "mbim",
                                                          "ql-fake-mbim")
TMP = tempfile.mkdtemp(prefix="ql-mbim-faults-")


def Fake(name, *args):
    return qltest.Fake(FAKE, os.path.join(TMP, name + ".state"), *args, seed=3)


def quantra(spec, *args):
    r = qltest.quantra(*args, device=spec, expect=None)
    return r.rc, r.out, r.stderr, r.took


def fault(name, fault_args, params, exit_code, pattern, again=True):
    @case(name)
    def _():
        fake = Fake(name.replace(" ", "-"), *fault_args)
        try:
            rc, out, err, took = quantra(fake.with_params(params), "chip", "info")
            msg = out.get("error", {}).get("message", "") or err
            assert rc == exit_code, f"exit {rc}, wanted {exit_code}: {msg}"
            assert re.search(pattern, msg), f"unclear error: {msg!r} (wanted /{pattern}/)"
            # faults fire once: a modem that is still there serves the next command
            if again:
                rc, out, err, _ = quantra(fake.with_params(params), "profile", "list")
                assert rc == 0 and len(out["profiles"]) == 3, (rc, out, err)
        finally:
            left = fake.stop(timeout=30)
        assert left == 0, f"{left} logical channel(s) left open"


fault("timeout", ["--fault", "timeout"], "timeout=2", 9, r"did not answer within 2 s")
fault("vanish", ["--fault", "vanish"], "", 5, r"went away", again=False)
fault("vanish, port opened directly", ["--fault", "vanish", "--no-proxy"], "", 5, r"went away",
      again=False)
fault("status-error", ["--fault", "status-error"], "", 5, r"modem reported a failure")
fault("not-supported", ["--fault", "not-supported"], "", 1, r"does not support")
fault("unknown-status", ["--fault", "unknown-status"], "", 4, r"6F00")
fault("card in another slot", ["--card-slot", "2"], "", 3, r"no SIM card", again=False)


@case("slot=2 maps the card's slot, and puts the old mapping back")
def _():
    fake = Fake("slot", "--card-slot", "2")
    try:
        rc, out, err, _ = quantra(fake.with_params("slot=2"), "chip", "info")
        assert rc == 0 and len(out["eid"]) == 32, (rc, out, err)
        # mapping restored: without slot=2 the card is out of reach again
        rc, out, err, _ = quantra(fake.spec, "chip", "info")
        assert rc == 3, (rc, out, err)
    finally:
        left = fake.stop(timeout=30)
    assert left == 0, f"{left} logical channel(s) left open"


def switch_profiles(fake, params):
    """Lists the profiles, enables the second one and disables it again (checking after each
    command that no logical channel is left open)."""
    spec = fake.with_params(params)
    iccids = [p["iccid"] for p in qltest.quantra("profile", "list", device=spec).out["profiles"]]
    assert len(iccids) == 3, iccids
    for verb in ("enable", "disable"):
        qltest.quantra("profile", verb, iccids[1], device=spec)
        assert fake.open_channels() == 0, f"a logical channel was left open after {verb}"


def stop_counting(fake):
    """Stops the fake; returns (open channels, UICC resets)."""
    left = fake.stop(timeout=30)
    cycles = qltest.report(fake.out, "power-cycles")
    assert cycles is not None, f"the fake did not report its resets: {fake.out!r}"
    return left, cycles


@case("power-cycle=1 resets the UICC after an enable and a disable, and waits for the card")
def _():
    fake = Fake("power-cycle")
    try:
        # the card refuses channels for 0.5 s after a reset: each following command only
        # works because the plugin waited for the card before closing
        switch_profiles(fake, "power-cycle=1")
    finally:
        left, cycles = stop_counting(fake)
    assert left == 0, f"{left} logical channel(s) left open"
    assert cycles == 2, f"{cycles} UICC resets, wanted 2 (one per switch, none for the list)"


@case("without power-cycle=1 a profile switch leaves the UICC alone")
def _():
    fake = Fake("no-power-cycle")
    try:
        switch_profiles(fake, "")
    finally:
        left, cycles = stop_counting(fake)
    assert left == 0, f"{left} logical channel(s) left open"
    assert cycles == 0, f"{cycles} UICC resets, wanted none"


@case("reset-stuck: a card that does not come back after the reset is waited for 10 s, no more")
def _():
    fake = Fake("reset-stuck", "--fault", "reset-stuck")
    try:
        spec = fake.with_params("power-cycle=1")
        iccid = qltest.quantra("profile", "list", device=spec).out["profiles"][1]["iccid"]
        # the switch itself went through: the exit code says so, the warning tells the rest
        r = qltest.quantra("profile", "enable", iccid, device=spec)
        assert re.search(r"power-cycling the SIM .*did not answer again within 10 s .*"
                         r"not initialised", r.stderr), f"unclear warning: {r.stderr!r}"
    finally:
        left, cycles = stop_counting(fake)
    assert left == 0, f"{left} logical channel(s) left open"
    assert cycles == 1, f"{cycles} UICC resets, wanted 1"


@case("bad parameters are refused in words")
def _():
    fake = Fake("params")
    try:
        for params, pattern in (("slot=0", r"slot=0"), ("timeout=x", r"timeout=x"),
                                ("le=maybe", r"le=maybe"), ("power-cycle=2", r"power-cycle=2"),
                                ("colour=red", r"unknown parameter")):
            rc, out, err, _ = quantra(fake.with_params(params), "chip", "info")
            msg = out.get("error", {}).get("message", "") or err
            assert rc == 2 and re.search(pattern, msg), (params, rc, msg)
    finally:
        left = fake.stop(timeout=30)
    assert left == 0, f"{left} logical channel(s) left open"


@case("vanish-on-load: the modem goes away mid-download")
def _():
    qltest.interrupted_download(FAKE, TMP, "vanish-on-load", ["--fault", "vanish-on-load"],
                                r"went away")


@case("vanish-on-load, port opened directly")
def _():
    qltest.interrupted_download(FAKE, TMP, "vanish-on-load-direct",
                                ["--fault", "vanish-on-load", "--no-proxy"], r"went away")


@case("timeout-on-load: an APDU of the profile load is never answered")
def _():
    qltest.interrupted_download(FAKE, TMP, "timeout-on-load", ["--fault", "timeout-on-load"],
                                r"did not answer within 2 s", params="timeout=2",
                                codes=(qltest.EXIT_TIMEOUT,))


qltest.finish(TMP)
