#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The card stays usable by other PC/SC clients: after quantra-l used a card whose ATR offers
T=0 and T=1 (the fake's), a client that asks T=0 only (as lpac does) connects; and a card that
another client holds in T=1 still works for quantra-l. Through ql-fake-pcsc (a real pcscd with
the vpcd driver). Usage: test-pcsc-protocol.py FAKE CLIENT. Prints TAP."""

import os
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402

FAKE, CLIENT = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="ql-pcsc-protocol-")


def reader_and_socket(spec):
    """pcsc:READER?socket=PATH -> (READER, PATH)"""
    path, _, query = spec[len("pcsc:"):].partition("?")
    params = urllib.parse.parse_qs(query)
    return urllib.parse.unquote(path), params["socket"][0]


def client(spec, protocol):
    reader, sock = reader_and_socket(spec)
    p = subprocess.run([CLIENT, "--socket", sock, "--reader", reader, "--protocol", protocol],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout.strip()


@qltest.with_fake(FAKE, TMP, "a T=0-only client connects after quantra-l used the card")
def _(fake):
    r = qltest.quantra("--verbose", "chip", "info", device=fake.spec)
    assert len(r.out["eid"]) == 32, r.out
    assert "with T=0" in r.stderr, f"quantra-l did not choose T=0: {r.stderr}"
    rc, out = client(fake.spec, "t0")
    assert rc == 0 and out == "connected T=0", f"T=0 client after quantra-l: {out}"
    # and again after a whole session with logical channels and a profile switch
    iccid = qltest.answer(fake.spec, "profile", "list")["profiles"][0]["iccid"]
    qltest.answer(fake.spec, "profile", "enable", iccid)
    rc, out = client(fake.spec, "t0")
    assert rc == 0 and out == "connected T=0", f"T=0 client after a profile switch: {out}"


@qltest.with_fake(FAKE, TMP, "a card another client holds in T=1 still works for quantra-l")
def _(fake):
    reader, sock = reader_and_socket(fake.spec)
    holder = subprocess.Popen([CLIENT, "--socket", sock, "--reader", reader, "--protocol", "t1",
                               "--hold"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        first = holder.stdout.readline().strip()
        assert first == "connected T=1", f"the holder: {first}"
        assert holder.stdout.readline().strip() == "holding"
        r = qltest.quantra("--verbose", "chip", "info", device=fake.spec)
        assert len(r.out["eid"]) == 32, r.out
        assert "with T=1" in r.stderr, f"quantra-l did not join T=1: {r.stderr}"
        assert len(qltest.answer(fake.spec, "profile", "list")["profiles"]) == 3
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert holder.returncode == 0


@qltest.with_fake(FAKE, TMP, "extended=on: T=1 with extended lengths, and the card is left as it "
                  "was for a T=0-only client")
def _(fake):
    spec = fake.spec + ("&" if "?" in fake.spec else "?") + "extended=on"
    r = qltest.quantra("--verbose", "chip", "info", device=spec)
    assert len(r.out["eid"]) == 32, r.out
    assert "with T=1, extended lengths" in r.stderr, f"no T=1 with extended lengths: {r.stderr}"
    rc, out = client(fake.spec, "t0")
    assert rc == 0 and out == "connected T=0", f"T=0 client after an extended session: {out}"


qltest.finish(TMP)
