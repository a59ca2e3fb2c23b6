# SPDX-License-Identifier: GPL-2.0-or-later
"""What the quantra-esimd suites share: a private system-like bus whose configuration includes
the installed policy (data/dbus/org.quantra.Esim1.conf), polkitd (python3-dbusmock's template),
the real daemon, and D-Bus clients written with GLib/Gio (python3-gi). Waits are bounded (a
hung daemon fails the test) but nothing asserts how fast anything is."""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from gi.repository import Gio, GLib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402

SOURCE = os.environ.get("QL_SOURCE_ROOT", ".")
ESIMD = os.environ.get("QL_ESIMD", os.path.join(qltest.BUILD, "src", "daemon", "quantra-esimd"))
POLICY = os.path.join(SOURCE, "data", "dbus", "org.quantra.Esim1.conf")

NAME = "org.quantra.Esim1"
ROOT = "/org/quantra/Esim1"
MANAGER = NAME + ".Manager"
EUICC = NAME + ".Euicc"
PROFILE = NAME + ".Profile"
OPERATION = NAME + ".Operation"
AGENT = NAME + ".Agent"
ERROR = NAME + ".Error."
POLKIT = "org.freedesktop.PolicyKit1"
ACTIONS = ("org.quantra.esim.download", "org.quantra.esim.manage", "org.quantra.esim.reset")

# the shape of Debian's system.conf, with the service's policy and polkit's included
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={dir}/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
{default}  <!-- polkitd's own policy, in short -->
  <policy user="root">
    <allow own="org.freedesktop.PolicyKit1"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
  <include>{policy}</include>
</busconfig>
"""


def wait_until(cond, timeout=60, what="the condition"):
    """Runs the default main context until cond() is true; fails after @timeout s."""
    ctx = GLib.MainContext.default()
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        ctx.iteration(False) or time.sleep(0.01)
    return True


def spin(seconds):
    """Lets the main context run for a while (to see that something does NOT happen)."""
    ctx = GLib.MainContext.default()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ctx.iteration(False) or time.sleep(0.01)


class Bus:
    """A private dbus-daemon configured like the system bus."""

    def __init__(self, tmp):
        self.dir = tempfile.mkdtemp(prefix="bus-", dir=tmp)
        conf = os.path.join(self.dir, "system.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(BUS_CONFIG.format(dir=self.dir, policy=os.path.abspath(POLICY),
                                      default=qltest.SYSTEM_BUS_POLICY))
        self.proc = subprocess.Popen(["dbus-daemon", "--nofork", "--config-file=" + conf,
                                      "--print-address=1"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.address = self.proc.stdout.readline().strip()
        assert self.address, "dbus-daemon did not start"
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Client:
    """One connection to the bus (one D-Bus client, one unique name)."""

    def __init__(self, bus):
        self.conn = Gio.DBusConnection.new_for_address_sync(
            bus.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.conn.set_exit_on_close(False)
        self.name = self.conn.get_unique_name()
        self.signals = []  # (path, interface, member, args unpacked)
        self.conn.signal_subscribe(NAME, None, None, None, None, Gio.DBusSignalFlags.NONE,
                                   self._on_signal)
        self.agent_calls = []  # (operation, host)
        self.agent_answer = None  # a code, an Exception to refuse, None: leave it pending
        self.pending_agent = []  # invocations not answered yet
        self._agent_id = None

    def _on_signal(self, conn, sender, path, iface, member, params):
        self.signals.append((path, iface, member, params.unpack()))

    def call(self, path, iface, method, args=None, sig=None, dest=NAME, timeout=120):
        """A blocking call; returns the unpacked answer, raises GLib.Error."""
        params = GLib.Variant(sig, args) if sig is not None else None
        r = self.conn.call_sync(dest, path, iface, method, params, None,
                                Gio.DBusCallFlags.NONE, timeout * 1000, None)
        return r.unpack() if r is not None else None

    def call_async(self, path, iface, method, args=None, sig=None, timeout=300):
        """Starts a call; returns a Pending whose .done / .result / .error fill in later."""
        p = Pending()
        params = GLib.Variant(sig, args) if sig is not None else None

        def finish(conn, res, _):
            try:
                r = conn.call_finish(res)
                p.result = r.unpack() if r is not None else None
            except GLib.Error as e:  # noqa: PERF203
                p.error = e
            p.done = True
        self.conn.call(NAME, path, iface, method, params, None, Gio.DBusCallFlags.NONE,
                       timeout * 1000, None, finish, None)
        return p

    def prop(self, path, iface, name):
        return self.call(path, "org.freedesktop.DBus.Properties", "Get", (iface, name),
                         "(ss)")[0]

    def props(self, path, iface):
        return self.call(path, "org.freedesktop.DBus.Properties", "GetAll", (iface,), "(s)")[0]

    def objects(self):
        return self.call(ROOT, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")[0]

    def euiccs(self):
        return sorted(p for p, i in self.objects().items() if EUICC in i)

    def profiles(self, euicc):
        """{iccid: properties} of the eUICC's profiles, as the objects show them"""
        objs = self.objects()
        return {objs[p][PROFILE]["Iccid"]: objs[p][PROFILE]
                for p in objs[euicc][EUICC]["Profiles"]}

    def register_agent(self, path="/agent"):
        xml = f"""<node><interface name="{AGENT}">
          <method name="RequestConfirmationCode"><arg name="operation" type="o" direction="in"/>
          <arg name="smdp_host" type="s" direction="in"/><arg name="code" type="s"
          direction="out"/></method></interface></node>"""
        info = Gio.DBusNodeInfo.new_for_xml(xml).interfaces[0]
        self._agent_id = self.conn.register_object(path, info, self._on_agent, None, None)
        self.call(ROOT, MANAGER, "RegisterAgent", (path,), "(o)")

    def _on_agent(self, conn, sender, path, iface, method, params, invocation):
        self.agent_calls.append(tuple(params.unpack()))
        if self.agent_answer is None:
            self.pending_agent.append(invocation)
        else:
            self.answer_agent(invocation, self.agent_answer)

    def answer_agent(self, invocation, answer):
        if isinstance(answer, Exception):
            invocation.return_dbus_error("org.example.Refused", str(answer))
        else:
            invocation.return_value(GLib.Variant("(s)", (answer,)))

    def download(self, euicc, options):
        """DownloadProfile: the Operation's path (the options as (key, GLib.Variant))"""
        return self.call(euicc, EUICC, "DownloadProfile", (options,), "(a{sv})")[0]

    def progress(self, op):
        return [(a[0], a[1]) for p, i, m, a in self.signals if p == op and m == "Progress"]

    def finished(self, op):
        r = [a[0] for p, i, m, a in self.signals if p == op and m == "Finished"]
        return r[0] if r else None

    def wait_finished(self, op, timeout=120):
        wait_until(lambda: self.finished(op) is not None, timeout, f"Finished of {op}")
        return self.finished(op)

    def close(self):
        if not self.conn.is_closed():
            self.conn.close_sync(None)


