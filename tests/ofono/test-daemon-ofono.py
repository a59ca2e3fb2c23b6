#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-esimd beside oFono (python-dbusmock's ofono template on a private system bus): the
service finds oFono's modems, reads each one's eUICC under a lockdown (none when the port is
shared), exports it with OfonoModemPath, locks the modem down around every operation, clears the
lockdown after the configured delay and, after a switch, waits until oFono shows the new SIM.
The error cases: another program's lockdown (at start: read once it is cleared; during an
operation: Busy, nothing changed), no SIM, the modem removed in the middle of an operation,
oFono going away and coming back. `quantra-l -o PATH` goes through the service. The modem's
port is ql-fake-at's pty; every case ends with no logical channel open on the card. Prints TAP.

usage: test-daemon-ofono.py QL_FAKE_AT QL_ESIMD"""

import os
import subprocess
import sys
import tempfile

FAKE_AT, os.environ["QL_ESIMD"] = sys.argv[1:3]

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "daemon"))
import qldaemon as q  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import EXIT_NOT_FOUND, EXIT_REFUSED, case  # noqa: E402

import dbus  # noqa: E402
import dbusmock  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qlofono import MODEM, MODEM_IFACE, NO_PROPS, SET, SIM_IFACE, VANISH, refuse  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-esimd-ofono-")
PKI = os.path.join(TMP, "pki")
REFUSE = refuse("org.ofono.Error.AccessDenied", "Operation not permitted")

dbusmock.DBusTestCase.start_system_bus()  # permissive: the service may own its name


class Bus:
    address = os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
    env = dict(os.environ)


BUS = Bus()
qltest.Smdp(PKI).stop()  # the test PKI (the card's identity, the CI) first
client = q.Client(BUS)
polkit = q.Polkit(BUS, client)
polkit.allow_all()


class Ofono:
    """The ofono template with one modem, MODEM (powered, online, a SIM unless @no_sim)."""

    def __init__(self, no_sim=False, bare_modem=False, lockdown=False):
        params = {"Present": dbus.Boolean(False), "CardIdentifier": ""} if no_sim else {}
        self.proc, self.obj = dbusmock.DBusTestCase.spawn_server_template(
            "ofono", params, stdout=subprocess.DEVNULL)
        bus = dbusmock.DBusTestCase.get_dbus(system_bus=True)
        self.modem = bus.get_object("org.ofono", MODEM)
        self.mock = dbus.Interface(self.modem, dbusmock.MOCK_IFACE)
        if lockdown:
            self.mock.UpdateProperties(MODEM_IFACE, {"Lockdown": dbus.Boolean(True)})
        if bare_modem:
            self.obj.AddModem("bare_0", NO_PROPS, dbus_interface=dbusmock.MOCK_IFACE)

    def set_property(self, code):
        self.mock.AddMethod(MODEM_IFACE, "SetProperty", "sv", "", code)

    def emit(self, name, value):
        self.mock.EmitSignal(MODEM_IFACE, "PropertyChanged", "sv", [name, value])

    def props(self):
        return self.modem.GetProperties(dbus_interface=MODEM_IFACE)

    def set_calls(self):
        """The (name, value) of each SetProperty oFono got, in order."""
        return [(str(a[0]), bool(a[1])) for _, a in self.mock.GetMethodCalls("SetProperty")]

    def show_sim(self, iccid):
        """What oFono does when it reads the SIM again"""
        self.mock.UpdateProperties(SIM_IFACE, {"Present": dbus.Boolean(bool(iccid)),
                                               "CardIdentifier": iccid or ""})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


LOCK_CYCLE = [("Lockdown", True), ("Lockdown", False), ("Powered", True), ("Online", True)]


def ql(*args, expect=0):
    """quantra-l through the service (no --direct, no --config)"""
    return qltest.quantra(*args, env=BUS.env, expect=expect)


def profiles(fake):
    return {p["iccid"]: p["state"] for p in qltest.answer(fake.spec, "profile", "list")["profiles"]}


def euicc_props(path):
    return client.props(path, q.EUICC)


def with_service(name, seed=2, enable_first=False, shared_port=False, euiccs=1, daemon=None,
                 **ofono_args):
    """One case with a fresh fake modem, a fresh oFono mock and a fresh quantra-esimd whose
    configuration names the modem's port ([ofono /ril_0] device=PTY)."""
    def deco(fn):
        @case(name)
        def _():
            fake = qltest.Fake(FAKE_AT, os.path.join(TMP, name.replace(" ", "-") + ".state"),
                               seed=seed, identity=os.path.join(PKI, "euicc"))
            ofono = service = None
            code = 0
            try:
                if enable_first:
                    iccid = qltest.answer(fake.spec, "profile", "list")["profiles"][0]["iccid"]
                    qltest.answer(fake.spec, "profile", "enable", iccid)
                ofono = Ofono(**ofono_args)
                section = {"device": fake.spec}
                if shared_port:
                    section["shared-port"] = "true"
                conf = q.write_config(os.path.join(TMP, name.replace(" ", "-") + ".conf"), PKI,
                                      {}, daemon=daemon,
                                      sections={f"ofono {MODEM}": section})
                service = q.Daemon(BUS, conf, client, euiccs=euiccs)
                fn(ofono, fake, service)
                assert "CRITICAL" not in service.text(), service.text()
            except Exception:
                if service is not None:
                    sys.stderr.write(service.text()[-4000:] + "\n")
                raise
            finally:
                # everything is stopped before anything is asserted: a process left running
                # would keep the suite's output open
                if service is not None:
                    code = service.stop()
                if ofono is not None:
                    ofono.stop()
                left = fake.stop()
            assert code == 0 or service.killed, \
                f"quantra-esimd exited {code}: {service.text()[-3000:]}"
            assert left == 0, f"{left} logical channel(s) left open"
        return fn
    return deco


