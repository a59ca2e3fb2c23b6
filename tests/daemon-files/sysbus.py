# SPDX-License-Identifier: GPL-2.0-or-later
"""A private dbus-daemon configured like the system bus (default deny for owning names and for
method calls, holes punched by the included service policies), listening on a socket in a
directory of its own that unprivileged users may reach."""

import os
import subprocess

import qltest



class SystemBus:
    """dbus-daemon on DIR/bus with the system bus's defaults plus @includes (policy files) and
    @extra (policy XML written here, for control cases)."""

    def __init__(self, directory, includes=(), extra=""):
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o755)
        self.socket = os.path.join(directory, "bus")
        conf = os.path.join(directory, "bus.conf")
        inc = "".join(f"  <include>{os.path.abspath(p)}</include>\n" for p in includes)
        with open(conf, "w", encoding="utf-8") as f:
            f.write('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"'
                    ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
                    "<busconfig>\n  <type>system</type>\n  <auth>EXTERNAL</auth>\n"
                    f"  <listen>unix:path={self.socket}</listen>\n"
                    f"{qltest.SYSTEM_BUS_POLICY}{extra}{inc}</busconfig>\n")
        self.proc, m = qltest.start(["dbus-daemon", f"--config-file={conf}", "--nofork",
                                     "--nosyslog", "--print-address=1"], r"(unix:\S+)")
        self.address = m.group(1)
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)

    def stop(self):
        return qltest.stop(self.proc)


def as_user(user, group, argv):
    """@argv run as @user:@group with no supplementary groups and no capabilities."""
    return ["setpriv", f"--reuid={user}", f"--regid={group}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--"] + list(argv)


def run(argv, env, timeout=120):
    """Runs @argv and returns its first line of output (stderr goes into the message)."""
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                       check=False)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited with {p.returncode}: {p.stderr.strip()}")
    return p.stdout.strip()
