#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-l -o PATH end to end with the real ofonod (Debian's package) on a private system bus
and in a private mount namespace (its own /etc/ofono with a phonesim.conf, its own
/var/lib/ofono). oFono's modem is ql-fake-at: oFono's phonesim driver talks to its TCP port and
reads the SIM through it (AT+CRSM of EF.ICCID), and quantra-l reaches the eUICC through the fake's
pty, named in quantra-l's configuration ([ofono /phonesim] device=at:PTY). Each -o command must
lock the modem down (oFono closes its port and powers it off), then clear the lockdown and power
it on again; after `profile enable` oFono must show the new ICCID. Then the same through
quantra-esimd on that bus: it finds oFono's modem, reads its eUICC under a lockdown, and serves
`-o PATH` (a download, an enable that oFono then shows). Needs root (mount namespaces); skipped
otherwise. Prints TAP.

usage: test-ofono-real.py QL_FAKE_AT OFONOD QL_ESIMD"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402
from qltest import case  # noqa: E402

FAKE_AT, OFONOD, os.environ["QL_ESIMD"] = sys.argv[1:4]

if os.geteuid() != 0 or shutil.which("unshare") is None or not os.access(OFONOD, os.X_OK):
    print("1..0 # SKIP needs root, unshare and ofonod (Debian's ofono package)")
    sys.exit(0)

import dbus  # noqa: E402
import dbus.mainloop.glib  # noqa: E402
from gi.repository import GLib  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-ofono-real-")
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""
MODEM = "/phonesim"
procs = []


def wait_until(what, fn, timeout=30):
    """Polls @fn until it returns something true; a test's wait for oFono, not a timing assertion
    (the deadline only keeps a broken oFono from hanging the suite)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"oFono did not get there: {what}")


class Watch:
    """Records the modem's PropertyChanged signals (Lockdown, Powered) in order."""

    def __init__(self, bus):
        self.events = []
        self.lock = threading.Lock()
        bus.add_signal_receiver(self._changed, signal_name="PropertyChanged",
                                dbus_interface="org.ofono.Modem", path=MODEM)

    def _changed(self, name, value):
        if name in ("Lockdown", "Powered", "Online"):
            with self.lock:
                self.events.append((str(name), bool(value)))

    def take(self):
        with self.lock:
            ev, self.events = self.events, []
        return ev


def modem_props(bus):
    return bus.get_object("org.ofono", MODEM).GetProperties(dbus_interface="org.ofono.Modem")


def sim_props(bus):
    try:
        return bus.get_object("org.ofono", MODEM).GetProperties(
            dbus_interface="org.ofono.SimManager")
    except dbus.exceptions.DBusException:
        return {}


def iccid_in_ofono(bus):
    return str(sim_props(bus).get("CardIdentifier", ""))


def assert_lockdown_cycle(watch, bus, what):
    """@what locked the modem down and gave it back: Lockdown true, Powered off, Lockdown false,
    Powered on again, in that order; and now the modem is powered and not locked."""
    def done():
        ev = [e for e in list(watch.events) if e[0] in ("Lockdown", "Powered")]
        if ("Lockdown", False) in ev and ("Powered", True) in ev[ev.index(("Lockdown", False)):]:
            return ev
        return None

    seq = wait_until(f"{what}: Lockdown cleared and the modem powered again", done)
    watch.take()
    # oFono 1.31 signals the power-off before it answers (and signals) the lockdown
    assert seq[:4] == [("Powered", False), ("Lockdown", True), ("Lockdown", False),
                       ("Powered", True)], f"{what}: {seq}"
    # back online (the service brings it online after it answered its client)
    wait_until(f"{what}: the modem online again",
               lambda: (lambda p: p["Powered"] and p["Online"] and not p["Lockdown"])(
                   modem_props(bus)))


def set_online(bus):
    try:
        bus.get_object("org.ofono", MODEM).SetProperty("Online", dbus.Boolean(True),
                                                       dbus_interface="org.ofono.Modem")
        return True
    except dbus.exceptions.DBusException:
        return False  # not before oFono has read the SIM


