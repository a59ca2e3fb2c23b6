#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-esimd behind polkit (python3-dbusmock's polkitd template on a private system-like
bus): refused, every state-changing method answers NotAuthorized and the eUICC's state file is
byte-identical afterwards, with no request reaching the SM-DP+; each action id allows exactly
its methods; reading needs nothing. Prints TAP."""

import hashlib
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qldaemon as q  # noqa: E402
from qldaemon import v  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-esimd-pk-")
PKI = os.path.join(TMP, "pki")
STATE = os.path.join(TMP, "euicc.state")
SPEC = q.virtual_spec(STATE, PKI, seed=2)

smdp = qltest.Smdp(PKI)
qltest.servers.clear()  # one SM-DP+ for the whole script
# a card with an enabled profile and a notification waiting for this SM-DP+
first = qltest.quantra(*qltest.download_args(smdp, PKI), device=SPEC).out["iccid"]
qltest.quantra("profile", "enable", first, device=SPEC)
while smdp.wait_for(".", 1) is not None:
    pass  # what the SM-DP+ logged so far
bus = q.Bus(TMP)
client = q.Client(bus)
polkit = q.Polkit(bus, client)  # refuses everything
config = q.write_config(os.path.join(TMP, "conf"), PKI, {"card": SPEC})
daemon = q.Daemon(bus, config, client)
client.register_agent()
EUICC = client.euiccs()[0]
iccids = list(client.profiles(EUICC))
ENABLED = q.ROOT + "/Profile/" + first
OTHER = q.ROOT + "/Profile/" + iccids[0]


def digest():
    with open(STATE, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def seq():
    return client.call(EUICC, q.EUICC, "ListNotifications")[0][0]["seq"]


# (action, what it is, the call)
CALLS = [
    ("org.quantra.esim.download", "DownloadProfile",
     lambda: client.download(EUICC, {"activation-code": v("s", f"LPA:1${smdp.address}$X")})),
    ("org.quantra.esim.download", "DiscoverProfiles",
     lambda: client.call(EUICC, q.EUICC, "DiscoverProfiles",
                         ({"smds": v("s", smdp.address)},), "(a{sv})")),
    ("org.quantra.esim.manage", "ProcessNotifications",
     lambda: client.call(EUICC, q.EUICC, "ProcessNotifications", ({},), "(a{sv})")),
    ("org.quantra.esim.manage", "RemoveNotification",
     lambda: client.call(EUICC, q.EUICC, "RemoveNotification", (seq(),), "(u)")),
    ("org.quantra.esim.manage", "SetDefaultSmdp",
     lambda: client.call(EUICC, q.EUICC, "SetDefaultSmdp", ("smdp.example.org",), "(s)")),
    ("org.quantra.esim.manage", "SetNickname",
     lambda: client.call(OTHER, q.PROFILE, "SetNickname", ("mine",), "(s)")),
    ("org.quantra.esim.manage", "Disable",
     lambda: client.call(ENABLED, q.PROFILE, "Disable", ({},), "(a{sv})")),
    ("org.quantra.esim.manage", "Enable",
     lambda: client.call(OTHER, q.PROFILE, "Enable", ({},), "(a{sv})")),
    ("org.quantra.esim.manage", "Delete",
     lambda: client.call(ENABLED, q.PROFILE, "Delete")),
    ("org.quantra.esim.reset", "ResetMemory",
     lambda: client.call(EUICC, q.EUICC, "ResetMemory", ({"test": v("b", True)},),
                         "(a{sv})")),
]


@case("refused: every state-changing method answers NotAuthorized, the state file is "
      "byte-identical, the SM-DP+ heard nothing, no operation was made")
def _():
    before = digest()
    for action, name, call in CALLS:
        msg = q.expect_error(call, "Error.NotAuthorized")
        assert action in msg, (name, msg)
    assert digest() == before
    assert smdp.wait_for(".", 1) is None, "a request reached the SM-DP+"
    assert client.agent_calls == []
    assert not [p for p in client.objects() if "/Operation/" in p]


@case("reading needs no authorisation, and changes nothing")
def _():
    before = digest()
    props = client.props(EUICC, q.EUICC)
    assert props["Eid"] and props["PendingNotifications"] == 1, props
    assert client.props(ENABLED, q.PROFILE)["State"] == "enabled"
    assert len(client.call(EUICC, q.EUICC, "ListNotifications")[0]) == 1
    client.call(EUICC, q.EUICC, "Refresh")
    assert client.prop(q.ROOT, q.MANAGER, "Version")
    assert digest() == before


@case("each action allows its own methods and no other")
def _():
    for allowed in q.ACTIONS:
        polkit.allow([allowed])
        for action, name, call in CALLS:
            if action == allowed:
                continue
            before = digest()
            q.expect_error(call, "Error.NotAuthorized")
            assert digest() == before, name
    polkit.allow([])


@case("allowed: they work")
def _():
    polkit.allow(q.ACTIONS)
    # ProcessNotifications delivers the pending one; then the others, in an order that works
    op = CALLS[2][2]()[0]
    assert client.wait_finished(op)["delivered"] == 1
    client.call(OTHER, q.PROFILE, "SetNickname", ("mine",), "(s)")
    client.call(ENABLED, q.PROFILE, "Disable", ({},), "(a{sv})")
    client.call(OTHER, q.PROFILE, "Enable", ({},), "(a{sv})")
    client.call(ENABLED, q.PROFILE, "Delete")
    client.call(EUICC, q.EUICC, "RemoveNotification", (seq(),), "(u)")
    client.call(EUICC, q.EUICC, "SetDefaultSmdp", ("smdp.example.org",), "(s)")
    profiles = client.profiles(EUICC)
    assert first not in profiles and profiles[iccids[0]]["State"] == "enabled", profiles
    assert profiles[iccids[0]]["Nickname"] == "mine"
    assert client.prop(EUICC, q.EUICC, "DefaultSmdp") == "smdp.example.org"
    op = CALLS[0][2]()
    assert client.wait_finished(op)["result"] == "ok"
    client.call(EUICC, q.EUICC, "ResetMemory", ({},), "(a{sv})")
    assert client.profiles(EUICC) == {}
    assert client.prop(EUICC, q.EUICC, "DefaultSmdp") == ""


@case("another client may not cancel an operation without its action; its caller may")
def _():
    polkit.allow(["org.quantra.esim.download"])
    op = client.download(EUICC, {"activation-code": v("s", f"LPA:1${smdp.address}$CC-PK")})
    q.wait_until(lambda: client.agent_calls, 60, "the agent's question")
    other = q.Client(bus)
    polkit.allow([])
    q.expect_error(lambda: other.call(op, q.OPERATION, "Cancel"), "Error.NotAuthorized")
    assert client.prop(op, q.OPERATION, "State") == "running"
    client.call(op, q.OPERATION, "Cancel")
    assert client.wait_finished(op)["error_name"] == q.ERROR + "Cancelled"
    other.close()


code = daemon.stop()
if code != 0:
    qltest.fail("quantra-esimd stopped cleanly", daemon.text())
client.close()
polkit.stop()
bus.stop()
smdp.stop()
qltest.finish(TMP)