def the_euicc():
    e = client.euiccs()
    assert len(e) == 1, e
    return e[0]


def wait_log(daemon, text, timeout=60):
    q.wait_until(lambda: text in daemon.text(), timeout, repr(text))


@with_service("discovery: the eUICC read under a lockdown, exported with OfonoModemPath; an "
              "unresolved modem is not", enable_first=True, bare_modem=True,
              daemon={"notification-retry": 30})
def _(ofono, fake, daemon):
    path = the_euicc()
    p = euicc_props(path)
    assert p["OfonoModemPath"] == MODEM and p["ModemObjectPath"] == "/", p
    # its pending notification is not delivered by a lockdown every retry
    assert p["PendingNotifications"] > 0 and p["BackgroundDelivery"] is False, p
    assert p["Transport"] == fake.spec and p["Eid"] == path.rsplit("/", 1)[1], p
    # read once, given back as it was (powered, online)
    q.wait_until(lambda: ofono.set_calls() == LOCK_CYCLE, 30, "the discovery's lockdown cycle")
    wait_log(daemon, "oFono modem /bare_0 is not exported: oFono gives no SystemPath")
    assert not ofono.props()["Lockdown"]
    # -o PATH picks it through the service; a read comes from the service's snapshot
    r = ql("-o", MODEM, "chip", "info").out
    assert r["eid"] == p["Eid"], r
    assert r["eid"] == qltest.quantra("chip", "info", device=fake.spec).out["eid"]
    listed = ql("-o", MODEM, "profile", "list").out["profiles"]
    assert sorted(x["iccid"] for x in listed) == sorted(profiles(fake)), listed
    assert ofono.set_calls() == LOCK_CYCLE, ofono.set_calls()
    # `modems` shows the EID oFono does not know, from the service
    m = {x["path"]: x for x in ql("modems").out["modems"]}
    assert m[MODEM]["eid"] == p["Eid"] and m["/bare_0"]["eid"] is None, m
    text = qltest.quantra("modems", env=BUS.env, json_out=False).out
    assert p["Eid"] in text, text
    r = ql("-o", "/bare_0", "chip", "info", expect=EXIT_NOT_FOUND)
    assert f"quantra-esimd shows no eUICC of oFono's modem /bare_0 (it shows {p['Eid']})" \
        in r.message, r.message
    r = ql("-o", MODEM, "-m", "0", "chip", "info", expect=qltest.EXIT_USAGE)
    assert "give one of --direct DEVICE, -m MODEM and -o PATH" in r.message, r.message


@with_service("profile enable through the service: locked down, given back after the delay, "
              "the new ICCID awaited", enable_first=True, daemon={"uninhibit-delay": 5})
def _(ofono, fake, daemon):
    q.wait_until(lambda: len(ofono.set_calls()) == 4, 30, "the discovery's lockdown cycle")
    ofono.mock.ClearCalls()
    before = profiles(fake)
    iccid = [i for i, s in sorted(before.items()) if s == "disabled"][0]
    # two operations back to back share one lockdown
    ql("-o", MODEM, "profile", "nickname", iccid, "travel")
    assert ofono.set_calls()[:1] == [("Lockdown", True)], "a nickname without the lockdown"
    ql("-o", MODEM, "profile", "enable", iccid)
    q.wait_until(lambda: ("Lockdown", False) in ofono.set_calls(), 30, "the lockdown cleared")
    assert ofono.set_calls()[:2] == [("Lockdown", True), ("Lockdown", False)], ofono.set_calls()
    # the service waits for oFono to read the new SIM; oFono does once it has the modem back
    q.spin(0.5)
    assert f"oFono shows modem {MODEM} again" not in daemon.text()
    ofono.show_sim(iccid)
    wait_log(daemon, f"oFono shows modem {MODEM} again with SIM {iccid}")
    assert ofono.set_calls() == LOCK_CYCLE, ofono.set_calls()
    assert profiles(fake)[iccid] == "enabled"
    prof = client.profiles(the_euicc())
    assert prof[iccid]["State"] == "enabled" and prof[iccid]["Nickname"] == "travel", prof[iccid]


