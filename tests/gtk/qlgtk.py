# SPDX-License-Identifier: GPL-2.0-or-later
"""What the window's acceptance test needs beside tests/daemon/qldaemon.py: an X server (Xvfb,
display number chosen by the server), a private session bus on which AT-SPI's bus launcher is
activated, the NetworkManager mock (python3-dbusmock's template), the window started on both
buses, and AT-SPI helpers (pyatspi) that find widgets by role and accessible name, press
buttons, type through the X server and read text back. Screenshots come from ImageMagick's
`import` and are checked for pixel variance.

Waits are bounded (a hung window fails the test) but nothing asserts how fast anything is."""

import os
import subprocess
import sys
import tempfile
import time

from gi.repository import GLib

SOURCE = os.environ.get("QL_SOURCE_ROOT", ".")
ESIM = os.environ.get("QL_ESIM", "quantra-esim")

NM_NAME = "org.freedesktop.NetworkManager"
NM_SETTINGS = "/org/freedesktop/NetworkManager/Settings"

# The system bus policy of the test: the service's (data/dbus/org.quantra.Esim1.conf), and
# NetworkManager's in short, as Debian's NetworkManager.conf allows it
POLICY = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <include>{service}</include>
  <policy user="root">
    <allow own="org.freedesktop.NetworkManager"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.NetworkManager"/>
  </policy>
</busconfig>
"""


def system_policy(tmp):
    """A bus policy file with the service's policy and NetworkManager's"""
    path = os.path.join(tmp, "policy.conf")
    service = os.path.abspath(os.path.join(SOURCE, "data", "dbus", "org.quantra.Esim1.conf"))
    with open(path, "w", encoding="utf-8") as f:
        f.write(POLICY.format(service=service))
    return path


def wait_for(cond, timeout=60, what="the condition", step=0.05):
    """Polls cond() until it returns something true (returned); fails after @timeout s.
    Exceptions inside cond() count as not yet (a widget may be rebuilt meanwhile)."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            r = cond()
            if r:
                return r
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last: {last})" if last else ""))


