#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-esimd's discovery against the real ModemManager (Debian's 1.20), set up by qlmm.py
with the fake QMI modem (through the fake qmi-proxy) and the fake AT modem (a pty ModemManager
holds). The service runs on the same private bus with a configuration without [device]
sections, so every eUICC it exports comes from ModemManager: the QMI modem announced while the
service runs becomes an Euicc named by its EID, `quantra-l profile list` works through the
service, the modem removed (ReportKernelEvent "remove") takes its Euicc away, announced again it
comes back. The AT-only modem (its TTY held open by ModemManager) is read once under an inhibit
and exported; every operation on it inhibits the modem first, and a profile enable through the
service ends with ModemManager showing the new SIM. Prints the ModemManager version as a TAP
comment, then TAP. Root only (else skipped).

usage: test-mm-real-service.py       (QL_BUILD_ROOT names the build tree, QL_ESIMD the service)"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qlmm  # noqa: E402

qlmm.enter_namespace()

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "daemon"))
import qldaemon as q  # noqa: E402
import qltest  # noqa: E402
from qltest import case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-mm-real-service-")


class HarnessBus:
    """The harness's bus as qldaemon's Client and Daemon take it"""

    def __init__(self, mm):
        self.address = mm.address
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=mm.address)


def removed(watcher, path):
    return [a for p, i, m, a in watcher.signals if m == "InterfacesRemoved" and a[0] == path]


def service_profiles(*selector):
    """`quantra-l [SELECTOR] --json profile list` through the service: {iccid: state}. Without
    --direct it cannot run in this process: it fails when the service does not answer."""
    out = qltest.quantra(*selector, "profile", "list").out
    return {p["iccid"]: p["state"] for p in out["profiles"]}


def main():
    print(f"# ModemManager {qlmm.mm_version()}", flush=True)
    with qlmm.Harness(TMP, start_mm=False) as mm:
        eid = qltest.quantra("chip", "info", device=mm.qmi.spec).out["eid"]
        direct = {p["iccid"]: p["state"] for p in
                  qltest.quantra("profile", "list", device=mm.qmi.spec).out["profiles"]}
        # the AT card, read before ModemManager holds its TTY
        at = {"eid": qltest.quantra("chip", "info", device=mm.at.spec).out["eid"],
              "profiles": {p["iccid"]: p["state"] for p in qltest.quantra(
                  "profile", "list", device=mm.at.spec).out["profiles"]}}
        # only the AT modem is there when the service starts; the QMI one comes later
        mm.start_modem_manager(announce=[mm.at])
        bus = HarnessBus(mm)
        watcher = q.Client(bus)
        config = q.write_config(os.path.join(TMP, "esimd.conf"), os.path.join(TMP, "pki"), {},
                                daemon={"modem-wait": 5})
        daemon = q.Daemon(bus, config, watcher, euiccs=0)
        try:
            run_cases(mm, watcher, daemon, eid, direct, at)
        finally:
            code = daemon.stop()
            watcher.close()
        if code != 0:
            qltest.fail("quantra-esimd stopped cleanly", f"exit {code}")
        if "CRITICAL" in daemon.text() or "WARNING" in daemon.text():
            qltest.fail("quantra-esimd logged no warning",
                        "\n".join(l for l in daemon.log if "CRITICAL" in l or "WARNING" in l))
        if not qltest.all_ok():
            print("# the end of quantra-esimd's log:")
            for line in daemon.log[-120:]:
                print(f"#   {line}")
    left = getattr(mm, "open_channels_left", {})
    if left.get("qmi") != 0:
        qltest.fail("no logical channel left open by the service", f"{left}")
    if not qltest.all_ok() and os.path.exists(mm.log):
        print("# the end of ModemManager's log:")
        for line in open(mm.log, errors="replace").read().splitlines()[-30:]:
            if line.strip():
                print(f"#   {line}")
    qltest.finish(TMP)