@with_service("no SIM in oFono: the eUICC still served; a switch makes oFono show one",
              no_sim=True)
def _(ofono, fake, daemon):
    m = [x for x in ql("modems").out["modems"] if x["path"] == MODEM][0]
    assert not m["sim_present"] and m["iccid"] is None, m
    assert "enabled" not in profiles(fake).values()
    q.wait_until(lambda: len(ofono.set_calls()) == 4, 30, "the discovery's lockdown cycle")
    iccid = sorted(profiles(fake))[0]
    ql("-o", MODEM, "profile", "enable", iccid)
    q.wait_until(lambda: ("Lockdown", False) in ofono.set_calls()[4:], 30, "the lockdown cleared")
    ofono.show_sim(iccid)
    wait_log(daemon, f"oFono shows modem {MODEM} again with SIM {iccid}")


@with_service("another program's lockdown at start: not read until it is cleared",
              lockdown=True, enable_first=True, euiccs=0)
def _(ofono, fake, daemon):
    wait_log(daemon, f"oFono modem {MODEM} is not read now")
    assert "locked down already (by another program)" in daemon.text(), daemon.text()
    assert client.euiccs() == [] and ofono.set_calls() == [], ofono.set_calls()
    # the other program lets go
    ofono.mock.UpdateProperties(MODEM_IFACE, {"Lockdown": dbus.Boolean(False)})
    ofono.emit("Lockdown", dbus.Boolean(False))
    q.wait_until(lambda: len(client.euiccs()) == 1, 30, "the eUICC exported")
    assert euicc_props(the_euicc())["OfonoModemPath"] == MODEM


@with_service("Refresh, which takes the modem away here, needs polkit's manage", enable_first=True)
def _(ofono, fake, daemon):
    q.wait_until(lambda: len(ofono.set_calls()) == 4, 30, "the discovery's lockdown cycle")
    path = the_euicc()
    polkit.allow_all(False)
    try:
        q.expect_error(lambda: client.call(path, q.EUICC, "Refresh"), "NotAuthorized")
        assert len(ofono.set_calls()) == 4, ofono.set_calls()
        polkit.allow(["org.quantra.esim.manage"])
        client.call(path, q.EUICC, "Refresh")
        assert ofono.set_calls()[4] == ("Lockdown", True), ofono.set_calls()
    finally:
        polkit.allow([])
        polkit.allow_all(True)


@with_service("the lockdown refused during an operation: Busy, nothing changed",
              enable_first=True)
def _(ofono, fake, daemon):
    q.wait_until(lambda: len(ofono.set_calls()) == 4, 30, "the discovery's lockdown cycle")
    ofono.set_property(REFUSE)
    before = profiles(fake)
    iccid = [i for i, s in sorted(before.items()) if s == "disabled"][0]
    r = ql("-o", MODEM, "profile", "enable", iccid, expect=EXIT_REFUSED)
    assert "oFono refused to lock modem /ril_0 down (to free its ports): another program " \
           "holds the lockdown; nothing was changed" in r.message, r.message
    assert profiles(fake) == before
    assert not ofono.props()["Lockdown"]
    # the eUICC stays, and works once oFono lets it
    ofono.set_property(SET)
    ql("-o", MODEM, "profile", "nickname", iccid, "later")
    q.wait_until(lambda: ofono.set_calls()[-3:] == LOCK_CYCLE[1:], 30, "the lockdown cycle")


@with_service("the modem removed in the middle of an operation: the eUICC goes, the lockdown "
              "and the channel are let go", enable_first=True)
def _(ofono, fake, daemon):
    q.wait_until(lambda: len(ofono.set_calls()) == 4, 30, "the discovery's lockdown cycle")
    path = the_euicc()
    ofono.set_property(VANISH)
    iccid = [i for i, s in sorted(profiles(fake).items()) if s == "disabled"][0]
    r = ql("-o", MODEM, "profile", "enable", iccid, expect=None)
    q.wait_until(lambda: client.euiccs() == [], 30, "the eUICC unexported")
    wait_log(daemon, f"eUICC {path.rsplit('/', 1)[1]} removed: oFono no longer shows its modem")
    wait_log(daemon, f"oFono removed modem {MODEM} during the operation")
    # the switch either was made before the service saw the modem go (and is reported done), or
    # it was not made at all
    if r.rc == 0:
        assert r.out["iccid"] == iccid and profiles(fake)[iccid] == "enabled", r.out
    else:
        assert "gone" in r.message or "removed" in r.message, r.message
        assert profiles(fake)[iccid] == "disabled"
    # the service goes on: a modem oFono adds again is read again
    assert daemon.proc.poll() is None


