#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The sealed wallet, the audit trail and the vault key in a PKCS#11 token, end to end:
quantra-l (direct mode) with the virtual eUICC against the real test SM-DP+ on loopback, and a
real SoftHSM2 token made here in a private SOFTHSM2_CONF. Prints TAP."""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import SMDP, case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-wallet-")
PKI = os.path.join(TMP, "pki")
n_dir = [0]


def Server(*faults):
    return qltest.Smdp(PKI, *faults, timeout=60)


def fresh(name):
    """A directory only quantra-l writes into: its state dir and the virtual eUICC's file."""
    n_dir[0] += 1
    d = os.path.join(TMP, f"{n_dir[0]}-{name}")
    os.makedirs(d)
    return d


class Box:
    """One quantra-l installation: a state dir, a virtual eUICC, a configuration."""

    def __init__(self, name, seed=1, config="", env=None):
        self.dir = fresh(name)
        self.state = os.path.join(self.dir, "state")
        self.spec = f"virtual:{self.dir}/euicc.state?identity={PKI}/euicc&seed={seed}"
        self.config = os.path.join(TMP, f"{n_dir[0]}.conf")
        with open(self.config, "w") as f:
            f.write(config)
        self.env = env

    def run(self, *args, device=False, expect=0, json_out=True):
        r = qltest.quantra("--state-dir", self.state, "--config", self.config, *args,
                           device=self.spec if device else None, json_out=json_out,
                           expect=expect, env=self.env)
        return r

    def ql(self, *args, expect=0):
        return self.run(*args, device=True, expect=expect).out

    def audit(self):
        return self.run("audit", "show").out["records"]


def cc_for(matching_id):
    return subprocess.run([SMDP, "--pki", PKI, "--confirmation-code", matching_id],
                          capture_output=True, text=True, check=True).stdout.strip()


def trust():
    return ["--trust-anchor", f"{PKI}/ci.pem"]


