# SPDX-License-Identifier: GPL-2.0-or-later
"""The real ModemManager in a test, with fake modems announced to it (python3-dbus and
python3-dbusmock; root).

    qlmm.enter_namespace()            # first thing in a suite: re-runs it in private namespaces
    with qlmm.Harness(tmp, qmi=True, at=True) as mm:
        print(mm.version)
        modem = mm.wait_modem(mm.qmi.uid, iccid=...)

enter_namespace() re-executes the calling script under `unshare --mount --net` (TAP "1..0 # SKIP"
when it cannot), then mounts a fresh /dev (the few nodes programs need, a new devpts instance for
the fake AT modem's pty) and an empty /sys, so nothing is seen outside: the fake QMI modem's port
/dev/cdc-wdm0 and the fake sysfs tree live only in this namespace, and the abstract socket
"qmi-proxy" that the QMI fake listens on belongs to its network namespace.

Harness starts, in order: a dbus-daemon as the system bus (DBUS_SYSTEM_BUS_ADDRESS is set in
os.environ for every child), python-dbusmock's polkitd template (everything allowed until a test
says otherwise), the fakes (each a virtual eUICC with a seeded profile enabled through quantra-l
--direct), for each a sysfs tree like the kernel's (a USB device with vendor/product ids, an
interface bound to `qmi_wwan` with usbmisc/cdc-wdm0, or to `option` with ttyUSB0), then
ModemManager (Debian's, --test-no-udev, a plugin folder holding only the generic plugin) and
announces each port with ReportKernelEvent, so that ModemManager's own device detection, port
filter, probing and SIM reading run. It waits until ModemManager shows every modem with its SIM.
Everything is stopped when the block ends; ModemManager's log stays in tmp/mm.log.
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import dbus

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import qltest  # noqa: E402

BUILD = qltest.BUILD
FAKE_QMI = os.path.join(BUILD, "tests", "qmi", "ql-fake-qmi")
FAKE_AT = os.path.join(BUILD, "tests", "at", "ql-fake-at")

MM_NAME = "org.freedesktop.ModemManager1"
MM_PATH = "/org/freedesktop/ModemManager1"
MODEM_IFACE = MM_NAME + ".Modem"
SIM_IFACE = MM_NAME + ".Sim"
POLKIT_NAME = "org.freedesktop.PolicyKit1"
POLKIT_PATH = "/org/freedesktop/PolicyKit1/Authority"
MOCK_IFACE = "org.freedesktop.DBus.Mock"

# the USB ids of pid.codes' test product: no vendor plugin or udev rule claims them
USB_VID, USB_PID = "1209", "0001"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")


def _run(*cmd):
    subprocess.run(cmd, check=True)


def enter_namespace():
    """Runs the calling script again in private mount and network namespaces with its own /dev
    and /sys (see the module's doc); returns there. Prints a TAP skip and exits when it cannot."""
    if os.environ.get("QL_MM_NS") != "1":
        unshare = shutil.which("unshare")
        why = None
        if os.geteuid() != 0:
            why = "needs root (private mount namespace, /dev and /sys of its own)"
        elif unshare is None or subprocess.run(
                [unshare, "--mount", "--net", "true"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode != 0:
            why = "cannot create mount and network namespaces (unshare --mount --net)"
        elif shutil.which("ModemManager") is None and not os.path.exists(
                "/usr/sbin/ModemManager"):
            why = "ModemManager is not installed (Debian package modemmanager)"
        if why:
            print(f"1..0 # SKIP {why}")
            sys.exit(0)
        os.environ["QL_MM_NS"] = "1"
        os.execv(unshare, [unshare, "--mount", "--net", "--propagation", "private", "--",
                           sys.executable, os.path.abspath(sys.argv[0])] + sys.argv[1:])
    qltest.loopback_up()
    old = "/run/ql-mm-olddev"
    os.makedirs(old, exist_ok=True)
    _run("mount", "--bind", "/dev", old)
    _run("mount", "-t", "tmpfs", "-o", "mode=755,size=1m", "ql-dev", "/dev")
    for n in DEV_NODES:
        open(f"/dev/{n}", "w").close()
        _run("mount", "--bind", f"{old}/{n}", f"/dev/{n}")
    _run("umount", "-l", old)
    os.rmdir(old)
    os.makedirs("/dev/pts")
    os.makedirs("/dev/shm")
    _run("mount", "-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=620", "ql-pts",
         "/dev/pts")
    os.symlink("pts/ptmx", "/dev/ptmx")
    os.symlink("/proc/self/fd", "/dev/fd")
    _run("mount", "-t", "tmpfs", "-o", "mode=755,size=1m", "ql-sys", "/sys")


def mm_version():
    """ModemManager's version, as the daemon prints it ("1.20.4")."""
    out = subprocess.run(["ModemManager", "--version"], capture_output=True, text=True).stdout
    return out.split("\n", 1)[0].split()[-1] if out else "unknown"


def _symlink(target, link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(target, link)


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text + "\n")


class Modem:
    """One fake modem: its process, card state, port and physical device (ModemManager's uid)."""

    def __init__(self, kind, usb_port, card_state, fake_args=()):
        self.kind = kind  # "qmi" or "at"
        self.state = card_state
        self.uid = f"/sys/devices/ql-test/usb1/1-{usb_port}"
        self.iface = f"{self.uid}/1-{usb_port}:1.{4 if kind == 'qmi' else 0}"
        self.fake_args = list(fake_args)
        self.proc = None
        self.spec = None
        self.net = None
        if kind == "qmi":
            self.port, self.subsystem, self.driver = "cdc-wdm0", "usbmisc", "qmi_wwan"
            self.net = "wwan0"
        else:
            self.port, self.subsystem, self.driver = f"ttyUSB{usb_port}", "tty", "option"
        self.dev = f"/dev/{self.port}"

    def sysfs(self, product):
        """The kernel's view of the device: what ModemManager's generic kernel device reads."""
        usb_drivers = "/sys/bus/usb/drivers"
        for d in ("usb", "qmi_wwan", "option"):
            os.makedirs(f"{usb_drivers}/{d}", exist_ok=True)
        os.makedirs("/sys/bus/usb-serial/drivers/option1", exist_ok=True)
        os.makedirs(f"/sys/class/{self.subsystem}", exist_ok=True)
        if not os.path.exists(f"{self.uid}/idVendor"):
            for k, v in (("idVendor", USB_VID), ("idProduct", USB_PID), ("bcdDevice", "0100"),
                         ("manufacturer", "Quantra-L"), ("product", product)):
                _write(f"{self.uid}/{k}", v)
            _symlink("/sys/bus/usb", f"{self.uid}/subsystem")
            _symlink(f"{usb_drivers}/usb", f"{self.uid}/driver")
        for k, v in (("bInterfaceClass", "ff"), ("bInterfaceSubClass", "ff"),
                     ("bInterfaceProtocol", "ff"),
                     ("bInterfaceNumber", "04" if self.kind == "qmi" else "00")):
            _write(f"{self.iface}/{k}", v)
        _symlink("/sys/bus/usb", f"{self.iface}/subsystem")
        _symlink(f"{usb_drivers}/{self.driver}", f"{self.iface}/driver")
        if self.kind == "qmi":
            node = f"{self.iface}/usbmisc/{self.port}"
            _write(f"{node}/dev", "180:0")
            # ModemManager makes no QMI modem without a net port (it is never brought up here)
            net = f"{self.iface}/net/{self.net}"
            _write(f"{net}/ifindex", "7")
            os.makedirs("/sys/class/net", exist_ok=True)
            _symlink("/sys/class/net", f"{net}/subsystem")
            _symlink(net, f"/sys/class/net/{self.net}")
        else:
            serial = f"{self.iface}/{self.port}"
            _symlink("/sys/bus/usb-serial", f"{serial}/subsystem")
            _symlink("/sys/bus/usb-serial/drivers/option1", f"{serial}/driver")
            node = f"{serial}/tty/{self.port}"
            _write(f"{node}/dev", "188:0")
        _symlink(f"/sys/class/{self.subsystem}", f"{node}/subsystem")
        _symlink(node, f"/sys/class/{self.subsystem}/{self.port}")

    def start(self):
        if self.kind == "qmi":
            if not os.path.exists(self.dev):
                os.mkfifo(self.dev)  # libqmi wants a special file; the fake serves its name
            cmd = [FAKE_QMI, "--port", self.dev]
        else:
            cmd = [FAKE_AT]
        cmd += ["--state", self.state, "--seed", "2"] + self.fake_args
        self.proc, m = qltest.start(cmd, r"device (\S+)", stdin=subprocess.PIPE,
                                    stderr=sys.stderr)
        self.spec = m.group(1)
        if self.kind == "at":
            # ModemManager opens /dev/ttyUSBn: the fake's pty under that name
            if os.path.lexists(self.dev):
                os.unlink(self.dev)
            os.symlink(self.spec.split(":", 1)[1], self.dev)
            self.spec = f"at:{self.dev}"

    def control(self, command):
        """A line to the fake's stdin (ql-fake-qmi: "fault F", "clear"); its answer."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer == "ok", f"the fake refused {command!r}: {answer!r}"

    def open_channels(self):
        """The card's open logical channels now (ql-fake-qmi, on SIGUSR1)."""
        self.proc.send_signal(signal.SIGUSR1)
        line = self.proc.stdout.readline()
        assert line.startswith("open-channels "), f"unexpected answer from the fake: {line!r}"
        return int(line.split()[1])

    def stop(self):
        """Stops the fake; returns the card's open logical channels. An AT fake's count of
        commands refused because two processes held the port is left in shared_opens."""
        if self.proc is None:
            return 0
        out = qltest.stop(self.proc)
        self.proc = None
        left = qltest.report(out, "open-channels")
        assert left is not None, f"the fake did not report its channels: {out!r}"
        self.shared_opens = qltest.report(out, "shared-opens")
        return left


class Harness:
    """The real ModemManager on a private system bus with fake modems (see the module's doc)."""

    def __init__(self, tmp, qmi=True, at=True, start_mm=True):
        self.tmp = tmp
        self.qmi = Modem("qmi", 1, os.path.join(tmp, "qmi-euicc.state")) if qmi else None
        self.at = Modem("at", 2, os.path.join(tmp, "at-euicc.state")) if at else None
        self.start_mm = start_mm
        self.procs = []
        self.mm = None
        self.bus = None
        self.log = os.path.join(tmp, "mm.log")
        self.probes = 0  # inhibitions of our own (assert_released)
        self.version = mm_version()

    @property
    def modems(self):
        return [m for m in (self.qmi, self.at) if m is not None]

    # --- set-up -------------------------------------------------------------------------------

    def __enter__(self):
        try:
            self._start_bus()
            self._start_polkit()
            for m in self.modems:
                m.sysfs("Fake QMI modem" if m.kind == "qmi" else "Fake AT modem")
                m.start()
                first = qltest.quantra("profile", "list", device=m.spec).out["profiles"][0]
                qltest.quantra("profile", "enable", first["iccid"], device=m.spec)
                m.first_iccid = first["iccid"]
            if self.start_mm:
                self.start_modem_manager()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start_bus(self):
        conf = os.path.join(self.tmp, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG.format(dir=self.tmp))
        p = subprocess.Popen(["dbus-daemon", "--config-file", conf, "--nofork",
                              "--print-address"], stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        address = p.stdout.readline().strip()
        assert address, "dbus-daemon did not start"
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
        self.address = address
        self.bus = dbus.bus.BusConnection(address)

    def _wait_name(self, name, proc, what, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.bus.name_has_owner(name):
                return
            if proc.poll() is not None:
                raise AssertionError(f"{what} exited with {proc.returncode}")
            time.sleep(0.05)
        raise AssertionError(f"{what} did not take {name} within {timeout} s")

    def _start_polkit(self):
        p = subprocess.Popen([sys.executable, "-m", "dbusmock", "--system", "--template",
                              "polkitd"], stdout=subprocess.DEVNULL)
        self.procs.append(p)
        self._wait_name(POLKIT_NAME, p, "the polkitd mock")
        self.polkit_allow_all(True)

    def polkit_allow_all(self, allow):
        """polkit's verdict on every action (ModemManager asks it for ReportKernelEvent and
        InhibitDevice)."""
        mock = dbus.Interface(self.bus.get_object(POLKIT_NAME, POLKIT_PATH), MOCK_IFACE)
        mock.SetAllowed(dbus.Array([], signature="s"))
        mock.AllowUnknown(allow)

    def start_modem_manager(self, wait=True, announce=None):
        """Starts ModemManager and announces @announce (default: every fake modem); with @wait,
        waits until it shows each of them with its SIM."""
        announce = self.modems if announce is None else announce
        plugins = os.path.join(self.tmp, "mm-plugins")
        if not os.path.isdir(plugins):
            os.makedirs(plugins)
            generic = glob.glob("/usr/lib/*/ModemManager/libmm-plugin-generic.so")
            assert generic, "ModemManager's generic plugin is missing"
            os.symlink(generic[0], os.path.join(plugins, "libmm-plugin-generic.so"))
        self.mm = subprocess.Popen(["ModemManager", "--test-no-udev",
                                    f"--test-plugin-dir={plugins}", "--debug",
                                    "--log-level=DEBUG", f"--log-file={self.log}",
                                    "--log-timestamps"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_name(MM_NAME, self.mm, "ModemManager")
        for m in announce:
            self.report(m, "add")
        if wait:
            for m in announce:
                self.wait_modem(m, iccid=m.first_iccid)

    def enable(self, modem):
        """Enables the modem as NetworkManager would: ModemManager then keeps its ports open
        (a disabled modem's TTY is opened only for each command)."""
        shown = self.wait_modem(modem)
        dbus.Interface(self.bus.get_object(MM_NAME, shown["path"]), MODEM_IFACE).Enable(
            True, timeout=60)
        return self.wait_modem(modem)

    def report(self, modem, action):
        """ReportKernelEvent: the kernel's add or remove of the modem's port."""
        mgr = dbus.Interface(self.bus.get_object(MM_NAME, MM_PATH), MM_NAME)
        ports = [(modem.subsystem, modem.port)]
        if modem.net is not None:
            ports.append(("net", modem.net))
        for subsystem, name in ports:
            mgr.ReportKernelEvent({"action": action, "subsystem": subsystem, "name": name})

    def stop_modem_manager(self):
        if self.mm is not None and self.mm.poll() is None:
            self.mm.terminate()
            try:
                self.mm.wait(30)
            except subprocess.TimeoutExpired:
                self.mm.kill()
                self.mm.wait()
        self.mm = None

    def __exit__(self, *exc):
        self.stop_modem_manager()
        left = {}
        for m in self.modems:
            try:
                left[m.kind] = m.stop()
            except AssertionError as e:
                qltest.fail(f"stopping the {m.kind} fake", str(e))
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()
        self.open_channels_left = left
        return False

    # --- what ModemManager shows --------------------------------------------------------------

    def objects(self):
        om = dbus.Interface(self.bus.get_object(MM_NAME, MM_PATH),
                            "org.freedesktop.DBus.ObjectManager")
        return om.GetManagedObjects()

    def find(self, modem):
        """ModemManager's modem for this fake now: {path, ports, sim, iccid, state}, or None."""
        objs = self.objects()
        for path, ifaces in objs.items():
            m = ifaces.get(MODEM_IFACE)
            if m is None or str(m["Device"]) != modem.uid:
                continue
            sim = str(m["Sim"])
            iccid = None
            if sim != "/":
                props = dbus.Interface(self.bus.get_object(MM_NAME, sim),
                                       "org.freedesktop.DBus.Properties")
                try:
                    iccid = str(props.Get(SIM_IFACE, "SimIdentifier")) or None
                except dbus.DBusException:
                    iccid = None
            return {"path": str(path), "ports": [(str(n), int(t)) for n, t in m["Ports"]],
                    "sim": sim, "iccid": iccid, "state": int(m["State"])}
        return None

    def wait_modem(self, modem, iccid=None, timeout=60):
        """Waits until ModemManager shows the modem (with a SIM whose ICCID is @iccid, when
        given); fails saying what it showed last."""
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            last = self.find(modem)
            if last is not None and (iccid is None or last["iccid"] == iccid):
                return last
            if self.mm is None or self.mm.poll() is not None:
                raise AssertionError("ModemManager is not running")
            time.sleep(0.1)
        raise AssertionError(f"ModemManager did not show the {modem.kind} modem"
                             + (f" with SIM {iccid}" if iccid else "")
                             + f" within {timeout} s; last seen: {last}")

    def inhibitions(self):
        """(set up, torn down) inhibitions ModemManager logged so far."""
        text = open(self.log, errors="replace").read() if os.path.exists(self.log) else ""
        return (text.count("device inhibition setup for uid") - self.probes,
                text.count("device inhibition teardown for uid") - self.probes)

    def assert_released(self, modem):
        """No inhibition left: ModemManager logged a teardown for every set-up, shows the modem
        again, and lets somebody else inhibit it (then that is undone too)."""
        shown = self.wait_modem(modem)
        setup, teardown = self.inhibitions()
        assert setup == teardown, f"{setup} inhibitions set up, {teardown} torn down"
        other = dbus.bus.BusConnection(self.address)
        self.probes += 1
        try:
            dbus.Interface(other.get_object(MM_NAME, MM_PATH), MM_NAME).InhibitDevice(
                modem.uid, True)
            dbus.Interface(other.get_object(MM_NAME, MM_PATH), MM_NAME).InhibitDevice(
                modem.uid, False)
        except dbus.DBusException as e:
            raise AssertionError(f"the modem is still inhibited: {e.get_dbus_message()}")
        finally:
            other.close()
        self.wait_modem(modem)
        return shown
