# SPDX-License-Identifier: GPL-2.0-or-later
"""A D-Bus peer for the policy tests, on the bus DBUS_SYSTEM_BUS_ADDRESS names (GIO's system bus):
    dbus-peer.py own NAME    asks for NAME; prints "owned", or "error ERROR-NAME"
    dbus-peer.py serve NAME  owns NAME and serves Ping on /org/quantra/Esim1 (it emits Pinged,
                             then answers with the caller's uid); prints "owned" or "error ..."
    dbus-peer.py call NAME   calls Ping on NAME with a match for Pinged; prints
                             "reply UID signal yes|no", or "error ERROR-NAME"
Run as root or, through setpriv, as an unprivileged user."""

import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

PATH = "/org/quantra/Esim1"
IFACE = "org.quantra.Esim1.PolicyTest"
XML = f"""<node><interface name="{IFACE}">
  <method name="Ping"><arg type="u" name="uid" direction="out"/></method>
  <signal name="Pinged"/>
</interface></node>"""
DO_NOT_QUEUE = 4
TIMEOUT_MS = 60000


def out(line):
    print(line, flush=True)


def error_name(e):
    return Gio.DBusError.get_remote_error(e) or e.message


def request(bus, name):
    try:
        (r,) = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                             "org.freedesktop.DBus", "RequestName",
                             GLib.Variant("(su)", (name, DO_NOT_QUEUE)),
                             GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE, TIMEOUT_MS).unpack()
    except GLib.Error as e:
        return f"error {error_name(e)}"
    return "owned" if r == 1 else f"not-owned {r}"


def serve(bus, name):
    def on_call(conn, sender, path, iface, method, params, invocation):
        (uid,) = conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus", "GetConnectionUnixUser",
                                GLib.Variant("(s)", (sender,)), GLib.VariantType("(u)"),
                                Gio.DBusCallFlags.NONE, TIMEOUT_MS).unpack()
        conn.emit_signal(None, PATH, IFACE, "Pinged", None)
        invocation.return_value(GLib.Variant("(u)", (uid,)))

    info = Gio.DBusNodeInfo.new_for_xml(XML).interfaces[0]
    bus.register_object(PATH, info, on_call, None, None)
    status = request(bus, name)
    out(status)
    if status == "owned":
        GLib.MainLoop().run()


def call(bus, name):
    got = []
    loop = GLib.MainLoop()
    bus.signal_subscribe(name, IFACE, "Pinged", PATH, None, Gio.DBusSignalFlags.NONE,
                         lambda *a: got.append(True))
    result = []

    def done(conn, res):
        try:
            result.append(f"reply {conn.call_finish(res).unpack()[0]}")
        except GLib.Error as e:
            result.append(f"error {error_name(e)}")
        # the signal was sent before the reply: it is dispatched before this callback returns
        # to the loop only if it was delivered, so let pending messages through first
        GLib.idle_add(loop.quit)

    bus.call(name, PATH, IFACE, "Ping", None, GLib.VariantType("(u)"), Gio.DBusCallFlags.NONE,
             TIMEOUT_MS, None, done)
    loop.run()
    ctx = GLib.MainContext.default()
    while ctx.pending():
        ctx.iteration(False)
    out(f"{result[0]} signal {'yes' if got else 'no'}")


def main():
    verb, name = sys.argv[1], sys.argv[2]
    bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    if verb == "own":
        out(request(bus, name))
    elif verb == "serve":
        serve(bus, name)
    elif verb == "call":
        call(bus, name)
    else:
        sys.exit(f"unknown verb {verb}")


if __name__ == "__main__":
    main()
