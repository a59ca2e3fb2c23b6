#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-esimd on a private system-like bus (with the service's bus policy), polkitd from
python3-dbusmock (allowing everything here; test-daemon-polkit.py refuses), the virtual eUICC
and the real test SM-DP+ on loopback: downloads over D-Bus with Progress and the agent, cancels,
the FIFO queue and its limit, clients leaving the bus, bad input, and the daemon killed in the
middle of a download. Prints TAP."""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qldaemon as q  # noqa: E402
from qldaemon import v  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import SMDP, case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-esimd-")
PKI = os.path.join(TMP, "pki")
qltest.Smdp(PKI).stop()  # the first start writes the PKI
qltest.servers.clear()

bus = q.Bus(TMP)
watcher = q.Client(bus)  # sees every signal; never starts anything
polkit = q.Polkit(bus, watcher)
polkit.allow_all()
n_state = [0]


def confirmation_code(matching_id):
    return subprocess.run([SMDP, "--pki", PKI, "--confirmation-code", matching_id],
                          capture_output=True, text=True, check=True).stdout.strip()


class Service:
    """The daemon with one virtual eUICC (seeded with @seed profiles) in a fresh state file."""

    def __init__(self, seed=1, daemon=None, state=None):
        n_state[0] += 1
        self.state = state or os.path.join(TMP, f"euicc-{n_state[0]}.state")
        self.spec = q.virtual_spec(self.state, PKI, seed)
        self.config = q.write_config(os.path.join(TMP, f"conf-{n_state[0]}"), PKI,
                                     {"card": self.spec}, daemon=daemon)
        self.daemon = q.Daemon(bus, self.config, watcher)
        self.euicc = watcher.euiccs()[0]

    def profiles(self):
        return watcher.profiles(self.euicc)

    def direct(self, *args):
        """what the card holds, read in this process (not through the service)"""
        return qltest.quantra(*args, device=self.spec).out

    def wait_queued(self, kind, n):
        """until the daemon's log shows @n operations of @kind queued"""
        q.wait_until(lambda: self.daemon.text().count(f": {kind} queued") >= n, 60,
                     f"{n} {kind} queued")

    def stop(self):
        code = self.daemon.stop()
        assert code == 0, f"quantra-esimd exited {code}: {self.daemon.text()}"


def with_service(name, **kw):
    def deco(fn):
        @case(name)
        def _():
            svc = Service(**kw)
            try:
                fn(svc)
            finally:
                svc.stop()
        return fn
    return deco


def code_option(smdp, matching_id="ANY"):
    return {"activation-code": v("s", f"LPA:1${smdp.address}${matching_id}")}


def steps(progress):
    """the distinct steps, in the order they came"""
    out = []
    for step, _ in progress:
        if not out or out[-1] != step:
            out.append(step)
    return out


def cancel_sessions(smdp):
    return [l for l in smdp.lines() if l.startswith("es9+ cancelSession")]


@with_service("download over D-Bus: Progress in order, the agent asked for the confirmation "
              "code, the report the CLI's JSON has")
def _(svc):
    s = qltest.Smdp(PKI)
    client = q.Client(bus)
    client.register_agent()
    code = confirmation_code("CC-4711")
    client.agent_answer = code
    op = client.download(svc.euicc, code_option(s, "CC-4711"))
    report = client.wait_finished(op)
    assert report["result"] == "ok", report
    assert report["confirmation_code_used"] is True, report
    assert client.agent_calls == [(op, s.address)], client.agent_calls
    progress = client.progress(op)
    assert steps(progress) == ["reading the eUICC", "initiateAuthentication",
                               "AuthenticateServer", "authenticateClient", "confirmation code",
                               "PrepareDownload", "getBoundProfilePackage",
                               "LoadBoundProfilePackage", "handleNotification", "done"], progress
    percents = [p for _, p in progress]
    assert percents == sorted(percents) and percents[-1] == 100, percents
    # the Operation keeps what it sent
    props = client.props(op, q.OPERATION)
    assert props["State"] == "done" and props["Report"] == report, props
    assert props["Kind"] == "download" and props["Euicc"] == svc.euicc, props
    # the new profile is an object, announced, and the card agrees
    assert report["iccid"] in svc.profiles(), svc.profiles()
    q.wait_until(lambda: [a for p, i, m, a in watcher.signals if m == "PropertiesChanged" and
                          p == svc.euicc and "Profiles" in a[1]], 30, "PropertiesChanged")
    assert report["iccid"] in [p["iccid"] for p in svc.direct("profile", "list")["profiles"]]
    # the same fields as `quantra-l profile download --json` (JSON nulls left out)
    other = os.path.join(TMP, "cli-keys.state")
    cli = qltest.quantra(*qltest.download_args(s, PKI), device=q.virtual_spec(other, PKI)).out
    assert set(report) == {k for k, val in cli.items() if val is not None}, (report, cli)
    # the code is in no signal, property or log line
    seen = json.dumps([str(x) for x in client.signals + watcher.signals])
    seen += str(client.objects()) + svc.daemon.text()
    assert code not in seen and "CC-4711" not in seen, "a secret leaked"
    client.close()


