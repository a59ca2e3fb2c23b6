#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""End-to-end profile downloads: quantra-l (direct mode) -> the virtual eUICC, against the real
test SM-DP+ (ql-test-smdp) on loopback, with its faults. Prints TAP."""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import SMDP, case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-dl-")
PKI = os.path.join(TMP, "pki")


def Server(*faults, events=(), port=0):
    return qltest.Smdp(PKI, *faults, events=events, port=port, timeout=60)


def ql(state, *args, expect=0, json_out=True):
    r = qltest.quantra(*args, device=f"virtual:{state}?identity={PKI}/euicc", json_out=json_out,
                       expect=expect)
    return r.out, r.stderr


def download(state, server, matching_id="ANY", *extra, expect=0):
    return ql(state, *qltest.download_args(server, PKI, matching_id), *extra, expect=expect)


def profiles(state):
    return ql(state, "profile", "list")[0]["profiles"]


def notifications(state):
    return ql(state, "notification", "list")[0]["notifications"]


n_state = [0]


def fresh_state():
    n_state[0] += 1
    return os.path.join(TMP, f"euicc-{n_state[0]}.state")


# the first start writes the PKI
Server().stop()
qltest.servers.clear()


@case("secure download, one TLS handshake for the whole session")
def _():
    s = Server()
    st = fresh_state()
    r, _ = download(st, s, "ANY", "--secure")
    for key in ("iccid", "tls_version", "cipher_suite", "apdus", "bytes_to_euicc",
                "tls_handshakes", "http_requests", "notification_delivered"):
        assert key in r, (key, r)
    assert r["tls_version"] == "TLS1.3", r
    assert r["cipher_suite"] in ("TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"), r
    assert r["tls_handshakes"] == 1, r
    assert r["http_requests"] == 4, r
    assert r["notification_delivered"] is True, r
    assert r["apdus"] > 10 and r["bytes_to_euicc"] > 1000, r
    p = profiles(st)
    assert [x["iccid"] for x in p] == [r["iccid"]], p
    assert p[0]["state"] == "disabled"
    assert notifications(st) == [], "the delivered notification is removed"
    log = s.lines()
    assert any(l.startswith("notification install") and r["iccid"] in l for l in log), log


@case("secrets stay out of the output, verbose logs included")
def _():
    s = Server()
    st = fresh_state()
    secret = "SECRET-MATCHING-4242"
    r, stderr = download(st, s, secret, "--verbose")
    assert secret not in json.dumps(r) and secret not in stderr, stderr
    # a refused download's error does not echo it either
    s.stop()
    bad = Server("http-500@authenticateClient")
    err, stderr = download(st, bad, secret, "--verbose", expect=8)
    assert secret not in json.dumps(err) and secret not in stderr, stderr


@case("confirmation code required: refused without, installed with")
def _():
    s = Server()
    st = fresh_state()
    err, _ = download(st, s, "CC-4711", expect=2)
    assert "confirmation code" in err["error"]["message"], err
    assert profiles(st) == []
    code = subprocess.run([SMDP, "--pki", PKI, "--confirmation-code", "CC-4711"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert re.fullmatch(r"[0-9A-F]{6}", code), code
    err, stderr = download(st, s, "CC-4711", "--confirmation-code", "000000", expect=4)
    assert "000000" not in stderr and "000000" not in json.dumps(err)
    assert profiles(st) == []
    r, stderr = download(st, s, "CC-4711", "--confirmation-code", code)
    assert r["confirmation_code_used"] is True
    assert code not in stderr and code not in json.dumps(r)
    assert len(profiles(st)) == 1
    log = s.lines()
    assert any("cancelSession" in l for l in log), log


@case("ReplaceSessionKeys (PPK) profile")
def _():
    s = Server()
    st = fresh_state()
    r, _ = download(st, s, "PPK-1")
    assert [x["iccid"] for x in profiles(st)] == [r["iccid"]]


@case("activation code from a QR image")
def _():
    s = Server()
    st = fresh_state()
    png = os.path.join(TMP, "code.png")
    subprocess.run(["qrencode", "-o", png, f"LPA:1${s.address}$QR-CODE-1"], check=True)
    r, _ = ql(st, "profile", "download", "--qr", png, "--trust-anchor", f"{PKI}/ci.pem")
    assert r["notification_delivered"] is True
    assert len(profiles(st)) == 1


@case("provision-esim by carrier name, nickname from the plan")
def _():
    s = Server()
    st = fresh_state()
    carriers = os.path.join(TMP, "carriers.conf")
    with open(carriers, "w") as f:
        f.write(f"[carrier testco]\nname=Test Co\nsmdp={s.address}\n")
    r, _ = ql(st, "provision-esim", "--carrier", "testco", "--plan", "Unlimited 5G",
              "--carriers", carriers, "--trust-anchor", f"{PKI}/ci.pem", "--secure")
    p = profiles(st)
    assert p[0]["iccid"] == r["iccid"] and p[0]["nickname"] == "Unlimited 5G", p
    err, _ = ql(st, "provision-esim", "--carrier", "nope", "--plan", "x", "--carriers",
                carriers, expect=3)
    assert "testco" in err["error"]["message"], err


@case("--secure against a TLS 1.2-only server is refused")
def _():
    s = Server("tls12")
    st = fresh_state()
    err, _ = download(st, s, "ANY", "--secure", expect=7)
    assert "TLS 1.2" in err["error"]["message"] and "TLS 1.3" in err["error"]["message"], err
    assert profiles(st) == []
    assert not any(l.startswith("es9+") for l in s.lines())


CERT_FAULTS = {
    "expired": "expired",
    "not-yet-valid": "not-yet-valid",
    "wrong-host": "wrong-host",
    "unknown-ci": "unknown-ci",
    "revoked": "revoked",
    "wrong-role": "wrong-role",
}


@case("each certificate fault is refused before anything reaches the eUICC")
def _():
    messages = set()
    for fault, tag in CERT_FAULTS.items():
        s = Server(fault)
        st = fresh_state()
        extra = ["--crl-dir", f"{PKI}/crl"] if fault == "revoked" else []
        err, _ = download(st, s, "ANY", *extra, expect=7)
        msg = err["error"]["message"]
        assert f"[{tag}]" in msg, (fault, msg)
        assert err["error"]["reason"] == tag, (fault, err)
        messages.add(msg)
        log = s.lines()
        assert not any(l.startswith("es9+") for l in log), (fault, log)
        assert profiles(st) == [] and notifications(st) == []
    assert len(messages) == len(CERT_FAULTS), messages


@case("a pinned host presenting another key is refused")
def _():
    s = Server()
    st = fresh_state()
    err, _ = download(st, s, "ANY", "--pin", "127.0.0.1=sha256//" + "A" * 43 + "=", expect=7)
    assert "[pin-mismatch]" in err["error"]["message"], err
    assert err["error"]["reason"] == "pin-mismatch", err
    assert not any(l.startswith("es9+") for l in s.lines())


@case("mTLS: works with the client certificate, fails clearly without")
def _():
    s = Server("client-cert")
    st = fresh_state()
    err, _ = download(st, s, "ANY", expect=7)
    assert "client certificate" in err["error"]["message"], err
    r, _ = download(st, s, "ANY", "--client-cert", f"{PKI}/client.pem", "--client-key",
                    f"{PKI}/client-key.pem")
    assert r["client_certificate"] == {"configured": True, "requested": True, "sent": True,
                                       "subject": r["client_certificate"]["subject"]}, r
    assert r["client_certificate"]["subject"], r
    assert len(profiles(st)) == 1


STEP_FAULTS = [
    ("http-500@authenticateClient", 8, "HTTP 500"),
    ("reset@getBoundProfilePackage", 8, ""),
    ("bad-signature", 7, "signature"),
    ("wrong-transaction-id@authenticateClient", 6, "transaction"),
    ("slow@getBoundProfilePackage", 9, ""),
]


@case("a failure at each ES9+ step leaves nothing installed, and the next download works")
def _():
    for fault, code, words in STEP_FAULTS:
        st = fresh_state()
        s = Server(fault)
        extra = ["--timeout", "2"] if fault.startswith("slow") else []
        err, _ = download(st, s, "ANY", *extra, expect=code)
        assert words in err["error"]["message"], (fault, err)
        assert profiles(st) == [], fault
        if fault.startswith(("http-500", "wrong-transaction-id")):
            # the eUICC's signed cancellation reached the SM-DP+
            log = s.lines()
            assert "es9+ cancelSession Executed-Success" in log, (fault, log)
        s.stop()
        good = Server()
        r, _ = download(st, good, "ANY")
        assert [x["iccid"] for x in profiles(st)] == [r["iccid"]], fault


@case("an undelivered notification stays on the eUICC and is delivered later")
def _():
    st = fresh_state()
    s = Server("http-500@handleNotification")
    port = s.port
    r, _ = download(st, s, "ANY")
    assert r["notification_delivered"] is False, r
    assert "500" in r["notification_error"], r
    n = notifications(st)
    assert [x["operation"] for x in n] == ["install"] and n[0]["iccid"] == r["iccid"], n
    s.stop()
    # the SM-DP+ is away: the notification stays
    err, _ = ql(st, "notification", "process", "--all", "--trust-anchor", f"{PKI}/ci.pem",
                expect=8)
    assert len(notifications(st)) == 1
    # back at the same address: delivered and removed
    good = Server(port=port)
    out, _ = ql(st, "notification", "process", "--all", "--trust-anchor", f"{PKI}/ci.pem")
    assert out["delivered"] == 1 and out["failed"] == [], out
    assert notifications(st) == []
    assert any(l.startswith("notification install") for l in good.lines())


@case("a tampered profile segment is refused by the eUICC")
def _():
    st = fresh_state()
    s = Server("tamper-86")
    err, _ = download(st, s, "ANY", expect=4)
    assert "SCP03t security error" in err["error"]["message"], err
    assert profiles(st) == []


@case("a truncated BPP gives a clear error")
def _():
    st = fresh_state()
    s = Server("truncated-bpp")
    err, _ = download(st, s, "ANY", expect=6)
    assert "Bound Profile Package" in err["error"]["message"], err
    assert profiles(st) == []


@case("SM-DS discovery and download by event")
def _():
    st = fresh_state()
    s = Server(events=["EVT-42"])
    out, _ = ql(st, "profile", "discover", "--smds", s.address, "--trust-anchor",
                f"{PKI}/ci.pem")
    ids = [e["event_id"] for e in out["events"]]
    assert ids == ["EVT-42"], out
    ev = out["events"][0]
    r, _ = ql(st, "profile", "download", "--event", f"{ev['event_id']}@{ev['smdp_address']}",
              "--trust-anchor", f"{PKI}/ci.pem")
    assert [x["iccid"] for x in profiles(st)] == [r["iccid"]]


@case("a signing certificate with the wrong role is refused before the eUICC sees it")
def _():
    st = fresh_state()
    s = Server("auth-wrong-role", events=["EVT-43"])
    err, _ = ql(st, "profile", "discover", "--smds", s.address, "--trust-anchor",
                f"{PKI}/ci.pem", expect=7)
    assert "[wrong-role]" in err["error"]["message"], err
    err, _ = download(st, s, "ANY", expect=7)
    assert "DPauth" in err["error"]["message"] and "[wrong-role]" in err["error"]["message"], err
    assert profiles(st) == [] and notifications(st) == []


# --- report truth: each line and field says what the check did, not what was configured ---------

def spki_pin(cert):
    pub = subprocess.run(["certtool", "--pubkey-info", "--outder", "--load-certificate", cert],
                         capture_output=True, check=True).stdout
    return "sha256//" + base64.b64encode(hashlib.sha256(pub).digest()).decode()


def report_lines(text):
    """The secure-mode report's lines as {key: value}."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^  (\S.*?)\s{2,}(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def both(st, s, *extra):
    """The same download twice: the JSON report, then the text one."""
    r, _ = download(st, s, "ANY", *extra)
    text, _ = ql(st, *qltest.download_args(s, PKI, "ANY"), *extra, json_out=False)
    return r, report_lines(text)


