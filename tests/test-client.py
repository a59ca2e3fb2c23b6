#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-l as the client of quantra-esimd: the real daemon on a private system-like bus
(tests/daemon/qldaemon.py) with virtual eUICCs, the real test SM-DP+ on loopback. The same
commands through the service and with --direct print the same bytes; -e picks one of two
eUICCs; a clear error when the service does not run; Ctrl-C cancels a download through the
service; a wallet code downloads through the service; `monitor` prints the events. Prints TAP."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "daemon"))
import qldaemon  # noqa: E402
import qltest  # noqa: E402
from qltest import QL, case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-client-")
PKI = os.path.join(TMP, "pki")
IDENTITY = os.path.join(PKI, "euicc")

# the first start writes the PKI (the eUICC identity the cards load)
qltest.Smdp(PKI).stop()
qltest.servers.clear()


def new_card(name, seed, identity=True):
    """A virtual eUICC created (and seeded) in this process; returns its state file. With
    the test PKI's identity the SM-DP+ knows it (and its EID is the identity's); without, it
    makes its own (another EID)."""
    state = os.path.join(TMP, name + ".state")
    spec = f"virtual:{state}?seed={seed}" + (f"&identity={IDENTITY}" if identity else "")
    qltest.quantra("chip", "info", device=spec, forbid=("CRITICAL", "WARNING"))
    return state


def direct_spec(state, identity=True):
    return f"virtual:{state}" + (f"?identity={IDENTITY}" if identity else "")


class Service:
    """A private bus, the real quantra-esimd on it configured with @devices, a client."""

    def __init__(self, devices, start=True):
        self.conf = qldaemon.write_config(os.path.join(TMP, f"esimd-{len(devices)}.conf"), PKI,
                                          devices)
        self.bus = qldaemon.Bus(TMP)
        self.client = self.polkit = self.daemon = None
        try:
            self.client = qldaemon.Client(self.bus)
            # python3-dbusmock's polkitd allowing all: polkit is the daemon's suites' part
            self.polkit = qldaemon.Polkit(self.bus, self.client)
            self.polkit.allow_all()
            if start:
                self.daemon = qldaemon.Daemon(self.bus, self.conf, self.client,
                                              euiccs=len(devices))
        except BaseException:
            self.stop()
            raise

    def stop(self):
        for part in (self.daemon, self.polkit):
            if part is not None:
                part.stop()
        if self.client is not None:
            self.client.close()
        self.bus.stop()


def ql(*args, env=None, device=None, json_out=False, expect=0, timeout=120):
    """quantra-l as a user runs it: through the service on @env's bus, or --direct @device"""
    return qltest.quantra(*args, device=device, json_out=json_out, env=env, expect=expect,
                          timeout=timeout, forbid=("CRITICAL", "WARNING"))


