#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-l -m N through a mocked ModemManager whose modems' QMI and MBIM ports are the fake
qmi-proxy and the fake MBIM device (each backed by a virtual eUICC). Run in a private network
namespace (the fakes use the proxies' abstract sockets). Prints TAP.

usage: test-modem-manager.py QL_FAKE_QMI QL_FAKE_MBIM QL_MM_MOCK"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("QL_BUILD_ROOT", "build")
QL = os.path.join(BUILD, "src", "cli", "quantra-l")
FAKE_QMI, FAKE_MBIM, MOCK = sys.argv[1:4]
TMP = tempfile.mkdtemp(prefix="ql-mm-")
results = []
procs = []


def start(cmd, pattern):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    procs.append(p)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            raise AssertionError(f"{cmd[0]} exited with {p.wait()}")
        m = re.match(pattern, line)
        if m:
            return p, m.group(1)
    raise AssertionError(f"{cmd[0]} did not start")


def stop(p):
    p.terminate()
    out, _ = p.communicate(timeout=30)
    return out


def ql(env, *args, expect=0):
    p = subprocess.run([QL, "--json"] + list(args), capture_output=True, text=True, env=env,
                       timeout=120, stdin=subprocess.DEVNULL)
    if p.returncode != expect:
        raise AssertionError(f"quantra-l {' '.join(args)} exited {p.returncode}, wanted "
                             f"{expect}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return json.loads(p.stdout), p.stderr


def case(name):
    def wrap(fn):
        try:
            fn()
            results.append((True, name, ""))
        except Exception as e:
            results.append((False, name, str(e)))
        return fn
    return wrap


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
        out = stop(p)
        m = re.search(r"open-channels (\d+)", out or "")
        if m and int(m.group(1)) != 0:
            results.append((False, "no logical channel left open", out))
    shutil.rmtree(TMP, ignore_errors=True)

print(f"1..{len(results)}")
for i, (ok, name, msg) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if not ok:
        for line in msg.splitlines():
            print(f"# {line}")
sys.exit(0 if results and all(r[0] for r in results) else 1)