def service_cases(bus, watch, env, address, pki, pty):
    """quantra-esimd on the same bus, serving oFono's modem; quantra-l -o goes through it"""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "daemon"))
    import qldaemon as q

    class Bus:
        pass
    b = Bus()
    b.address, b.env = address, env
    client = q.Client(b)
    polkit = q.Polkit(b, client)
    polkit.allow_all()
    conf = q.write_config(os.path.join(TMP, "esimd.conf"), pki, {},
                          sections={f"ofono {MODEM}": {"device": pty}})
    daemon = None
    ours = {}

    def svc(*args, expect=0):
        return qltest.quantra(*args, env=env, expect=expect).out

    try:
        @case("quantra-esimd finds oFono's modem and reads its eUICC under a lockdown")
        def _():
            nonlocal daemon
            daemon = q.Daemon(b, conf, client)
            path = client.euiccs()
            assert len(path) == 1, path
            p = client.props(path[0], q.EUICC)
            assert p["OfonoModemPath"] == MODEM and p["Transport"] == pty, p
            ours["eid"] = p["Eid"]
            assert_lockdown_cycle(watch, bus, "the service's first read")

        @case("-o chip info through the service: its EID, read from what the service holds; "
              "`modems` shows it too")
        def _():
            assert svc("-o", MODEM, "chip", "info")["eid"] == ours["eid"]
            m = [x for x in svc("modems")["modems"] if x["path"] == MODEM]
            assert len(m) == 1 and m[0]["eid"] == ours["eid"], m
            assert not [e for e in watch.take() if e[0] == "Lockdown"], "a read locked it down"

        @case("-o profile download through the service, under a lockdown")
        def _():
            smdp = qltest.Smdp(pki)
            try:
                r = svc("-o", MODEM, "profile", "download", "--activation-code",
                        f"LPA:1${smdp.address}$ANY")
            finally:
                smdp.stop()
            assert r["notification_delivered"] is True, r
            ours["iccid"] = r["iccid"]
            assert_lockdown_cycle(watch, bus, "the service's download")

        @case("-o profile enable through the service: oFono shows the new ICCID")
        def _():
            svc("-o", MODEM, "profile", "enable", ours["iccid"])
            assert_lockdown_cycle(watch, bus, "the service's enable")
            wait_until("oFono reads the new SIM", lambda: iccid_in_ofono(bus) == ours["iccid"])
            q.wait_until(lambda: f"again with SIM {ours['iccid']}" in daemon.text(), 60,
                         "the service seeing the new SIM")
            states = {x["iccid"]: x["state"] for x in svc("-o", MODEM, "profile", "list")
                      ["profiles"]}
            assert states[ours["iccid"]] == "enabled", states

        @case("quantra-esimd killed while it holds the lockdown: oFono clears it and leaves the "
              "modem off; the service started again powers it on and online")
        def _():
            nonlocal daemon
            assert daemon.stop() == 0, daemon.text()[-3000:]
            held = q.write_config(os.path.join(TMP, "esimd-held.conf"), pki, {},
                                  daemon={"uninhibit-delay": 600},
                                  sections={f"ofono {MODEM}": {"device": pty}})
            daemon = q.Daemon(b, held, client)
            assert_lockdown_cycle(watch, bus, "the first read")
            svc("-o", MODEM, "profile", "nickname", ours["iccid"], "held")
            wait_until("the lockdown held", lambda: modem_props(bus)["Lockdown"])
            daemon.kill()
            wait_until("oFono clearing the dead service's lockdown",
                       lambda: not modem_props(bus)["Lockdown"])
            assert not modem_props(bus)["Powered"], dict(modem_props(bus))
            watch.take()
            daemon = q.Daemon(b, held, client)
            wait_until("the modem powered and online again",
                       lambda: (lambda p: p["Powered"] and p["Online"] and not p["Lockdown"])(
                           modem_props(bus)), timeout=60)
            assert "powered on again and online" in daemon.text(), daemon.text()[-3000:]
            wait_until("oFono reading the SIM again",
                       lambda: iccid_in_ofono(bus) == ours["iccid"])
    finally:
        code = daemon.stop() if daemon is not None else 0
        code = 0 if daemon is not None and daemon.killed and code == -9 else code
        polkit.stop()
        client.close()
    if daemon is not None and (code != 0 or not qltest.all_ok()):
        sys.stderr.write(daemon.text()[-6000:] + "\n")
    assert code == 0, f"quantra-esimd exited {code}"
    assert not modem_props(bus)["Lockdown"], "the service left the modem locked down"