@with_service("the agent refuses, or there is none: the download ends, its session cancelled, "
              "nothing installed")
def _(svc):
    s = qltest.Smdp(PKI)
    before = svc.profiles()
    client = q.Client(bus)
    client.register_agent()
    client.agent_answer = RuntimeError("the user said no")
    op = client.download(svc.euicc, code_option(s, "CC-1"))
    report = client.wait_finished(op)
    assert report["result"] == "error", report
    assert "the user said no" in report["error_message"], report
    nobody = q.Client(bus)  # no agent
    op = nobody.download(svc.euicc, code_option(s, "CC-2"))
    report = nobody.wait_finished(op)
    assert report["error_name"] == q.ERROR + "InvalidArgument", report
    assert "agent" in report["error_message"], report
    assert svc.profiles() == before, (svc.profiles(), before)
    notifications = svc.direct("notification", "list")["notifications"]
    assert notifications == [], notifications
    cancels = cancel_sessions(s)
    assert len(cancels) == 2, cancels
    client.close()
    nobody.close()


@with_service("cancel while the agent is asked: Cancelled, the session cancelled on both sides, "
              "eUICC and notifications as before, the next download works")
def _(svc):
    s = qltest.Smdp(PKI)
    # a notification pending before
    iccid = next(iter(svc.profiles()))
    svc.direct("profile", "enable", iccid)
    watcher.call(svc.euicc, q.EUICC, "Refresh")
    pending = svc.direct("notification", "list")["notifications"]
    assert len(pending) == 1, pending
    before = svc.profiles()
    client = q.Client(bus)
    client.register_agent()  # that never answers
    op = client.download(svc.euicc, code_option(s, "CC-3"))
    q.wait_until(lambda: client.agent_calls, 60, "the agent's question")
    client.call(op, q.OPERATION, "Cancel")
    report = client.wait_finished(op)
    assert report["error_name"] == q.ERROR + "Cancelled", report
    assert client.prop(op, q.OPERATION, "State") == "cancelled"
    assert svc.profiles() == before, svc.profiles()
    assert svc.direct("notification", "list")["notifications"] == pending
    cancels = cancel_sessions(s)
    assert len(cancels) == 1, cancels
    s = qltest.Smdp(PKI)
    op = client.download(svc.euicc, code_option(s))
    assert client.wait_finished(op)["result"] == "ok"
    client.close()


@with_service("cancel while the SM-DP+ is slow to answer: the network wait ends at once "
              "(getBoundProfilePackage is the step cancelled), nothing half installed")
def _(svc):
    s = qltest.Smdp(PKI, "slow@getBoundProfilePackage")
    before = svc.profiles()
    client = q.Client(bus)
    op = client.download(svc.euicc, code_option(s))
    q.wait_until(lambda: ("getBoundProfilePackage", 50) in client.progress(op), 60,
                 "getBoundProfilePackage")
    client.call(op, q.OPERATION, "Cancel")
    report = client.wait_finished(op)
    assert report["error_name"] == q.ERROR + "Cancelled", report
    # had the wait not been cut, the load would have been the step cancelled
    assert report["error_message"].startswith("getBoundProfilePackage"), report
    assert svc.profiles() == before
    assert [p["iccid"] for p in svc.direct("profile", "list")["profiles"]] == list(before)
    assert any("cancelSession" in l for l in s.lines())
    s = qltest.Smdp(PKI)
    op = client.download(svc.euicc, code_option(s))
    assert client.wait_finished(op)["result"] == "ok"
    client.close()


