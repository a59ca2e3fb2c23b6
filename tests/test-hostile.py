#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The hostile-answer suite: quantra-l (direct mode, virtual eUICC) against the real test SM-DP+
on loopback when one ES9+ answer, or the TLS handshake, is trickled or corrupted. Each case must
end within --timeout + 1 s with the exit code and a clear message, leave the eUICC as it was
(profiles and notifications compared before and after), and, where the eUICC had opened its
session, the SM-DP+ must have received cancelSession with the reason SGP.22 gives. Then hostile
text (control characters from the SM-DP+ or the card reach the terminal escaped) and a hostile QR
image (refused from its header, with small memory). Prints TAP and a table of the cases."""

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import QL, case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-hostile-")
PKI = os.path.join(TMP, "pki")
BASE = os.path.join(TMP, "base.state")
TIMEOUT = 3  # --timeout for every case, in seconds

# SGP.22 CancelSessionReason
END_USER_REJECTION, TIMEOUT_REASON, LOAD_BPP_ERROR, UNDEFINED = 0, 2, 5, 127

# what a terminal acts on: none of it may reach stdout or stderr raw
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f\u202a-\u202e\u2066-\u2069]")

qltest.Smdp(PKI).stop()  # the first start writes the PKI
qltest.servers.clear()


def device(state):
    return f"virtual:{state}?identity={PKI}/euicc"


def ql(state, *args, expect=0, json_out=True):
    return qltest.quantra(*args, device=device(state), json_out=json_out, expect=expect,
                          timeout=60)


def card_state(state):
    """What must not change: the profiles and the pending notifications, as the CLI lists them."""
    return (ql(state, "profile", "list").out["profiles"],
            ql(state, "notification", "list").out["notifications"])


def fresh_card(name):
    state = os.path.join(TMP, re.sub(r"\W+", "-", name) + ".state")
    shutil.copyfile(BASE, state)
    return state


# the card every case starts from: a profile, and two notifications waiting for their SM-DP+
_iccid = qltest.quantra("profile", "list", device=device(BASE) + "&seed=1",
                        timeout=60).out["profiles"][0]["iccid"]
ql(BASE, "profile", "enable", _iccid)
ql(BASE, "profile", "disable", _iccid)
assert len(ql(BASE, "notification", "list").out["notifications"]) == 2

# (fault, exit code, what the message must say, the cancelSession reason or None when the
# eUICC never opened a session and SGP.22 gives the LPA nothing to send)
CASES = [
    ("trickle-handshake", qltest.EXIT_TIMEOUT, r"TLS handshake with 127\.0\.0\.1 timed out", None),
    ("trickle@initiateAuthentication", qltest.EXIT_TIMEOUT,
     r"initiateAuthentication failed: .*whole answer within 3 s", None),
    ("trickle@authenticateClient", qltest.EXIT_TIMEOUT,
     r"authenticateClient failed: .*whole answer within 3 s", TIMEOUT_REASON),
    ("trickle@getBoundProfilePackage", qltest.EXIT_TIMEOUT,
     r"getBoundProfilePackage failed: .*whole answer within 3 s", TIMEOUT_REASON),
    ("garbage@initiateAuthentication", qltest.EXIT_MALFORMED, r"not JSON", None),
    ("garbage@authenticateClient", qltest.EXIT_MALFORMED, r"authenticateClient .*not JSON",
     UNDEFINED),
    ("garbage@getBoundProfilePackage", qltest.EXIT_MALFORMED,
     r"getBoundProfilePackage .*not JSON", UNDEFINED),
    ("huge@getBoundProfilePackage", qltest.EXIT_NETWORK, r"over the limit", UNDEFINED),
    ("reset@authenticateClient", qltest.EXIT_NETWORK, r"authenticateClient", UNDEFINED),
    ("http-500@getBoundProfilePackage", qltest.EXIT_NETWORK, r"HTTP 500", UNDEFINED),
    ("wrong-transaction-id@getBoundProfilePackage", qltest.EXIT_MALFORMED,
     r"another transaction", UNDEFINED),
    ("truncated-bpp", qltest.EXIT_MALFORMED, r"Bound Profile Package", LOAD_BPP_ERROR),
    ("pb-wrong-role", qltest.EXIT_TRUST, r"DPpb certificate was refused.*\[wrong-role\]",
     UNDEFINED),
    ("bad-signature@initiateAuthentication", qltest.EXIT_TRUST, r"DPauth signature", None),
]

table = []


def run_case(fault, code, pattern, reason):
    state = fresh_card(fault)
    before = card_state(state)
    smdp = qltest.Smdp(PKI, fault)
    r = ql(state, *qltest.download_args(smdp, PKI), "--timeout", str(TIMEOUT), expect=None)
    log = smdp.lines()
    cancels = [int(m.group(1)) for m in (re.match(r"cancelSession reason (-?\d+)$", line)
                                         for line in log) if m]
    table.append((fault, r.rc, cancels[0] if cancels else "-", f"{r.took:.2f}"))
    assert r.rc == code, f"exit {r.rc}, wanted {code}: {r.message}"
    assert re.search(pattern, r.message), f"unclear error: {r.message!r} (wanted /{pattern}/)"
    # the bound: the case ends within the timeout and one second
    assert r.took <= TIMEOUT + 1, f"took {r.took:.2f} s with --timeout {TIMEOUT}"
    assert not RAW_CONTROLS.search(r.stderr), f"raw control characters: {r.stderr!r}"
    if reason is None:
        assert cancels == [], f"cancelSession without an eUICC session: {log}"
    else:
        assert cancels == [reason], f"cancelSession reasons {cancels}, wanted [{reason}]: {log}"
        assert "es9+ cancelSession Executed-Success" in log, log
    after = card_state(state)
    assert after == before, f"the eUICC changed:\n{before}\n{after}"


for _fault, _code, _pattern, _reason in CASES:
    case(f"hostile answer {_fault}: exit {_code}, "
         f"{'cancelSession ' + str(_reason) if _reason is not None else 'nothing to cancel'}, "
         f"eUICC unchanged")(lambda f=_fault, c=_code, p=_pattern, r=_reason: run_case(f, c, p, r))


@case("the eUICC refuses the SM-DP+: its refusal reaches the SM-DP+ in authenticateClient")
def _():
    state = fresh_card("unknown-ci-pkid")
    before = card_state(state)
    smdp = qltest.Smdp(PKI, "unknown-ci-pkid")
    r = ql(state, *qltest.download_args(smdp, PKI), "--timeout", str(TIMEOUT),
           expect=qltest.EXIT_REFUSED)
    log = smdp.lines()
    table.append(("unknown-ci-pkid", r.rc, "-", f"{r.took:.2f}"))
    assert "did not accept the SM-DP+" in r.message, r.message
    assert r.took <= TIMEOUT + 1, f"took {r.took:.2f} s with --timeout {TIMEOUT}"
    # SGP.22 3.1.2: the eUICC's AuthenticateServerResponse, an error, ends the server's session
    assert "es9+ authenticateClient Failed 8.1/6.1" in log, log
    assert not any(line.startswith("cancelSession") for line in log), log
    assert card_state(state) == before


@case("a trickled handleNotification: the profile stays, its notification is kept for later")
def _():
    state = fresh_card("trickle-notification")
    profiles, notifications = card_state(state)
    smdp = qltest.Smdp(PKI, "trickle@handleNotification")
    r = ql(state, *qltest.download_args(smdp, PKI), "--timeout", str(TIMEOUT))
    table.append(("trickle@handleNotification", r.rc, "-", f"{r.took:.2f}"))
    assert r.took <= TIMEOUT + 1, f"took {r.took:.2f} s with --timeout {TIMEOUT}"
    assert r.out["notification_delivered"] is False, r.out
    assert "whole answer within 3 s" in r.out["notification_error"], r.out
    after_profiles, after_notifications = card_state(state)
    assert [p["iccid"] for p in after_profiles] == \
        [p["iccid"] for p in profiles] + [r.out["iccid"]], after_profiles
    assert after_notifications[:len(notifications)] == notifications, after_notifications
    assert [n["operation"] for n in after_notifications[len(notifications):]] == ["install"]


@case("the whole download has its own deadline (--download-timeout)")
def _():
    state = fresh_card("download-deadline")
    before = card_state(state)
    smdp = qltest.Smdp(PKI, "trickle@getBoundProfilePackage")
    r = ql(state, *qltest.download_args(smdp, PKI), "--timeout", "30", "--download-timeout",
           "2", expect=qltest.EXIT_TIMEOUT)
    log = smdp.lines()
    table.append(("download-timeout 2, timeout 30", r.rc, "2" if "cancelSession reason 2" in log
                  else "-", f"{r.took:.2f}"))
    assert re.search(r"deadline of 2 s for the whole exchange", r.message), r.message
    assert r.took <= 2 + 1, f"took {r.took:.2f} s with --download-timeout 2"
    assert "cancelSession reason 2" in log, log
    assert card_state(state) == before
    # and from the configuration file, checked like the rest of it
    smdp = qltest.Smdp(PKI, "trickle@getBoundProfilePackage")
    conf = os.path.join(TMP, "deadline.conf")
    with open(conf, "w") as f:
        f.write("[tls]\ntimeout=30\ndownload-timeout=2\n")
    r = ql(state, *qltest.download_args(smdp, PKI), "--config", conf,
           expect=qltest.EXIT_TIMEOUT)
    assert re.search(r"deadline of 2 s for the whole exchange", r.message), r.message
    assert card_state(state) == before
    with open(conf, "w") as f:
        f.write("[tls]\ndownload-timeout=0\n")
    r = ql(state, *qltest.download_args(smdp, PKI), "--config", conf, expect=qltest.EXIT_USAGE)
    assert "download-timeout" in r.message, r.message


@case("the SM-DP+'s status codes and message reach the terminal escaped")
def _():
    state = fresh_card("status-text")
    smdp = qltest.Smdp(PKI, "status-text@authenticateClient")
    r = ql(state, *qltest.download_args(smdp, PKI), expect=qltest.EXIT_REFUSED, json_out=False)
    assert not RAW_CONTROLS.search(r.stderr), f"raw control characters: {r.stderr!r}"
    assert len(r.stderr.strip().splitlines()) == 1, f"one error, one line: {r.stderr!r}"
    assert "8.2.6\\e]0;pwned" in r.stderr and "3.8\\r\\nFAKE: ok" in r.stderr, r.stderr
    # --json: valid JSON, the same words
    r = ql(state, *qltest.download_args(smdp, PKI), expect=qltest.EXIT_REFUSED)
    assert "8.2.6\\e]0;pwned" in r.out["error"]["message"], r.out


@case("profile and provider names with control characters are printed escaped")
def _():
    state = fresh_card("hostile-names")
    smdp = qltest.Smdp(PKI, "hostile-names")
    r = ql(state, *qltest.download_args(smdp, PKI), "--verbose", json_out=False)
    for stream in (r.out, r.stderr):
        assert not RAW_CONTROLS.search(stream), f"raw control characters: {stream!r}"
    assert "Evil\\e]0;pwned\\x07\\r\\nFAKE: installed\\u{202E}" in r.out, r.out
    assert "Prov\\e[2J\\x7F\\u{009B}1m" in r.out, r.out
    assert not re.search(r"^\s*FAKE", r.out, re.M), "a forged line"
    listing = ql(state, "profile", "list", json_out=False)
    assert not RAW_CONTROLS.search(listing.out), f"raw control characters: {listing.out!r}"
    assert "Evil\\e]0;pwned" in listing.out, listing.out
    # JSON keeps the name exact (escaped by JSON itself)
    names = [p["name"] for p in ql(state, "profile", "list").out["profiles"]]
    assert "Evil\x1b]0;pwned\x07\r\nFAKE: installed\u202e" in names, names


def write_png(path, width, height):
    """A 1-bit greyscale PNG of @width x @height white pixels: small file, huge canvas."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" +
                chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)) +
                chunk(b"IDAT", data) + chunk(b"IEND", b""))


@case("a QR image of 20000x20000 pixels is refused from its header, with small memory")
def _():
    png = os.path.join(TMP, "huge.png")
    write_png(png, 20000, 20000)
    p = subprocess.Popen([QL, "--direct", device(fresh_card("qr")), "profile", "download",
                          "--qr", png], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True)
    # the child's own peak RSS (wait4), read before anything else reaps it
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read()
    print(f"# {os.path.getsize(png)} byte PNG of 20000x20000 pixels: exit {p.returncode}, "
          f"peak RSS {usage.ru_maxrss // 1024} MiB")
    assert p.returncode == qltest.EXIT_USAGE, (p.returncode, err)
    assert "20000x20000 pixels" in err and "crop or scale it down" in err, err
    # decoding it would take 1.2 GB
    assert usage.ru_maxrss < 256 * 1024, f"peak RSS {usage.ru_maxrss} KiB"


print("# case | exit | cancelSession reason | seconds")
for row in table:
    print("# " + " | ".join(str(x) for x in row))
qltest.finish(TMP)
