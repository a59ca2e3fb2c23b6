#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""MBIM faults through the fake modem: each must give a clear error and a non-zero exit from
quantra-l (never a crash), and leave no logical channel open on the card. Also the SIM slot
mapping (?slot=N). Usage: test-mbim-faults.py PATH-TO-ql-fake-mbim. Prints TAP."""

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
FAKE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(BUILD, "tests", "mbim", "ql-fake-mbim")
TMP = tempfile.mkdtemp(prefix="ql-mbim-faults-")
results = []


class Fake:
    def __init__(self, name, *args):
        cmd = [FAKE, "--state", os.path.join(TMP, name + ".state"), "--seed", "3"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"device (\S+)", line)
        if not m:
            raise AssertionError(f"the fake did not start ({self.proc.wait()}): {line!r}")
        self.spec = m.group(1)

    def with_params(self, params):
        return self.spec + ("&" if "?" in self.spec else "?") + params if params else self.spec

    def stop(self):
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        m = re.search(r"open-channels (\d+)", out)
        assert m, f"the fake did not report its open channels: {out!r}"
        return int(m.group(1))


def quantra(spec, *args):
    cmd = [QL, "--direct", spec, "--json"] + list(args)
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if p.returncode < 0:
        raise AssertionError(f"{cmd} killed by signal {-p.returncode}: {p.stderr}")
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else {}
    except json.JSONDecodeError as e:
        raise AssertionError(f"{cmd}: not JSON ({e}): {p.stdout!r}")
    return p.returncode, out, p.stderr, time.monotonic() - t


def case(name):
    def wrap(fn):
        try:
            fn()
            results.append((True, name, ""))
        except Exception as e:
            results.append((False, name, f"{type(e).__name__}: {e}"))
        return fn
    return wrap


def fault(name, fault_args, params, exit_code, pattern, max_seconds=60, again=True):
    @case(name)
    def _():
        fake = Fake(name.replace(" ", "-"), *fault_args)
        try:
            rc, out, err, took = quantra(fake.with_params(params), "chip", "info")
            msg = out.get("error", {}).get("message", "") or err
            assert rc == exit_code, f"exit {rc}, wanted {exit_code}: {msg}"
            assert re.search(pattern, msg), f"unclear error: {msg!r} (wanted /{pattern}/)"
            assert took < max_seconds, f"took {took:.1f} s"
            # faults fire once: a modem that is still there serves the next command
            if again:
                rc, out, err, _ = quantra(fake.with_params(params), "profile", "list")
                assert rc == 0 and len(out["profiles"]) == 3, (rc, out, err)
        finally:
            left = fake.stop()
        assert left == 0, f"{left} logical channel(s) left open"


fault("timeout", ["--fault", "timeout"], "timeout=2", 9, r"did not answer within 2 s", 20)
fault("vanish", ["--fault", "vanish"], "", 5, r"went away", again=False)
fault("vanish, port opened directly", ["--fault", "vanish", "--no-proxy"], "", 5, r"went away",
      again=False)
fault("status-error", ["--fault", "status-error"], "", 5, r"modem reported a failure")
fault("not-supported", ["--fault", "not-supported"], "", 1, r"does not support")
fault("unknown-status", ["--fault", "unknown-status"], "", 4, r"6F00")
fault("card in another slot", ["--card-slot", "2"], "", 3, r"no SIM card", again=False)


@case("slot=2 maps the card's slot, and puts the old mapping back")
def _():
    fake = Fake("slot", "--card-slot", "2")
    try:
        rc, out, err, _ = quantra(fake.with_params("slot=2"), "chip", "info")
        assert rc == 0 and len(out["eid"]) == 32, (rc, out, err)
        # mapping restored: without slot=2 the card is out of reach again
        rc, out, err, _ = quantra(fake.spec, "chip", "info")
        assert rc == 3, (rc, out, err)
    finally:
        left = fake.stop()
    assert left == 0, f"{left} logical channel(s) left open"


@case("bad parameters are refused in words")
def _():
    fake = Fake("params")
    try:
        for params, pattern in (("slot=0", r"slot=0"), ("timeout=x", r"timeout=x"),
                                ("le=maybe", r"le=maybe"), ("colour=red", r"unknown parameter")):
            rc, out, err, _ = quantra(fake.with_params(params), "chip", "info")
            msg = out.get("error", {}).get("message", "") or err
            assert rc == 2 and re.search(pattern, msg), (params, rc, msg)
    finally:
        left = fake.stop()
    assert left == 0, f"{left} logical channel(s) left open"


print(f"1..{len(results)}")
for i, (ok, name, msg) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    for line in msg.splitlines():
        print(f"# {line}")
shutil.rmtree(TMP, ignore_errors=True)
sys.exit(0 if all(r[0] for r in results) else 1)
