# SPDX-License-Identifier: GPL-2.0-or-later
"""What the python test harnesses share (stdlib only): TAP results, the fake modems and readers
(which print `device SPEC` when ready and `open-channels N` when stopped), the test SM-DP+
(ql-test-smdp) and a `quantra-l --json` runner, plus the interrupted-download scenario every fault
suite runs. A script finds it with
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests/ (dirname once) or from a folder below it (twice)."""

import fcntl
import json
import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

BUILD = os.environ.get("QL_BUILD_ROOT", "build")
QL = os.environ.get("QUANTRA_L", os.path.join(BUILD, "src", "cli", "quantra-l"))
SMDP = os.path.join(BUILD, "tests", "smdp", "ql-test-smdp")

# quantra-l's exit codes (src/cli)
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_REFUSED = 0, 1, 2, 3, 4
EXIT_DEVICE, EXIT_MALFORMED, EXIT_TRUST, EXIT_NETWORK, EXIT_TIMEOUT = 5, 6, 7, 8, 9

results = []  # (ok, name, message)
servers = []  # test SM-DP+s started in the current case, stopped when it ends


# The default policy of Debian's system bus (dbus 1.14 system.conf): owning names and method
# calls denied unless a service's policy punches a hole; every user may connect.
SYSTEM_BUS_POLICY = """
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
  </policy>
"""


# --- TAP ----------------------------------------------------------------------------------------

def case(name):
    """Runs the decorated function at once as one TAP test point; a failure is a result, and the
    next case runs. SM-DP+s the case started are stopped when it ends."""
    def wrap(fn):
        try:
            fn()
            results.append((True, name, ""))
        except Exception as e:  # noqa: BLE001 - every failure is a test result
            results.append((False, name, f"{type(e).__name__}: {e}"))
        finally:
            for s in servers:
                s.stop()
            servers.clear()
        return fn
    return wrap


def fail(name, message):
    """A failed test point found outside a case (e.g. while tearing down)."""
    results.append((False, name, message))


def check(name, cond, detail=""):
    """A test point printed at once, for scripts that print their plan first."""
    results.append((bool(cond), name, "" if cond else str(detail)))
    _print_point(len(results), bool(cond), name, "" if cond else str(detail))


def _print_point(i, ok, name, msg):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    for line in msg.splitlines():
        print(f"# {line}")


def all_ok():
    return bool(results) and all(r[0] for r in results)


def finish(*tmp_dirs):
    """Prints the plan and the test points, removes @tmp_dirs, exits 0 if every point passed."""
    print(f"1..{len(results)}")
    for i, (ok, name, msg) in enumerate(results, 1):
        _print_point(i, ok, name, msg)
    for d in tmp_dirs:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(0 if all_ok() else 1)


# --- processes ----------------------------------------------------------------------------------