class Display:
    """Xvfb on a display number it picks itself (-displayfd), and a session bus"""

    def __init__(self, tmp, width=1024, height=800):
        self.tmp = tmp
        r, w = os.pipe()
        self.xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0",
                                      f"{width}x{height}x24", "-nolisten", "tcp", "-noreset"],
                                     pass_fds=(w,), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(w)
        number = b""
        with os.fdopen(r, "rb") as f:
            while not number.endswith(b"\n"):
                c = f.read(1)
                if not c:
                    raise AssertionError("Xvfb did not start")
                number += c
        self.display = ":" + number.decode().strip()
        self.home = tempfile.mkdtemp(prefix="home-", dir=tmp)
        self.runtime = tempfile.mkdtemp(prefix="run-", dir=tmp)
        os.chmod(self.runtime, 0o700)
        self.env = dict(os.environ, DISPLAY=self.display, HOME=self.home,
                        XDG_RUNTIME_DIR=self.runtime, XDG_CONFIG_HOME=os.path.join(self.home, "c"),
                        XDG_DATA_HOME=os.path.join(self.home, "d"),
                        XDG_CACHE_HOME=os.path.join(self.home, "k"),
                        GSETTINGS_BACKEND="memory", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        self.env.pop("NO_AT_BRIDGE", None)
        self.session = subprocess.Popen(["dbus-daemon", "--session", "--nofork",
                                         "--print-address=1"], stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, env=self.env)
        self.session_address = self.session.stdout.readline().strip()
        assert self.session_address, "the session dbus-daemon did not start"
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self.session_address
        # this process talks AT-SPI on that session (pyatspi reads these when imported)
        for k in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "HOME"):
            os.environ[k] = self.env[k]

    def screenshot(self, path, box=None):
        """The screen (or @box = (x, y, w, h) of it) into @path"""
        cmd = ["import", "-display", self.display, "-window", "root"]
        if box is not None:
            x, y, w, h = box
            cmd += ["-crop", f"{w}x{h}+{x}+{y}", "+repage"]
        subprocess.run(cmd + [path], check=True, env=self.env, timeout=60)
        return path

    def stop(self):
        for p in (self.session, self.xvfb):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def pixel_deviation(path):
    """The standard deviation of the image's pixels (0 for a blank image, up to 1)"""
    out = subprocess.run(["convert", path, "-colorspace", "Gray", "-format",
                          "%[fx:standard_deviation]", "info:"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return float(out.strip())


class NetworkManager:
    """NetworkManager from python3-dbusmock's template, on the test's system bus"""

    def __init__(self, bus, client):
        self.proc = subprocess.Popen([sys.executable, "-m", "dbusmock", "--system", "--template",
                                      "networkmanager"], env=bus.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = client
        wait_for(self._running, 30, "NetworkManager (mock)")

    def _running(self):
        try:
            self.client.call("/org/freedesktop/NetworkManager", "org.freedesktop.DBus.Properties",
                             "Get", (NM_NAME, "Version"), "(ss)", dest=NM_NAME)
            return True
        except GLib.Error:
            return False

    def connections(self):
        """{path: settings} of the saved connections"""
        paths = self.client.call(NM_SETTINGS, NM_NAME + ".Settings", "ListConnections",
                                 dest=NM_NAME)[0]
        return {p: self.client.call(p, NM_NAME + ".Settings.Connection", "GetSettings",
                                    dest=NM_NAME)[0] for p in paths}

    def by_sim(self, iccid):
        return {p: s for p, s in self.connections().items()
                if s.get("gsm", {}).get("sim-id") == iccid}

    def active(self):
        return self.client.call("/org/freedesktop/NetworkManager",
                                "org.freedesktop.DBus.Properties", "Get",
                                (NM_NAME, "ActiveConnections"), "(ss)", dest=NM_NAME)[0]

    def add_update2(self, path):
        """The template's connections lack Update2 (what libnm updates with): this one gets it,
        doing what the template's Update does"""
        self.client.call(path, "org.freedesktop.DBus.Mock", "AddMethod",
                         (NM_NAME + ".Settings.Connection", "Update2", "a{sa{sv}}ua{sv}",
                          "a{sv}", "self.ConnectionUpdate(self, args[0]); ret = {}"),
                         "(sssss)", dest=NM_NAME)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Window:
    """quantra-esim on the test's buses and display, reached through AT-SPI"""

    def __init__(self, display, system_bus_env, log_path):
        import pyatspi  # noqa: PLC0415 - needs the session bus set up first
        self.atspi = pyatspi
        env = dict(display.env, DBUS_SYSTEM_BUS_ADDRESS=system_bus_env["DBUS_SYSTEM_BUS_ADDRESS"],
                   GSK_RENDERER="cairo", GDK_BACKEND="x11", GTK_A11Y="atspi",
                   ADW_DISABLE_PORTAL="1", GTK_USE_PORTAL="0", G_MESSAGES_DEBUG="")
        # under AddressSanitizer, a full stack unwind on each of GTK's many allocations makes
        # the window several times slower; the fast unwinder keeps every check
        asan = env.get("ASAN_OPTIONS")
        if asan:
            env["ASAN_OPTIONS"] = asan.replace("fast_unwind_on_malloc=0",
                                               "fast_unwind_on_malloc=1")
        self.log_path = log_path
        self.log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen([ESIM], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.app = wait_for(self._find_app, 60, "the window on the accessibility bus")

    def _find_app(self):
        desktop = self.atspi.Registry.getDesktop(0)
        for i in range(desktop.childCount):
            a = desktop.getChildAtIndex(i)
            if a is not None and a.name == "quantra-esim":
                return a
        return None

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    # --- finding ---

    def _walk(self, node, pred, found, limit, showing):
        if node is None or len(found) >= limit:
            return
        try:
            # the window hides what it does not show (pages, groups)
            if showing and node.getRoleName() != "application" and \
                    not node.getState().contains(self.atspi.STATE_VISIBLE):
                return
            if pred(node) and (not showing or self.on_screen(node)):
                found.append(node)
            n = node.childCount
        except Exception:  # noqa: BLE001 - a node that went away meanwhile
            return
        for i in range(n):
            try:
                child = node.getChildAtIndex(i)
            except Exception:  # noqa: BLE001
                continue
            self._walk(child, pred, found, limit, showing)

    def on_screen(self, node):
        """GTK 4.8 marks no widget SHOWING: one on screen has an area, one in a hidden page
        has none"""
        try:
            e = node.queryComponent().getExtents(self.atspi.WINDOW_COORDS)
        except NotImplementedError:
            return True
        return e.width > 0 and e.height > 0

    def find_all(self, pred, root=None, showing=True):
        found = []
        self._walk(root or self.app, pred, found, 10000, showing)
        return found

    def find(self, role, name=None, root=None, timeout=30, contains=None, showing=True):
        """The first widget of @role whose accessible name is @name (or contains @contains),
        waiting for it to show"""
        roles = (role,) if isinstance(role, str) else role

        def pred(n):
            if n.getRoleName() not in roles:
                return False
            if name is not None and not name_matches(n.name, name):
                return False
            return contains is None or contains in (n.name or "")
        what = f"{'/'.join(roles)} {name or contains or ''}".strip()
        return wait_for(lambda: (self.find_all(pred, root, showing) or [None])[0], timeout, what)

    def absent(self, role, name, timeout=30):
        def gone():
            return not self.find_all(lambda n: n.getRoleName() == role and n.name == name)
        return wait_for(gone, timeout, f"{role} {name} to go away")

    def dialog(self, heading, timeout=60):
        """The window (a dialog) whose text holds @heading"""
        def look():
            for i in range(self.app.childCount):
                w = self.app.getChildAtIndex(i)
                if w is None or not w.getState().contains(self.atspi.STATE_VISIBLE):
                    continue
                if w.name == heading:
                    return w
                if self.find_all(lambda n: n.getRoleName() == "label" and n.name == heading,
                                 w):
                    return w
            return None
        return wait_for(look, timeout, f"the dialog “{heading}”")

    def labels(self, root=None):
        return [n.name for n in self.find_all(lambda n: n.getRoleName() == "label", root)]

    def row(self, title, timeout=30, root=None):
        """An AdwActionRow by its title: (row, its labels)"""
        def look():
            for r in self.find_all(lambda n: n.getRoleName() in ("list item", "row",
                                                                 "table row"), root):
                names = self.labels(r)
                if title in names:
                    return r, names
            return None
        return wait_for(look, timeout, f"the row “{title}”")

    def row_subtitle(self, title, root=None):
        _, names = self.row(title, root=root)
        rest = [n for n in names if n != title]
        return rest[0] if rest else ""

    # --- acting ---

    def press(self, role_or_node, name=None, root=None, timeout=30):
        """Activates a button through its AT-SPI action"""
        node = role_or_node if name is None and not isinstance(role_or_node, str) else \
            self.find(role_or_node, name, root=root, timeout=timeout)
        wait_for(lambda: node.getState().contains(self.atspi.STATE_SENSITIVE), timeout,
                 f"{node.name} to be usable")
        action = node.queryAction()
        for i in range(action.nActions):
            if action.getName(i) in ("click", "activate", "press"):
                action.doAction(i)
                return node
        action.doAction(0)
        return node

    def set_text(self, node, text):
        node.queryEditableText().setTextContents(text)
        wait_for(lambda: self.text(node) == text, 10, "the text to be set")

    @staticmethod
    def text(node):
        t = node.queryText()
        return t.getText(0, t.characterCount)

    def key(self, keysym_name):
        """Presses and releases one key (by X keysym name: "Tab", "Return", "Escape")"""
        self.atspi.Registry.generateKeyboardEvent(KEYSYMS[keysym_name], None,
                                                  self.atspi.KEY_SYM)

    def type(self, text):
        self.atspi.Registry.generateKeyboardEvent(0, text, self.atspi.KEY_STRING)

    def focused(self):
        found = self.find_all(lambda n: n.getState().contains(self.atspi.STATE_FOCUSED))
        return found[-1] if found else None

    def has_focus(self, node):
        """@node or a part of it (an entry row's text) has the keyboard focus"""
        return bool(self.find_all(lambda n: n.getState().contains(self.atspi.STATE_FOCUSED),
                                  node, showing=False))

    def point_at_window(self):
        """With no window manager the keyboard goes to the window under the pointer: the
        pointer goes to the main window's bottom right corner, where no dialog is"""
        _, _, w, h = self.extents()
        self.atspi.Registry.generateMouseEvent(w - 10, h - 10, "abs")

    def click(self, node):
        """A mouse click in the middle of @node (with no window manager every window sits at
        0,0, so its coordinates are the screen's)"""
        e = node.queryComponent().getExtents(self.atspi.WINDOW_COORDS)
        x, y = e.x + e.width // 2, e.y + e.height // 2
        _, _, w, h = self.extents()
        assert 0 < x < w and 0 < y < h, f"{node.name} is out of sight ({x},{y})"
        self.atspi.Registry.generateMouseEvent(x, y, "b1c")

    @staticmethod
    def path(node):
        """where @node is, for messages"""
        parts = []
        while node is not None and node.getRoleName() != "application":
            parts.append(f"{node.getRoleName()} '{node.name}'")
            node = node.parent
        return " < ".join(parts)

    def focus(self, node, limit=80):
        """Moves the keyboard focus to @node with Tab, as a keyboard user does"""
        self.point_at_window()
        for _ in range(limit):
            if self.has_focus(node):
                return node
            self.key("Tab")
            time.sleep(0.1)
        raise AssertionError(f"Tab never reached {node.getRoleName()} {node.name}")

    def extents(self, node=None):
        """The window's box on the screen: with no window manager, windows sit at 0,0"""
        e = (node or self.main()).queryComponent().getExtents(self.atspi.WINDOW_COORDS)
        return 0, 0, e.width, e.height

    def main(self):
        for i in range(self.app.childCount):
            w = self.app.getChildAtIndex(i)
            if w is not None and w.name == "eSIM":
                return w
        return self.app.getChildAtIndex(0)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def name_matches(actual, name):
    """GTK 4.8 appends a widget's content to its accessible label, and leaves a mnemonic's
    underscore in a button's name ("_Close Close")"""
    actual = (actual or "").replace("_", "") if "_" not in name else (actual or "")
    return actual == name or actual.startswith(name + " ")


KEYSYMS = {"Tab": 0xff09, "Return": 0xff0d, "Escape": 0xff1b, "space": 0x20}
