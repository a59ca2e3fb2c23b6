#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""One end-to-end suite for every way to reach an eUICC. With no argument it runs on the virtual
plugin directly; with `--fake PROGRAM [ARGS]` it starts a fake modem or reader (which prints
`device SPEC` when ready and `open-channels N` when stopped) backed by the virtual eUICC, and
runs the same commands through that transport. Prints TAP."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import SMDP, case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-transport-")


def Fake(argv, state, identity=None, seed=3):
    """A fake transport (or none, for the virtual plugin itself)."""
    return qltest.Fake(argv or None, state, seed=seed, identity=identity)


def run(spec, *args, expect=0):
    return qltest.quantra(*args, device=spec, expect=expect).out


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
    srv = qltest.Smdp(pki)
    fake = Fake(fake_argv, os.path.join(TMP, "dl.state"), identity=f"{pki}/euicc", seed=0)
    try:
        r = run(fake.spec, *qltest.download_args(srv, pki), "--secure")
        assert r["notification_delivered"] is True and r["tls_handshakes"] == 1, r
        p = run(fake.spec, "profile", "list")["profiles"]
        assert [x["iccid"] for x in p] == [r["iccid"]], p
    finally:
        left = fake.stop()
    assert left == 0, f"{left} logical channel(s) left open"


qltest.finish(TMP)