class Pending:
    def __init__(self):
        self.done = False
        self.result = None
        self.error = None

    def wait(self, timeout=120):
        wait_until(lambda: self.done, timeout, "a method's answer")
        return self


def error_name(e):
    """The D-Bus error name of a GLib.Error from a call"""
    return Gio.DBusError.get_remote_error(e) if Gio.DBusError.is_remote_error(e) else str(e)


def expect_error(fn, name):
    """Calls fn(); asserts it raises the D-Bus error @name (a suffix of it); returns the
    message."""
    try:
        fn()
    except GLib.Error as e:
        got = error_name(e)
        assert got.endswith(name), f"wanted {name}, got {got}: {e.message}"
        return e.message
    raise AssertionError(f"no error, wanted {name}")


def v(sig, value):
    return GLib.Variant(sig, value)


class Polkit:
    """polkitd from python3-dbusmock's template: refuses everything until told otherwise."""

    def __init__(self, bus, client):
        self.proc = subprocess.Popen([sys.executable, "-m", "dbusmock", "--system", "--template",
                                      "polkitd"], env=bus.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.client = client
        wait_until(lambda: self._owner() is not None, 30, "polkitd (mock)")

    def _owner(self):
        try:
            return client_name_owner(self.client, POLKIT)
        except GLib.Error:
            return None

    def allow(self, actions):
        self.client.call("/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.DBus.Mock",
                         "SetAllowed", (list(actions),), "(as)", dest=POLKIT)

    def allow_all(self, allowed=True):
        self.client.call("/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.DBus.Mock",
                         "AllowUnknown", (allowed,), "(b)", dest=POLKIT)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def client_name_owner(client, name):
    return client.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner",
                       (name,), "(s)", dest="org.freedesktop.DBus")[0]


class Daemon:
    """The real quantra-esimd with --verbose; its log is kept in .log (a list of lines)."""

    def __init__(self, bus, config, client, euiccs=1, env=None):
        self.log = []
        self.config = config
        self.killed = False  # kill() was used: its exit code says so
        self.proc = subprocess.Popen([ESIMD, "--config", config, "--verbose"],
                                     env=env or bus.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.client = client
        wait_until(lambda: self.proc.poll() is not None or self.owned(), 60, "quantra-esimd")
        assert self.proc.poll() is None, f"quantra-esimd exited: {self.text()}"
        if euiccs:
            wait_until(lambda: len(client.euiccs()) >= euiccs, 60, "the eUICC objects")

    def _read(self):
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))

    def text(self):
        return "\n".join(self.log)

    def owned(self):
        try:
            return client_name_owner(self.client, NAME) is not None
        except GLib.Error:
            return False

    def kill(self):
        self.killed = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._reader.join(10)

    def stop(self):
        """SIGTERM; returns the exit code"""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(10)
        return self.proc.returncode


def write_config(path, pki, devices, daemon=None, tls=None, state_dir=None, sections=None):
    """A configuration: the test CI trusted, [device NAME] spec=... for each device, the vault and
    the audit trail in @state_dir (default: PATH.state-dir, never the machine's), @sections
    ({name: {key: value}}) added as they are."""
    lines = ["[tls]", f"trust-anchors={os.path.join(pki, 'ci.pem')}", "timeout=60"]
    for k, val in (tls or {}).items():
        lines.append(f"{k}={val}")
    lines += ["", "[storage]", f"state-dir={state_dir or path + '.state-dir'}"]
    lines += ["", "[daemon]"]
    settings = {"uninhibit-delay": 1, "notification-retry": 0}
    settings.update(daemon or {})
    lines += [f"{k}={val}" for k, val in settings.items()]
    for name, section in (sections or {}).items():
        lines += ["", f"[{name}]"] + [f"{k}={val}" for k, val in section.items()]
    for name, spec in devices.items():
        lines += ["", f"[device {name}]", f"spec={spec}"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def virtual_spec(state, pki, seed=0):
    spec = f"virtual:{state}?identity={os.path.join(pki, 'euicc')}"
    return spec + (f"&seed={seed}" if seed else "")
