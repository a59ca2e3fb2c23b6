#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The core library as built and as installed: only ql_* symbols leave it, under the release's
private version node; each plugin exports its entry alone and takes the core from the library
(no copy of its own); `meson install` puts the library in LIBDIR/quantra-l/, and the installed
programs and plugins find it through their rpath, with no LD_LIBRARY_PATH. Prints TAP.

Usage: test-library.py MESON BUILD_DIR VERSION"""

import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import case  # noqa: E402

MESON, BUILD, VERSION = sys.argv[1:4]
NODE = f"QUANTRA_L_{VERSION}_PRIVATE"
LIB = "libquantra-l-core.so.0"
PLUGINS = ("virtual", "qmi", "mbim", "pcsc", "at")


def out(*cmd, env=None):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout


def dynsyms(path, which):
    """(name, version) of the dynamic symbols, defined or undefined."""
    syms = []
    for line in out("nm", "-D", f"--{which}-only", path).splitlines():
        name = line.split()[-1]
        base, _, ver = name.replace("@@", "@").partition("@")
        syms.append((base, ver))
    return syms


def built_plugins():
    found = []
    for p in PLUGINS:
        d = os.path.join(BUILD, "plugin", p)
        if os.path.isdir(d):
            found += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".so")]
    return found


def needed(path):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", out("readelf", "-d", path))


def no_ld_path():
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    return env


def resolved(path):
    """Where the dynamic loader finds the core library for @path, with no LD_LIBRARY_PATH."""
    m = re.search(rf"^\s*{re.escape(LIB)} => (\S+)", out("ldd", path, env=no_ld_path()), re.M)
    assert m, f"{path} does not need {LIB}"
    return m.group(1)


lib_path = os.path.join(BUILD, "src", "core", LIB)


@case(f"the core library exports only ql_* symbols, each under {NODE}")
def _():
    syms = dynsyms(lib_path, "defined")
    stray = [f"{n}@{v}" for n, v in syms if n != NODE and not (n.startswith("ql_") and v == NODE)]
    assert not stray, f"exported besides ql_*@{NODE}: {stray[:10]}"
    names = {n for n, _ in syms}
    assert "ql_error_quark" in names and len(names) > 100, f"only {len(names)} symbols"


@case("each plugin exports its entry alone and takes the core, error domain included, from the "
      "library")
def _():
    plugins = built_plugins()
    assert plugins, "no plugin built"
    for p in plugins:
        defined = {n for n, _ in dynsyms(p, "defined")}
        assert defined == {"ql_plugin_entry"}, f"{p} exports {sorted(defined)}"
        core = [(n, v) for n, v in dynsyms(p, "undefined") if n.startswith("ql_")]
        assert ("ql_error_quark", NODE) in core, f"{p} has its own error domain: {core}"
        wrong = [n for n, v in core if v != NODE]
        assert not wrong, f"{p} uses core symbols without the private version: {wrong}"
        assert LIB in needed(p), f"{p} does not link {LIB}: {needed(p)}"


tmp = tempfile.mkdtemp(prefix="ql-library-")
dest = os.path.join(tmp, "dest")


def installed(name):
    hits = [os.path.join(d, name) for d, _, files in os.walk(dest) if name in files]
    assert len(hits) == 1, f"{name} installed {len(hits)} times: {hits}"
    return hits[0]


@case("meson install puts the library in LIBDIR/quantra-l/, and the installed programs and "
      "plugins resolve it through their rpath")
def _():
    r = subprocess.run([MESON, "install", "-C", BUILD, "--no-rebuild", "--destdir", dest],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"meson install failed: {r.stdout[-2000:]}{r.stderr[-2000:]}"
    lib = installed(LIB)
    assert os.path.basename(os.path.dirname(lib)) == "quantra-l", lib
    targets = [installed("quantra-l"), installed("ql-test-smdp")]
    plugindir = os.path.join(os.path.dirname(lib), "plugins")
    targets += [os.path.join(plugindir, f) for f in sorted(os.listdir(plugindir))]
    assert len(targets) >= 3, targets
    for t in targets:
        where = resolved(t)
        assert os.path.realpath(where) == os.path.realpath(lib), f"{t} finds {where}, not {lib}"


@case("the installed quantra-l runs with the installed plugin and library, no LD_LIBRARY_PATH")
def _():
    ql = installed("quantra-l")
    env = no_ld_path()
    env["QL_PLUGIN_DIR"] = os.path.join(os.path.dirname(installed(LIB)), "plugins")
    state = os.path.join(tmp, "euicc.state")
    r = subprocess.run([ql, "--direct", f"virtual:{state}?seed=2", "--json", "profile", "list"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr}"
    assert r.stdout.count('"iccid"') == 2, r.stdout


qltest.finish(tmp)