@with_service("two clients on one eUICC are served in FIFO order; nothing overtakes an "
              "operation waiting for its agent")
def _(svc):
    s = qltest.Smdp(PKI)
    a, b = q.Client(bus), q.Client(bus)
    a.register_agent()
    iccid = next(iter(svc.profiles()))
    path = q.ROOT + "/Profile/" + iccid
    op1 = a.download(svc.euicc, code_option(s, "CC-FIFO"))
    q.wait_until(lambda: a.agent_calls, 60, "the agent's question")
    b1 = b.call_async(path, q.PROFILE, "SetNickname", ("from-b-1",), "(s)")
    svc.wait_queued("set-nickname", 1)
    a2 = a.call_async(path, q.PROFILE, "SetNickname", ("from-a-2",), "(s)")
    svc.wait_queued("set-nickname", 2)
    op3 = b.download(svc.euicc, code_option(s))
    b4 = b.call_async(path, q.PROFILE, "SetNickname", ("from-b-4",), "(s)")
    q.spin(1.0)
    assert not (b1.done or a2.done or b4.done), "an operation overtook the running one"
    assert b.prop(op3, q.OPERATION, "State") == "queued" and b.progress(op3) == []
    for inv in a.pending_agent:
        a.answer_agent(inv, confirmation_code("CC-FIFO"))
    for p in (b1, a2, b4):
        p.wait()
        assert p.error is None, p.error
    r1, r3 = a.wait_finished(op1), b.wait_finished(op3)
    assert r1["result"] == "ok" and r3["result"] == "ok", (r1, r3)
    # downloads installed in the order they came, nicknames set in that order too
    iccids = [p["iccid"] for p in svc.direct("profile", "list")["profiles"]]
    assert iccids[-2:] == [r1["iccid"], r3["iccid"]], iccids
    assert svc.profiles()[iccid]["Nickname"] == "from-b-4", svc.profiles()[iccid]
    # on one connection the answers arrive in the order the operations ran
    seq = [(m, a_[0] if m == "Finished" else None) for p, i, m, a_ in b.signals
           if p == op3 and m in ("Progress", "Finished")]
    assert seq and seq[-1][0] == "Finished", seq
    a.close()
    b.close()


@with_service("at most 8 operations per eUICC: the ninth gets Busy at once, the eight run")
def _(svc):
    s = qltest.Smdp(PKI)
    a, b = q.Client(bus), q.Client(bus)
    a.register_agent()
    iccid = next(iter(svc.profiles()))
    path = q.ROOT + "/Profile/" + iccid
    op1 = a.download(svc.euicc, code_option(s, "CC-BUSY"))
    q.wait_until(lambda: a.agent_calls, 60, "the agent's question")
    queued = []
    for i in range(7):
        queued.append(b.call_async(path, q.PROFILE, "SetNickname", (f"n{i}",), "(s)"))
        svc.wait_queued("set-nickname", i + 1)
    msg = q.expect_error(lambda: b.call(path, q.PROFILE, "SetNickname", ("n8",), "(s)"),
                         "Error.Busy")
    assert "busy" in msg, msg
    q.expect_error(lambda: b.download(svc.euicc, code_option(s)), "Error.Busy")
    q.expect_error(lambda: b.call(svc.euicc, q.EUICC, "Refresh"), "Error.Busy")
    for inv in a.pending_agent:
        a.answer_agent(inv, confirmation_code("CC-BUSY"))
    assert a.wait_finished(op1)["result"] == "ok"
    for p in queued:
        assert p.wait().error is None, p.error
    assert svc.profiles()[iccid]["Nickname"] == "n6"
    b.call(path, q.PROFILE, "SetNickname", ("after",), "(s)")
    assert svc.profiles()[iccid]["Nickname"] == "after"
    a.close()
    b.close()


@with_service("a client that leaves the bus: its queued operations are dropped, its running "
              "one cancelled; the others go on")
