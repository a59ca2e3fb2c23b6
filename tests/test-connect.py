#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-l profile enable ICCID --connect: after the enable (--direct, on a virtual eUICC; then
through quantra-esimd), a NetworkManager gsm connection bound to the profile's ICCID, through
libnm, to NetworkManager mocked by python3-dbusmock's networkmanager template on a private
system bus. Prints TAP."""

import os
import pty
import subprocess
import sys
import tempfile

import gi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import case  # noqa: E402

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

NM_NAME = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
NM_SETTINGS = NM_PATH + "/Settings"

tmp = tempfile.mkdtemp(prefix="ql-connect-")
dev = "virtual:" + os.path.join(tmp, "euicc.state") + "?seed=3"

# a private bus, the system bus of every process below
bus_proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
address = bus_proc.stdout.readline().strip()
assert address, "the private dbus-daemon did not start"
env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address)
conn = Gio.DBusConnection.new_for_address_sync(
    address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
    Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)


def call(path, iface, method, args=None, sig=None):
    return conn.call_sync(NM_NAME, path, iface, method,
                          GLib.Variant(sig, args) if sig else None, None,
                          Gio.DBusCallFlags.NONE, 30000, None).unpack()


nm = subprocess.Popen(["/usr/bin/python3", "-m", "dbusmock", "--system", "--template",
                       "networkmanager"], env=env, stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)


def nm_running():
    try:
        call(NM_PATH, "org.freedesktop.DBus.Properties", "Get", (NM_NAME, "Version"), "(ss)")
        return True
    except GLib.Error:
        return False


for _ in range(600):  # until the mock is on the bus (or it died)
    if nm_running() or nm.poll() is not None:
        break
    GLib.usleep(50000)


def connections():
    """{path: settings} of NetworkManager's saved connections"""
    paths = call(NM_SETTINGS, NM_NAME + ".Settings", "ListConnections")[0]
    return {p: call(p, NM_NAME + ".Settings.Connection", "GetSettings")[0] for p in paths}


def by_sim(iccid):
    return {p: s for p, s in connections().items() if s.get("gsm", {}).get("sim-id") == iccid}


def add_update2(path):
    """The template's connections lack Update2 (what libnm updates with): this one gets it,
    doing what the template's Update does"""
    call(path, "org.freedesktop.DBus.Mock", "AddMethod",
         (NM_NAME + ".Settings.Connection", "Update2", "a{sa{sv}}ua{sv}", "a{sv}",
          "self.ConnectionUpdate(self, args[0]); ret = {}"), "(sssss)")


def ql(*args, json_out=True, expect=0):
    return qltest.quantra(*args, device=dev, json_out=json_out, expect=expect, env=env,
                          timeout=60, forbid=("CRITICAL", "WARNING"))


def states():
    return {p["iccid"]: p["state"] for p in ql("profile", "list").out["profiles"]}


profiles = ql("profile", "list").out["profiles"]
a, b, c = (p["iccid"] for p in profiles)


@case("enable --connect --apn creates a gsm connection bound to the ICCID")
def _():
    assert nm_running(), "NetworkManager (mock) is not on the bus"
    r = ql("profile", "enable", a, "--connect", "--apn", "internet.test")
    assert r.out["result"] == "ok" and r.out["iccid"] == a, r.out
    cn = r.out["connection"]
    assert cn["result"] == "created" and cn["apn"] == "internet.test", cn
    assert cn["apn_source"] == "option" and cn["uuid"] and cn["id"], cn
    assert states()[a] == "enabled"
    found = by_sim(a)
    assert len(found) == 1, found
    s = next(iter(found.values()))
    assert s["connection"]["type"] == "gsm", s
    assert s["connection"]["uuid"] == cn["uuid"] and s["connection"]["id"] == cn["id"], s
    assert s["gsm"]["apn"] == "internet.test", s
    add_update2(next(iter(found)))


