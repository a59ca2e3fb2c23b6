#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The trust-anchor rule end to end, with two test CIs made to play the parts (each the CI of a
test SM-DP+ PKI): a virtual eUICC that lists only the second CI downloads from an SM-DP+ whose
DPauth and DPpb chain to it and whose TLS certificate chains to the first CI. By default that
works (older eUICCs omit RSP2 Root CI1 from their list while SM-DP+ servers use it for TLS);
with tls-anchors=euicc-listed it is refused [unknown-ci] before any request byte. A DPauth that
chains to a CI the eUICC does not list is refused before the eUICC sees it. Test CIs are
trusted only when added with --trust-anchor. A modified CI file in the CI directory is refused
with a message. Prints TAP."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-anchors-")
FIRST = os.path.join(TMP, "first")  # its CI plays the CI the SM-DP+'s TLS certificate uses
SECOND = os.path.join(TMP, "second")  # its CI is the only one the eUICC lists
for pki in (FIRST, SECOND):
    qltest.Smdp(pki).stop()  # the first start writes the PKI
qltest.servers.clear()
CARD_INFO = {"BF20", "BF2E", "BF3E"}  # GetEuiccInfo1, GetEuiccChallenge, GetEID (for the audit trail)


def ski(cert):
    info = subprocess.run(["certtool", "--certificate-info", "--infile", cert], check=True,
                          capture_output=True, text=True).stdout
    m = re.search(r"Subject Key Identifier \(not critical\):\s*\n\s*([0-9a-f]+)", info)
    return m.group(1).upper()


FIRST_KID = ski(os.path.join(FIRST, "ci.pem"))
SECOND_KID = ski(os.path.join(SECOND, "ci.pem"))
assert FIRST_KID != SECOND_KID

LISTED = os.path.join(TMP, "euicc-listed.conf")
with open(LISTED, "w") as f:
    f.write("[tls]\ntls-anchors=euicc-listed\n")
DEFAULT = os.path.join(TMP, "default.conf")
with open(DEFAULT, "w") as f:
    f.write("[tls]\ntls-anchors=all\n")

n_state = [0]


def device():
    """A fresh virtual eUICC whose identity lists only the second CI."""
    n_state[0] += 1
    return f"virtual:{TMP}/euicc-{n_state[0]}.state?identity={SECOND}/euicc"


def mixed_server():
    """DPauth and DPpb from the second CI, the TLS certificate from the first."""
    return qltest.Smdp(SECOND, args=["--tls-chain", os.path.join(FIRST, "dptls.pem"),
                                     "--tls-key", os.path.join(FIRST, "dptls-key.pem")])


def download(server, *extra, anchors=(FIRST, SECOND), expect=None, env=None):
    args = ["--verbose", "profile", "download", "--activation-code",
            f"LPA:1${server.address}$ANCHORS"]
    for pki in anchors:
        args += ["--trust-anchor", os.path.join(pki, "ci.pem")]
    return qltest.quantra(*args, *extra, device=device(), expect=expect, env=env)


def es10_commands(stderr):
    return set(re.findall(r"^ql-virtual: ES10 ([0-9A-F]+)$", stderr, re.M))


def server_requests(server):
    return [m.group(1) for m in (re.match(r"^es9\+ (\w+)", l) for l in server.lines()) if m]


@case("the eUICC lists only the second CI (its identity's ci/ folder)")
def _():
    out = qltest.quantra("chip", "info", device=device()).out
    assert [k["key_id"] for k in out["ci_key_ids_verification"]] == [SECOND_KID], out


@case("default: TLS chained to a CI the eUICC does not list, DPauth/DPpb to the listed one: "
      "installed, and the report names each anchor")
def _():
    s = mixed_server()
    r = download(s, "--config", DEFAULT, expect=0)
    chains = r.out["chains"]
    assert chains["tls"]["anchor"]["key_id"] == FIRST_KID, chains["tls"]
    assert chains["tls"]["anchor"]["euicc_listed"] is False, chains["tls"]
    assert chains["tls"]["anchor"]["source"] == "admin", chains["tls"]
    for name in ("dpauth", "dppb"):
        assert chains[name]["anchor"]["key_id"] == SECOND_KID, chains[name]
        assert chains[name]["anchor"]["euicc_listed"] is True, chains[name]
    assert r.out["notification_delivered"] is True, r.out
    text = qltest.quantra("profile", "list", device=device()).out
    assert text["profiles"] == [], "a fresh card"