CI_DN = "CN=Quantra-L Test CI,O=Quantra-L"


@case("report truth: a pin for another host is not a matched pin; a matched pin names its cert")
def _():
    s = Server()
    st = fresh_state()
    leaf_pin = spki_pin(f"{PKI}/dptls.pem")
    r, text = both(st, s, "--pin", f"other.example={leaf_pin}")
    assert r["chains"]["tls"]["pin"] == {"host": "127.0.0.1", "result": "no-pin"}, r
    assert text["TLS pin"] == "no pin for 127.0.0.1", text
    assert r["chains"]["dpauth"]["pin"] is None and "DPauth pin" not in text, text
    ci_pin = spki_pin(f"{PKI}/ci.pem")
    r, text = both(st, s, "--pin", f"127.0.0.1={ci_pin}")
    pin = r["chains"]["tls"]["pin"]
    assert pin == {"host": "127.0.0.1", "result": "matched", "certificate": "anchor",
                   "subject": CI_DN, "pin": ci_pin}, pin
    assert text["TLS pin"] == f"matched for 127.0.0.1 by the anchor '{CI_DN}' ({ci_pin})", text
    r, text = both(st, s, "--pin", f"127.0.0.1={leaf_pin}")
    assert r["chains"]["tls"]["pin"]["certificate"] == "leaf", r
    assert text["TLS pin"].startswith("matched for 127.0.0.1 by the leaf"), text