@case("the same commands through the service and with --direct print the same bytes")
def _():
    smdp = qltest.Smdp(PKI)
    a = new_card("same-a", seed=2)
    b = os.path.join(TMP, "same-b.state")
    shutil.copyfile(a, b)  # the same card twice: same EID, profiles, sequence numbers
    svc = Service({"card": direct_spec(a)})
    try:
        cc_mid = "CC-SAME"
        code = subprocess.run([qltest.SMDP, "--pki", PKI, "--confirmation-code", cc_mid],
                              capture_output=True, text=True, check=True).stdout.strip()
        # each side gets its own downloaded ICCIDs: the test SM-DP+ draws them at random
        new = {"service": [], "direct": []}
        script = [
            ["chip", "info"], ["--json", "chip", "info"],
            ["profile", "list"], ["--json", "profile", "list"],
            ["profile", "download", "--activation-code", f"LPA:1${smdp.address}$SAME-1",
             "--secure"],
            ["--json", "profile", "download", "--activation-code",
             f"LPA:1${smdp.address}${cc_mid}", "--confirmation-code", code,
             "--nickname", "Second"],
            ["profile", "list"], ["--json", "profile", "list"],
            ["profile", "nickname", "{0}", "Travel"],
            ["--json", "profile", "nickname", "{1}", "Work"],
            ["profile", "enable", "{0}"], ["--json", "profile", "disable", "{0}"],
            ["--json", "profile", "enable", "{1}"], ["profile", "disable", "{1}"],
            ["profile", "list"], ["--json", "profile", "list"],
            ["notification", "list"], ["--json", "notification", "list"],
            ["notification", "process", "--all"],
            ["--json", "notification", "list"],
            ["--json", "profile", "delete", "{0}"], ["profile", "delete", "{1}"],
            ["--json", "notification", "process", "--all"], ["notification", "list"],
            ["chip", "default-smdp", smdp.address], ["--json", "chip", "default-smdp"],
            ["--json", "profile", "list"], ["chip", "info"],
        ]
        service_env = svc.bus.env  # DBUS_SYSTEM_BUS_ADDRESS, as GIO reads it
        for i, cmd in enumerate(script):
            outs = {}
            for side in ("service", "direct"):
                args = [x.format(*new[side]) for x in cmd]
                if side == "service":
                    r = ql(*args, env=service_env, expect=None)
                else:
                    r = ql("--config", svc.conf, *args, device=direct_spec(b), expect=None)
                assert r.rc == 0, f"{side}: {args} exited {r.rc}: {r.stderr}"
                if "download" in cmd:
                    m = re.search(r'"?iccid"?\s*:?\s+"?(\d{19,20})', r.out, re.I)
                    assert m, f"{side}: no ICCID in {r.out}"
                    new[side].append(m.group(1))
                outs[side] = r.out
            # the differences allowed: the direct side's drawn ICCIDs, and the wall time of
            # a download (the one figure two runs never share)
            direct = outs["direct"]
            for d, s in zip(new["direct"], new["service"]):
                assert len(d) == len(s), (d, s)
                direct = direct.replace(d, s)
            elapsed = re.compile(r'("elapsed_ms" : )\d+')
            direct = elapsed.sub(r"\g<1>N", direct)
            outs["service"] = elapsed.sub(r"\g<1>N", outs["service"])
            assert outs["service"] == direct, \
                f"step {i} {cmd} differs:\n--- service\n{outs['service']}\n--- direct\n{direct}"
        # and the script did what it says, on both cards
        for side, env, dev in (("service", service_env, None), ("direct", None, direct_spec(b))):
            extra = ["--config", svc.conf] if dev else []
            out = ql(*extra, "profile", "list", env=env, device=dev, json_out=True).out
            assert len(out["profiles"]) == 2, out
            assert all(p["iccid"] not in new[side] for p in out["profiles"]), out
        assert len(set(new["service"] + new["direct"])) == 4, new
    finally:
        svc.stop()


@case("-e picks one of two eUICCs; without it the choice is asked for")
def _():
    one = new_card("pick-1", seed=1)
    three = new_card("pick-3", seed=3, identity=False)
    specs = {one: direct_spec(one), three: direct_spec(three, identity=False)}
    eid = {}
    for st in (one, three):
        eid[st] = ql("chip", "info", device=specs[st], json_out=True).out["eid"]
    assert eid[one] != eid[three], eid
    svc = Service({"one": specs[one], "three": specs[three]})
    try:
        env = svc.bus.env
        r = ql("profile", "list", env=env, json_out=True, expect=2)
        msg = r.out["error"]["message"]
        assert "-e EID" in msg and eid[one] in msg and eid[three] in msg, msg
        for st, n in ((one, 1), (three, 3)):
            out = ql("-e", eid[st], "profile", "list", env=env, json_out=True).out
            assert len(out["profiles"]) == n, out
            assert ql("-e", eid[st], "chip", "info", env=env, json_out=True).out["eid"] == \
                eid[st]
        # the configured name picks too, and a change reaches only the eUICC picked
        iccid = ql("-e", "three", "profile", "list", env=env, json_out=True) \
            .out["profiles"][2]["iccid"]
        ql("-e", "three", "profile", "nickname", iccid, "Picked", env=env)
        names = [p["nickname"] for p in ql("profile", "list", device=specs[three],
                                            json_out=True).out["profiles"]]
        assert names == [None, None, "Picked"], names
        r = ql("-e", "89049032000000000000000000000000", "profile", "list", env=env,
               json_out=True, expect=3)
        assert "89049032000000000000000000000000" in r.out["error"]["message"], r.out
        r = ql("-e", eid[one], "profile", "list", device=specs[one], env=env, expect=2)
        assert "-e" in r.stderr, r.stderr
    finally:
        svc.stop()


