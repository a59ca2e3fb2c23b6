#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-esimd's discovery against the real ModemManager (Debian's 1.20), set up by qlmm.py
with the fake QMI modem (through the fake qmi-proxy) and the fake AT modem (a pty ModemManager
holds). The service runs on the same private bus with a configuration without [device]
sections, so every eUICC it exports comes from ModemManager: the QMI modem announced while the
service runs becomes an Euicc named by its EID, `quantra-l profile list` works through the
service, the modem removed (ReportKernelEvent "remove") takes its Euicc away, announced again it
comes back. The AT-only modem is not exported and the service's debug log says why. Prints the
ModemManager version as a TAP comment, then TAP. Root only (else skipped).

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
        # only the AT modem is there when the service starts; the QMI one comes later
        mm.start_modem_manager(announce=[mm.at])
        bus = HarnessBus(mm)
        watcher = q.Client(bus)
        config = q.write_config(os.path.join(TMP, "esimd.conf"), os.path.join(TMP, "pki"), {})
        daemon = q.Daemon(bus, config, watcher, euiccs=0)
        try:
            run_cases(mm, watcher, daemon, eid, direct)
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
            for line in daemon.log[-40:]:
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


def run_cases(mm, watcher, daemon, eid, direct):
    euicc = q.ROOT + "/Euicc/" + eid

    @case("the AT-only modem (its TTY ModemManager's) is not exported; the debug log says why")
    def _():
        at = mm.wait_modem(mm.at)
        why = (f"modem {at['path']} is not exported: no QMI or MBIM port (only the AT port "
               f"{mm.at.dev}, which ModemManager holds open)")
        q.wait_until(lambda: why in daemon.text(), 60, "the scan of the AT modem")
        assert watcher.euiccs() == [], watcher.euiccs()

    @case("the QMI modem announced while the service runs appears as an Euicc named by its "
          "EID, with ModemManager's modem path")
    def _():
        mm.report(mm.qmi, "add")
        shown = mm.wait_modem(mm.qmi, iccid=mm.qmi.first_iccid)
        q.wait_until(lambda: watcher.euiccs() == [euicc], 90, "the QMI modem's Euicc")
        props = watcher.props(euicc, q.EUICC)
        assert props["ModemObjectPath"] == shown["path"], (props, shown)
        assert props["Transport"].startswith("qmi:/dev/cdc-wdm0"), props
        assert len(props["Profiles"]) == len(direct), (props, direct)
        assert mm.find(mm.at) is not None and watcher.euiccs() == [euicc], watcher.euiccs()

    @case("quantra-l profile list through the service (no selector, -e EID, -m N)")
    def _():
        shown = mm.wait_modem(mm.qmi)
        listed = service_profiles()
        assert listed == direct, (listed, direct)
        assert [i for i, s in listed.items() if s == "enabled"] == [shown["iccid"]], listed
        assert service_profiles("-e", eid) == direct
        assert service_profiles("-m", shown["path"].rsplit("/", 1)[1]) == direct

    @case("the modem removed (ReportKernelEvent remove): its Euicc and profiles go")
    def _():
        profiles = watcher.prop(euicc, q.EUICC, "Profiles")
        assert profiles, "no profile objects"
        mm.report(mm.qmi, "remove")
        q.wait_until(lambda: removed(watcher, euicc), 60, "InterfacesRemoved for the Euicc")
        assert mm.find(mm.qmi) is None, mm.find(mm.qmi)
        assert watcher.euiccs() == [], watcher.euiccs()
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
        q.wait_until(lambda: watcher.euiccs() == [euicc], 90, "the Euicc again")
        q.wait_until(lambda: watcher.prop(euicc, q.EUICC, "ModemObjectPath") == shown["path"],
                     60, "the Euicc's modem path")
        assert service_profiles() == direct
        assert len(removed(watcher, euicc)) == before


if __name__ == "__main__":
    main()
