#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs a command in a private network namespace with loopback up, so that the abstract socket
"mbim-proxy" (and 127.0.0.1) seen by the fake modem, mbim-proxy and quantra-l are theirs alone,
never ModemManager's. Needs root (CAP_SYS_ADMIN); without it the test is skipped (TAP)."""

import ctypes
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from qltest import loopback_up  # noqa: E402

CLONE_NEWNET = 0x40000000


def skip(why):
    print(f"1..0 # SKIP {why}")
    sys.exit(0)


if len(sys.argv) < 2:
    sys.exit("usage: ql-mbim-netns.py COMMAND [ARGS]")
if os.geteuid() != 0:
    skip("mbim-proxy and a private network namespace need root")
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(CLONE_NEWNET) != 0:
    skip(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
loopback_up()
os.execv(sys.argv[1], sys.argv[1:])