def _(svc):
    s = qltest.Smdp(PKI)
    a, c = q.Client(bus), q.Client(bus)
    a.register_agent()
    iccid = next(iter(svc.profiles()))
    path = q.ROOT + "/Profile/" + iccid
    op1 = a.download(svc.euicc, code_option(s, "CC-LEAVE"))
    q.wait_until(lambda: a.agent_calls, 60, "the agent's question")
    op_c = c.download(svc.euicc, code_option(s, "DROPPED-C"))
    c.call_async(path, q.PROFILE, "SetNickname", ("from-c",), "(s)")
    svc.wait_queued("set-nickname", 1)
    c.close()
    q.wait_until(lambda: op_c not in watcher.objects(), 30, "the dropped operation's object")
    for inv in a.pending_agent:
        a.answer_agent(inv, confirmation_code("CC-LEAVE"))
    assert a.wait_finished(op1)["result"] == "ok"
    assert svc.profiles()[iccid]["Nickname"] != "from-c"
    # the SM-DP+ only ever heard of one download
    log = s.lines()
    assert len([l for l in log if "initiateAuthentication" in l]) == 1, log
    assert not any("DROPPED" in l for l in log)

    # the running one: cancelled when its client goes
    slow = qltest.Smdp(PKI, "slow@getBoundProfilePackage")
    before = svc.profiles()
    d = q.Client(bus)
    op = d.download(svc.euicc, code_option(slow))
    q.wait_until(lambda: ("getBoundProfilePackage", 50) in d.progress(op), 60,
                 "getBoundProfilePackage")
    d.close()
    q.wait_until(lambda: watcher.prop(op, q.OPERATION, "State") != "running", 60,
                 "the end of the orphan download")
    report = watcher.prop(op, q.OPERATION, "Report")
    assert report["error_name"] == q.ERROR + "Cancelled", report
    assert svc.profiles() == before
    assert any("cancelSession" in l for l in slow.lines())
    q.wait_until(lambda: "left the bus: its download is cancelled" in svc.daemon.text(), 30,
                 "the daemon's note of the cancel")
    a.close()


@with_service("unknown objects and bad arguments are answered with errors; the queue keeps "
              "working, and a TLS refusal carries its reason")
def _(svc):
    s = qltest.Smdp(PKI)
    c = q.Client(bus)
    iccid = next(iter(svc.profiles()))
    path = q.ROOT + "/Profile/" + iccid
    q.expect_error(lambda: c.call(q.ROOT + "/Profile/1234", q.PROFILE, "Delete"),
                   "UnknownMethod")
    q.expect_error(lambda: c.call(q.ROOT + "/Euicc/0", q.EUICC, "Refresh"), "UnknownMethod")
    q.expect_error(lambda: c.call(path, q.PROFILE, "Enable"), "InvalidArgs")
    for options, what in (({}, "exactly one"),
                          ({"activation-code": v("i", 42)}, "must be of type"),
                          ({"activation-code": v("s", "LPA:9$x$y")}, ""),
                          ({"activation-code": v("s", "LPA:1$a$b"), "smdp": v("s", "b")},
                           "exactly one"),
                          ({"smdp": v("s", "bad host name!")}, ""),
                          ({"event": v("s", "no-at-sign")}, "EVENT-ID@"),
                          ({"bogus": v("b", True)}, "unknown option")):
        msg = q.expect_error(lambda: c.download(svc.euicc, options), "Error.InvalidArgument")
        assert what in msg, (options, msg)
    q.expect_error(lambda: c.call(path, q.PROFILE, "SetNickname", ("x" * 65,), "(s)"),
                   "Error.InvalidArgument")
    q.expect_error(lambda: c.call(path, q.PROFILE, "Enable", ({"refresh": v("s", "yes")},),
                                  "(a{sv})"), "Error.InvalidArgument")
    q.expect_error(lambda: c.call(svc.euicc, q.EUICC, "ResetMemory", ({"bogus": v("b", True)},),
                                  "(a{sv})"), "Error.InvalidArgument")
    q.expect_error(lambda: c.call(svc.euicc, q.EUICC, "SetDefaultSmdp", ("not a host",), "(s)"),
                   "Error.InvalidArgument")
    q.expect_error(lambda: c.call(q.ROOT, q.MANAGER, "UnregisterAgent", ("/nope",), "(o)"),
                   "Error.NotFound")
    # the eUICC's own refusals
    c.call(path, q.PROFILE, "Enable", ({},), "(a{sv})")
    q.expect_error(lambda: c.call(path, q.PROFILE, "Delete"), "Error.Euicc")
    q.expect_error(lambda: c.call(svc.euicc, q.EUICC, "RemoveNotification", (4242,), "(u)"),
                   "Error.NotFound")
    # a certificate refusal: its reason, machine-readable
    bad = qltest.Smdp(PKI, "expired")
    op = c.download(svc.euicc, code_option(bad))
    report = c.wait_finished(op)
    assert report["error_name"] == q.ERROR + "Tls" and report["error_reason"] == "expired", report
    q.expect_error(lambda: c.call(op, q.OPERATION, "Cancel"), "Error.Failed")
    # and still working
    c.call(path, q.PROFILE, "Disable", ({"refresh": v("b", False)},), "(a{sv})")
    assert svc.profiles()[iccid]["State"] == "disabled"
    op = c.download(svc.euicc, code_option(s))
    assert c.wait_finished(op)["result"] == "ok"
    c.call(svc.euicc, q.EUICC, "SetDefaultSmdp", (s.address,), "(s)")
    assert c.prop(svc.euicc, q.EUICC, "DefaultSmdp") == s.address
    c.close()