@case("report truth: an empty CRL directory consults no CRL; the CI's CRL is named when there, "
      "a stale one is reported stale")
def _():
    s = Server()
    st = fresh_state()
    empty = os.path.join(TMP, "empty-crl")
    os.makedirs(empty, exist_ok=True)
    r, text = both(st, s, "--crl-dir", empty)
    for name in ("tls", "dpauth", "dppb"):
        crl = r["chains"][name]["crl"]
        assert crl == {"policy": "optional", "consulted": [], "missing": [CI_DN],
                       "rejected": []}, (name, crl)
    for key in ("TLS CRL", "DPauth CRL", "DPpb CRL"):
        assert text[key] == f"no CRL for '{CI_DN}'", text
    r, text = both(st, s, "--crl-dir", f"{PKI}/crl", "--crl-required")
    for name in ("tls", "dpauth", "dppb"):
        crl = r["chains"][name]["crl"]
        assert crl["policy"] == "required" and crl["missing"] == [], crl
        assert [(c["issuer"], c["file"], c["stale"]) for c in crl["consulted"]] == \
            [(CI_DN, "ci.crl", False)], crl
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", crl["consulted"][0]["next_update"])
    assert text["TLS CRL"].startswith(f"CRL of '{CI_DN}' (ci.crl, this update "), text
    assert text["TLS CRL"].endswith(") consulted, not revoked"), text
    # a CRL past its nextUpdate: used and reported stale, refused only when CRLs are required
    stale = os.path.join(TMP, "stale-crl")
    os.makedirs(stale, exist_ok=True)
    tmpl = os.path.join(TMP, "stale-crl.tmpl")
    with open(tmpl, "w") as f:
        f.write('crl_number = 7\ncrl_this_update_date = "2020-01-01 00:00:00"\n'
                'crl_next_update_date = "2020-02-01 00:00:00"\n')
    subprocess.run(["certtool", "--generate-crl", "--template", tmpl, "--outfile",
                    f"{stale}/old.crl", "--load-ca-certificate", f"{PKI}/ci.pem",
                    "--load-ca-privkey", f"{PKI}/ci-key.pem"], capture_output=True, check=True)
    r, text = both(st, s, "--crl-dir", stale)
    crl = r["chains"]["tls"]["crl"]
    assert [(c["file"], c["stale"], c["next_update"]) for c in crl["consulted"]] == \
        [("old.crl", True, "2020-02-01T00:00:00Z")] and crl["missing"] == [], crl
    assert text["TLS CRL"].endswith("consulted, not revoked, but STALE"), text
    err, _ = download(st, s, "ANY", "--crl-dir", stale, "--crl-required", expect=7)
    assert err["error"]["reason"] == "stale-crl", err


