#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What quantra-esimd keeps on the host, on a private system-like bus with polkitd from
python3-dbusmock, the virtual eUICC and the real test SM-DP+ on loopback: the audit trail of its
state directory takes a record for every change made through D-Bus (read back and verified by
`quantra-l audit show/verify` on that directory), holds no secret in any form, and a change it
cannot record is refused before the eUICC is touched; and the CIs' CRLs are kept fresh every
crl-refresh= seconds from a python http.server on 127.0.0.1. Prints TAP."""

import base64
import functools
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qldaemon as q  # noqa: E402
from qldaemon import v  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import SMDP, case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-esimd-state-")
PKI = os.path.join(TMP, "pki")
qltest.Smdp(PKI).stop()  # the first start writes the PKI
qltest.servers.clear()

bus = q.Bus(TMP)
watcher = q.Client(bus)
polkit = q.Polkit(bus, watcher)
polkit.allow_all()
n_conf = [0]


class Service:
    """The daemon with one virtual eUICC (one profile, disabled) and its own state directory."""

    def __init__(self, state_dir=None, daemon=None, tls=None, sections=None):
        n_conf[0] += 1
        self.state = os.path.join(TMP, f"euicc-{n_conf[0]}.state")
        self.spec = q.virtual_spec(self.state, PKI, 1)
        self.state_dir = state_dir or os.path.join(TMP, f"state-{n_conf[0]}")
        self.config = q.write_config(os.path.join(TMP, f"conf-{n_conf[0]}"), PKI,
                                     {"card": self.spec}, daemon=daemon, tls=tls,
                                     state_dir=self.state_dir, sections=sections)
        self.daemon = q.Daemon(bus, self.config, watcher)
        self.euicc = watcher.euiccs()[0]

    def profiles(self):
        return watcher.profiles(self.euicc)

    def direct(self, *args):
        return qltest.quantra(*args, device=self.spec).out

    def stop(self):
        code = self.daemon.stop()
        assert code == 0, f"quantra-esimd exited {code}: {self.daemon.text()}"


def confirmation_code(matching_id):
    return subprocess.run([SMDP, "--pki", PKI, "--confirmation-code", matching_id],
                          capture_output=True, text=True, check=True).stdout.strip()


def forms(secret):
    """@secret as plain text, hex (either case) and base64 (at each of the three alignments)"""
    raw = secret.encode()
    out = {raw, raw.hex().encode(), raw.hex().upper().encode()}
    for pad in range(3):
        b64 = base64.b64encode(b"\0" * pad + raw)
        # the characters that depend on the secret's bytes alone
        out.add(b64[4 if pad else 0:len(b64) - 4])
    return out


def files_under(top):
    for d, _, names in os.walk(top):
        for n in names:
            yield os.path.join(d, n)


def audit(state_dir, *args, expect=0):
    return qltest.quantra("--state-dir", state_dir, "audit", *args, expect=expect)


@case("the service's changes go into the audit trail of its state directory, in order, "
      "verified by `quantra-l audit verify`; no secret is in any file there")
def _():
    svc = Service()
    try:
        s = qltest.Smdp(PKI)
        client = q.Client(bus)
        client.register_agent()
        matching_id = "CC-AUDIT-7311"
        code = confirmation_code(matching_id)
        client.agent_answer = code
        ac = f"LPA:1${s.address}${matching_id}"
        op = client.download(svc.euicc, {"activation-code": v("s", ac)})
        report = client.wait_finished(op)
        assert report["result"] == "ok" and report["confirmation_code_used"], report
        iccid = report["iccid"]
        path = q.ROOT + "/Profile/" + iccid
        client.call(path, q.PROFILE, "Enable", ({},), "(a{sv})")
        client.call(path, q.PROFILE, "SetNickname", ("travel",), "(s)")
        eid = svc.direct("chip", "info")["eid"]

        recs = audit(svc.state_dir, "show").out["records"]
        got = [(r["action"], r["fields"]) for r in recs]
        assert [a for a, _ in got] == ["profile-download", "profile-enable",
                                       "profile-nickname"], got
        assert [r["seq"] for r in recs] == [1, 2, 3], recs
        assert got[0][1] == {"eid": eid, "smdp": s.address, "iccid": iccid,
                             "outcome": "installed", "notification": "delivered"}, got[0]
        assert got[1][1] == {"eid": eid, "iccid": iccid}, got[1]
        assert got[2][1] == {"eid": eid, "iccid": iccid, "nickname": "travel"}, got[2]
        ok = audit(svc.state_dir, "verify").out
        assert ok == {"result": "ok", "records": 3}, ok
        text = qltest.quantra("--state-dir", svc.state_dir, "audit", "verify",
                              json_out=False).out
        assert text.startswith("OK: 3 records"), text

        # a failed download (the agent gives another order's code) is recorded with its outcome,
        # and the secrets stay out of it too
        bad = f"LPA:1${s.address}$CC-OTHER-4242"
        op = client.download(svc.euicc, {"activation-code": v("s", bad)})
        failed = client.wait_finished(op)
        assert failed["result"] != "ok", failed
        last = audit(svc.state_dir, "show").out["records"][-1]
        assert last["action"] == "profile-download" and last["fields"]["outcome"] == "failed"
        assert last["fields"]["smdp"] == s.address and last["fields"].get("error"), last

        svc.stop()
        secrets = [ac, matching_id, code, bad, "CC-OTHER-4242"]
        names = list(files_under(svc.state_dir))
        assert any(n.endswith("audit.log") for n in names), names
        for name in names:
            with open(name, "rb") as f:
                data = f.read()
            for secret in secrets:
                for form in forms(secret):
                    assert form not in data, f"{name} holds a secret ({form!r})"
        ok = audit(svc.state_dir, "verify").out
        assert ok == {"result": "ok", "records": 4}, ok
        client.close()
    finally:
        svc.stop()


@case("a change the trail cannot record is refused before the eUICC is touched, with a clear "
      "error; reading still works")
def _():
    broken = os.path.join(TMP, "not-a-directory")
    with open(broken, "w") as f:
        f.write("a file where the state directory should be\n")
    svc = Service(state_dir=broken)
    try:
        c = q.Client(bus)
        before = svc.profiles()
        iccid = next(iter(before))
        assert before[iccid]["State"] != "enabled", before
        msg = q.expect_error(lambda: c.call(q.ROOT + "/Profile/" + iccid, q.PROFILE, "Enable",
                                            ({},), "(a{sv})"), "org.quantra.Esim1.Error.Io")
        assert "refused before the eUICC was touched" in msg and "audit trail" in msg, msg
        assert broken in msg and "state-dir=" in msg, msg
        msg = q.expect_error(lambda: c.call(svc.euicc, q.EUICC, "SetDefaultSmdp",
                                            ("smdp.example.org",), "(s)"),
                             "org.quantra.Esim1.Error.Io")
        assert "audit trail" in msg, msg
        card = {p["iccid"]: p for p in svc.direct("profile", "list")["profiles"]}
        assert card[iccid]["state"] == "disabled", card
        assert not svc.direct("chip", "info").get("default_smdp"), "the address was set"
        c.call(svc.euicc, q.EUICC, "Refresh")  # reading is not refused
        c.close()
    finally:
        svc.stop()


# ---- CRLs ----

def certtool(*args):
    return subprocess.run(["certtool", *args], check=True, capture_output=True,
                          text=True).stdout


def ski(cert):
    info = certtool("--certificate-info", "--infile", cert)
    m = re.search(r"Subject Key Identifier \(not critical\):\s*\n\s*([0-9a-f]+)", info)
    return m.group(1).upper()


def make_crl(name, this_update, number):
    """A DER CRL of the test CI, signed by its key"""
    def utc(t):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
    tpl = os.path.join(TMP, name + ".tmpl")
    with open(tpl, "w") as f:
        f.write(f"crl_number = {number}\n")
        f.write(f'crl_this_update_date = "{utc(this_update)}"\n')
        f.write(f'crl_next_update_date = "{utc(time.time() + 30 * 86400)}"\n')
    out = os.path.join(TMP, name + ".crl")
    certtool("--generate-crl", "--load-ca-certificate", os.path.join(PKI, "ci.pem"),
             "--load-ca-privkey", os.path.join(PKI, "ci-key.pem"), "--template", tpl,
             "--outder", "--outfile", out)
    with open(out, "rb") as f:
        return f.read()


class Handler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        Handler.requests.append(self.path)
        super().do_GET()


@case("crl-refresh=1: the service fetches the test CI's CRL into the CRL directory, replaces it "
      "with a newer one served later, and warns about the CRL it cannot fetch")
def _():
    serve_dir = os.path.join(TMP, "serve")
    store = os.path.join(TMP, "crl")
    os.makedirs(serve_dir)
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=serve_dir))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    kid = ski(os.path.join(PKI, "ci.pem"))
    urls = {f"url.{kid}": f"{base}/ci.crl"}
    # the shipped CIs are asked on loopback too (404 there): nothing leaves this machine
    ci_dir = os.path.join(q.SOURCE, "data", "ci")
    for name in sorted(os.listdir(ci_dir)):
        urls[f"url.{ski(os.path.join(ci_dir, name))}"] = f"{base}/shipped-{name}.crl"
    now = int(time.time())
    v1 = make_crl("v1", now - 2 * 86400, 5)
    v2 = make_crl("v2", now - 86400, 6)
    with open(os.path.join(serve_dir, "ci.crl"), "wb") as f:
        f.write(v1)
    stored = os.path.join(store, kid.lower() + ".crl")

    def stored_is(data):
        try:
            with open(stored, "rb") as f:
                return f.read() == data
        except FileNotFoundError:
            return False

    svc = Service(daemon={"crl-refresh": 1}, tls={"crl-dir": store}, sections={"crl": urls})
    try:
        q.wait_until(lambda: stored_is(v1), 60, "the first CRL in the CRL directory")
        with open(os.path.join(serve_dir, "ci.crl.new"), "wb") as f:
            f.write(v2)
        os.rename(os.path.join(serve_dir, "ci.crl.new"), os.path.join(serve_dir, "ci.crl"))
        q.wait_until(lambda: stored_is(v2), 60, "the newer CRL in the CRL directory")
        assert os.listdir(store) == [os.path.basename(stored)], os.listdir(store)
        log = svc.daemon.text()
        assert re.search(r"CRL update: .*stored from " + re.escape(base + "/ci.crl"), log), log
        assert re.search(r"warning: CRL update: .*failed: .*404.*tried again in 1 s", log), log
        assert all(p == "/ci.crl" or p.startswith("/shipped-") for p in Handler.requests)
        # D-Bus is answered while the updates go on
        watcher.call(svc.euicc, q.EUICC, "Refresh")
    finally:
        svc.stop()
        httpd.shutdown()


@case("crl-refresh=0, or no crl-dir=: no CRL is fetched")
def _():
    Handler.requests.clear()
    svc = Service(daemon={"crl-refresh": 0}, tls={"crl-dir": os.path.join(TMP, "crl-off")})
    try:
        watcher.call(svc.euicc, q.EUICC, "Refresh")
        assert "CRL refresh off (crl-refresh=0)" in svc.daemon.text(), svc.daemon.text()
    finally:
        svc.stop()
    svc = Service(daemon={"crl-refresh": 1})
    try:
        assert "CRL refresh off (no crl-dir= in [tls])" in svc.daemon.text(), svc.daemon.text()
    finally:
        svc.stop()
    assert not os.path.exists(os.path.join(TMP, "crl-off")), "a CRL directory was made"
    assert Handler.requests == [], Handler.requests


watcher.close()
polkit.stop()
bus.stop()
qltest.finish(TMP)