def start(cmd, pattern, timeout=30, **popen_args):
    """Starts @cmd and reads its stdout until a line matches @pattern; returns (process, match)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, **popen_args)
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            raise AssertionError(f"{cmd[0]} exited with {p.wait()} before printing /{pattern}/")
        m = re.match(pattern, line)
        if m:
            return p, m
    p.kill()
    p.wait()
    raise AssertionError(f"{cmd[0]} did not print /{pattern}/ within {timeout} s")


def stop(p, timeout=30):
    """SIGTERM, then what the process printed until it exited."""
    p.terminate()
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return out or ""


def report(out, key):
    """The N of a `KEY N` line a fake printed, or None."""
    m = re.search(rf"^{re.escape(key)} (\d+)$", out, re.M)
    return int(m.group(1)) if m else None


class Fake:
    """A fake modem or reader backed by the virtual eUICC: `PROGRAM --state STATE --seed N
    [--identity DIR] ARGS...`, which prints `device SPEC` when ready, `open-channels N` on SIGUSR1
    (some fakes) and `open-channels N` (and maybe other `KEY N` lines) when stopped. With no
    program, the virtual plugin itself (no process, nothing to stop)."""

    def __init__(self, program, state, *args, seed=3, identity=None):
        self.proc = None
        self.out = ""
        if program is None:
            self.spec = f"virtual:{state}?seed={seed}"
            if identity:
                self.spec += f"&identity={identity}"
            return
        argv = list(program) if isinstance(program, (list, tuple)) else [program]
        cmd = argv + ["--state", state, "--seed", str(seed)]
        if identity:
            cmd += ["--identity", identity]
        self.proc, m = start(cmd + list(args), r"device (\S+)", stderr=sys.stderr)
        self.spec = m.group(1)

    def with_params(self, params):
        """The device spec with plugin parameters (a=1&b=2) added."""
        if not params:
            return self.spec
        return self.spec + ("&" if "?" in self.spec else "?") + params

    def open_channels(self):
        """Asks the running fake (SIGUSR1) how many logical channels the card has open."""
        self.proc.send_signal(signal.SIGUSR1)
        line = self.proc.stdout.readline()
        m = re.match(r"open-channels (\d+)", line)
        assert m, f"unexpected answer from the fake: {line!r}"
        return int(m.group(1))

    def stop(self, timeout=60):
        """Stops the fake; returns the card's open logical channels (its other reports stay in
        self.out, see report())."""
        if self.proc is None:
            return 0
        self.out = stop(self.proc, timeout)
        assert self.proc.returncode == 0, f"the fake exited {self.proc.returncode}"
        left = report(self.out, "open-channels")
        assert left is not None, f"the fake did not report its open channels: {self.out!r}"
        return left


class Smdp:
    """The test SM-DP+ on a loopback port, with its PKI in @pki (written by the first start)."""

    def __init__(self, pki, *faults, events=(), port=0, args=(), timeout=90):
        cmd = [SMDP, "--listen", f"127.0.0.1:{port}", "--pki", pki]
        for f in faults:
            cmd += ["--fault", f]
        for e in events:
            cmd += ["--event", e]
        self.proc = subprocess.Popen(cmd + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        servers.append(self)
        self._lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        line = self.wait_for(r"^listening on 127\.0\.0\.1:(\d+)$", timeout)
        if line is None:
            self.stop()
            raise AssertionError(f"ql-test-smdp did not start (exit {self.proc.returncode})")
        self.port = int(line.rsplit(":", 1)[1])
        self.address = f"127.0.0.1:{self.port}"

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, pattern, timeout=10):
        """The next line that matches @pattern (those before it are consumed), or None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self._lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                self._lines.put(None)
                return None
            if re.search(pattern, line):
                return line
        return None

    def lines(self):
        """What the server logged and nobody waited for (stops it)."""
        self.stop()
        out = []
        while True:
            line = self._lines.get(timeout=10)
            if line is None:
                self._lines.put(None)
                return out
            out.append(line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def loopback_up():
    """Brings "lo" up: a new network namespace starts with it down, and the test SM-DP+ listens
    on 127.0.0.1."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, siocgifflags, req))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))


# --- quantra-l ----------------------------------------------------------------------------------

class Run:
    """One finished quantra-l: rc, out (the parsed JSON, {} when stdout was empty, or the text
    without --json), stderr, took (seconds)."""

    def __init__(self, rc, out, stderr, took):
        self.rc, self.out, self.stderr, self.took = rc, out, stderr, took

    @property
    def message(self):
        """The error's message (JSON), else stderr."""
        err = self.out.get("error", {}) if isinstance(self.out, dict) else {}
        return err.get("message", "") or self.stderr


def quantra(*args, device=None, json_out=True, expect=0, env=None, timeout=120,
            forbid=("CRITICAL",)):
    """Runs `quantra-l [--direct DEVICE] [--json] ARGS` and checks that no signal killed it, that
    it logged none of @forbid and, unless @expect is None, its exit code."""
    cmd = [QL] + (["--direct", device] if device is not None else [])
    cmd += (["--json"] if json_out else []) + list(args)
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                       stdin=subprocess.DEVNULL)
    took = time.monotonic() - t
    if p.returncode < 0:
        raise AssertionError(f"{cmd} killed by signal {-p.returncode}: {p.stderr}")
    for word in forbid:
        if word in p.stderr:
            raise AssertionError(f"{cmd} logged a {word}: {p.stderr}")
    if expect is not None and p.returncode != expect:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}, wanted {expect}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    out = p.stdout
    if json_out:
        try:
            out = json.loads(p.stdout) if p.stdout.strip() else {}
        except json.JSONDecodeError as e:
            raise AssertionError(f"{cmd}: not JSON ({e}): {p.stdout!r}")
    return Run(p.returncode, out, p.stderr, took)


