#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-l beside the real ModemManager (Debian's 1.20), which holds a fake QMI modem (through
the fake qmi-proxy) and a fake AT modem (on a pty, its TTY held with TIOCEXCL). See qlmm.py for
how it is set up. Every case asks ModemManager itself what it shows, and fails when an inhibit
is left behind or a switch is not seen by ModemManager. Prints the ModemManager version as a TAP
comment, then TAP. Root only (else skipped).

usage: test-mm-real.py       (QL_BUILD_ROOT names the build tree)"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import dbus

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qlmm  # noqa: E402

qlmm.enter_namespace()

import qltest  # noqa: E402
from qltest import case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-mm-real-")
expected = {"shared_opens": 0, "leaked_channels": 0}  # what the cases below cause on purpose
STATE_ENABLED = 6  # MM_MODEM_STATE_ENABLED


def ql(*args, expect=0, timeout=120):
    """quantra-l --json ARGS; the Run."""
    cmd = [qltest.QL, "--json"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if p.returncode < 0:
        raise AssertionError(f"{cmd} killed by signal {-p.returncode}: {p.stderr}")
    if "CRITICAL" in p.stderr:
        raise AssertionError(f"{cmd} logged a CRITICAL: {p.stderr}")
    out = json.loads(p.stdout) if p.stdout.strip() else {}
    if expect is not None and p.returncode != expect:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}, wanted {expect}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return qltest.Run(p.returncode, out, p.stderr, 0)


def index(shown):
    """The N of ModemManager's object path"""
    return shown["path"].rsplit("/", 1)[1]


def profiles(mm, modem):
    shown = mm.wait_modem(modem)
    out = ql("-m", index(shown), "profile", "list").out["profiles"]
    return {p["iccid"]: p["state"] for p in out}


def enabled(mm, modem):
    return [i for i, s in profiles(mm, modem).items() if s == "enabled"]


def switch_case(mm, modem):
    """profile enable of the disabled profile, then back: each an inhibit, a switch and an
    uninhibit, seen by ModemManager. An AT modem is enabled first, so that ModemManager holds its
    TTY (the fake QMI modem cannot be enabled: it answers too little)."""
    before = mm.wait_modem(modem)
    states = profiles(mm, modem)
    other = [i for i, s in states.items() if s != "enabled"][0]
    first = [i for i, s in states.items() if s == "enabled"][0]
    assert before["iccid"] == first, (before, states)
    setup, teardown = mm.inhibitions()
    for target in (other, first):
        shown = mm.enable(modem) if modem.kind == "at" else mm.wait_modem(modem)
        r = ql("-m", index(shown), "profile", "enable", target)
        assert r.out["modem"]["iccid"] == target, r.out
        now = mm.wait_modem(modem)
        assert now["iccid"] == target, f"ModemManager shows {now}, not SIM {target}"
        # an uninhibit re-creates the modem: a new object, found again by its device
        assert now["path"] != shown["path"], now
        assert r.out["modem"]["path"] == now["path"], (r.out, now)
    mm.assert_released(modem)
    assert mm.inhibitions() == (setup + 2, teardown + 2), mm.inhibitions()


def main():
    print(f"# ModemManager {qlmm.mm_version()}", flush=True)
    with qlmm.Harness(TMP) as mm:
        run_cases(mm)
    left = getattr(mm, "open_channels_left", {})
    if left.get("qmi") != expected["leaked_channels"] or left.get("at") != 0:
        qltest.fail("no logical channel left open", f"{left}, expected {expected}")
    if mm.at.shared_opens is None or mm.at.shared_opens > expected["shared_opens"]:
        qltest.fail("the AT port is never shared with ModemManager",
                    f"{mm.at.shared_opens} commands came while ModemManager held the port")
    if not qltest.all_ok() and os.path.exists(mm.log):
        print("# the end of ModemManager's log:")
        for line in open(mm.log, errors="replace").read().splitlines()[-40:]:
            if not line.strip():
                continue
            print(f"#   {line}")
    qltest.finish(TMP)