def run_cases(mm, watcher, daemon, eid, direct, at):
    euicc = q.ROOT + "/Euicc/" + eid
    at_euicc = q.ROOT + "/Euicc/" + at["eid"]

    def index(shown):
        return shown["path"].rsplit("/", 1)[1]

    @case("the AT-only modem (its TTY ModemManager's) is read under an inhibit, once, and "
          "exported with the modem path ModemManager gives it afterwards")
    def _():
        q.wait_until(lambda: watcher.euiccs() == [at_euicc], 120, "the AT modem's Euicc")
        props = watcher.props(at_euicc, q.EUICC)
        assert props["Transport"] == mm.at.spec, props
        assert len(props["Profiles"]) == len(at["profiles"]), (props, at)
        shown = mm.wait_modem(mm.at)
        q.wait_until(lambda: watcher.prop(at_euicc, q.EUICC, "ModemObjectPath") == shown["path"],
                     60, "the Euicc's modem path")
        assert f"modem {shown['path']}: reading its eUICC" not in daemon.text(), \
            "the modem ModemManager re-created was read again"
        mm.assert_released(mm.at)
        assert mm.inhibitions() == (1, 1), mm.inhibitions()

    @case("AT: -m N profile list through the service, from what it read")
    def _():
        shown = mm.wait_modem(mm.at)
        assert service_profiles("-m", index(shown)) == at["profiles"]
        assert mm.inhibitions() == (1, 1), mm.inhibitions()
        # `modems`: the EID ModemManager cannot read through the TTY, from the service
        row = [m for m in qltest.quantra("modems").out["modems"] if m["path"] == shown["path"]]
        assert len(row) == 1 and row[0]["eid"] == at["eid"], row

    @case("AT: profile enable through the service: inhibited, switched, given back; "
          "ModemManager shows the new SIM and the Euicc its new modem path")
    def _():
        shown = mm.enable(mm.at)
        target = [i for i, s in sorted(at["profiles"].items()) if s != "enabled"][0]
        qltest.quantra("-m", index(shown), "profile", "enable", target)
        now = mm.wait_modem(mm.at, iccid=target, timeout=120)
        assert now["path"] != shown["path"], now
        q.wait_until(lambda: watcher.prop(at_euicc, q.EUICC, "ModemObjectPath") == now["path"],
                     60, "the Euicc's new modem path")
        q.wait_until(lambda: service_profiles("-e", at["eid"])[target] == "enabled", 60,
                     "the profile enabled")
        mm.assert_released(mm.at)
        assert mm.inhibitions() == (2, 2), mm.inhibitions()

    @case("the QMI modem announced while the service runs appears as an Euicc named by its "
          "EID, with ModemManager's modem path")
    def _():
        mm.report(mm.qmi, "add")
        shown = mm.wait_modem(mm.qmi, iccid=mm.qmi.first_iccid)
        q.wait_until(lambda: euicc in watcher.euiccs(), 90, "the QMI modem's Euicc")
        props = watcher.props(euicc, q.EUICC)
        assert props["ModemObjectPath"] == shown["path"], (props, shown)
        assert props["Transport"].startswith("qmi:/dev/cdc-wdm0"), props
        assert len(props["Profiles"]) == len(direct), (props, direct)
        assert mm.find(mm.at) is not None, mm.find(mm.at)
        assert watcher.euiccs() == sorted([euicc, at_euicc]), watcher.euiccs()

    @case("quantra-l profile list through the service (no selector, -e EID, -m N)")
    def _():
        shown = mm.wait_modem(mm.qmi)
        listed = service_profiles("-e", eid)
        assert listed == direct, (listed, direct)
        assert [i for i, s in listed.items() if s == "enabled"] == [shown["iccid"]], listed
        assert service_profiles("-m", index(shown)) == direct
        r = qltest.quantra("profile", "list", expect=qltest.EXIT_USAGE)
        assert "choose one with -e EID" in r.message, r.message

    @case("the modem removed (ReportKernelEvent remove): its Euicc and profiles go")
    def _():
        profiles = watcher.prop(euicc, q.EUICC, "Profiles")
        assert profiles, "no profile objects"
        mm.report(mm.qmi, "remove")
        q.wait_until(lambda: removed(watcher, euicc), 60, "InterfacesRemoved for the Euicc")
        assert mm.find(mm.qmi) is None, mm.find(mm.qmi)
        assert watcher.euiccs() == [at_euicc], watcher.euiccs()
        objects = watcher.objects()
        assert not [p for p in profiles if p in objects], objects
        r = qltest.quantra("-e", eid, "profile", "list", expect=None)
        assert r.rc == qltest.EXIT_NOT_FOUND and "shows no eUICC" in r.message, (r.rc,
                                                                                r.message)

    @case("announced again, the modem's Euicc comes back with ModemManager's new modem path")
    def _():
        before = len(removed(watcher, euicc))
        mm.report(mm.qmi, "add")
        shown = mm.wait_modem(mm.qmi, iccid=mm.qmi.first_iccid)
        q.wait_until(lambda: euicc in watcher.euiccs(), 90, "the Euicc again")
        q.wait_until(lambda: watcher.prop(euicc, q.EUICC, "ModemObjectPath") == shown["path"],
                     60, "the Euicc's modem path")
        assert service_profiles("-e", eid) == direct
        assert len(removed(watcher, euicc)) == before

    @case("the AT modem unplugged: its Euicc waits modem-wait for ModemManager to show it "
          "again, then goes; plugged in again, it is read again")
    def _():
        mm.report(mm.at, "remove")
        q.wait_until(lambda: mm.find(mm.at) is None, 60, "ModemManager dropping the AT modem")
        assert at_euicc in watcher.euiccs(), "removed at once: an inhibit would do the same"
        q.wait_until(lambda: removed(watcher, at_euicc), 60, "InterfacesRemoved for the Euicc")
        wait_text = f"eUICC {at['eid']} removed: ModemManager no longer shows its modem"
        assert wait_text in daemon.text(), daemon.text()[-2000:]
        setup = mm.inhibitions()[0]
        mm.report(mm.at, "add")
        q.wait_until(lambda: at_euicc in watcher.euiccs(), 120, "the AT modem's Euicc again")
        shown = mm.wait_modem(mm.at)
        q.wait_until(lambda: watcher.prop(at_euicc, q.EUICC, "ModemObjectPath") == shown["path"],
                     60, "the Euicc's modem path")
        assert mm.inhibitions()[0] == setup + 1, (mm.inhibitions(), setup)
        mm.assert_released(mm.at)


if __name__ == "__main__":
    main()