@case("enable --connect again updates the same connection (one per ICCID)")
def _():
    before = len(connections())
    ql("profile", "disable", a)
    r = ql("profile", "enable", a, "--connect", "--apn", "other.test", json_out=False)
    assert "updated" in r.out and "other.test" in r.out, r.out
    found = by_sim(a)
    assert len(found) == 1, found
    assert next(iter(found.values()))["gsm"]["apn"] == "other.test", found
    assert len(connections()) == before, connections()


@case("no --apn and no database entry (--json): clear error naming --apn, nothing done")
def _():
    before = states()
    r = ql("profile", "enable", b, "--connect", expect=None)
    assert r.rc != 0, r.out
    assert "--apn" in r.message and b in r.message, r.message
    assert by_sim(b) == {}, by_sim(b)
    assert states() == before, (before, states())


@case("no --apn, no terminal, no --json: the same error")
def _():
    r = ql("profile", "enable", c, "--connect", json_out=False, expect=None)
    assert r.rc != 0 and "--apn" in r.stderr, r.stderr
    assert by_sim(c) == {} and states()[c] == "disabled"


@case("--apn without --connect is refused")
def _():
    r = ql("profile", "enable", c, "--apn", "x.test", expect=None)
    assert r.rc != 0 and "--connect" in r.message, r.message
    assert states()[c] == "disabled"


def on_terminal(iccid, answer):
    """enable --connect with stdin on a pseudo-terminal that answers the APN question"""
    master, slave = pty.openpty()
    os.write(master, answer.encode() + b"\n")
    p = subprocess.run([qltest.QL, "--direct", dev, "profile", "enable", iccid, "--connect"],
                       stdin=slave, capture_output=True, text=True, env=env, timeout=60)
    os.close(slave)
    os.close(master)
    assert "CRITICAL" not in p.stderr and "WARNING" not in p.stderr, p.stderr
    return p


@case("on a terminal, an empty answer declines: enabled, no connection")
def _():
    p = on_terminal(b, "")
    assert p.returncode == 0, p.stderr
    assert "APN" in p.stderr and "No NetworkManager connection created" in p.stdout, p
    assert states()[b] == "enabled" and by_sim(b) == {}


@case("on a terminal, the APN typed is the connection's")
def _():
    p = on_terminal(c, "typed.test")
    assert p.returncode == 0, p.stderr
    assert "created" in p.stdout and "typed.test" in p.stdout, p.stdout
    found = by_sim(c)
    assert len(found) == 1 and next(iter(found.values()))["gsm"]["apn"] == "typed.test", found


@case("through quantra-esimd: the service enables, quantra-l makes the connection")
def _():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "daemon"))
    import qldaemon as q

    class Bus:
        pass
    bus = Bus()
    bus.address, bus.env = address, env
    pki = os.path.join(tmp, "pki")
    qltest.Smdp(pki).stop()  # the CI the configuration trusts
    card = "virtual:" + os.path.join(tmp, "service.state") + "?seed=4"
    client = q.Client(bus)
    polkit = q.Polkit(bus, client)
    daemon = None
    try:
        polkit.allow_all()
        conf = q.write_config(os.path.join(tmp, "esimd.conf"), pki, {"card": card})
        daemon = q.Daemon(bus, conf, client)
        iccid = qltest.answer(card, "profile", "list")["profiles"][0]["iccid"]
        assert iccid not in (a, b, c), "the service's card should have its own profiles"
        r = qltest.quantra("profile", "enable", iccid, "--connect", "--apn", "service.test",
                           env=env, timeout=60, forbid=("CRITICAL", "WARNING"))
        assert r.out["result"] == "ok" and r.out["connection"]["result"] == "created", r.out
        found = by_sim(iccid)
        assert len(found) == 1, found
        assert next(iter(found.values()))["gsm"]["apn"] == "service.test", found
        # the enable was the service's: its Profile object says so
        assert client.profiles(client.euiccs()[0])[iccid]["State"] == "enabled"
    finally:
        code = daemon.stop() if daemon is not None else 0
        polkit.stop()
        client.close()
    assert code == 0, f"quantra-esimd exited {code}: {daemon.text()[-2000:]}"


nm.terminate()
nm.wait()
bus_proc.terminate()
bus_proc.wait()
qltest.finish(tmp)
