#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The system bus policy of quantra-esimd (data/dbus/org.quantra.Esim1.conf) in a real private
dbus-daemon configured like the system bus, with root and an unprivileged uid (nobody): only
root may own org.quantra.Esim1, anyone may call it and receive its signals. Two control buses
show that these rights come from the policy file: without it root cannot own the name, and with
an owner rule alone nobody cannot call."""

import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import qltest  # noqa: E402
from qltest import case  # noqa: E402
from sysbus import SystemBus, as_user, run  # noqa: E402

NAME = "org.quantra.Esim1"
SRC = os.environ.get("QL_SOURCE_ROOT", os.path.dirname(os.path.dirname(HERE)))
POLICY = os.path.join(SRC, "data", "dbus", "org.quantra.Esim1.conf")
PYTHON = "/usr/bin/python3"

tmp = tempfile.mkdtemp(prefix="ql-dbus-policy-")
os.chmod(tmp, 0o755)
# the peer script where nobody can read it, whatever the checkout's permissions
peer = os.path.join(tmp, "dbus-peer.py")
shutil.copy(os.path.join(HERE, "dbus-peer.py"), peer)
os.chmod(peer, 0o644)
env_base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": tmp, "LANG": "C.UTF-8"}


def peer_cmd(verb, user=None):
    argv = [PYTHON, peer, verb, NAME]
    return as_user(*user, argv) if user else argv


NOBODY = ("nobody", "nogroup")
buses = []
served = []


def bus(name, **kw):
    b = SystemBus(os.path.join(tmp, name), **kw)
    buses.append(b)
    return b, dict(env_base, DBUS_SYSTEM_BUS_ADDRESS=b.address)


def serve(env):
    p, _ = qltest.start(peer_cmd("serve"), r"^owned$", env=env)
    served.append(p)
    return p


if os.geteuid() != 0:
    print("1..0 # SKIP the policy is checked as root and as nobody: run as root")
    sys.exit(0)

main_bus, main_env = bus("main", includes=[POLICY])


@case("nobody cannot own org.quantra.Esim1")
def _():
    got = run(peer_cmd("own", NOBODY), main_env)
    assert got == "error org.freedesktop.DBus.Error.AccessDenied", got


@case("root owns org.quantra.Esim1")
def _():
    serve(main_env)


@case("nobody cannot take org.quantra.Esim1 from its owner either")
def _():
    got = run(peer_cmd("own", NOBODY), main_env)
    assert got == "error org.freedesktop.DBus.Error.AccessDenied", got


@case("nobody calls the root-owned service and receives its signal")
def _():
    got = run(peer_cmd("call", NOBODY), main_env)
    assert got == "reply 65534 signal yes", got


@case("root calls it too")
def _():
    got = run(peer_cmd("call"), main_env)
    assert got == "reply 0 signal yes", got


@case("control: without the policy file, root cannot own the name")
def _():
    _, env = bus("no-policy")
    got = run(peer_cmd("own"), env)
    assert got == "error org.freedesktop.DBus.Error.AccessDenied", got


@case("control: with an owner rule alone, nobody cannot call the service")
def _():
    _, env = bus("owner-only", extra=f'<policy user="root"><allow own="{NAME}"/></policy>\n')
    serve(env)
    got = run(peer_cmd("call", NOBODY), env)
    assert got == "error org.freedesktop.DBus.Error.AccessDenied signal no", got


for p in served:
    qltest.stop(p)
for b in buses:
    b.stop()
qltest.finish(tmp)
