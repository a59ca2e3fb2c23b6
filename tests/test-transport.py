#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""One end-to-end suite for every way to reach an eUICC. With no argument it runs on the virtual
plugin directly; with `--fake PROGRAM [ARGS]` it starts a fake modem or reader (which prints
`device SPEC` when ready and `open-channels N` when stopped) backed by the virtual eUICC, and
runs the same commands through that transport. Prints TAP."""

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
SMDP = os.path.join(BUILD, "tests", "smdp", "ql-test-smdp")
TMP = tempfile.mkdtemp(prefix="ql-transport-")
results = []


class Fake:
    """A fake transport (or none, for the virtual plugin itself)."""

    def __init__(self, argv, state, identity=None, seed=3):
        self.proc = None
        if not argv:
            self.spec = f"virtual:{state}?seed={seed}"
            if identity:
                self.spec += f"&identity={identity}"
            return
        cmd = list(argv) + ["--state", state, "--seed", str(seed)]
        if identity:
            cmd += ["--identity", identity]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"{argv[0]} exited with {self.proc.wait()}")
            m = re.match(r"device (\S+)", line)
            if m:
                self.spec = m.group(1)
                return
        raise AssertionError(f"{argv[0]} did not print a device line")

    def stop(self):
        """Stops the fake; returns the card's open logical channels."""
        if self.proc is None:
            return 0
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        m = re.search(r"open-channels (\d+)", out)
        assert m, f"the fake did not report its open channels: {out!r}"
        return int(m.group(1))


def run(spec, *args, expect=0):
    cmd = [QL, "--direct", spec, "--json"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    if p.returncode < 0:
        raise AssertionError(f"{cmd} killed by signal {-p.returncode}: {p.stderr}")
    if p.returncode != expect:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}, wanted {expect}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return json.loads(p.stdout)


def case(name):
    def wrap(fn):
        try:
            fn()
            results.append((True, name, ""))
        except Exception as e:
            results.append((False, name, str(e)))
        return fn
    return wrap


fake_argv = sys.argv[2:] if len(sys.argv) > 2 and sys.argv[1] == "--fake" else []
state = os.path.join(TMP, "euicc.state")


@case("profile management through the transport")
def _():
    fake = Fake(fake_argv, state)
    try:
        spec = fake.spec
        info = run(spec, "chip", "info")
        eid = info["eid"]
        assert len(eid) == 32 and int(eid) % 97 == 1, eid
        p = run(spec, "profile", "list")["profiles"]
        assert len(p) == 3 and all(x["state"] == "disabled" for x in p), p
        a, b, c = [x["iccid"] for x in p]
        run(spec, "profile", "enable", a)
        run(spec, "profile", "enable", b)
        st = {x["iccid"]: x["state"] for x in run(spec, "profile", "list")["profiles"]}
        assert st == {a: "disabled", b: "enabled", c: "disabled"}, st
        run(spec, "profile", "disable", b)
        run(spec, "profile", "nickname", a, "Travel")
        err = run(spec, "profile", "enable", "8944000000000000001", expect=3)
        assert "no profile" in err["error"]["message"], err
        run(spec, "profile", "delete", c)
        p = run(spec, "profile", "list")["profiles"]
        assert [x["iccid"] for x in p] == [a, b] and p[0]["nickname"] == "Travel", p
        n = run(spec, "notification", "list")["notifications"]
        assert [x["operation"] for x in n] == ["enable", "disable", "enable", "disable",
                                               "delete"], n
        run(spec, "notification", "remove", "--all")
        assert run(spec, "notification", "list")["notifications"] == []
        assert run(spec, "chip", "info")["eid"] == eid
    finally:
        left = fake.stop()
    assert left == 0, f"{left} logical channel(s) left open"


@case("profile download through the transport")
def _():
    if not os.path.exists(SMDP):
        raise AssertionError("ql-test-smdp is not built")
    pki = os.path.join(TMP, "pki")
    srv = subprocess.Popen([SMDP, "--listen", "127.0.0.1:0", "--pki", pki],
                           stdout=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline()
        m = re.match(r"listening on (127\.0\.0\.1:\d+)", line)
        assert m, line
        fake = Fake(fake_argv, os.path.join(TMP, "dl.state"), identity=f"{pki}/euicc", seed=0)
        try:
            r = run(fake.spec, "profile", "download", "--activation-code",
                    f"LPA:1${m.group(1)}$ANY", "--trust-anchor", f"{pki}/ci.pem", "--secure")
            assert r["notification_delivered"] is True and r["tls_handshakes"] == 1, r
            p = run(fake.spec, "profile", "list")["profiles"]
            assert [x["iccid"] for x in p] == [r["iccid"]], p
        finally:
            left = fake.stop()
        assert left == 0, f"{left} logical channel(s) left open"
    finally:
        srv.terminate()
        srv.wait()


print(f"1..{len(results)}")
for i, (ok, name, msg) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if not ok:
        for line in msg.splitlines():
            print(f"# {line}")
shutil.rmtree(TMP, ignore_errors=True)
sys.exit(0 if all(r[0] for r in results) else 1)
