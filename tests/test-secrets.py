#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Secrets given on the command line do not stay readable there, and the sources wipe secrets with
the wipe helper (ql_crypto_wipe), never a plain memset the compiler may drop. Prints TAP."""

import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import case  # noqa: E402

TMP = tempfile.mkdtemp(prefix="ql-secrets-")
SRC = os.environ.get("QL_SOURCE_ROOT", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cmdline_while_connected(args):
    """/proc/PID/cmdline of `quantra-l --direct virtual:... --json ARGS`, PORT in @args standing
    for the loopback server's port, as read once quantra-l connected (qltest)."""
    return qltest.cmdline_while_connected(
        lambda port: ["--direct", "virtual:" + os.path.join(TMP, f"euicc-{port}.state"),
                      "--json"] + [a.replace("PORT", str(port)) for a in args])


@case("activation code, matching id and confirmation code are wiped from the command line")
def _():
    forms = [
        (["--activation-code", "LPA:1$127.0.0.1:PORT$SECRET-MATCHING-1",
          "--confirmation-code", "SECRET-CC-1"], ["SECRET-MATCHING-1", "SECRET-CC-1"]),
        (["--activation-code=LPA:1$127.0.0.1:PORT$SECRET-MATCHING-2",
          "--confirmation-code=SECRET-CC-2"], ["SECRET-MATCHING-2", "SECRET-CC-2"]),
        (["-a", "LPA:1$127.0.0.1:PORT$SECRET-MATCHING-3"], ["SECRET-MATCHING-3"]),
        (["--smdp", "127.0.0.1:PORT", "--matching-id", "SECRET-MATCHING-4"],
         ["SECRET-MATCHING-4"]),
    ]
    for args, secrets in forms:
        cmdline = cmdline_while_connected(["profile", "download", "--timeout", "30"] + args)
        # the command itself is still there: the wipe touched the values only
        assert b"download" in cmdline and b"--timeout" in cmdline, cmdline
        for s in secrets:
            assert s.encode() not in cmdline, f"{s} readable in /proc/PID/cmdline: {cmdline!r}"


@case("secrets are wiped with ql_crypto_wipe, never a plain memset")
def _():
    # memset(x, 0, strlen(x)) / memset(buf, 0, sizeof(buf)) on a string or prompt buffer is a
    # dead store before free() that the compiler may remove
    plain = re.compile(r"\bmemset\s*\([^;]*,\s*0\s*,\s*strlen\s*\(")
    found = []
    for top in ("src", "plugin", "include"):
        for root, _, files in os.walk(os.path.join(SRC, top)):
            for name in files:
                if not name.endswith((".c", ".h")):
                    continue
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        if plain.search(line):
                            found.append(f"{os.path.relpath(path, SRC)}:{n}: {line.strip()}")
    assert not found, "plain memset wipes:\n" + "\n".join(found)
    cli = open(os.path.join(SRC, "src", "cli", "ql-cli-download.c"), encoding="utf-8").read()
    ask = cli[cli.index("ql_cli_ask_secret(QlCli *cli, const gchar *prompt)"):]
    ask = ask[:ask.index("\n}\n")]
    assert "ql_crypto_wipe(buf" in ask and "memset" not in ask, "the prompt buffer"


qltest.finish(TMP)