def cmdline_while_connected(make_args, env=None):
    """Starts `quantra-l ARGS`, @make_args(PORT) giving ARGS, against a loopback server on PORT
    that accepts and never answers; returns /proc/PID/cmdline as read while quantra-l waits for
    the TLS handshake (it connects only after its command line was parsed): what any local user
    could read there."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        p = subprocess.Popen([QL] + make_args(port), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            srv.settimeout(60)
            conn, _ = srv.accept()
            with open(f"/proc/{p.pid}/cmdline", "rb") as f:
                cmdline = f.read()
            conn.close()
        finally:
            p.kill()
            p.communicate()
    return cmdline


def answer(spec, *args, expect=0):
    """`quantra-l --direct SPEC --json ARGS`: the JSON answer, or the error's message when a
    failure (@expect) is expected."""
    out = quantra(*args, device=spec, expect=expect).out
    return out["error"]["message"] if expect != 0 else out


def with_fake(program, tmp, name, *args, seed=3):
    """Decorates a body that takes a Fake: one case named @name that runs it with a fresh fake
    (@args its options, its state in @tmp), then asserts that the card has no channel left
    open."""
    def deco(fn):
        @case(name)
        def _():
            fake = Fake(program, os.path.join(tmp, re.sub(r"\W+", "-", name) + ".state"), *args,
                        seed=seed)
            try:
                fn(fake)
            finally:
                left = fake.stop()
            assert left == 0, f"{left} logical channel(s) left open"
        return fn
    return deco


def download_args(smdp, pki, matching_id="ANY"):
    return ["profile", "download", "--activation-code", f"LPA:1${smdp.address}${matching_id}",
            "--trust-anchor", os.path.join(pki, "ci.pem")]


# --- scenarios ----------------------------------------------------------------------------------

def interrupted_download(program, tmp, name, fault_args, pattern, params="",
                         codes=(EXIT_DEVICE,)):
    """The modem (or reader, or card) fails in the middle of the Bound Profile Package load, as
    @fault_args tell the fake @program. quantra-l must end with one of @codes and a message that
    names the load and matches @pattern (never a crash), the fake must count no logical channel
    left open, and after a restart of the fake on the same card no profile may have been
    installed, a notification that was pending before is still there, and the next download
    works."""
    pki = os.path.join(tmp, "pki")
    state = os.path.join(tmp, f"{name}.state")
    identity = os.path.join(pki, "euicc")
    smdp = Smdp(pki)

    # a pending notification first: enable and disable the seeded profile
    fake = Fake(program, state, seed=1, identity=identity)
    try:
        iccid = quantra("profile", "list", device=fake.spec).out["profiles"][0]["iccid"]
        quantra("profile", "enable", iccid, device=fake.spec)
        quantra("profile", "disable", iccid, device=fake.spec)
        pending = quantra("notification", "list", device=fake.spec).out["notifications"]
        assert [n["operation"] for n in pending] == ["enable", "disable"], pending
    finally:
        left = fake.stop()
    assert left == 0, f"{left} logical channel(s) left open before the fault"

    fake = Fake(program, state, *fault_args, seed=1, identity=identity)
    try:
        r = quantra(*download_args(smdp, pki), device=fake.with_params(params), expect=None)
        assert r.rc in codes, f"exit {r.rc}, wanted one of {codes}: {r.message}"
        assert "LoadBoundProfilePackage" in r.message and re.search(pattern, r.message), \
            f"unclear error: {r.message!r} (wanted /{pattern}/ during the load)"
    finally:
        left = fake.stop()
    assert left == 0, f"{left} logical channel(s) left open after the fault"

    fake = Fake(program, state, seed=1, identity=identity)
    try:
        profiles = quantra("profile", "list", device=fake.spec).out["profiles"]
        assert [p["iccid"] for p in profiles] == [iccid], f"a profile was installed: {profiles}"
        seqs = [n["seq"] for n in quantra("notification", "list", device=fake.spec)
                .out["notifications"]]
        assert all(n["seq"] in seqs for n in pending), f"notifications lost: {pending} {seqs}"
        r = quantra(*download_args(smdp, pki), device=fake.spec)
        assert r.out["notification_delivered"] is True, r.out
        profiles = quantra("profile", "list", device=fake.spec).out["profiles"]
        assert [p["iccid"] for p in profiles] == [iccid, r.out["iccid"]], profiles
    finally:
        left = fake.stop()
    assert left == 0, f"{left} logical channel(s) left open after the download"
