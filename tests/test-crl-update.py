#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-l crl update against a local HTTP server (python's http.server on 127.0.0.1, a free
port): the test SM-DP+'s CI plays a CI whose CRLs certtool signs. A valid newer CRL is stored;
an older one, one with a lower CRL number, one with a bad signature, a truncated one and a huge
one are refused with a message and the stored CRL is kept; the stored CRL is the one downloads
then consult (crl=required), and a newer one that revokes the SM-DP+'s TLS certificate makes the
download refused [revoked]. A shipped CI's CRL address is overridden to loopback, so nothing
leaves this machine. Prints TAP."""

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-crl-")
PKI = os.path.join(TMP, "pki")
SERVE = os.path.join(TMP, "serve")  # what the HTTP server serves
STORE = os.path.join(TMP, "crl")  # the CRL directory quantra-l keeps
os.makedirs(SERVE)
G1_KID = "4C27967AD20C14B391E9601E41E604AD57C0222F"

qltest.Smdp(PKI).stop()  # the first start writes the PKI
qltest.servers.clear()
CI = os.path.join(PKI, "ci.pem")
CI_KEY = os.path.join(PKI, "ci-key.pem")


def certtool(*args):
    return subprocess.run(["certtool", *args], check=True, capture_output=True,
                          text=True).stdout


def ski(cert):
    info = certtool("--certificate-info", "--infile", cert)
    m = re.search(r"Subject Key Identifier \(not critical\):\s*\n\s*([0-9a-f]+)", info)
    return m.group(1).upper()


KID = ski(CI)


def utc(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


NOW = int(time.time())


def make_crl(name, this_update, number, revoke=None):
    """A DER CRL of the test CI, signed by its key; returns its bytes."""
    tpl = os.path.join(TMP, name + ".tmpl")
    with open(tpl, "w") as f:
        f.write(f"crl_number = {number}\n")
        f.write(f'crl_this_update_date = "{utc(this_update)}"\n')
        f.write(f'crl_next_update_date = "{utc(NOW + 30 * 86400)}"\n')
        if revoke:
            f.write(f'crl_revocation_date = "{utc(this_update)}"\n')
    out = os.path.join(TMP, name + ".crl")
    args = ["--generate-crl", "--load-ca-certificate", CI, "--load-ca-privkey", CI_KEY,
            "--template", tpl, "--outder", "--outfile", out]
    if revoke:
        args += ["--load-certificate", revoke]
    certtool(*args)
    with open(out, "rb") as f:
        return f.read()


V1 = make_crl("v1", NOW - 2 * 86400, 5)
V2 = make_crl("v2", NOW - 86400, 6)
OLDER = make_crl("older", NOW - 3 * 86400, 4)
LOWER_NUMBER = make_crl("lower-number", NOW - 3600, 3)
NEWER = make_crl("newer", NOW - 1800, 7)
# one bit of the signature's s flipped: still a well-formed CRL, the signature fails
BAD_SIGNATURE = NEWER[:-4] + bytes([NEWER[-4] ^ 0x01]) + NEWER[-3:]
TRUNCATED = NEWER[:len(NEWER) // 2]
HUGE = NEWER + b"\0" * 200000
REVOKING = make_crl("revoking", NOW - 600, 9, revoke=os.path.join(PKI, "dptls.pem"))


class Handler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        Handler.requests.append(self.path)
        super().do_GET()


httpd = http.server.ThreadingHTTPServer(
    ("127.0.0.1", 0), functools.partial(Handler, directory=SERVE))
threading.Thread(target=httpd.serve_forever, daemon=True).start()
PORT = httpd.server_address[1]
URL = f"http://127.0.0.1:{PORT}/ci.crl"

CONFIG = os.path.join(TMP, "ql.conf")
with open(CONFIG, "w") as f:
    f.write(f"[tls]\ncrl-dir={STORE}\ncrl=required\n\n[crl]\nurl.{KID}={URL}\n"
            f"url.{G1_KID}={URL}\nmax-size=8192\n")
STORED = os.path.join(STORE, KID.lower() + ".crl")


def serve(data):
    with open(os.path.join(SERVE, "ci.crl"), "wb") as f:
        f.write(data)


def update(*extra, expect=None, json_out=True):
    return qltest.quantra("--config", CONFIG, "--trust-anchor", CI, "crl", "update", KID,
                          *extra, expect=expect, json_out=json_out)


def stored_bytes():
    with open(STORED, "rb") as f:
        return f.read()


def only(r):
    cis = r.out["cis"]
    assert len(cis) == 1 and cis[0]["key_id"] == KID, cis
    return cis[0]


@case("a valid CRL is stored when none is, fetched over plain http from the configured address")
def _():
    serve(V1)
    Handler.requests.clear()
    r = update(expect=0)
    ci = only(r)
    assert ci["result"] == "stored", ci
    assert ci["url"] == URL and Handler.requests == ["/ci.crl"], (ci, Handler.requests)
    assert ci["file"] == STORED and stored_bytes() == V1, ci
    assert ci["crl_number"] == "05" and ci["this_update"] == iso(NOW - 2 * 86400), ci


@case("a newer CRL replaces the stored one; the same one again is current")
def _():
    serve(V2)
    ci = only(update(expect=0))
    assert ci["result"] == "stored" and ci["crl_number"] == "06", ci
    assert stored_bytes() == V2
    ci = only(update(expect=0))
    assert ci["result"] == "current" and ci["message"] is None, ci
    assert stored_bytes() == V2


REFUSALS = [
    ("an older CRL", OLDER, "refused", r"older than the stored one"),
    ("a CRL whose number went back", LOWER_NUMBER, "refused",
     r"CRL number 03 is below the stored one's 06"),
    ("a CRL with a bad signature", BAD_SIGNATURE, "refused",
     r"signature does not verify with the CI's key"),
    ("a truncated CRL", TRUNCATED, "refused", r"not a whole CRL \(truncated or malformed"),
    ("a huge CRL", HUGE, "refused", r"larger than the limit of 8192 bytes"),
]

for title, body, result, words in REFUSALS:
    @case(f"refused, the stored CRL kept: {title}")
    def _(body=body, result=result, words=words):
        serve(body)
        r = update()
        assert r.rc not in (0, qltest.EXIT_USAGE), (r.rc, r.message)
        msg = r.out["error"]["message"]
        assert re.search(words, msg) and "the stored CRL is kept" in msg, msg
        assert "1 CRL was not updated" in msg, msg
        assert stored_bytes() == V2, "the stored CRL changed"
        assert sorted(os.listdir(STORE)) == [os.path.basename(STORED)], os.listdir(STORE)


@case("the server answers 404: failed, with the status, the stored CRL kept")
def _():
    os.unlink(os.path.join(SERVE, "ci.crl"))
    r = update(expect=qltest.EXIT_NETWORK)
    assert "HTTP 404" in r.out["error"]["message"], r.out
    assert stored_bytes() == V2


@case("an https:// address: fetched over TLS (the test SM-DP+ answers 404), the stored CRL kept")
def _():
    s = qltest.Smdp(PKI)
    conf = os.path.join(TMP, "https.conf")
    with open(conf, "w") as f:
        f.write(f"[tls]\ncrl-dir={STORE}\n\n[crl]\nurl.{KID}=https://{s.address}/ci.crl\n")
    r = qltest.quantra("--config", conf, "--trust-anchor", CI, "crl", "update", KID,
                       expect=qltest.EXIT_NETWORK)
    assert "HTTP 404" in r.out["error"]["message"], r.out
    assert any("404" in l for l in s.lines()), "the SM-DP+ saw no GET"
    assert stored_bytes() == V2


@case("the text output names the result, the address and the CRL kept")
def _():
    serve(V2)
    r = update(expect=0, json_out=False)
    assert re.search(r"result\s+current", r.out), r.out
    assert URL in r.out and STORED in r.out and "number 06" in r.out, r.out


@case("a download with crl=required consults the CRL crl update stored")
def _():
    s = qltest.Smdp(PKI)
    state = os.path.join(TMP, "dl.state")
    r = qltest.quantra("--config", CONFIG, *qltest.download_args(s, PKI),
                       device=f"virtual:{state}?identity={PKI}/euicc", expect=0)
    for chain in ("tls", "dpauth", "dppb"):
        crl = r.out["chains"][chain]["crl"]
        assert crl["policy"] == "required" and crl["missing"] == [], crl
        assert [c["file"] for c in crl["consulted"]] == [os.path.basename(STORED)], crl


@case("a newer CRL that revokes the SM-DP+'s TLS certificate: stored, the download refused")
def _():
    serve(REVOKING)
    ci = only(update(expect=0))
    assert ci["result"] == "stored" and ci["crl_number"] == "09", ci
    s = qltest.Smdp(PKI)
    state = os.path.join(TMP, "revoked.state")
    r = qltest.quantra("--config", CONFIG, *qltest.download_args(s, PKI),
                       device=f"virtual:{state}?identity={PKI}/euicc", expect=qltest.EXIT_TRUST)
    assert r.out["error"]["reason"] == "revoked", r.out


@case("a shipped CI (OISTE GSMA CI G1, its address sent to loopback): a CRL it did not sign "
      "is refused")
def _():
    Handler.requests.clear()
    r = qltest.quantra("--config", CONFIG, "crl", "update", G1_KID.lower(), expect=None)
    assert r.rc == qltest.EXIT_TRUST, (r.rc, r.message)
    assert "OISTE GSMA CI G1" in r.message and "not issued by this CI" in r.message, r.message
    assert Handler.requests == ["/ci.crl"], Handler.requests
    assert not any(f.startswith(G1_KID.lower()) for f in os.listdir(STORE)), os.listdir(STORE)


@case("usage errors: an unknown key id, no CRL directory")
def _():
    r = qltest.quantra("--config", CONFIG, "crl", "update", "00" * 20,
                       expect=qltest.EXIT_NOT_FOUND)
    assert "no trusted CI has the key id" in r.message, r.message
    empty = os.path.join(TMP, "empty.conf")
    open(empty, "w").close()
    r = qltest.quantra("--config", empty, "crl", "update", KID, expect=qltest.EXIT_USAGE)
    assert "no CRL directory" in r.message, r.message


httpd.shutdown()
qltest.finish(TMP)