def run_cases(mm):
    @case("modems: ModemManager's modems, with their ports and SIMs")
    def _():
        q, a = mm.wait_modem(mm.qmi), mm.wait_modem(mm.at)
        listed = {m["path"]: m for m in ql("modems").out["modems"]}
        assert set(listed) == {q["path"], a["path"]}, (listed, q, a)
        lq, la = listed[q["path"]], listed[a["path"]]
        assert lq["transport"] == "qmi" and lq["spec"].startswith("qmi:/dev/cdc-wdm0"), lq
        assert lq["exclusive"] is False and lq["iccid"] == q["iccid"], (lq, q)
        assert la["transport"] == "at" and la["spec"] == "at:/dev/ttyUSB2", la
        assert la["exclusive"] is True and la["at_port"] == "/dev/ttyUSB2", la
        assert la["iccid"] == a["iccid"] and la["manufacturer"] == "Quantra-L", (la, a)
        text = subprocess.run([qltest.QL, "modems"], capture_output=True, text=True,
                              check=True).stdout
        for want in (q["path"], a["path"], "at:/dev/ttyUSB2", q["iccid"], a["iccid"]):
            assert want in text, f"{want} not in:\n{text}"

    @case("QMI: chip info and profile list through qmi-proxy while ModemManager keeps the modem")
    def _():
        before = mm.wait_modem(mm.qmi)
        inhibitions = mm.inhibitions()
        info = ql("-m", index(before), "chip", "info").out
        assert len(info["eid"]) == 32, info
        assert enabled(mm, mm.qmi) == [before["iccid"]]
        assert mm.inhibitions() == inhibitions, "an inhibit for reading"
        after = mm.wait_modem(mm.qmi)
        assert after["path"] == before["path"], (before, after)

    @case("QMI: profile enable inhibits, switches, uninhibits; ModemManager shows the SIM")
    def _():
        switch_case(mm, mm.qmi)

    @case("QMI: profile disable; ModemManager shows the modem without a SIM, enable brings it")
    def _():
        first = enabled(mm, mm.qmi)[0]
        shown = mm.wait_modem(mm.qmi)
        ql("-m", index(shown), "profile", "disable", first)
        mm.assert_released(mm.qmi)
        assert mm.find(mm.qmi)["iccid"] is None, mm.find(mm.qmi)
        ql("-m", index(mm.wait_modem(mm.qmi)), "profile", "enable", first)
        assert mm.wait_modem(mm.qmi)["iccid"] == first

    @case("AT: the TTY is ModemManager's: using it without an inhibit fails (the check is real)")
    def _():
        assert mm.enable(mm.at)["state"] >= STATE_ENABLED
        # the answers go to whoever reads first: this fails at ATE0, at +CCHO (refused), or
        # waiting for an answer ModemManager read
        r = ql("--direct", "at:/dev/ttyUSB2?timeout=3", "chip", "info", expect=None)
        expected["shared_opens"] += 1
        assert r.rc in (qltest.EXIT_DEVICE, qltest.EXIT_TIMEOUT), (r.rc, r.out)
        assert "at:" in r.message, r.message

    @case("AT: chip info inhibits first and only then opens the port")
    def _():
        shown = mm.enable(mm.at)  # ModemManager holds the TTY
        setup, teardown = mm.inhibitions()
        info = ql("-m", index(shown), "chip", "info").out
        assert len(info["eid"]) == 32, info
        assert mm.inhibitions() == (setup + 1, teardown + 1), mm.inhibitions()
        assert mm.assert_released(mm.at)["iccid"] == shown["iccid"]

    @case("AT: profile enable through the TTY; ModemManager reads the new ICCID with +CRSM")
    def _():
        switch_case(mm, mm.at)

    @case("the modem vanishes mid-operation: a clear error, the inhibit released")
    def _():
        first = enabled(mm, mm.qmi)[0]
        other = [i for i in profiles(mm, mm.qmi) if i != first][0]
        shown = mm.wait_modem(mm.qmi)
        mm.qmi.control("fault vanish 1")  # the EnableProfile command never reaches the card
        try:
            r = ql("-m", index(shown), "profile", "enable", other, expect=qltest.EXIT_DEVICE)
        finally:
            mm.qmi.control("clear")
        assert "went away" in r.message, r.message
        mm.assert_released(mm.qmi)
        assert enabled(mm, mm.qmi) == [first]
        assert mm.wait_modem(mm.qmi, iccid=first)

    @case("another client holds the inhibit: the modem is not shown, a clear error")
    def _():
        first = enabled(mm, mm.qmi)[0]
        other = [i for i in profiles(mm, mm.qmi) if i != first][0]
        shown = mm.wait_modem(mm.qmi)
        holder = dbus.bus.BusConnection(mm.address)
        mgr = dbus.Interface(holder.get_object(qlmm.MM_NAME, qlmm.MM_PATH), qlmm.MM_NAME)
        mgr.InhibitDevice(mm.qmi.uid, True)
        try:
            # ModemManager hides an inhibited modem: quantra-l cannot take it over
            r = ql("-m", index(shown), "profile", "enable", other,
                   expect=qltest.EXIT_NOT_FOUND)
        finally:
            mgr.InhibitDevice(mm.qmi.uid, False)
            holder.close()
        assert f"has no modem {index(shown)}" in r.message, r.message
        mm.assert_released(mm.qmi)
        assert enabled(mm, mm.qmi) == [first]

    @case("ModemManager refuses the inhibit (polkit says no): a clear error")
    def _():
        first = enabled(mm, mm.at)[0]
        other = [i for i in profiles(mm, mm.at) if i != first][0]
        shown = mm.wait_modem(mm.at)
        mm.polkit_allow_all(False)
        try:
            r = ql("-m", index(shown), "profile", "enable", other, expect=qltest.EXIT_DEVICE)
        finally:
            mm.polkit_allow_all(True)
        assert "would not release modem" in r.message and "uthoriz" in r.message, r.message
        assert mm.find(mm.at)["path"] == shown["path"], "the modem was touched"
        mm.assert_released(mm.at)
        assert enabled(mm, mm.at) == [first]

    @case("quantra-l killed while it holds the inhibit: ModemManager ends it")
    def _():
        first = enabled(mm, mm.qmi)[0]
        other = [i for i in profiles(mm, mm.qmi) if i != first][0]
        shown = mm.wait_modem(mm.qmi)
        setup, _ = mm.inhibitions()
        mm.qmi.control("fault timeout")  # every Send APDU unanswered: it waits, inhibited
        try:
            p = subprocess.Popen([qltest.QL, "--json", "-m", index(shown), "profile", "enable",
                                  other], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                while mm.inhibitions()[0] == setup:
                    assert p.poll() is None, f"quantra-l ended ({p.returncode}) uninhibited"
                    time.sleep(0.05)
            finally:
                p.send_signal(signal.SIGKILL)
                p.wait()
        finally:
            mm.qmi.control("clear")
        # killed with its channel open: nobody could close it (a real modem keeps it too)
        expected["leaked_channels"] = mm.qmi.open_channels()
        mm.assert_released(mm.qmi)
        log = open(mm.log, errors="replace").read()
        assert "(owner disappeared from bus)" in log, "ModemManager did not end the inhibit"
        assert enabled(mm, mm.qmi) == [first]

    @case("ModemManager not running: clear errors")
    def _():
        mm.stop_modem_manager()
        for args in (["modems"], ["-m", "0", "profile", "list"],
                     ["-m", "0", "profile", "enable", "89000000000000000000"]):
            r = ql(*args, expect=qltest.EXIT_DEVICE)
            assert "ModemManager is not running" in r.message, r.message


if __name__ == "__main__":
    main()