@with_service("DiscoverProfiles finds the events an SM-DS holds; DownloadProfile takes one",
              seed=0)
def _(svc):
    s = qltest.Smdp(PKI, events=["EVT-7"])
    c = q.Client(bus)
    op = c.call(svc.euicc, q.EUICC, "DiscoverProfiles", ({"smds": v("s", s.address)},),
                "(a{sv})")[0]
    report = c.wait_finished(op)
    assert report["events"] == [{"event_id": "EVT-7", "smdp_address": s.address}], report
    assert c.props(op, q.OPERATION)["Kind"] == "discover"
    op = c.download(svc.euicc, {"event": v("s", f"EVT-7@{s.address}")})
    report = c.wait_finished(op)
    assert report["result"] == "ok" and list(svc.profiles()) == [report["iccid"]], report
    c.close()


@case("the daemon killed in the middle of a download comes back consistent and delivers the "
      "notifications still pending")
def _():
    a = qltest.Smdp(PKI)
    port = a.port
    n_state[0] += 1
    state = os.path.join(TMP, f"euicc-{n_state[0]}.state")
    spec = q.virtual_spec(state, PKI)
    # a profile from A, switched on and off: two notifications for A, pending
    iccid = qltest.quantra(*qltest.download_args(a, PKI), device=spec).out["iccid"]
    qltest.quantra("profile", "enable", iccid, device=spec)
    qltest.quantra("profile", "disable", iccid, device=spec)
    pending = qltest.quantra("notification", "list", device=spec).out["notifications"]
    assert [n["address"] for n in pending] == [a.address] * 2, pending
    a.stop()  # A is down: the background delivery fails (loopback, connection refused)

    slow = qltest.Smdp(PKI, "slow@getBoundProfilePackage")
    svc = Service(state=state, seed=0, daemon={"notification-retry": 1,
                                                "notification-retry-max": 4})
    svc.spec = spec
    q.wait_until(lambda: "next try in 2 s" in svc.daemon.text(), 60, "the backoff")
    assert watcher.prop(svc.euicc, q.EUICC, "BackgroundDelivery") is True
    c = q.Client(bus)
    op = c.download(svc.euicc, code_option(slow))
    q.wait_until(lambda: ("getBoundProfilePackage", 50) in c.progress(op), 60,
                 "getBoundProfilePackage")
    svc.daemon.kill()
    c.close()
    before = hashlib.sha256(open(state, "rb").read()).hexdigest()
    assert [p["iccid"] for p in svc.direct("profile", "list")["profiles"]] == [iccid]
    assert svc.direct("notification", "list")["notifications"] == pending
    assert hashlib.sha256(open(state, "rb").read()).hexdigest() == before

    # A back on its port; the service again: it delivers both, and removes them
    a = qltest.Smdp(PKI, port=port)
    svc.daemon = q.Daemon(bus, svc.config, watcher)
    try:
        q.wait_until(lambda: [a for p, i, m, a in watcher.signals
                              if p == svc.euicc and m == "NotificationsDelivered"], 60,
                     "the pending notifications to be delivered")
        delivered = [a[0] for p, i, m, a in watcher.signals
                     if p == svc.euicc and m == "NotificationsDelivered"][0]
        assert delivered == pending, (delivered, pending)
        assert watcher.prop(svc.euicc, q.EUICC, "PendingNotifications") == 0
        assert svc.direct("notification", "list")["notifications"] == []
        log = a.lines()
        assert len([l for l in log if l.startswith("notification ")]) == 2, log
        assert list(svc.profiles()) == [iccid]
        b = qltest.Smdp(PKI)
        c = q.Client(bus)
        op = c.download(svc.euicc, code_option(b))
        assert c.wait_finished(op)["result"] == "ok"
        c.close()
    finally:
        svc.stop()


