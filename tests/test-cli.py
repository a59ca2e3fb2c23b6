#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""quantra-l in direct mode on a fresh virtual eUICC, one process per command, the way a user
or a script runs it: JSON checked each time, state checked across restarts, errors checked for
clear messages and meaningful exit codes. Prints TAP."""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qltest  # noqa: E402
from qltest import QL, case  # noqa: E402


def run(device, *args, json_out=True, expect=0):
    r = qltest.quantra(*args, device=device, json_out=json_out, expect=expect, timeout=60,
                       forbid=("CRITICAL", "WARNING"))
    return r.out, r.stderr


def eid_ok(eid):
    return len(eid) == 32 and eid.isdigit() and eid.startswith("89") and int(eid) % 97 == 1


tmp = tempfile.mkdtemp(prefix="ql-cli-")
state = os.path.join(tmp, "euicc.state")
dev = "virtual:" + state
seeded = dev + "?seed=3"


@case("chip info on a fresh virtual eUICC")
def _():
    info, _ = run(dev, "chip", "info")
    assert eid_ok(info["eid"]), info["eid"]
    assert info["svn"].startswith("2."), info
    assert len(info["ci_key_ids_verification"]) >= 1, info
    assert len(info["ci_key_ids_verification"][0]["key_id"]) == 40, info
    assert info["free_nvm"] > 0
    assert info["root_smds"] == "lpa.ds.gsma.com", info
    # the same card after a restart: same EID
    again, _ = run(dev, "chip", "info")
    assert again["eid"] == info["eid"]
    profiles, _ = run(dev, "profile", "list")
    assert profiles["profiles"] == [], profiles


@case("seeding adds test profiles once")
def _():
    profiles, _ = run(seeded, "profile", "list")
    p = profiles["profiles"]
    assert len(p) == 3, p
    for x in p:
        assert x["state"] == "disabled", x
        assert len(x["iccid"]) in (19, 20) and x["iccid"].startswith("89"), x
        assert x["name"] and x["service_provider"], x
        assert x["class"] in ("operational", "test", "provisioning"), x
    again, _ = run(seeded, "profile", "list")
    assert [x["iccid"] for x in again["profiles"]] == [x["iccid"] for x in p]


def iccids():
    return [x["iccid"] for x in run(dev, "profile", "list")[0]["profiles"]]


def states():
    return {x["iccid"]: x["state"] for x in run(dev, "profile", "list")[0]["profiles"]}


@case("enable, switch, disable")
def _():
    a, b, _c = iccids()
    out, _ = run(dev, "profile", "enable", a)
    assert out == {"result": "ok", "iccid": a}, out
    assert states()[a] == "enabled"
    run(dev, "profile", "enable", b)
    s = states()
    assert s[a] == "disabled" and s[b] == "enabled", s
    assert list(s.values()).count("enabled") == 1
    run(dev, "profile", "disable", b)
    assert "enabled" not in states().values()


@case("nickname survives a restart")
def _():
    a = iccids()[0]
    run(dev, "profile", "nickname", a, "Work phone")
    p = {x["iccid"]: x for x in run(dev, "profile", "list")[0]["profiles"]}
    assert p[a]["nickname"] == "Work phone", p[a]
    text, _ = run(dev, "profile", "list", json_out=False)
    assert "Work phone" in text and a in text, text


@case("delete, and an enabled profile cannot be deleted")
def _():
    a, b, c = iccids()
    run(dev, "profile", "enable", a)
    err, stderr = run(dev, "profile", "delete", a, expect=4)
    assert "disable it first" in err["error"]["message"], err
    assert "disable it first" in stderr
    out, _ = run(dev, "profile", "delete", c)
    assert out["result"] == "ok"
    assert iccids() == [a, b]
    run(dev, "profile", "disable", a)


@case("notifications queued by enable, disable and delete")
def _():
    n = run(dev, "notification", "list")[0]["notifications"]
    ops = [x["operation"] for x in n]
    # enable a; enable b (disables a); disable b; enable a; delete c; disable a
    assert ops == ["enable", "disable", "enable", "disable", "enable", "delete", "disable"], ops
    seqs = [x["seq"] for x in n]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    assert all(x["address"] for x in n), n
    out, _ = run(dev, "notification", "remove", str(seqs[0]))
    assert out["removed"] == [seqs[0]], out
    left = [x["seq"] for x in run(dev, "notification", "list")[0]["notifications"]]
    assert left == seqs[1:], left
    err, _ = run(dev, "notification", "remove", str(seqs[0]), expect=3)
    assert "no notification" in err["error"]["message"], err
    out, _ = run(dev, "notification", "remove", "--all")
    assert out["removed"] == seqs[1:], out
    assert run(dev, "notification", "list")[0]["notifications"] == []


@case("default SM-DP+ address and memory reset")
def _():
    out, _ = run(dev, "chip", "default-smdp", "smdp.example.com")
    assert out["default_smdp"] == "smdp.example.com", out
    assert run(dev, "chip", "info")[0]["default_smdp"] == "smdp.example.com"
    err, _ = run(dev, "chip", "reset", expect=2)
    assert "--yes" in err["error"]["message"]
    assert len(iccids()) == 2
    run(dev, "chip", "reset", "--yes")
    assert iccids() == []
    assert not run(dev, "chip", "info")[0]["default_smdp"]


@case("unknown ICCID")
def _():
    err, stderr = run(dev, "profile", "enable", "8944000000000000001", expect=3)
    assert "no profile" in err["error"]["message"], err
    err, _ = run(dev, "profile", "enable", "not-an-iccid", expect=2)
    assert "ICCID" in err["error"]["message"], err


@case("state file in a folder that does not exist")
def _():
    missing = os.path.join(tmp, "no", "such", "dir", "state")
    out, stderr = run("virtual:" + missing, "chip", "info", json_out=False, expect=5)
    assert missing in stderr or os.path.dirname(missing) in stderr, stderr
    assert not os.path.exists(os.path.dirname(missing))


@case("corrupt state file")
def _():
    bad = os.path.join(tmp, "corrupt.state")
    with open(bad, "w") as f:
        f.write("{ this is not a state file")
    out, stderr = run("virtual:" + bad, "chip", "info", json_out=False, expect=5)
    assert bad in stderr, stderr
    with open(bad) as f:  # left alone, not reset
        assert f.read() == "{ this is not a state file"


@case("malformed answer and card error from the channel")
def _():
    err, _ = run(dev + "?fault=malformed", "chip", "info", expect=6)
    assert "malformed" in err["error"]["message"], err
    err, _ = run(dev + "?fault=truncated", "profile", "list", expect=6)
    assert err["error"]["name"] == "org.quantra.Esim1.Error.Malformed", err
    err, _ = run(dev + "?fault=sw6f00", "profile", "list", expect=4)
    assert "6F00" in err["error"]["message"], err
    # nothing was changed by the failures
    assert run(dev, "chip", "info")[0]["eid"]


@case("per-device parameters: isd-r, block, and the config file's quirks")
def _():
    # the standard ISD-R AID given explicitly works; another AID is refused by the card
    out, _ = run(dev + "?isd-r=A0000005591010FFFFFFFF8900000100&block=16", "chip", "info")
    assert eid_ok(out["eid"]), out
    err, _ = run(dev + "?isd-r=A0000005591010FFFFFFFF8900000200", "chip", "info", expect=3)
    assert "A0000005591010FFFFFFFF8900000200" in err["error"]["message"], err
    err, _ = run(dev + "?block=0", "chip", "info", expect=2)
    assert "block" in err["error"]["message"], err
    # a [modem SPEC] section adds its parameters to that device only
    conf = os.path.join(tmp, "quirks.conf")
    with open(conf, "w") as f:
        f.write(f"[modem {dev}]\nisd-r=A0000005591010FFFFFFFF8900000200\n")
    err, _ = run(dev, "--config", conf, "chip", "info", expect=3)
    assert "A0000005591010FFFFFFFF8900000200" in err["error"]["message"], err
    # the spec's own parameter wins over the configuration's
    out, _ = run(dev + "?isd-r=A0000005591010FFFFFFFF8900000100", "--config", conf, "chip",
                 "info")
    assert eid_ok(out["eid"]), out
    with open(conf, "w") as f:
        f.write(f"[modem {dev}]\nblock=999\n")
    err, stderr = run(dev, "--config", conf, "chip", "info", expect=2)
    assert conf in err["error"]["message"] and "block" in err["error"]["message"], err
    err, _ = run(dev, "--power-cycle", "profile", "list", expect=2)
    assert "QMI" in err["error"]["message"], err


@case("usage errors")
def _():
    p = subprocess.run([QL, "--direct", dev, "profile", "frobnicate"], capture_output=True,
                       text=True)
    assert p.returncode == 2 and "unknown command" in p.stderr, p
    p = subprocess.run([QL, "--direct", dev, "profile", "enable"], capture_output=True,
                       text=True)
    assert p.returncode == 2 and "usage" in p.stderr, p
    # without --direct the service is asked: when it does not run, the message says what to do
    nobus = dict(os.environ, QUANTRA_L_BUS_ADDRESS=f"unix:path={tmp}/no-such-bus")
    p = subprocess.run([QL, "profile", "list"], capture_output=True, text=True, env=nobus)
    assert p.returncode == 5 and "quantra-esimd is not running" in p.stderr \
        and "--direct" in p.stderr, p
    p = subprocess.run([QL, "--direct", "nosuchscheme:/x", "profile", "list"],
                       capture_output=True, text=True)
    assert p.returncode == 5 and "no plugin" in p.stderr, p
    p = subprocess.run([QL, "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "profile enable ICCID" in p.stdout, p


qltest.finish(tmp)
