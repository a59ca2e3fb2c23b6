#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-l's oFono side against python-dbusmock's ofono template on a private system bus:
discovery (`modems`: the configured device, a SystemPath resolved through a fake sysfs tree, a
modem that cannot be resolved, no SIM) and the error cases (oFono not running, the lockdown
refused or already held, the modem removed mid-operation, SIGTERM while locked down). The modem's
port is ql-fake-at's pty. Every case checks the lockdown was cleared and, unless quantra-l was
killed mid-APDU, that the card has no logical channel left open. Prints TAP.

usage: test-ofono-mock.py QL_FAKE_AT"""

import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import EXIT_DEVICE, EXIT_NOT_FOUND, EXIT_REFUSED, case  # noqa: E402

import dbus  # noqa: E402
import dbusmock  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qlofono import MODEM, MODEM_IFACE, NO_PROPS, SIM_IFACE, VANISH, refuse  # noqa: E402

FAKE_AT = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="ql-ofono-mock-")


class Ofono:
    """The ofono template with one modem, MODEM, whose port is @device (the configuration says
    so); @sysfs_modem adds /usb_0 with SystemPath @sysfs_modem."""

    def __init__(self, device, set_property=None, no_sim=False, sysfs_modem=None,
                 bare_modem=False, lockdown=False, shared_port=False):
        params = {"Present": dbus.Boolean(False), "CardIdentifier": ""} if no_sim else {}
        self.proc, self.obj = dbusmock.DBusTestCase.spawn_server_template(
            "ofono", params, stdout=subprocess.DEVNULL)
        self.shared_port = shared_port
        try:
            self._setup(device, set_property, sysfs_modem, bare_modem, lockdown)
        except Exception:
            self.stop()
            raise

    def _setup(self, device, set_property, sysfs_modem, bare_modem, lockdown):
        bus = dbusmock.DBusTestCase.get_dbus(system_bus=True)
        self.modem = bus.get_object("org.ofono", MODEM)
        self.mock = dbus.Interface(self.modem, dbusmock.MOCK_IFACE)
        if set_property is not None:
            self.mock.AddMethod(MODEM_IFACE, "SetProperty", "sv", "", set_property)
        if lockdown:
            self.mock.UpdateProperties(MODEM_IFACE, {"Lockdown": dbus.Boolean(True)})
        if sysfs_modem is not None:
            path = self.obj.AddModem("usb_0", NO_PROPS, dbus_interface=dbusmock.MOCK_IFACE)
            dbus.Interface(bus.get_object("org.ofono", path), dbusmock.MOCK_IFACE).AddProperty(
                MODEM_IFACE, "SystemPath", sysfs_modem)
        if bare_modem:
            self.obj.AddModem("bare_0", NO_PROPS, dbus_interface=dbusmock.MOCK_IFACE)
        self.conf = os.path.join(TMP, "quantra-l.conf")
        with open(self.conf, "w") as f:
            f.write(f"[ofono {MODEM}]\ndevice={device}\n")
            if self.shared_port:
                f.write("shared-port=true\n")

    def props(self):
        return self.modem.GetProperties(dbus_interface=MODEM_IFACE)

    def set_calls(self):
        """The (name, value) of each SetProperty oFono got, in order."""
        return [(str(a[0]), bool(a[1])) for _, a in self.mock.GetMethodCalls("SetProperty")]

    def ql(self, *args, expect=0):
        return qltest.quantra("-c", self.conf, *args, expect=expect)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def with_ofono(name, *fake_args, seed=2, enable_first=False, **ofono_args):
    """One case with a fresh fake modem (@fake_args) and a fresh oFono mock; the card must have no
    logical channel open when it ends."""
    def deco(fn):
        @case(name)
        def _():
            fake = qltest.Fake(FAKE_AT, os.path.join(TMP, name.replace(" ", "-") + ".state"),
                               *fake_args, seed=seed)
            ofono = None
            try:
                if enable_first:
                    iccid = qltest.answer(fake.spec, "profile", "list")["profiles"][0]["iccid"]
                    qltest.answer(fake.spec, "profile", "enable", iccid)
                ofono = Ofono(fake.spec, **ofono_args)
                fn(ofono, fake)
            finally:
                if ofono is not None:
                    ofono.stop()
                left = fake.stop()
            if not getattr(fn, "channel_may_stay", False):
                assert left == 0, f"{left} logical channel(s) left open"
        return fn
    return deco


def wait_for(what, fn, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def profiles(fake):
    return {p["iccid"]: p["state"] for p in qltest.answer(fake.spec, "profile", "list")["profiles"]}


def sysfs_qmi_modem():
    dev = os.path.join(TMP, "sys", "devices", "usb1", "1-2")
    os.makedirs(os.path.join(dev, "1-2:1.4", "usbmisc", "cdc-wdm3"), exist_ok=True)
    os.makedirs(os.path.join(dev, "1-2:1.2", "ttyUSB2"), exist_ok=True)
    link = os.path.join(dev, "1-2:1.4", "driver")
    if not os.path.islink(link):
        os.symlink("../../../../bus/usb/drivers/qmi_wwan", link)
    return dev


dbusmock.DBusTestCase.start_system_bus()  # sets DBUS_SYSTEM_BUS_ADDRESS for quantra-l too


@case("neither ModemManager nor oFono running: `modems` and -o say so")
def _():
    r = qltest.quantra("modems", expect=EXIT_DEVICE)
    assert "ModemManager is not running" in r.message and "oFono is not running" in r.message, \
        r.message
    r = qltest.quantra("-o", MODEM, "chip", "info", expect=EXIT_DEVICE)
    assert "oFono is not running (nobody owns org.ofono on the system bus)" in r.message, \
        r.message


@with_ofono("modems: the configured device, a SystemPath, an unresolved modem",
            sysfs_modem=sysfs_qmi_modem(), bare_modem=True, enable_first=True)
def _(ofono, fake):
    m = {x["path"]: x for x in ofono.ql("modems").out["modems"]}
    assert set(m) == {MODEM, "/usb_0", "/bare_0"}, m
    assert all(x["stack"] == "oFono" for x in m.values()), m
    r = m[MODEM]
    assert (r["spec"], r["spec_origin"], r["transport"]) == (fake.spec, "configuration", "at"), r
    assert r["powered"] and r["online"] and not r["lockdown"] and r["sim_present"], r
    assert r["iccid"].startswith("89358123400000000000") and r["model"] == "Mock Modem", r
    u = m["/usb_0"]
    assert (u["spec"], u["spec_origin"], u["transport"]) == ("qmi:/dev/cdc-wdm3", "sysfs", "qmi"), u
    b = m["/bare_0"]
    assert b["spec"] is None and "gives no SystemPath" in b["unresolved"], b
    text = qltest.quantra("-c", ofono.conf, "modems", json_out=False).out
    assert "Stack" in text and text.count("oFono") == 3 and "unknown (see --json)" in text, text
    # nothing was locked down by listing
    assert ofono.set_calls() == [], ofono.set_calls()


@with_ofono("-o a modem that cannot be resolved: the message says what to configure",
            bare_modem=True)
def _(ofono, fake):
    r = ofono.ql("-o", "/bare_0", "chip", "info", expect=EXIT_NOT_FOUND)
    assert "cannot tell how to reach the eUICC of oFono's modem /bare_0" in r.message, r.message
    assert "[ofono PATH] device=SPEC" in r.message, r.message
    r = ofono.ql("-o", "not a path", "chip", "info", expect=qltest.EXIT_USAGE)
    assert "is not an oFono modem path" in r.message, r.message
    r = qltest.quantra("-o", MODEM, "--direct", fake.spec, "chip", "info",
                       expect=qltest.EXIT_USAGE)
    assert "give one of --direct DEVICE, -m MODEM and -o PATH" in r.message, r.message
    assert ofono.set_calls() == [], ofono.set_calls()


@with_ofono("-o profile enable: locked down, given back, the new ICCID awaited")
def _(ofono, fake):
    iccid = sorted(profiles(fake))[1]
    p = subprocess.Popen([qltest.QL, "-c", ofono.conf, "-o", MODEM, "--json", "profile",
                          "enable", iccid], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    # oFono re-reads the SIM once it has the modem back
    wait_for("the lockdown cleared", lambda: ("Lockdown", False) in ofono.set_calls())
    assert p.poll() is None, "quantra-l did not wait for oFono to show the new SIM"
    ofono.mock.UpdateProperties(SIM_IFACE, {"CardIdentifier": iccid})
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert '"iccid" : "%s"' % iccid in out and '"stack" : "oFono"' in out, out
    assert ofono.set_calls() == [("Lockdown", True), ("Lockdown", False), ("Powered", True),
                                 ("Online", True)], ofono.set_calls()
    assert profiles(fake)[iccid] == "enabled"


@with_ofono("no SIM: listed as such, and a disable leaves none", no_sim=True, enable_first=True)
def _(ofono, fake):
    m = [x for x in ofono.ql("modems").out["modems"] if x["path"] == MODEM][0]
    assert not m["sim_present"] and m["iccid"] is None, m
    text = qltest.quantra("-c", ofono.conf, "modems", json_out=False).out
    assert "no SIM" in text, text
    enabled = [i for i, s in profiles(fake).items() if s == "enabled"][0]
    r = ofono.ql("-o", MODEM, "profile", "disable", enabled).out
    assert r["modem"]["iccid"] is None, r
    assert ofono.set_calls()[:3] == [("Lockdown", True), ("Lockdown", False), ("Powered", True)]
    assert "enabled" not in profiles(fake).values()


@with_ofono("the lockdown refused: nothing changed, no channel opened",
            set_property=refuse("org.ofono.Error.AccessDenied", "Operation not permitted"))
def _(ofono, fake):
    before = profiles(fake)
    iccid = sorted(before)[0]
    r = ofono.ql("-o", MODEM, "profile", "enable", iccid, expect=EXIT_REFUSED)
    assert "oFono refused to lock modem /ril_0 down (to free its ports): another program " \
           "holds the lockdown; nothing was changed" in r.message, r.message
    assert profiles(fake) == before
    assert not ofono.props()["Lockdown"]


@with_ofono("the lockdown failing: a clear error, nothing changed",
            set_property=refuse("org.ofono.Error.Failed", "Operation failed"))
def _(ofono, fake):
    before = profiles(fake)
    r = ofono.ql("-o", MODEM, "chip", "info", expect=EXIT_DEVICE)
    assert "oFono refused to lock modem /ril_0 down (to free its ports): Operation failed" \
        in r.message, r.message
    assert profiles(fake) == before


@with_ofono("a modem another program has locked down is left alone", lockdown=True)
def _(ofono, fake):
    r = ofono.ql("-o", MODEM, "chip", "info", expect=EXIT_REFUSED)
    assert "is locked down already (by another program): nothing was changed" in r.message, \
        r.message
    assert ofono.set_calls() == [] and ofono.props()["Lockdown"]


@with_ofono("the modem removed mid-operation: a clear error, the card left consistent",
            set_property=VANISH)
def _(ofono, fake):
    iccid = sorted(profiles(fake))[0]
    r = ofono.ql("-o", MODEM, "profile", "enable", iccid, expect=EXIT_NOT_FOUND)
    assert "oFono removed modem /ril_0 during the operation" in r.message, r.message
    # the switch itself was made, and the channel closed, before oFono was asked back
    assert profiles(fake)[iccid] == "enabled"
    modems = ofono.obj.GetModems(dbus_interface="org.ofono.Manager")
    assert MODEM not in [str(p) for p, _ in modems], modems


@with_ofono("shared-port=true: reads beside oFono, a switch still locked down", shared_port=True,
            enable_first=True)
def _(ofono, fake):
    assert len(ofono.ql("-o", MODEM, "chip", "info").out["eid"]) == 32
    assert ofono.set_calls() == [], ofono.set_calls()
    r = ofono.ql("-o", MODEM, "profile", "disable",
                 [i for i, s in profiles(fake).items() if s == "enabled"][0]).out
    assert r["result"] == "ok" and r["modem"]["path"] == MODEM, r
    assert ofono.set_calls()[:2] == [("Lockdown", True), ("Lockdown", False)], ofono.set_calls()


@with_ofono("a bad [ofono PATH] section is refused, naming the file and the key")
def _(ofono, fake):
    with open(ofono.conf, "a") as f:
        f.write("[ofono /x]\ndevice=ttyUSB2\n")
    r = ofono.ql("-o", MODEM, "chip", "info", expect=qltest.EXIT_USAGE)
    assert f"{ofono.conf}: [ofono /x] device: must be a device spec" in r.message, r.message
    assert ofono.set_calls() == [], ofono.set_calls()


def killed_while_locked(fn):
    fn.channel_may_stay = True  # killed mid-APDU: the card keeps the channel, as a real one does
    return fn


@with_ofono("SIGTERM while locked down: the lockdown cleared, the modem powered again",
            "--fault", "timeout")
@killed_while_locked
def _(ofono, fake):
    p = subprocess.Popen([qltest.QL, "-c", ofono.conf, "-o", MODEM, "profile", "list"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for("the lockdown", lambda: ("Lockdown", True) in ofono.set_calls())
    time.sleep(0.3)  # into the AT+CGLA the fake does not answer
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == -signal.SIGTERM, (p.returncode, err)
    assert "interrupted: oFono has modem /ril_0 back" in err, err
    assert ofono.set_calls() == [("Lockdown", True), ("Lockdown", False), ("Powered", True),
                                 ("Online", True)], ofono.set_calls()
    assert not ofono.props()["Lockdown"] and ofono.props()["Powered"]


@with_ofono("SIGKILL while locked down: oFono leaves the modem off; the next -o powers it on "
            "and online as it was", "--fault", "timeout")
@killed_while_locked
def _(ofono, fake):
    p = subprocess.Popen([qltest.QL, "-c", ofono.conf, "-o", MODEM, "profile", "list"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for("the lockdown", lambda: ("Lockdown", True) in ofono.set_calls())
    p.kill()
    p.communicate(timeout=30)
    # what oFono does when the lockdown's owner leaves the bus
    ofono.mock.UpdateProperties(MODEM_IFACE, {"Lockdown": dbus.Boolean(False),
                                              "Powered": dbus.Boolean(False),
                                              "Online": dbus.Boolean(False)})
    ofono.mock.ClearCalls()
    # the next command first puts the modem back as the dead one found it, then locks it down
    # and gives it back so again (whether the card, which the fake made stop answering once,
    # answers it or not: timeout=1 bounds that)
    with open(ofono.conf, "w") as f:
        f.write(f"[ofono {MODEM}]\ndevice={fake.spec}?timeout=1\n")
    r = ofono.ql("-o", MODEM, "chip", "info", expect=None)
    assert ofono.set_calls() == [("Powered", True), ("Online", True)] + [
        ("Lockdown", True), ("Lockdown", False), ("Powered", True), ("Online", True)], \
        ofono.set_calls()
    assert "powered on again and online" in r.stderr, r.stderr
    # nothing is noted any more: a third command does not power anything by itself
    ofono.mock.ClearCalls()
    ofono.ql("-o", MODEM, "chip", "info", expect=None)
    assert ofono.set_calls()[:1] == [("Lockdown", True)], ofono.set_calls()


dbusmock.DBusTestCase.tearDownClass()
qltest.finish(TMP)