def forms(secret):
    """The ways a secret could sit in a file: plain, hex (upper, lower), base64 and base64url,
    at each of the three alignments inside a longer encoded blob."""
    raw = secret.encode()
    out = {"plain": raw, "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode()}
    for name, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        out[name] = enc(raw).rstrip(b"=")
        for off in (1, 2):
            e = enc(b"\0" * off + raw).rstrip(b"=")
            # drop the characters that also depend on the filler or on what follows
            core = e[4:len(e) - 4]
            if len(core) >= 8:
                out[f"{name}+{off}"] = core
    return out


def scan(root, secrets):
    """Every file under @root, byte by byte: [(path, secret, form)] found."""
    found = []
    for d, _, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                data = f.read()
            for s in secrets:
                for form, needle in forms(s).items():
                    if needle in data:
                        found.append((path, s, form))
    return found


# the first start writes the PKI
Server().stop()
qltest.servers.clear()


@case("downloads and wallet: no code, matching id or confirmation code in any file written")
def _():
    s = Server()
    b = Box("clear")
    mid_cc = "CC-WALLET-7f3a9c21d4"      # needs a confirmation code, kept in the wallet
    mid_qr = "QR-WALLET-55e0b1c9aa"      # from a QR image, kept with --keep
    mid_direct = "CC-DIRECT-0b9e33f1c2"  # typed on the command line, with a confirmation code
    code_cc = f"LPA:1${s.address}${mid_cc}$$1"
    code_qr = f"LPA:1${s.address}${mid_qr}"
    cc1, cc2 = cc_for(mid_cc), cc_for(mid_direct)
    png = os.path.join(TMP, "wallet-qr.png")  # outside the scanned directory
    subprocess.run(["qrencode", "-o", png, code_qr], check=True)

    r = b.run("code", "add", "--activation-code", code_cc, "--label", "work").out
    assert r["code"]["confirmation_code_required"] is True, r
    r = b.run("code", "add", "--qr", png).out
    assert r["code"]["label"] == "127.0.0.1", r
    listed = b.run("code", "list").out["codes"]
    assert [(c["label"], c["smdp_address"], c["confirmation_code_required"]) for c in listed] \
        == [("127.0.0.1", s.address, False), ("work", s.address, True)], listed
    assert mid_cc not in json.dumps(listed) and mid_qr not in json.dumps(listed)
    text = b.run("code", "list", json_out=False).out
    assert "work" in text and s.address in text and "needed" in text, text
    assert mid_cc not in text and mid_qr not in text, text

    d1 = b.ql("profile", "download", "--code", "work", "--confirmation-code", cc1, *trust())
    assert d1["confirmation_code_used"] is True, d1
    d2 = b.ql("profile", "download", "--code", "127.0.0.1", "--keep", *trust())
    d3 = b.ql("profile", "download", "--activation-code", f"LPA:1${s.address}${mid_direct}",
              "--confirmation-code", cc2, *trust())
    labels = [c["label"] for c in b.run("code", "list").out["codes"]]
    assert labels == ["127.0.0.1"], f"used code not removed, or kept one lost: {labels}"
    iccids = [p["iccid"] for p in b.ql("profile", "list")["profiles"]]
    assert [d1["iccid"], d2["iccid"], d3["iccid"]] == iccids[1:], (iccids, d1, d2, d3)
    b.ql("profile", "enable", d1["iccid"])
    b.ql("profile", "nickname", d1["iccid"], "travel")
    b.ql("profile", "disable", d1["iccid"])
    b.ql("profile", "delete", d2["iccid"])
    b.ql("notification", "process", "--all", *trust())
    revealed = b.run("code", "show", "127.0.0.1", "--reveal", "--yes").out
    assert revealed["activation_code"] == code_qr, revealed

    found = scan(b.dir, [code_cc, code_qr, mid_cc, mid_qr, mid_direct, cc1, cc2])
    assert found == [], f"secrets in files: {found}"
    # the scan itself can find one: the same bytes written in clear are caught in every form
    probe = os.path.join(b.dir, "probe")
    for form, needle in forms(mid_cc).items():
        with open(probe, "wb") as f:
            f.write(os.urandom(7) + needle + os.urandom(5))
        assert scan(b.dir, [mid_cc]), f"the scan misses the {form} form"
    os.unlink(probe)
    # every file the program wrote in its state dir is owner-only
    for d, dirs, files in os.walk(b.state):
        for name in files + dirs:
            mode = os.stat(os.path.join(d, name)).st_mode & 0o777
            assert mode in (0o600, 0o700), (name, oct(mode))

    actions = [(x["action"], x["fields"].get("iccid"), x["fields"].get("label"))
               for x in b.audit()]
    assert actions == [
        ("code-add", None, "work"), ("code-add", None, "127.0.0.1"),
        ("profile-download", d1["iccid"], "work"), ("code-use", d1["iccid"], "work"),
        ("profile-download", d2["iccid"], "127.0.0.1"), ("code-use", d2["iccid"], "127.0.0.1"),
        ("profile-download", d3["iccid"], None),
        ("profile-enable", d1["iccid"], None), ("profile-nickname", d1["iccid"], None),
        ("profile-disable", d1["iccid"], None), ("profile-delete", d2["iccid"], None),
        ("notification-deliver", None, None), ("code-reveal", None, "127.0.0.1"),
    ], actions
    rec = b.audit()[2]["fields"]
    assert rec["smdp"] == s.address and rec["outcome"] == "installed", rec
    assert re.fullmatch(r"[0-9A-F]{32}", rec["eid"]), rec
    ok = b.run("audit", "verify", json_out=False).out
    assert ok.startswith("OK: 13 records"), ok


@case("audit verify names an edited, a deleted, a reordered and a cut record")
def _():
    b = Box("tamper", seed=1)
    iccid = b.ql("profile", "list")["profiles"][0]["iccid"]
    for i in range(3):
        b.ql("profile", "enable", iccid)
        b.ql("profile", "disable", iccid)
    log = os.path.join(b.state, "audit.log")
    with open(log) as f:
        good = f.read()
    lines = good.splitlines(keepends=True)
    assert len(lines) == 6
    assert b.run("audit", "verify").out == {"result": "ok", "records": 6}
    edited = lines[:]
    edited[2] = edited[2].replace("profile-enable", "profile-delete")
    swapped = lines[:]
    swapped[3], swapped[4] = swapped[4], swapped[3]
    for what, text, named in (("edited", edited, "record 3"),
                              ("deleted", lines[:1] + lines[2:], "record 2"),
                              ("reordered", swapped, "record 5"),
                              ("truncated", lines[:4], "record 5")):
        with open(log, "w") as f:
            f.write("".join(text))
        r = b.run("audit", "verify", expect=1)
        msg = r.out["error"]["message"]
        assert f"({what})" in msg and named in msg, (what, msg)
    with open(log, "w") as f:
        f.write(good)
    b.run("audit", "verify")


@case("a change the audit trail cannot take is not made")
def _():
    b = Box("untrusted", seed=1)
    iccid = b.ql("profile", "list")["profiles"][0]["iccid"]
    b.ql("profile", "enable", iccid)
    os.unlink(os.path.join(b.state, "vault", "audit", "tail"))
    err = b.ql("profile", "disable", iccid, expect=1)["error"]["message"]
    assert "tail" in err, err
    assert b.ql("profile", "list")["profiles"][0]["state"] == "enabled", "changed anyway"
    b.run("audit", "verify", expect=1)


@case("a damaged wallet record is named and the others still open")
def _():
    b = Box("damaged")
    for i, label in enumerate(("a", "b", "c")):
        b.run("code", "add", "--activation-code", f"LPA:1$smdp{i}.example.com$ID-{i}",
              "--label", label)
    path = os.path.join(b.state, "vault", "code", "b")
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0x04
        f.seek(0)
        f.write(data)
    r = b.run("code", "list")
    codes = {c["label"]: c for c in r.out["codes"]}
    assert codes["b"]["damaged"] is True and not codes["a"]["damaged"] \
        and not codes["c"]["damaged"], codes
    assert "code/b" in r.stderr, r.stderr
    assert codes["c"]["smdp_address"] == "smdp2.example.com"
    msg = b.run("code", "show", "b", expect=1).out["error"]["message"]
    assert "code/b" in msg and "damaged" in msg, msg


@case("wallet errors are clear and change nothing")
def _():
    b = Box("errors")
    secret = "SECRET-NOT-ECHOED-99"
    b.run("code", "add", "--activation-code", f"LPA:1$smdp.example.com${secret}", "--label", "x")
    for args, code, words in (
            (["code", "add"], 2, "--qr"),
            (["code", "add", "--activation-code", f"LPA:9$smdp.example.com${secret}"], 2, ""),
            (["code", "add", "--activation-code", f"LPA:1$smdp.example.com${secret}"], 4,
             "already in the wallet as 'x'"),
            (["code", "add", "--activation-code", "LPA:1$other.example$Z", "--label", "x"], 4,
             "labelled 'x'"),
            (["code", "add", "--activation-code", "LPA:1$other.example$Z", "--label", "../x"],
             2, "label"),
            (["code", "show", "nope"], 3, "no code labelled 'nope'"),
            (["code", "remove", "nope"], 3, "no code labelled 'nope'"),
            (["code", "show", "x", "--reveal"], 2, "--yes")):
        r = b.run(*args, expect=code)
        msg = r.out["error"]["message"]
        assert words in msg, (args, msg)
        assert secret not in msg and secret not in r.stderr, (args, msg)
    r = b.run("--direct", b.spec, "profile", "download", "--code", "x", "--activation-code",
              "LPA:1$a.example$B", expect=2)
    r = b.run("--direct", b.spec, "profile", "download", "--code", "nope", expect=3)
    assert [c["label"] for c in b.run("code", "list").out["codes"]] == ["x"]
    assert [x["action"] for x in b.audit()] == ["code-add"]


@case("a failed download keeps the wallet code and records the failure")
def _():
    bad = Server("http-500@getBoundProfilePackage")
    b = Box("failed")
    b.run("code", "add", "--activation-code", f"LPA:1${bad.address}$KEEP-ME-1", "--label", "k")
    b.ql("profile", "download", "--code", "k", *trust(), expect=8)
    assert [c["label"] for c in b.run("code", "list").out["codes"]] == ["k"]
    last = b.audit()[-1]
    assert last["action"] == "profile-download" and last["fields"]["outcome"] == "failed", last
    assert last["fields"]["label"] == "k", last
    assert "KEEP-ME-1" not in json.dumps(b.audit())


@case("the state directory: --state-dir, then $QUANTRA_L_STATE_DIR, then state-dir=")
def _():
    d = fresh("dirs")
    conf = os.path.join(d, "q.conf")
    with open(conf, "w") as f:
        f.write(f"[storage]\nstate-dir={d}/from-config\n")
    env = dict(os.environ)
    env.pop("QUANTRA_L_STATE_DIR", None)
    add = ["--config", conf, "code", "add", "--activation-code"]
    qltest.quantra(*add, "LPA:1$a.example$1", env=env)
    env["QUANTRA_L_STATE_DIR"] = f"{d}/from-env"
    qltest.quantra(*add, "LPA:1$b.example$2", env=env)
    qltest.quantra("--state-dir", f"{d}/from-option", *add, "LPA:1$c.example$3", env=env)
    for sub, label in (("from-config", "a.example"), ("from-env", "b.example"),
                       ("from-option", "c.example")):
        assert os.listdir(f"{d}/{sub}/vault/code") == [label], sub
    with open(conf, "w") as f:
        f.write("[storage]\nstate-dirr=/x\n")
    r = qltest.quantra("--config", conf, "code", "list", env=env, expect=2)
    assert "state-dirr" in r.out["error"]["message"]


# --- the vault key in a PKCS#11 token (SoftHSM2) -------------------------------------------------

def softhsm(root):
    """A SoftHSM2 token 'ql-vault' (user PIN 1234) holding an RSA key 'vault-wrap', in a private
    SOFTHSM2_CONF; returns the environment that makes it present."""
    tokens = os.path.join(root, "tokens")
    os.makedirs(tokens)
    conf = os.path.join(root, "softhsm2.conf")
    with open(conf, "w") as f:
        f.write(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                "log.level = ERROR\n")
    env = dict(os.environ, SOFTHSM2_CONF=conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "ql-vault",
                    "--pin", "1234", "--so-pin", "87654321"], env=env, check=True,
                   capture_output=True)
    subprocess.run(["p11tool", "--login", "--set-pin=1234", "--generate-privkey=rsa",
                    "--bits=2048", "--label=vault-wrap", "pkcs11:token=ql-vault"], env=env,
                   check=True, capture_output=True)
    return env


