#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A screenshot portal for tests/gtk: org.freedesktop.portal.Desktop on the session bus with
org.freedesktop.portal.Screenshot (version 2), speaking the portal's wire format: Screenshot()
answers with the request object named from the caller and its handle_token, then Response(0,
{uri}) is emitted on that object. The "screenshot" is a fresh copy of the image given as the
first argument, in the folder given as the second, as a portal saves a new file each time.
Prints `ready` once it owns the name, then `screenshot interactive=B uri=URI` per call."""

import os
import shutil
import sys

from gi.repository import Gio, GLib

IMAGE, FOLDER = sys.argv[1], sys.argv[2]
XML = """<node><interface name="org.freedesktop.portal.Screenshot">
  <method name="Screenshot"><arg type="s" name="parent_window" direction="in"/>
    <arg type="a{sv}" name="options" direction="in"/>
    <arg type="o" name="handle" direction="out"/></method>
  <property name="version" type="u" access="read"/>
</interface></node>"""
PATH = "/org/freedesktop/portal/desktop"
count = [0]


def respond(conn, request, uri):
    conn.emit_signal(None, request, "org.freedesktop.portal.Request", "Response",
                     GLib.Variant("(ua{sv})", (0, {"uri": GLib.Variant("s", uri)})))
    return GLib.SOURCE_REMOVE


def on_call(conn, sender, path, iface, method, params, invocation):
    _, options = params.unpack()
    token = options.get("handle_token", f"t{count[0]}")
    request = f"{PATH}/request/{sender[1:].replace('.', '_')}/{token}"
    count[0] += 1
    shot = os.path.join(FOLDER, f"Screenshot-{count[0]}.png")
    shutil.copyfile(IMAGE, shot)
    uri = Gio.File.new_for_path(shot).get_uri()
    print(f"screenshot interactive={options.get('interactive', False)} uri={uri}", flush=True)
    invocation.return_value(GLib.Variant("(o)", (request,)))
    # the answer comes later, as from the real portal after the user confirmed
    GLib.timeout_add(100, respond, conn, request, uri)


def on_get(conn, sender, path, iface, name):
    return GLib.Variant("u", 2) if name == "version" else None


def on_bus(conn, name):
    info = Gio.DBusNodeInfo.new_for_xml(XML).interfaces[0]
    conn.register_object(PATH, info, on_call, on_get, None)


def on_name(conn, name):
    print("ready", flush=True)


Gio.bus_own_name(Gio.BusType.SESSION, "org.freedesktop.portal.Desktop",
                 Gio.BusNameOwnerFlags.NONE, on_bus, on_name, lambda *a: sys.exit(1))
GLib.MainLoop().run()