@case("report truth: a server that does not ask for a client certificate gets none")
def _():
    mtls = ["--client-cert", f"{PKI}/client.pem", "--client-key", f"{PKI}/client-key.pem"]
    s = Server()
    st = fresh_state()
    r, text = both(st, s, *mtls)
    assert r["client_certificate"] == {"configured": True, "requested": False, "sent": False,
                                       "subject": None}, r
    assert text["mTLS"] == ("the server did not ask for a client certificate; the configured "
                            "one was not sent"), text
    r, text = both(st, s)
    assert r["client_certificate"] == {"configured": False, "requested": False, "sent": False,
                                       "subject": None}, r
    s.stop()
    s = Server("client-cert")
    r, text = both(st, s, *mtls)
    cc = r["client_certificate"]
    assert cc["requested"] and cc["sent"] and cc["configured"] and cc["subject"], cc
    assert text["mTLS"] == (f"the server asked for a client certificate; '{cc['subject']}' "
                            "was sent"), text


@case("report truth: the anchor each chain was verified to, by subject and key id")
def _():
    s = Server()
    st = fresh_state()
    ski = subprocess.run(["certtool", "-i", "--infile", f"{PKI}/ci.pem"], capture_output=True,
                         text=True, check=True).stdout
    key_id = re.search(r"Subject Key Identifier \(not critical\):\s*\n\s*([0-9a-f]+)",
                       ski).group(1).upper()
    r, text = both(st, s)
    for name, role in (("tls", "localhost"), ("dpauth", "auth"), ("dppb", "pb")):
        ch = r["chains"][name]
        assert ch["anchor"] == {"subject": CI_DN, "key_id": key_id, "source": "admin",
                                "euicc_listed": True}, ch
        assert role in ch["certificate"], ch
    assert r["chains"]["tls"]["host"] == {"name": "127.0.0.1", "matched": "ip-address"}, r
    for key in ("TLS chain", "DPauth chain", "DPpb chain"):
        assert f"verified to anchor '{CI_DN}' (key id {key_id}, admin)" in text[key], text


qltest.finish(TMP)