def main():
    pki = os.path.join(TMP, "pki")
    qltest.Smdp(pki).stop()  # writes the test PKI (the card's identity) first
    state = os.path.join(TMP, "card.state")
    fake = subprocess.Popen([FAKE_AT, "--state", state, "--seed", "1", "--identity",
                             os.path.join(pki, "euicc"), "--tcp"],
                            stdout=subprocess.PIPE, text=True)
    procs.append(fake)
    port = int(fake.stdout.readline().split(":")[1])
    pty = fake.stdout.readline().split()[1]
    assert pty.startswith("at:/dev/pts/"), pty

    # one profile enabled before oFono starts: it finds a SIM
    iccid1 = qltest.quantra("profile", "list", device=pty).out["profiles"][0]["iccid"]
    qltest.quantra("profile", "enable", iccid1, device=pty)

    # the private system bus, and oFono in its own mount namespace
    busdir = os.path.join(TMP, "bus")
    etc, lib = os.path.join(TMP, "etc-ofono"), os.path.join(TMP, "var-lib-ofono")
    for d in (busdir, etc, lib):
        os.makedirs(d)
    with open(os.path.join(TMP, "bus.conf"), "w") as f:
        f.write(BUS_CONFIG.format(dir=busdir))
    with open(os.path.join(etc, "phonesim.conf"), "w") as f:
        f.write(f"[phonesim]\nAddress=127.0.0.1\nPort={port}\n")
    daemon = subprocess.Popen(["dbus-daemon", "--config-file", os.path.join(TMP, "bus.conf"),
                               "--print-address=1", "--nofork"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    procs.append(daemon)
    address = daemon.stdout.readline().strip()
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)
    log = open(os.path.join(TMP, "ofonod.log"), "w")
    ofonod = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount --bind "$1" /etc/ofono && mount --bind "$2" /var/lib/ofono && exec "$3" -n -d',
         "sh", etc, lib, OFONOD], env=dict(env, OFONO_AT_DEBUG="1"), stdout=log,
        stderr=subprocess.STDOUT)
    procs.append(ofonod)

    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(address)
    loop = GLib.MainLoop()
    threading.Thread(target=loop.run, daemon=True).start()
    watch = Watch(bus)

    def modems():
        try:
            return [str(p) for p, _ in bus.get_object("org.ofono", "/").GetModems(
                dbus_interface="org.ofono.Manager")]
        except dbus.exceptions.DBusException:
            return []

    wait_until("the phonesim modem from our phonesim.conf", lambda: MODEM in modems())
    bus.get_object("org.ofono", MODEM).SetProperty("Powered", dbus.Boolean(True),
                                                   dbus_interface="org.ofono.Modem")
    wait_until(f"SIM {iccid1} read", lambda: iccid_in_ofono(bus) == iccid1)
    # online (AT+CFUN=1), so that each command must bring it back online too
    wait_until("the modem online", lambda: set_online(bus))
    watch.take()

    conf = os.path.join(TMP, "quantra-l.conf")
    with open(conf, "w") as f:
        f.write(f"[ofono {MODEM}]\ndevice={pty}\n")

    def ql(*args, expect=0):
        return qltest.quantra("-c", conf, *args, env=env, expect=expect).out

    @case("the real ofonod brought the fake AT modem up and read its SIM")
    def _():
        p = modem_props(bus)
        assert p["Manufacturer"] == "Quantra-L" and p["Model"] == "ql-fake-at", dict(p)
        assert sim_props(bus)["Present"], sim_props(bus)

    @case("modems lists oFono's modem with its stack, device and SIM")
    def _():
        m = [x for x in ql("modems")["modems"] if x["stack"] == "oFono"]
        assert len(m) == 1, m
        assert m[0]["path"] == MODEM and m[0]["spec"] == pty, m
        assert m[0]["spec_origin"] == "configuration" and m[0]["transport"] == "at", m
        assert m[0]["powered"] and m[0]["online"] and not m[0]["lockdown"], m
        assert m[0]["sim_present"] and m[0]["iccid"] == iccid1, m
        text = qltest.quantra("-c", conf, "modems", env=env, json_out=False).out
        assert MODEM in text and "oFono" in text and pty in text, text

    @case("-o chip info: the EID, with the lockdown set and cleared")
    def _():
        eid = ql("-o", MODEM, "chip", "info")["eid"]
        assert eid == qltest.quantra("chip", "info", device=pty).out["eid"], eid
        assert_lockdown_cycle(watch, bus, "chip info")

    @case("-o profile list")
    def _():
        p = ql("-o", MODEM, "profile", "list")["profiles"]
        assert [(x["iccid"], x["state"]) for x in p] == [(iccid1, "enabled")], p
        assert_lockdown_cycle(watch, bus, "profile list")

    new = {}

    @case("-o profile download from the test SM-DP+")
    def _():
        r = ql("-o", MODEM, *qltest.download_args(qltest.Smdp(pki), pki))
        assert r["notification_delivered"] is True, r
        new["iccid"] = r["iccid"]
        assert_lockdown_cycle(watch, bus, "profile download")

    @case("-o profile enable: lockdown set and cleared, oFono reads the new ICCID")
    def _():
        r = ql("-o", MODEM, "profile", "enable", new["iccid"])
        assert r["modem"]["stack"] == "oFono" and r["modem"]["iccid"] == new["iccid"], r
        assert_lockdown_cycle(watch, bus, "profile enable")
        assert iccid_in_ofono(bus) == new["iccid"], sim_props(bus)
        states = {x["iccid"]: x["state"] for x in ql("-o", MODEM, "profile", "list")["profiles"]}
        assert states == {iccid1: "disabled", new["iccid"]: "enabled"}, states

    @case("a modem oFono does not have: clear error, nothing locked")
    def _():
        r = qltest.quantra("-c", conf, "-o", "/nosuchmodem", "chip", "info", env=env,
                           expect=qltest.EXIT_NOT_FOUND)
        assert "oFono has no modem /nosuchmodem (it has /phonesim)" in r.message, r.message
        assert not modem_props(bus)["Lockdown"]

    service_cases(bus, watch, env, address, pki, pty)

    loop.quit()
    left = qltest.stop(fake)
    assert qltest.report(left, "open-channels") == 0, f"channels left open: {left}"


try:
    main()
except Exception as e:  # noqa: BLE001 - the setup failing is a test result too
    qltest.fail("setup", f"{type(e).__name__}: {e}")
finally:
    for p in reversed(procs):
        if p.poll() is None:
            qltest.stop(p, timeout=10)
    if not qltest.all_ok():
        try:
            with open(os.path.join(TMP, "ofonod.log")) as f:
                sys.stderr.write(f.read()[-6000:])
        except OSError:
            pass
qltest.finish(TMP)
