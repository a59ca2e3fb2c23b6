#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""mTLS with the client key in a PKCS#11 token: a SoftHSM2 token made at test time (its own
SOFTHSM2_CONF in a temp folder), the key imported as a sensitive object with p11tool, and
quantra-l reaching it by pkcs11: URI through p11-kit, against the test SM-DP+ that requires a
client certificate. Prints TAP."""

import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-pkcs11-")
PKI = os.path.join(TMP, "pki")
PIN = "40961024"
SO_PIN = "87654321"
TOKEN = "ql-test-token"
KEY_URI = f"pkcs11:token={TOKEN};object=client;type=private"
CERT_URI = f"pkcs11:token={TOKEN};object=client;type=cert"


def softhsm_module():
    """The module p11-kit loads for SoftHSM2 (its module file names it)."""
    with open("/usr/share/p11-kit/modules/softhsm2.module", encoding="utf-8") as f:
        for line in f:
            if line.startswith("module:"):
                return line.split(":", 1)[1].strip()
    raise AssertionError("softhsm2.module names no module")


ENV = dict(os.environ, SOFTHSM2_CONF=os.path.join(TMP, "softhsm2.conf"))
ENV.pop("GNUTLS_PIN", None)
os.makedirs(os.path.join(TMP, "tokens"))
with open(ENV["SOFTHSM2_CONF"], "w", encoding="utf-8") as f:
    f.write(f"directories.tokendir = {TMP}/tokens\nobjectstore.backend = file\n"
            "log.level = ERROR\n")
PIN_FILE = os.path.join(TMP, "pin")
with open(os.open(PIN_FILE, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="utf-8") as f:
    f.write(PIN)


def p11tool(*args, pin=True):
    env = dict(ENV, GNUTLS_PIN=PIN) if pin else ENV
    return subprocess.run(["p11tool", "--provider", softhsm_module()] + list(args), env=env,
                          capture_output=True, text=True, check=True, timeout=60).stdout


def ql(state, *args, expect=0):
    return qltest.quantra(*args, device=f"virtual:{state}?identity={PKI}/euicc", env=ENV,
                          expect=expect)


n_state = [0]


def download(server, *extra, expect=0):
    n_state[0] += 1
    state = os.path.join(TMP, f"euicc-{n_state[0]}.state")
    r = ql(state, *qltest.download_args(server, PKI), *extra, expect=expect)
    installed = ql(state, "profile", "list").out["profiles"]
    return r, installed


# the test PKI (client.pem, client-key.pem under client-ca.pem) and the token holding its key
qltest.Smdp(PKI).stop()
qltest.servers.clear()
subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", SO_PIN,
                "--pin", PIN], env=ENV, capture_output=True, check=True, timeout=60)
p11tool("--login", "--write", "--load-privkey", os.path.join(PKI, "client-key.pem"), "--label",
        "client", "--id", "01", f"pkcs11:token={TOKEN}")
p11tool("--login", "--write", "--load-certificate", os.path.join(PKI, "client.pem"), "--label",
        "client", "--id", "01", f"pkcs11:token={TOKEN}")


@case("the token holds the key as a sensitive object")
def _():
    listing = p11tool("--login", "--list-all", f"pkcs11:token={TOKEN}")
    keys = [b for b in listing.split("Object ") if "type=private" in b]
    assert len(keys) == 1 and "CKA_SENSITIVE" in keys[0], listing
    # it cannot be read out
    out = subprocess.run(["p11tool", "--provider", softhsm_module(), "--login", "--export",
                          KEY_URI], env=dict(ENV, GNUTLS_PIN=PIN), capture_output=True,
                         text=True, timeout=60)
    assert "PRIVATE KEY" not in out.stdout, "the private key was exported"


@case("mTLS with the key in the token (pin-source) and the certificate in a file")
def _():
    s = qltest.Smdp(PKI, "client-cert")
    r, installed = download(s, "--client-cert", os.path.join(PKI, "client.pem"),
                            "--client-key", f"{KEY_URI}?pin-source={PIN_FILE}")
    assert [p["iccid"] for p in installed] == [r.out["iccid"]], installed
    assert r.out["notification_delivered"] is True, r.out


@case("mTLS with certificate and key in the token, from the configuration file")
def _():
    s = qltest.Smdp(PKI, "client-cert")
    conf = os.path.join(TMP, "quantra-l.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(f"[client-certificate 127.0.0.1]\ncert={CERT_URI}\n"
                f"key={KEY_URI}?pin-source={PIN_FILE}\n")
    r, installed = download(s, "--config", conf)
    assert [p["iccid"] for p in installed] == [r.out["iccid"]], installed


@case("a wrong PIN or none: a clear error that never shows the PIN, nothing sent")
def _():
    s = qltest.Smdp(PKI, "client-cert")
    r, installed = download(s, "--client-cert", CERT_URI, "--client-key",
                            f"{KEY_URI}?pin-value=11223344", expect=qltest.EXIT_USAGE)
    msg = r.message
    assert "PIN" in msg and "client certificate" in msg, msg
    assert "11223344" not in msg and "11223344" not in r.stderr and "pin-value=***" in msg, msg
    assert installed == []
    r, installed = download(s, "--client-cert", CERT_URI, "--client-key", KEY_URI,
                            expect=qltest.EXIT_USAGE)
    assert "pin-source=FILE" in r.message, r.message
    assert installed == []
    assert not any(line.startswith("es9+") for line in s.lines())


@case("a PIN given in the URI does not stay readable in /proc/PID/cmdline")
def _():
    # the token accepted the PIN before quantra-l connects
    state = os.path.join(TMP, "cmdline.state")
    cmdline = qltest.cmdline_while_connected(
        lambda port: ["--direct", f"virtual:{state}?identity={PKI}/euicc", "--json", "profile",
                      "download", "--activation-code", f"LPA:1$127.0.0.1:{port}$ANY",
                      "--client-cert", CERT_URI, "--client-key", f"{KEY_URI}?pin-value={PIN}"],
        env=ENV)
    assert KEY_URI.encode() in cmdline, cmdline
    assert PIN.encode() not in cmdline, f"the PIN is readable: {cmdline!r}"


@case("without the key in the token the same URI fails: the key really comes from it")
def _():
    p11tool("--login", "--batch", "--delete", KEY_URI)
    s = qltest.Smdp(PKI, "client-cert")
    r, installed = download(s, "--client-cert", os.path.join(PKI, "client.pem"),
                            "--client-key", f"{KEY_URI}?pin-source={PIN_FILE}",
                            expect=qltest.EXIT_USAGE)
    assert "cannot use client certificate" in r.message, r.message
    assert installed == []
    out = json.dumps(r.out)
    assert PIN not in out and not re.search(PIN, r.stderr), out


qltest.finish(TMP)
