#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs a test command in a private network namespace (`unshare --net`).

libqmi reaches qmi-proxy through the abstract unix socket "qmi-proxy"; abstract sockets belong to
a network namespace, so the fake proxy, the test suite and quantra-l must share one, and that one
must not hold a real qmi-proxy (ModemManager's). Its loopback interface is brought up for the
test SM-DP+. Creating it needs root or CAP_SYS_ADMIN: without
it the test is reported as skipped (TAP "1..0 # SKIP")."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from qltest import loopback_up  # noqa: E402

if len(sys.argv) < 2:
    sys.exit("usage: ql-netns-run.py COMMAND [ARGS...]")

if os.environ.get("QL_NETNS") != "1":
    unshare = shutil.which("unshare")
    ok = unshare is not None and subprocess.run(
        [unshare, "--net", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ).returncode == 0
    if not ok:
        print("1..0 # SKIP cannot create a network namespace (unshare --net needs root "
              "or CAP_SYS_ADMIN)")
        sys.exit(0)
    os.environ["QL_NETNS"] = "1"
    # this script again, inside the namespace, to bring "lo" up there
    os.execv(unshare, [unshare, "--net", "--", sys.executable, os.path.abspath(__file__)]
             + sys.argv[1:])
loopback_up()
os.execvp(sys.argv[1], sys.argv[1:])