def pending_for(smdp, state):
    """a card with a profile from @smdp, enabled: one notification for @smdp waits"""
    spec = q.virtual_spec(state, PKI)
    iccid = qltest.quantra(*qltest.download_args(smdp, PKI), device=spec).out["iccid"]
    qltest.quantra("profile", "enable", iccid, device=spec)
    return qltest.quantra("notification", "list", device=spec).out["notifications"]


@case("ProcessNotifications with the SM-DP+ down: an error that still reports what was "
      "delivered and why the rest was not; the notification stays")
def _():
    a = qltest.Smdp(PKI)
    n_state[0] += 1
    state = os.path.join(TMP, f"euicc-{n_state[0]}.state")
    pending = pending_for(a, state)
    a.stop()
    svc = Service(state=state, seed=0)
    try:
        c = q.Client(bus)
        op = c.call(svc.euicc, q.EUICC, "ProcessNotifications", ({},), "(a{sv})")[0]
        report = c.wait_finished(op)
        assert report["result"] == "error" and report["error_name"] == q.ERROR + "Http", report
        assert report["delivered"] == 0 and len(report["failed"]) == 1, report
        assert svc.direct("notification", "list")["notifications"] == pending
        c.close()
    finally:
        svc.stop()


@case("a background delivery makes way for a client's operation and comes back later")
def _():
    a = qltest.Smdp(PKI, "slow@handleNotification")
    n_state[0] += 1
    state = os.path.join(TMP, f"euicc-{n_state[0]}.state")
    pending = pending_for(a, state)
    while a.wait_for(".", 1) is not None:
        pass
    svc = Service(state=state, seed=0, daemon={"notification-retry": 1})
    try:
        assert a.wait_for("handleNotification", 60), "no background delivery"
        c = q.Client(bus)
        path = q.ROOT + "/Profile/" + pending[0]["iccid"]
        c.call(path, q.PROFILE, "SetNickname", ("while-delivering",), "(s)")
        q.wait_until(lambda: "background delivery postponed" in svc.daemon.text(), 30,
                     "the background delivery to make way")
        assert svc.profiles()[pending[0]["iccid"]]["Nickname"] == "while-delivering"
        assert a.wait_for("handleNotification", 60), "the background delivery did not return"
        c.close()
    finally:
        svc.stop()


@case("the service's command line: --help is true, a bad configuration is a clear error")
def _():
    out = subprocess.run([q.ESIMD, "--help"], capture_output=True, text=True, check=True).stdout
    assert "--config" in out and "--verbose" in out, out
    bad = os.path.join(TMP, "bad.conf")
    with open(bad, "w", encoding="utf-8") as f:
        f.write("[device x]\nspec=nonsense\n")
    p = subprocess.run([q.ESIMD, "--config", bad], capture_output=True, text=True,
                       env=bus.env, timeout=30)
    assert p.returncode == 1 and "[device x] spec" in p.stderr, p.stderr
    p = subprocess.run([q.ESIMD, "--config", os.path.join(TMP, "missing.conf")],
                       capture_output=True, text=True, env=bus.env, timeout=30)
    assert p.returncode == 1 and "missing.conf" in p.stderr, p.stderr


watcher.close()
polkit.stop()
bus.stop()
qltest.finish(TMP)