@case("without the service: a clear error, nothing else")
def _():
    svc = Service({}, start=False)  # the bus runs, quantra-esimd does not
    try:
        for env in (svc.bus.env, dict(os.environ, QUANTRA_L_BUS_ADDRESS=f"unix:path={TMP}/none")):
            r = ql("profile", "list", env=env, expect=5)
            assert "quantra-esimd is not running; start it or use --direct DEVICE" in \
                r.stderr, r.stderr
            r = ql("--json", "chip", "info", env=env, expect=5)
            assert json.loads(r.out)["error"]["name"] == "org.quantra.Esim1.Error.Io", r.out
        r = ql("--bus-address", svc.bus.address, "monitor", expect=5)
        assert "quantra-esimd is not running" in r.stderr, r.stderr
        # options the service takes from its own configuration are refused, not ignored
        svc.daemon = qldaemon.Daemon(svc.bus, svc.conf, svc.client, euiccs=0)
        r = ql("--trust-anchor", os.path.join(PKI, "ci.pem"), "profile", "list",
               env=svc.bus.env, expect=2)
        assert "--trust-anchor works with --direct only" in r.stderr, r.stderr
    finally:
        svc.stop()


@case("Ctrl-C during a download through the service cancels it: nothing installed")
def _():
    smdp = qltest.Smdp(PKI, "slow@getBoundProfilePackage")
    card = new_card("cancel", seed=1)
    svc = Service({"card": direct_spec(card)})
    try:
        env = svc.bus.env
        before = ql("profile", "list", env=env, json_out=True).out["profiles"]
        p = subprocess.Popen([QL, "--json", "profile", "download", "--activation-code",
                              f"LPA:1${smdp.address}$CANCEL-ME"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        # the SM-DP+ logs the request, then holds its answer back (30 s)
        assert smdp.wait_for(r"getBoundProfilePackage", 60), "the download never got there"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 130, f"exit {p.returncode}: {err}"
        res = json.loads(out)
        assert res["error"]["name"] == "org.quantra.Esim1.Error.Cancelled", res
        # the service cancelled it (the CLI asked: it did not just die), on both sides
        qldaemon.wait_until(lambda: any("cancel" in line.lower() for line in svc.daemon.log),
                            30, "the daemon's log of the cancel")
        assert smdp.wait_for(r"cancelSession", 60), "no cancelSession at the SM-DP+"
        after = ql("profile", "list", env=env, json_out=True).out["profiles"]
        assert after == before, f"a profile was installed: {after}"
        direct = ql("--direct", direct_spec(card), "profile", "list", json_out=True)
        assert direct.out["profiles"] == before, direct.out
        # the eUICC is free for the next one
        ok = qltest.Smdp(PKI)
        r = ql("--json", "profile", "download", "--activation-code",
               f"LPA:1${ok.address}$AFTER", env=env)
        assert json.loads(r.out)["result"] == "ok", r.out
    finally:
        svc.stop()


@case("Ctrl-C during a --direct download cancels it the same way")
def _():
    smdp = qltest.Smdp(PKI, "slow@getBoundProfilePackage")
    card = new_card("cancel-direct", seed=1)
    before = ql("profile", "list", device=direct_spec(card), json_out=True).out["profiles"]
    p = subprocess.Popen([QL, "--direct", direct_spec(card), "--json", "profile", "download",
                          "--activation-code", f"LPA:1${smdp.address}$CANCEL-DIRECT",
                          "--trust-anchor", os.path.join(PKI, "ci.pem")], text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    assert smdp.wait_for(r"getBoundProfilePackage", 60), "the download never got there"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, f"exit {p.returncode}: {err}"
    assert json.loads(out)["error"]["name"] == "org.quantra.Esim1.Error.Cancelled", out
    assert smdp.wait_for(r"cancelSession", 60), "no cancelSession at the SM-DP+"
    after = ql("profile", "list", device=direct_spec(card), json_out=True).out["profiles"]
    assert after == before, f"a profile was installed: {after}"


@case("the wallet through the service: code and audit run here, --code downloads through it")
def _():
    smdp = qltest.Smdp(PKI)
    card = new_card("wallet", seed=1)
    state = os.path.join(TMP, "wallet-state")
    svc = Service({"card": direct_spec(card)})
    try:
        env = svc.bus.env
        here = ("--state-dir", state)
        secret = "WALLET-VIA-SERVICE-7"
        ql(*here, "code", "add", "--activation-code", f"LPA:1${smdp.address}${secret}",
           "--label", "w", env=env)
        before = ql("profile", "list", env=env, json_out=True).out["profiles"]
        # an unknown label: refused before the service is asked, nothing changed
        r = ql(*here, "profile", "download", "--code", "nope", env=env, json_out=True, expect=3)
        assert "nope" in r.out["error"]["message"], r.out
        assert ql("profile", "list", env=env, json_out=True).out["profiles"] == before
        # the code goes to the service as the activation code; once installed it is used up
        r = ql(*here, "profile", "download", "--code", "w", env=env, json_out=True)
        assert r.out["result"] == "ok", r.out
        after = ql("profile", "list", env=env, json_out=True).out["profiles"]
        assert [p["iccid"] for p in after] == [p["iccid"] for p in before] + \
            [r.out["iccid"]], after
        assert ql(*here, "code", "list", env=env, json_out=True).out["codes"] == []
        ql(*here, "audit", "verify", env=env, json_out=True)
        # the matching id reached neither the service's log nor the CLI's trail
        assert secret not in svc.daemon.text(), "the matching id is in the daemon's log"
        trail = ql(*here, "audit", "show", env=env, json_out=True).out
        assert secret not in json.dumps(trail), trail
    finally:
        svc.stop()


@case("monitor prints a downloaded profile's events, one JSON object a line")
def _():
    smdp = qltest.Smdp(PKI)
    card = new_card("monitor", seed=1)
    svc = Service({"card": direct_spec(card)})
    mon = None
    try:
        env = svc.bus.env
        mon = subprocess.Popen([QL, "--json", "monitor"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = json.loads(mon.stdout.readline())
        assert first == {"event": "monitoring", "euiccs": 1}, first
        r = ql("--json", "profile", "download", "--activation-code",
               f"LPA:1${smdp.address}$WATCHED", env=env)
        iccid = json.loads(r.out)["iccid"]
        ql("profile", "enable", iccid, env=env)
        events = []
        while not any(e["event"] == "profile-changed" for e in events):
            line = mon.stdout.readline()
            assert line, f"monitor ended: {mon.stderr.read()}"
            events.append(json.loads(line))
        added = [e for e in events if e["event"] == "profile-added"]
        assert [e["iccid"] for e in added] == [iccid], events
        assert added[0]["state"] == "disabled", added
        delivered = [e for e in events if e["event"] == "notification-delivered"]
        assert [(e["iccid"], e["operation"]) for e in delivered] == [(iccid, "install")], events
        changed = [e for e in events if e["event"] == "profile-changed"]
        assert changed[0]["iccid"] == iccid and changed[0]["state"] == "enabled", changed
        mon.send_signal(signal.SIGINT)
        mon.communicate(timeout=30)
        assert mon.returncode == 0, mon.returncode
    finally:
        if mon is not None and mon.poll() is None:
            mon.kill()
            mon.wait()
        svc.stop()


qltest.finish(TMP)
