#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The TLS refusal matrix: quantra-l (direct mode, the virtual eUICC) against hostile servers on
loopback. Each server is the real test SM-DP+ serving a chain that certtool made at test time
(--tls-chain / --tls-key), or speaking TLS versions and suites it should not (--tls-priority),
or a socket that never answers. Every case must be refused with its own `reason` in the JSON
error, with no HTTP request byte reaching the server and no eUICC command beyond the card-info
reads (EUICCInfo1, the challenge). A control case with a sound chain must be accepted, so a
harness that refuses everything fails. Then the report-truth case "two CIs with one name".
Prints TAP, and the matrix as a table (case, expected, result, reason)."""

import base64
import hashlib
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-matrix-")
PKI = os.path.join(TMP, "pki")  # the test SM-DP+'s own PKI: DPauth, DPpb, the eUICC identity
M = os.path.join(TMP, "m")  # the matrix PKI, made with certtool
os.makedirs(M)

ROLE = "2.23.146.1.2.1"  # SGP.22 role OIDs: .0 CI, .3 DP TLS, .4 DP auth
CARD_INFO = {"BF20", "BF2E", "BF3E"}  # GetEuiccInfo1, GetEuiccChallenge, GetEID (for the audit trail)

# TLS 1.3 with AES-128-GCM only, below what --secure accepts
PRIO_TLS13_AES128 = "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:-MAC-ALL:+AEAD"
PRIO_TLS12 = ("NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:-MAC-ALL:"
              "+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA")
PRIO_CBC = ("NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC:-MAC-ALL:+SHA1:"
            "+SHA256:-KX-ALL:+ECDHE-ECDSA")
PRIO_TLS11 = "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0:-KX-ALL:+ECDHE-ECDSA"
PRIO_RSA_KX = ("NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:-MAC-ALL:"
               "+AEAD:-KX-ALL:+RSA")
PRIO_DHE = ("NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:-MAC-ALL:"
            "+AEAD:-KX-ALL:+DHE-RSA:-GROUP-ALL:+GROUP-FFDHE2048")


# --- the matrix PKI (certtool) ------------------------------------------------------------------

def certtool(*args):
    p = subprocess.run(["certtool", *args], capture_output=True, text=True)
    assert p.returncode == 0, f"certtool {' '.join(args)}: {p.stderr}"
    return p.stdout


def make_key(name, kind="ec256"):
    path = os.path.join(M, f"{name}-key.pem")
    if kind.startswith("rsa"):
        certtool("--generate-privkey", "--key-type", "rsa", "--bits", kind[3:], "--outfile", path)
    else:
        curve = {"ec256": "secp256r1", "ec224": "secp224r1", "ec192": "secp192r1"}[kind]
        certtool("--generate-privkey", "--key-type", "ecdsa", "--curve", curve, "--outfile", path)
    return path


def make_cert(name, issuer=None, key="ec256", hash_="SHA256", **fields):
    """A certificate NAME.pem (key NAME-key.pem) issued by @issuer (NAME of a CA made here, None:
    self-signed), from certtool template @fields (True: a bare flag; a list: repeated)."""
    keyfile = make_key(name, key) if isinstance(key, str) and "/" not in key else key
    tmpl = os.path.join(M, f"{name}.tmpl")
    with open(tmpl, "w") as f:
        f.write("serial = %d\n" % (int.from_bytes(os.urandom(7), "big")))
        for k, v in fields.items():
            for item in (v if isinstance(v, list) else [v]):
                f.write(f"{k}\n" if item is True else f'{k} = "{item}"\n' if isinstance(item, str)
                        else f"{k} = {item}\n")
    out = os.path.join(M, f"{name}.pem")
    args = ["--template", tmpl, "--load-privkey", keyfile, "--outfile", out, "--hash", hash_]
    if issuer is None:
        certtool("--generate-self-signed", *args)
    else:
        certtool("--generate-certificate", *args,
                 "--load-ca-certificate", os.path.join(M, f"{issuer}.pem"),
                 "--load-ca-privkey", os.path.join(M, f"{issuer}-key.pem"))
    return out


def ca(name, issuer=None, key="ec256", **fields):
    base = dict(cn=f"Matrix {name}", organization="Quantra-L tests", ca=True,
                cert_signing_key=True, crl_signing_key=True, expiration_days=3650,
                policy1=f"{ROLE}.0")
    base.update(fields)
    return make_cert(name, issuer, key, **base)


def leaf(name, issuer="ci", key="ec256", hash_="SHA256", **fields):
    base = dict(cn="127.0.0.1", organization="Quantra-L tests", ip_address="127.0.0.1",
                dns_name="localhost", signing_key=True, tls_www_server=True,
                expiration_days=365, policy1=f"{ROLE}.3")
    base.update({k: v for k, v in fields.items() if v is not None})
    for k in [k for k, v in fields.items() if v is None]:
        base.pop(k, None)
    return make_cert(name, issuer, key, hash_, **base)


def chain(name, *certs):
    """A PEM chain file: the leaf first."""
    path = os.path.join(M, f"{name}-chain.pem")
    with open(path, "w") as out:
        for c in certs:
            with open(os.path.join(M, f"{c}.pem")) as f:
                out.write(f.read())
    return path


def crl(name, issuer, revoked=(), this_update=None, next_update=None, signer=None):
    """A CRL of @issuer (signed by @signer's key, default the issuer's) revoking @revoked."""
    tmpl = os.path.join(M, f"{name}-crl.tmpl")
    with open(tmpl, "w") as f:
        f.write("crl_number = %d\n" % (int.from_bytes(os.urandom(4), "big")))
        if this_update:
            f.write(f'crl_this_update_date = "{this_update}"\n')
        if next_update:
            f.write(f'crl_next_update_date = "{next_update}"\n')
        else:
            f.write("crl_next_update = 30\n")
    d = os.path.join(M, f"crl-{name}")
    os.makedirs(d, exist_ok=True)
    out = os.path.join(d, f"{name}.crl")
    args = ["--generate-crl", "--template", tmpl, "--outfile", out,
            "--load-ca-certificate", os.path.join(M, f"{issuer}.pem"),
            "--load-ca-privkey", os.path.join(M, f"{signer or issuer}-key.pem")]
    if revoked:
        bundle = os.path.join(M, f"{name}-revoked.pem")
        with open(bundle, "w") as b:
            for r in revoked:
                with open(os.path.join(M, f"{r}.pem")) as f:
                    b.write(f.read())
        args += ["--load-certificate", bundle]
    certtool(*args)
    return d


def spki_pin(cert):
    pub = subprocess.run(["certtool", "--pubkey-info", "--outder", "--load-certificate", cert],
                         capture_output=True, check=True).stdout
    return "sha256//" + base64.b64encode(hashlib.sha256(pub).digest()).decode()


def corrupt_signature(src, name):
    """A copy of certificate @src whose signature's last byte is flipped."""
    der = subprocess.run(["certtool", "--certificate-info", "--infile", src, "--outder"],
                         capture_output=True, check=True).stdout
    der = der[:-1] + bytes([der[-1] ^ 0x01])
    out = os.path.join(M, f"{name}.pem")
    shutil.copy(src.replace(".pem", "-key.pem"), os.path.join(M, f"{name}-key.pem"))
    with open(out, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\n")
        b64 = base64.b64encode(der).decode()
        f.write("\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)) + "\n")
        f.write("-----END CERTIFICATE-----\n")
    return out


PAST = dict(activation_date="2015-01-01 00:00:00", expiration_date="2016-01-01 00:00:00")
FUTURE = dict(activation_date="2045-01-01 00:00:00", expiration_date="2046-01-01 00:00:00")

# the first start of the test SM-DP+ writes its PKI (DPauth, DPpb, the eUICC identity)
qltest.Smdp(PKI).stop()
qltest.servers.clear()

ca("ci")
ca("sub", "ci", path_len=0)
ca("other-ci")  # trusted by nobody
ca("unlisted-ci")  # shipped, but the eUICC does not list its key id
ca("expired-ci", **PAST)
ca("sub-expired", "ci", **PAST)
ca("sub-weak", "ci", key="rsa1024")
ca("sub-ec224", "ci", key="ec224")
ca("sub-len0", "ci", path_len=0)
ca("sub-len0-child", "sub-len0")
make_cert("not-a-ca", "ci", cn="Matrix not a CA", signing_key=True, cert_signing_key=True)
leaf("good")
leaf("good-sub", "sub")
leaf("good-rsa", key="rsa2048")
leaf("expired", **PAST)
leaf("not-yet-valid", **FUTURE)
leaf("wrong-host", ip_address="10.9.9.9", dns_name="other.example")
leaf("cn-only", ip_address=None, dns_name=None)
leaf("cn-only-name", cn="localhost", ip_address=None, dns_name=None)  # no SAN at all
leaf("ip-as-dns", ip_address=None, dns_name="127.0.0.1")
leaf("from-other-ci", "other-ci")
make_cert("self-signed", None, cn="127.0.0.1", ip_address="127.0.0.1", signing_key=True,
          tls_www_server=True, expiration_days=365)
leaf("from-unlisted", "unlisted-ci")
leaf("revoked")
ca("sub-revoked", "ci")
leaf("under-sub-revoked", "sub-revoked")
leaf("wrong-role", policy1=f"{ROLE}.4")
leaf("no-role", policy1=None)
leaf("under-not-a-ca", "not-a-ca")
leaf("under-len0-child", "sub-len0-child")
leaf("sha1", hash_="SHA1")
leaf("rsa1024", key="rsa1024")
leaf("under-ec224-sub", "sub-ec224")
leaf("under-weak-sub", "sub-weak")
leaf("under-expired-sub", "sub-expired")
leaf("under-expired-ci", "expired-ci")
leaf("no-signature-usage", key="rsa2048", signing_key=None, encryption_key=True)
leaf("client-eku", tls_www_server=None, tls_www_client=True)
corrupt_signature(os.path.join(M, "good.pem"), "bad-signature")
# another key: a CRL with the CI's name signed by it does not verify
make_key("fake-ci")

CRL_REVOKED = crl("revoked", "ci", revoked=["revoked", "sub-revoked"])
CRL_GOOD = crl("good", "ci")
CRL_EMPTY_DIR = os.path.join(M, "crl-empty")
os.makedirs(CRL_EMPTY_DIR)
CRL_STALE = crl("stale", "ci", this_update="2020-01-01 00:00:00",
                next_update="2020-02-01 00:00:00")
CRL_FORGED = crl("forged", "ci", signer="fake-ci")

# a CI file dropped into the CI directory (QL_DATA_DIR/ci) that is not a shipped CI: refused,
# never trusted (only files whose SHA-256 the CI table names are)
DATA = os.path.join(M, "data")
os.makedirs(os.path.join(DATA, "ci"))
with open(os.path.join(M, "unlisted-ci.pem")) as f, \
        open(os.path.join(DATA, "ci", "unlisted-ci.pem"), "w") as out:
    out.write(f.read())

CONFIG_REQUIRED = os.path.join(M, "crl-required.conf")
with open(CONFIG_REQUIRED, "w") as f:
    f.write(f"[tls]\ncrl-dir={CRL_EMPTY_DIR}\ncrl=required\n")


def pem(name):
    return os.path.join(M, f"{name}.pem")


def key_of(name):
    return os.path.join(M, f"{name}-key.pem")


# --- the hostile servers ------------------------------------------------------------------------

class Silent:
    """A TCP server that accepts and never answers: counts what it got."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.data = b""
        self.conns = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c):
        while True:
            try:
                b = c.recv(65536)
            except OSError:
                return
            if not b:
                return
            self.data += b

    def stop(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class OpenSsl:
    """A TLS server on OpenSSL (Python's ssl): it serves a certificate whose keyUsage forbids
    signing, which GnuTLS servers refuse to use. Logs like the test SM-DP+."""

    def __init__(self, chain_file, key_file, version):
        import ssl
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(chain_file, key_file)
        v = ssl.TLSVersion.TLSv1_3 if version == "1.3" else ssl.TLSVersion.TLSv1_2
        self.ctx.minimum_version = self.ctx.maximum_version = v
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.log = []
        self.threads = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, c):
        got, done = 0, False
        try:
            c.settimeout(30)
            t = self.ctx.wrap_socket(c, server_side=True)
            done = True
            while True:
                b = t.recv(65536)
                if not b:
                    break
                got += len(b)
        except OSError:
            pass
        finally:
            c.close()
            self.log.append(f"connection ended ({'handshake done' if done else 'no handshake'})"
                            f": {got} request bytes")

    def lines(self):
        self.sock.close()
        for t in self.threads:
            t.join(30)
        return self.log


# name, expected reason, certificate chain (names, leaf first), server options
CASES = [
    ("expired leaf", "expired", ["expired"], {}),
    ("leaf not yet valid", "not-yet-valid", ["not-yet-valid"], {}),
    ("expired intermediate", "expired", ["under-expired-sub", "sub-expired"], {}),
    ("expired anchor (admin CI)", "expired", ["under-expired-ci"],
     {"anchors": ["expired-ci"]}),
    ("SAN names another host", "wrong-host", ["wrong-host"], {}),
    ("IP host only in the CN, no SAN", "wrong-host", ["cn-only"], {}),
    ("host name only in the CN", "wrong-host", ["cn-only-name"],
     {"host": "localhost", "words": "names localhost only in its common name"}),
    ("IP literal only as a dNSName", "wrong-host", ["ip-as-dns"], {}),
    ("issued by an unknown CA", "unknown-ci", ["from-other-ci", "other-ci"], {}),
    ("self-signed leaf", "unknown-ci", ["self-signed"], {}),
    ("intermediate not sent", "unknown-ci", ["good-sub"], {}),
    ("CI file in the CI directory that is not a shipped CI", "unknown-ci", ["from-unlisted"],
     {"anchors": [], "data": DATA, "words": "unlisted-ci.pem was refused"}),
    ("leaf revoked by the CI's CRL", "revoked", ["revoked"], {"crl": CRL_REVOKED}),
    ("intermediate revoked by the CI's CRL", "revoked", ["under-sub-revoked", "sub-revoked"],
     {"crl": CRL_REVOKED}),
    ("role OID of DPauth on the TLS leaf", "wrong-role", ["wrong-role"], {}),
    ("no role OID under a GSMA CI", "wrong-role", ["no-role"], {}),
    ("pinned host with another key", "pin-mismatch", ["good"],
     {"args": ["--pin", "127.0.0.1=" + "sha256//" + base64.b64encode(b"\0" * 32).decode()]}),
    ("pin of the CI for another key set", "pin-mismatch", ["good"],
     {"args": ["--pin", f"127.0.0.1=PIN:other-ci"]}),
    ("issuer is not a CA", "bad-chain", ["under-not-a-ca", "not-a-ca"], {}),
    ("path length constraint broken", "bad-chain",
     ["under-len0-child", "sub-len0-child", "sub-len0"], {}),
    ("leaf signature corrupted", "bad-signature", ["bad-signature"], {}),
    ("leaf signed with SHA-1", "bad-signature", ["sha1"], {}),
    ("RSA 1024 leaf", "weak-key", ["rsa1024"], {}),
    ("EC P-224 intermediate", "weak-key", ["under-ec224-sub", "sub-ec224"], {}),
    ("RSA 1024 intermediate", "weak-key", ["under-weak-sub", "sub-weak"], {}),
    # GnuTLS refuses to serve these: OpenSSL does
    ("keyUsage without digitalSignature (TLS 1.3)", "bad-key-usage", ["no-signature-usage"],
     {"openssl": "1.3"}),
    ("keyUsage without digitalSignature (TLS 1.2)", "bad-key-usage", ["no-signature-usage"],
     {"openssl": "1.2"}),
    ("extendedKeyUsage clientAuth only", "bad-key-usage", ["client-eku"], {}),
    ("CRLs required, directory empty", "no-crl", ["good"],
     {"crl": CRL_EMPTY_DIR, "args": ["--crl-required"]}),
    ("CRLs required, only a forged CRL", "no-crl", ["good"],
     {"crl": CRL_FORGED, "args": ["--crl-required"]}),
    ("CRLs required, none for the intermediate", "no-crl", ["good-sub", "sub"],
     {"crl": CRL_GOOD, "args": ["--crl-required"]}),
    ("crl=required in the config, none", "no-crl", ["good"],
     {"args": ["--config", CONFIG_REQUIRED]}),
    ("CRLs required, CRL past nextUpdate", "stale-crl", ["good"],
     {"crl": CRL_STALE, "args": ["--crl-required"]}),
    ("TLS 1.2 only under --secure", "weak-protocol", ["good"],
     {"priority": PRIO_TLS12, "args": ["--secure"]}),
    ("AES-128-GCM only under --secure", "weak-protocol", ["good"],
     {"priority": PRIO_TLS13_AES128, "args": ["--secure"]}),
    ("CBC suites only", "weak-protocol", ["good"], {"priority": PRIO_CBC}),
    ("TLS 1.0/1.1 only", "weak-protocol", ["good"], {"priority": PRIO_TLS11}),
    ("RSA key exchange only", "weak-protocol", ["good-rsa"], {"priority": PRIO_RSA_KX}),
    ("finite-field DHE only", "weak-protocol", ["good-rsa"], {"priority": PRIO_DHE}),
    ("client certificate required (TLS 1.3)", "client-certificate-required", ["good"],
     {"faults": ["client-cert"]}),
    ("client certificate required (TLS 1.2)", "client-certificate-required", ["good"],
     {"faults": ["client-cert"], "priority": PRIO_TLS12}),
    ("server never answers the handshake", "timeout", None, {"args": ["--timeout", "2"]}),
]

table = []


def run_case(name, want, certs, opt):
    """Starts the server, runs the download, returns (Run, server log lines or received bytes)."""
    state = os.path.join(TMP, re.sub(r"\W+", "-", name) + ".state")
    anchors = opt.get("anchors", ["ci"])
    args = []
    for a in anchors:
        args += ["--trust-anchor", pem(a)]
    args += ["--trust-anchor", os.path.join(PKI, "ci.pem")]
    if "crl" in opt:
        args += ["--crl-dir", opt["crl"]]
    for a in opt.get("args", []):
        if a.startswith("127.0.0.1=PIN:"):
            a = "127.0.0.1=" + spki_pin(pem(a.split("PIN:", 1)[1]))
        args.append(a)
    env = dict(os.environ)
    if "data" in opt:
        env["QL_DATA_DIR"] = opt["data"]
    if certs is None:
        server = Silent()
    elif "openssl" in opt:
        server = OpenSsl(chain(re.sub(r"\W+", "-", name), *certs), key_of(certs[0]),
                         opt["openssl"])
    else:
        sargs = ["--tls-chain", chain(re.sub(r"\W+", "-", name), *certs),
                 "--tls-key", key_of(certs[0])]
        if "priority" in opt:
            sargs += ["--tls-priority", opt["priority"]]
        server = qltest.Smdp(PKI, *opt.get("faults", []), args=sargs)
    try:
        r = qltest.quantra("--verbose", "profile", "download", "--activation-code",
                           f"LPA:1${server.address.replace('127.0.0.1', opt.get('host', '127.0.0.1'))}"
                           "$MATRIX-1", *args,
                           device=f"virtual:{state}?identity={PKI}/euicc", expect=None, env=env)
    finally:
        if certs is None:
            server.stop()
    return r, server, state


def server_log(server):
    """What the server logged: read up to the end of the connection (its thread prints that
    line after the client has gone), then the rest once the server is stopped."""
    if isinstance(server, OpenSsl):
        return server.lines()
    out = []
    while True:
        try:
            line = server._lines.get(timeout=60)
        except queue.Empty:
            break
        if line is None:
            server._lines.put(None)
            break
        out.append(line)
        if line.startswith("connection ended"):
            break
    return out + server.lines()


def es10_commands(stderr):
    return set(re.findall(r"^ql-virtual: ES10 ([0-9A-F]+)$", stderr, re.M))


@case("control: a sound certtool chain is accepted, with its intermediate, by IP and by name")
def _():
    r, server, state = run_case("control", None, ["good"], {"host": "localhost"})
    assert r.rc == 0, r.message
    assert r.out["chains"]["tls"]["host"] == {"name": "localhost", "matched": "dns-name"}, r.out
    server.stop()
    r, server, state = run_case("control", None, ["good-sub", "sub"], {})
    assert r.rc == 0, r.message
    assert r.out["result"] == "ok" and r.out["chains"]["tls"]["path_length"] == 3, r.out
    log = server_log(server)
    ended = [l for l in log if l.startswith("connection ended")]
    assert ended and any(not l.endswith(": 0 request bytes") for l in ended), log
    assert "BF38" in es10_commands(r.stderr), "the card log shows AuthenticateServer"
    table.append(("control (sound chain)", "accepted", "accepted", "-"))


for name, want, certs, opt in CASES:
    @case(f"refused [{want}]: {name}")
    def _(name=name, want=want, certs=certs, opt=opt):
        r, server, state = run_case(name, want, certs, opt)
        err = r.out.get("error", {}) if isinstance(r.out, dict) else {}
        reason = err.get("reason")
        table.append((name, want, "accepted" if r.rc == 0 else f"refused ({r.rc})",
                      reason or "-"))
        assert r.rc != 0, f"accepted: {r.out}"
        assert reason == want, f"reason {reason!r}, wanted {want!r}: {err.get('message')}"
        assert f"[{want}]" in err["message"] or want == "timeout", err
        if "words" in opt:
            assert opt["words"] in err["message"], err["message"]
        assert r.rc == (qltest.EXIT_TIMEOUT if want == "timeout" else qltest.EXIT_TRUST), r.rc
        # no request byte reached the server
        if certs is None:
            assert server.data and server.data[0] == 0x16, "no TLS ClientHello"
            assert b"POST" not in server.data and b"HTTP" not in server.data
        else:
            log = server_log(server)
            ended = [l for l in log if l.startswith("connection ended")]
            assert ended, f"the server saw no connection: {log}"
            assert all(l.endswith(": 0 request bytes") for l in ended), log
            assert not any(l.startswith(("es9+", "es11", "http ")) for l in log), log
        # nothing but the card-info reads reached the eUICC
        seen = es10_commands(r.stderr)
        assert "BF20" in seen, f"no card-info read logged: {r.stderr}"
        assert seen <= CARD_INFO, f"eUICC commands beyond the card-info reads: {seen}"


@case("report truth: two CIs with one name, the anchor that matched is the one named")
def _():
    # a second CI with the same subject as "ci" and its own key
    make_cert("ci-twin", None, "ec256", cn="Matrix ci", organization="Quantra-L tests", ca=True,
              cert_signing_key=True, crl_signing_key=True, expiration_days=3650,
              policy1=f"{ROLE}.0")
    leaf("from-twin", "ci-twin")

    def ski(cert):
        info = certtool("--certificate-info", "--infile", cert)
        m = re.search(r"Subject Key Identifier \(not critical\):\s*\n\s*([0-9a-f]+)", info)
        return m.group(1).upper()

    assert ski(pem("ci")) != ski(pem("ci-twin"))
    for issuer in ("ci", "ci-twin"):
        leafname = "good" if issuer == "ci" else "from-twin"
        server = qltest.Smdp(PKI, args=["--tls-chain", chain(f"twin-{issuer}", leafname),
                                        "--tls-key", key_of(leafname)])
        state = os.path.join(TMP, f"twin-{issuer}.state")
        dl = ["profile", "download", "--activation-code", f"LPA:1${server.address}$TWIN",
              "--trust-anchor", pem("ci"), "--trust-anchor", pem("ci-twin"),
              "--trust-anchor", os.path.join(PKI, "ci.pem")]
        dev = f"virtual:{state}?identity={PKI}/euicc"
        r = qltest.quantra(*dl, device=dev)
        anchor = r.out["chains"]["tls"]["anchor"]
        assert anchor["subject"] == r.out["chains"]["tls"]["anchor"]["subject"]
        assert anchor["key_id"] == ski(pem(issuer)), (issuer, anchor)
        assert anchor["source"] == "admin", anchor
        text = qltest.quantra(*dl, device=dev, json_out=False).out
        line = next(l for l in text.splitlines() if l.strip().startswith("TLS chain"))
        assert f"key id {ski(pem(issuer))}" in line, line
        assert f"key id {ski(pem('ci' if issuer == 'ci-twin' else 'ci-twin'))}" not in line
        server.stop()


print("# TLS refusal matrix")
w = max(len(t[0]) for t in table) if table else 10
print(f"# {'case':<{w}}  {'expected':<28} {'result':<13} reason")
for t in table:
    print(f"# {t[0]:<{w}}  {t[1]:<28} {t[2]:<13} {t[3]}")
print(f"# {len([t for t in table if t[1] != 'accepted'])} hostile servers")
qltest.finish(TMP)