@with_service("shared-port=true: read and served beside oFono, only a switch locked down",
              shared_port=True, enable_first=True)
def _(ofono, fake, daemon):
    assert ofono.set_calls() == [], ofono.set_calls()
    iccid = [i for i, s in sorted(profiles(fake).items()) if s == "disabled"][0]
    ql("-o", MODEM, "profile", "nickname", iccid, "beside")
    q.spin(1.5)  # past uninhibit-delay: nothing to give back
    assert ofono.set_calls() == [], ofono.set_calls()
    ql("-o", MODEM, "profile", "enable", iccid)
    q.wait_until(lambda: ("Lockdown", False) in ofono.set_calls(), 30, "the lockdown cleared")
    assert ofono.set_calls()[:2] == [("Lockdown", True), ("Lockdown", False)], ofono.set_calls()
    ofono.show_sim(iccid)
    wait_log(daemon, f"oFono shows modem {MODEM} again with SIM {iccid}")


@with_service("the service stopped while it holds the lockdown gives the modem back",
              enable_first=True, daemon={"uninhibit-delay": 600})
def _(ofono, fake, daemon):
    q.wait_until(lambda: len(ofono.set_calls()) == 4, 30, "the discovery's lockdown cycle")
    ofono.mock.ClearCalls()
    iccid = sorted(profiles(fake))[0]
    ql("-o", MODEM, "profile", "nickname", iccid, "held")
    assert ofono.set_calls() == [("Lockdown", True)], ofono.set_calls()
    assert daemon.stop() == 0, daemon.text()[-2000:]
    assert ofono.set_calls() == LOCK_CYCLE, ofono.set_calls()
    assert not ofono.props()["Lockdown"]


@with_service("the service killed while it holds the lockdown: started again, it powers the "
              "modem on and online as it was", enable_first=True,
              daemon={"uninhibit-delay": 600})
def _(ofono, fake, daemon):
    q.wait_until(lambda: len(ofono.set_calls()) == 4, 30, "the discovery's lockdown cycle")
    notes = os.path.join(daemon.config + ".state-dir", "ofono-lockdowns")  # write_config's
    assert not os.path.exists(notes) or MODEM not in open(notes).read(), open(notes).read()
    ofono.mock.ClearCalls()
    ql("-o", MODEM, "profile", "nickname", sorted(profiles(fake))[0], "held")
    assert ofono.set_calls() == [("Lockdown", True)], ofono.set_calls()
    assert f"[{MODEM}]" in open(notes).read(), "the lockdown is not noted"
    daemon.kill()
    # what oFono does when the lockdown's owner leaves the bus: clears it, the modem stays off
    ofono.mock.UpdateProperties(MODEM_IFACE, {"Lockdown": dbus.Boolean(False),
                                              "Powered": dbus.Boolean(False),
                                              "Online": dbus.Boolean(False)})
    ofono.mock.ClearCalls()
    again = q.Daemon(BUS, daemon.config, client)
    try:
        assert ofono.set_calls()[:2] == [("Powered", True), ("Online", True)], \
            ofono.set_calls()
        wait_log(again, f"oFono modem {MODEM} powered on again and online")
        # then read as any modem that appears: its lockdown cycle gives it back powered
        q.wait_until(lambda: ofono.set_calls()[2:] == LOCK_CYCLE, 30, "the lockdown cycle")
        assert MODEM not in open(notes).read(), open(notes).read()
    finally:
        assert again.stop() == 0, again.text()[-2000:]


@with_service("oFono stops: its eUICC goes; it starts again: read again", enable_first=True)
def _(ofono, fake, daemon):
    path = the_euicc()
    ofono.stop()
    q.wait_until(lambda: client.euiccs() == [], 30, "the eUICC unexported")
    wait_log(daemon, "oFono is not running")
    again = Ofono()
    try:
        q.wait_until(lambda: client.euiccs() == [path], 30, "the eUICC exported again")
        q.wait_until(lambda: again.set_calls() == LOCK_CYCLE, 30, "the lockdown cycle")
    finally:
        again.stop()


dbusmock.DBusTestCase.tearDownClass()
qltest.finish(TMP)