@case("tls-anchors=euicc-listed: the same server refused [unknown-ci] with its reason, before "
      "any request byte and any eUICC command beyond the card-info reads")
def _():
    s = mixed_server()
    r = download(s, "--config", LISTED, expect=qltest.EXIT_TRUST)
    err = r.out["error"]
    assert err["reason"] == "unknown-ci", err
    assert "tls-anchors=euicc-listed" in err["message"], err["message"]
    assert "which this eUICC does not list" in err["message"], err["message"]
    seen = es10_commands(r.stderr)
    assert "BF20" in seen and seen <= CARD_INFO, seen
    log = s.lines()
    ended = [l for l in log if l.startswith("connection ended")]
    assert ended and all(l.endswith(": 0 request bytes") for l in ended), log


@case("tls-anchors=euicc-listed with the system store: a configuration error")
def _():
    s = mixed_server()
    r = download(s, "--config", LISTED, "--system-store", expect=qltest.EXIT_USAGE)
    assert "system store" in r.message, r.message


@case("a DPauth chained to a CI the eUICC does not list: refused before the eUICC sees it")
def _():
    # the SM-DP+ of the second CI (so it accepts the eUICC's list), signing with a DPauth of
    # the first
    mixed = os.path.join(TMP, "mixed")
    shutil.copytree(SECOND, mixed)
    for name in ("dpauth.pem", "dpauth-key.pem"):
        shutil.copy(os.path.join(FIRST, name), os.path.join(mixed, name))
    s = qltest.Smdp(mixed)
    r = download(s, "--config", DEFAULT, expect=qltest.EXIT_TRUST)
    err = r.out["error"]
    assert err["reason"] == "unknown-ci", err
    assert "DPauth" in err["message"] or "DP auth" in err["message"], err["message"]
    assert "not one this eUICC accepts" in err["message"], err["message"]
    seen = es10_commands(r.stderr)
    assert "BF38" not in seen and seen <= CARD_INFO, f"the eUICC saw {seen}"
    assert server_requests(s) == ["initiateAuthentication"], "only initiateAuthentication"


@case("test CIs are trusted only when added with --trust-anchor")
def _():
    s = mixed_server()
    r = download(s, anchors=(SECOND,), expect=qltest.EXIT_TRUST)
    assert r.out["error"]["reason"] == "unknown-ci", r.out
    assert "does not chain to a trusted CI" in r.out["error"]["message"], r.out
    s = qltest.Smdp(SECOND)
    r = download(s, anchors=(), expect=qltest.EXIT_TRUST)
    assert r.out["error"]["reason"] == "unknown-ci", r.out


@case("a modified CI file in the CI directory: refused with a message, never trusted")
def _():
    data = os.path.join(TMP, "data")
    os.makedirs(os.path.join(data, "ci"))
    src = os.path.join(os.environ.get("QL_SOURCE_ROOT", "."), "data", "ci")
    for name in os.listdir(src):
        shutil.copy(os.path.join(src, name), os.path.join(data, "ci", name))
    # the first test CI under RSP2 Root CI1's file name
    shutil.copy(os.path.join(FIRST, "ci.pem"),
                os.path.join(data, "ci", "gsma-rsp2-root-ci1.pem"))
    env = dict(os.environ, QL_DATA_DIR=data)
    s = mixed_server()
    r = download(s, anchors=(SECOND,), expect=qltest.EXIT_TRUST, env=env)
    assert re.search(r"the CI file \S+gsma-rsp2-root-ci1\.pem was refused and is not trusted: "
                     r"its SHA-256 [0-9A-F]{64} is not the 5E3E91FD", r.stderr), r.stderr
    assert r.out["error"]["reason"] == "unknown-ci", r.out
    assert "gsma-rsp2-root-ci1.pem was refused" in r.out["error"]["message"], r.out


qltest.finish(TMP)
