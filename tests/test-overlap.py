#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The download's overlapped steps and its APDU economy, end to end (quantra-l -> the virtual
eUICC, the real test SM-DP+ on loopback): the connection set up while the eUICC is first read,
the Bound Profile Package loaded while its answer arrives, the notification delivered while the
profile is read back, and extended-length STORE DATA. Each fault during an overlapped step must
end as it did before the overlap: a clear error, the session cancelled on both sides, nothing
half installed, pending notifications kept. Prints TAP."""

import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import EXIT_MALFORMED, EXIT_NETWORK, EXIT_REFUSED, EXIT_TRUST, case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-overlap-")
PKI = os.path.join(TMP, "pki")
n_state = [0]


def Server(*faults, size="32K"):
    return qltest.Smdp(PKI, *faults, args=["--profile-size", size], timeout=60)


def card(params=""):
    n_state[0] += 1
    spec = f"virtual:{TMP}/euicc-{n_state[0]}.state?identity={PKI}/euicc&seed=1"
    return spec + ("&" + params if params else "")


def ql(spec, *args, expect=0, env=None):
    return qltest.quantra(*args, device=spec, expect=expect, env=env)


def download(spec, server, *extra, expect=0, env=None):
    return ql(spec, *qltest.download_args(server, PKI), *extra, expect=expect, env=env)


def with_pending_notifications(spec):
    """Enables and disables the seeded profile: two notifications wait on the card."""
    iccid = ql(spec, "profile", "list").out["profiles"][0]["iccid"]
    ql(spec, "profile", "enable", iccid)
    ql(spec, "profile", "disable", iccid)
    pending = ql(spec, "notification", "list").out["notifications"]
    assert [n["operation"] for n in pending] == ["enable", "disable"], pending
    return pending


def unchanged(spec, pending):
    """Nothing was installed and the notifications that waited still do."""
    profiles = ql(spec, "profile", "list").out["profiles"]
    assert len(profiles) == 1, f"a profile was (half) installed: {profiles}"
    assert ql(spec, "notification", "list").out["notifications"] == pending


def segments_loaded(stderr):
    return [int(n) for n in re.findall(r"package segment (\d+) loaded into the eUICC", stderr)]


# the first start writes the PKI
Server().stop()
qltest.servers.clear()


@case("the package is loaded while its answer arrives; one handshake, APDUs at the minimum")
def _():
    spec = card()
    s = Server(size="128K")
    r = download(spec, s, "--secure", "--verbose")
    out = r.out
    assert out["extended_length"] is True and out["apdus"] == out["apdus_minimum"], out
    assert out["tls_handshakes"] == 1 and out["http_requests"] == 4, out
    assert out["notification_delivered"] is True, out
    assert out["bpp_bytes"] > 128 * 1024 and out["bpp_segments"] > 100, out
    # every segment went to the card, in order, as the package arrived
    assert segments_loaded(r.stderr) == list(range(1, out["bpp_segments"] + 1)), r.stderr[-2000:]
    assert out["apdus_beside_connect"] >= 2, out  # EUICCInfo1 and the challenge
    assert out["apdus_beside_notification"] >= 1, out  # the read-back
    listed = ql(spec, "profile", "list").out["profiles"]
    assert out["iccid"] in [p["iccid"] for p in listed], listed
    assert ql(spec, "notification", "list").out["notifications"] == [], "delivered and removed"


@case("the connection resets mid-package while segments are being loaded")
def _():
    spec = card()
    pending = with_pending_notifications(spec)
    s = Server("reset@getBoundProfilePackage")
    r = download(spec, s, "--verbose", expect=EXIT_NETWORK)
    assert "getBoundProfilePackage failed" in r.message, r.message
    # the overlap ran: the card had taken part of the package when the connection broke
    assert segments_loaded(r.stderr), "no segment was loaded before the reset"
    unchanged(spec, pending)
    assert s.wait_for(r"cancelSession reason 127"), "the session was not cancelled"
    assert download(spec, Server()).out["notification_delivered"] is True


@case("a package cut short is found at its end: never installed, cancelled with reason 5")
def _():
    spec = card()
    pending = with_pending_notifications(spec)
    s = Server("truncated-bpp")
    r = download(spec, s, "--verbose", expect=EXIT_MALFORMED)
    assert "Bound Profile Package" in r.message, r.message
    assert segments_loaded(r.stderr), "the first part of the package was not loaded"
    unchanged(spec, pending)
    assert s.wait_for(r"cancelSession reason 5"), "the session was not cancelled (reason 5)"


@case("the eUICC refuses a segment mid-stream: its refusal is the result, nothing installed")
def _():
    spec = card()
    s = Server("tamper-86")
    r = download(spec, s, expect=EXIT_REFUSED)
    assert "SCP03t security error" in r.message, r.message
    assert len(ql(spec, "profile", "list").out["profiles"]) == 1
    # the eUICC's signed refusal went to the SM-DP+ (or waits on the card for later)
    assert s.wait_for(r"install failed") or ql(spec, "notification", "list").out["notifications"]


@case("the eUICC fails while the connection is being set up: its error, no request sent")
def _():
    # the first ES10 command of `profile download` is the CLI's own; then EUICCInfo1 (before the
    # handshake may start) and the challenge (while it runs)
    for skip in (1, 2):
        spec = card(f"fault=sw6f00&fault_skip={skip}")
        s = Server()
        r = download(spec, s, expect=EXIT_REFUSED)
        assert "6F00" in r.message, r.message
        log = s.lines()
        assert not any("initiateAuthentication" in line for line in log), log
        assert any(line.startswith("connection ended") for line in log), log


@case("a TLS refusal met while the eUICC is read is reported at initiateAuthentication")
def _():
    spec = card()
    s = Server("expired")
    r = download(spec, s, expect=EXIT_TRUST)
    assert r.message.startswith("initiateAuthentication failed"), r.message
    assert r.out["error"]["reason"] == "expired", r.out
    assert len(ql(spec, "profile", "list").out["profiles"]) == 1


@case("the notification fails while the profile is read back: installed, notification kept")
def _():
    spec = card()
    s = Server("http-500@handleNotification")
    r = download(spec, s, "--nickname", "work")
    out = r.out
    assert out["notification_delivered"] is False and out["notification_error"], out
    listed = {p["iccid"]: p for p in ql(spec, "profile", "list").out["profiles"]}
    assert listed[out["iccid"]]["nickname"] == "work", listed
    kept = ql(spec, "notification", "list").out["notifications"]
    assert [n["operation"] for n in kept] == ["install"], kept


@case("short APDUs when asked, or when the card takes no extended lengths; forcing them fails")
def _():
    s = Server()
    short = download(card("extended=off"), s).out
    assert short["extended_length"] is False and short["store_data_block"] == 255, short
    assert short["apdus"] == short["apdus_minimum"], short
    ext = download(card(), s).out
    assert ext["extended_length"] is True and ext["apdus"] < short["apdus"], (ext, short)
    plain = download(card("card-extended=off"), s).out
    assert plain["extended_length"] is False and plain["apdus"] == short["apdus"], plain
    block = download(card("block=120"), s).out
    assert block["extended_length"] is False and block["store_data_block"] == 120, block
    spec = card("card-extended=off&extended=on")
    r = ql(spec, "chip", "info", expect=EXIT_REFUSED)
    assert "6700" in r.message and "wrong length" in r.message, r.message
    r = ql(card("extended=maybe"), "chip", "info", expect=qltest.EXIT_USAGE)
    assert "extended=maybe" in r.message, r.message


sys.exit(qltest.finish(TMP))
