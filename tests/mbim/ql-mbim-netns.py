#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs a command in a private network namespace with loopback up, so that the abstract socket
"mbim-proxy" (and 127.0.0.1) seen by the fake modem, mbim-proxy and quantra-l are theirs alone,
never ModemManager's. Needs root (CAP_SYS_ADMIN); without it the test is skipped (TAP)."""

import ctypes
import fcntl
import os
import socket
import struct
import sys

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


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
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    req = struct.pack("16sH14x", b"lo", 0)
    flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
os.execv(sys.argv[1], sys.argv[1:])
