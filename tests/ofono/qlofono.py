# SPDX-License-Identifier: GPL-2.0-or-later
"""What the suites on python-dbusmock's ofono template share: its modem, the interfaces, and the
SetProperty code that makes the mock behave like an oFono that refuses a lockdown or drops the
modem when it is locked down (the template's own code otherwise)."""

import dbus

MODEM = "/ril_0"  # the template's modem
MODEM_IFACE = "org.ofono.Modem"
SIM_IFACE = "org.ofono.SimManager"
NO_PROPS = dbus.Dictionary({}, signature="sv")

SET = ('self.Set("org.ofono.Modem", args[0], args[1]); '
       'self.EmitSignal("org.ofono.Modem", "PropertyChanged", "sv", [args[0], args[1]])')
VANISH = SET + '''
if args[0] == "Lockdown" and args[1]:
    manager = objects["/"]
    manager.modems.remove(self.path)
    manager.RemoveObject(self.path)
    manager.EmitSignal("org.ofono.Manager", "ModemRemoved", "o", [self.path])
'''


def refuse(name, message):
    """SetProperty code that refuses to set Lockdown with the D-Bus error @name"""
    return f'''
if args[0] == "Lockdown" and args[1]:
    class Refused(dbus.exceptions.DBusException):
        _dbus_error_name = "{name}"
    raise Refused("{message}")
''' + SET
