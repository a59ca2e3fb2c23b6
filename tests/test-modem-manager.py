#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-l -m N through a mocked ModemManager whose modems' QMI and MBIM ports are the fake
qmi-proxy and the fake MBIM device (each backed by a virtual eUICC). Run in a private network
namespace (the fakes use the proxies' abstract sockets). Prints TAP.

usage: test-modem-manager.py QL_FAKE_QMI QL_FAKE_MBIM QL_MM_MOCK"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import QL, case  # noqa: E402

FAKE_QMI, FAKE_MBIM, MOCK = sys.argv[1:4]
TMP = tempfile.mkdtemp(prefix="ql-mm-")
procs = []


def start(cmd, pattern):
    p, m = qltest.start(cmd, pattern, stdin=subprocess.PIPE)
    procs.append(p)
    return p, m.group(1)


def ql(env, *args, expect=0):
    r = qltest.quantra(*args, env=env, expect=expect)
    return r.out, r.stderr


qmi_state = os.path.join(TMP, "qmi.state")
mbim_state = os.path.join(TMP, "mbim.state")
try:
    qmi, qmi_spec = start([FAKE_QMI, "--state", qmi_state, "--seed", "2"], r"device (\S+)")
    mbim, mbim_spec = start([FAKE_MBIM, "--state", mbim_state, "--seed", "1"], r"device (\S+)")
    # the re-probe reads the enabled profile of the QMI card, as a modem would after a refresh
    iccid_cmd = (f"{QL} --direct '{qmi_spec}' --json profile list | /usr/bin/python3 -c "
                 "'import json,sys; p=[x[\"iccid\"] for x in json.load(sys.stdin)[\"profiles\"]"
                 " if x[\"state\"]==\"enabled\"]; print(p[0] if p else \"\")'")
    mock, bus = start([MOCK, "--qmi", qmi_spec, "--eid", "89049032123451234512345678901235",
                       "--mbim", mbim_spec, "--reprobe-ms", "300", "--iccid-command",
                       iccid_cmd], r"DBUS_SYSTEM_BUS_ADDRESS=(\S+)")
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=bus)
    direct_eid = {}
    for name, spec in (("qmi", qmi_spec), ("mbim", mbim_spec)):
        direct_eid[name] = ql(os.environ, "--direct", spec, "chip", "info")[0]["eid"]

    @case("modems lists both, with transport and device")
    def _():
        out, _ = ql(env, "modems")
        m = out["modems"]
        assert [x["transport"] for x in m] == ["qmi", "mbim"], m
        assert m[0]["spec"] == qmi_spec and m[1]["spec"].split("?")[0] == mbim_spec, m
        assert m[0]["eid"] == "89049032123451234512345678901235", m

    @case("-m 0 chip info reaches the QMI modem's eUICC")
    def _():
        out, _ = ql(env, "-m", "0", "chip", "info")
        assert out["eid"] == direct_eid["qmi"], out

    @case("-m 1 chip info reaches the MBIM modem's eUICC")
    def _():
        out, _ = ql(env, "-m", "1", "chip", "info")
        assert out["eid"] == direct_eid["mbim"], out
        out, _ = ql(env, "-m", "/org/freedesktop/ModemManager1/Modem/1", "profile", "list")
        assert len(out["profiles"]) == 1, out

    @case("enable through ModemManager: inhibited, switched, ModemManager shows the new ICCID")
    def _():
        profiles = ql(env, "-m", "0", "profile", "list")[0]["profiles"]
        target = profiles[1]["iccid"]
        out, _ = ql(env, "-m", "0", "profile", "enable", target)
        assert out["result"] == "ok" and out["modem"]["iccid"] == target, out
        mock.stdin.write("calls\n")
        mock.stdin.flush()
        lines = []
        while True:
            line = mock.stdout.readline().strip()
            if line in ("ok", "") or line.startswith("error"):
                break
            lines.append(line)
        assert [l.split()[-1] for l in lines[-2:]] == ["true", "false"], lines

    @case("unknown modem and no ModemManager give clear errors")
    def _():
        err, _ = ql(env, "-m", "7", "chip", "info", expect=3)
        assert "7" in err["error"]["message"], err
        gone = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={TMP}/nobus")
        err, _ = ql(gone, "-m", "0", "chip", "info", expect=5)
        assert err["error"]["message"], err
finally:
    for p in reversed(procs):
        out = qltest.stop(p)
        if qltest.report(out, "open-channels") not in (None, 0):
            qltest.fail("no logical channel left open", out)

qltest.finish(TMP)