def absent(root):
    """The same machine with the token taken out: SoftHSM2 sees no token directory."""
    empty = os.path.join(root, "no-tokens")
    os.makedirs(empty, exist_ok=True)
    conf = os.path.join(root, "absent.conf")
    with open(conf, "w") as f:
        f.write(f"directories.tokendir = {empty}\nobjectstore.backend = file\n")
    return dict(os.environ, SOFTHSM2_CONF=conf)


def snapshot(root):
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            with open(p, "rb") as f:
                out[p] = f.read()
    return out


URI = "pkcs11:token=ql-vault;object=vault-wrap;type=private?pin-value=1234"


@case("SoftHSM2: the vault key is wrapped by the token; token absent is clear and loses nothing")
def _():
    hsm = fresh("softhsm")
    present = softhsm(hsm)
    b = Box("hsm", seed=1, config=f"[storage]\nvault-key={URI}\n", env=present)
    code = "LPA:1$smdp.example.com$HSM-SECRET-31337"
    b.run("code", "add", "--activation-code", code, "--label", "t")
    assert not os.path.exists(os.path.join(b.state, "vault.key")), "a clear key file"
    wrapped = os.path.join(b.state, "vault.key.p11")
    assert os.stat(wrapped).st_size > 256, "not an RSA-2048 wrapped key"
    r = b.run("code", "show", "t", "--reveal", "--yes").out
    assert r["activation_code"] == code, r
    iccid = b.ql("profile", "list")["profiles"][0]["iccid"]
    before = snapshot(b.dir)

    b.env = absent(hsm)
    for args, device in ((["code", "list"], False),
                         (["code", "add", "--activation-code", "LPA:1$x.example$NEW"], False),
                         (["code", "remove", "t"], False), (["audit", "verify"], False),
                         (["profile", "enable", iccid], True)):
        r = b.run(*args, device=device, expect=qltest.EXIT_DEVICE)
        msg = r.out["error"]["message"]
        assert "PKCS#11" in msg and "not available" in msg and "nothing was changed" in msg, msg
        assert "1234" not in msg and "1234" not in r.stderr, "the PIN in a message"
    after = snapshot(b.dir)
    assert before == after, ("files changed while the token was absent",
                             [p for p in set(before) | set(after) if before.get(p) != after.get(p)])
    assert b.ql("profile", "list")["profiles"][0]["state"] == "disabled", "enabled unrecorded"
    # audit show needs no key: it still works
    recs = b.run("audit", "show").out["records"]
    assert [x["action"] for x in recs] == ["code-add", "code-reveal"], recs

    # a wrong PIN is refused the same way
    b.env = present
    with open(b.config, "w") as f:
        f.write(f"[storage]\nvault-key={URI.replace('1234', '9999')}\n")
    b.run("code", "list", expect=qltest.EXIT_DEVICE)
    with open(b.config, "w") as f:
        f.write(f"[storage]\nvault-key={URI}\n")
    assert [c["label"] for c in b.run("code", "list").out["codes"]] == ["t"]
    b.ql("profile", "enable", iccid)
    r = b.run("audit", "verify").out
    assert r["records"] == 3, r  # code-add, code-reveal, profile-enable
    found = scan(b.dir, [code, "HSM-SECRET-31337"])
    assert found == [], found

    # without the token configured, the vault says where its key is
    with open(b.config, "w") as f:
        f.write("")
    msg = b.run("code", "list", expect=2).out["error"]["message"]
    assert "PKCS#11" in msg and "vault-key=pkcs11:" in msg, msg


@case("SoftHSM2: a key file vault moves under a token configured later")
def _():
    hsm = fresh("softhsm-move")
    present = softhsm(hsm)
    b = Box("move", env=present)
    b.run("code", "add", "--activation-code", "LPA:1$smdp.example.com$MOVE-1", "--label", "m")
    assert os.path.exists(os.path.join(b.state, "vault.key"))
    with open(b.config, "w") as f:
        f.write(f"[storage]\nvault-key={URI}\n")
    assert [c["label"] for c in b.run("code", "list").out["codes"]] == ["m"]
    assert not os.path.exists(os.path.join(b.state, "vault.key")), "clear key left behind"
    assert os.path.exists(os.path.join(b.state, "vault.key.p11"))
    b.run("audit", "verify")
    b.env = absent(hsm)
    b.run("code", "list", expect=qltest.EXIT_DEVICE)


qltest.finish(TMP)
