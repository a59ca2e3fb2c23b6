#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Fault and option tests of the qmi plugin against ql-fake-qmi (a fake qmi-proxy). Must run in a
private network namespace (ql-netns-run.py). Every case checks that quantra-l explains the error
in words, exits non-zero without crashing, and that the card has no logical channel left open,
both after each command and when the fake stops. Prints TAP.

usage: test-qmi-faults.py PATH-TO-ql-fake-qmi"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("QL_BUILD_ROOT", "build")
QL = os.path.join(BUILD, "src", "cli", "quantra-l")
FAKE = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="ql-qmi-faults-")
results = []


class Fake:
    def __init__(self, *args, seed=3):
        self.state = os.path.join(TMP, f"euicc-{len(results)}.state")
        self.proc = subprocess.Popen([FAKE, "--state", self.state, "--seed", str(seed)]
                                     + list(args), stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"device (\S+)", line)
        if not m:
            raise AssertionError(f"ql-fake-qmi did not start: {line!r} (rc {self.proc.wait()})")
        self.spec = m.group(1)

    def open_channels(self):
        """Asks the running fake (SIGUSR1) how many logical channels the card has open."""
        self.proc.send_signal(signal.SIGUSR1)
        line = self.proc.stdout.readline()
        m = re.match(r"open-channels (\d+)", line)
        assert m, f"unexpected answer from the fake: {line!r}"
        return int(m.group(1))

    def stop(self):
        """Stops the fake; returns (open channels, power cycles)."""
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, f"ql-fake-qmi exited {self.proc.returncode}"
        ch = re.search(r"open-channels (\d+)", out)
        pc = re.search(r"power-cycles (\d+)", out)
        assert ch and pc, f"the fake did not report: {out!r}"
        return int(ch.group(1)), int(pc.group(1))


def ql(spec, *args, expect=0):
    cmd = [QL, "--direct", spec, "--json"] + list(args)
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    took = time.monotonic() - start
    if p.returncode < 0:
        raise AssertionError(f"{cmd} killed by signal {-p.returncode}: {p.stderr}")
    if "CRITICAL" in p.stderr:
        raise AssertionError(f"{cmd} logged a critical: {p.stderr}")
    if p.returncode != expect:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}, wanted {expect}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    out = json.loads(p.stdout)
    out["_took"] = took
    return out


def case(name):
    def wrap(fn):
        try:
            fn()
            results.append((True, name, ""))
        except Exception as e:  # noqa: BLE001 - every failure is a test result
            results.append((False, name, f"{type(e).__name__}: {e}"))
        return fn
    return wrap


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


print(f"1..{len(results)}")
for i, (ok, name, msg) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if not ok:
        for line in msg.splitlines():
            print(f"# {line}")
sys.exit(0 if all(r[0] for r in results) else 1)
