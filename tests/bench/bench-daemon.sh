#!/bin/bash
# Benchmark of the service (not a test: it asserts nothing, it prints figures): quantra-esimd
# on a private system-like bus with one virtual eUICC and polkitd (python3-dbusmock), then
#   idle RSS             VmRSS of the daemon once it serves its eUICC
#   wakeups_per_minute   context switches of all its threads over 60 idle seconds (--idle S),
#                        after 20 s for startup's helper threads to end (--settle S)
#   a download through the service against `quantra-l --direct`, same SM-DP+, same kind of
#   card: APDUs, bytes and TLS handshakes of each (they must be identical), wall times and
#   their ratio (median of --runs N, default 5).
#
# usage: tests/bench/bench-daemon.sh [BUILD_DIR] [--idle SECONDS] [--settle SECONDS] [--runs N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=build
idle=60
runs=5
settle=20
while [ $# -gt 0 ]; do
	case "$1" in
	--idle) idle=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--settle) settle=$2; shift 2 ;;
	*) build=$1; shift ;;
	esac
done
build=$(cd "$build" && pwd)
source_root=$(cd "$here/../.." && pwd)
export QL_BUILD_ROOT=$build QL_SOURCE_ROOT=$source_root QL_PLUGIN_DIR=$build/plugin
exec /usr/bin/python3 - "$idle" "$runs" "$settle" <<'PY'
import os, statistics, sys, tempfile, time
src = os.environ["QL_SOURCE_ROOT"]
sys.path.insert(0, os.path.join(src, "tests", "daemon"))
sys.path.insert(0, os.path.join(src, "tests"))
import qldaemon as q
import qltest

idle, runs, settle = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tmp = tempfile.mkdtemp(prefix="ql-bench-daemon-")
pki = os.path.join(tmp, "pki")
smdp = qltest.Smdp(pki)
bus = q.Bus(tmp)
client = q.Client(bus)
polkit = q.Polkit(bus, client)
polkit.allow_all()
config = q.write_config(os.path.join(tmp, "conf"), pki,
                        {"card": q.virtual_spec(os.path.join(tmp, "service.state"), pki)})
daemon = q.Daemon(bus, config, client)
pid = daemon.proc.pid
euicc = client.euiccs()[0]


def status(field):
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1:]


def switches():
    """context switches per thread id"""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        n = 0
        try:
            with open(f"/proc/{pid}/task/{task}/status", encoding="utf-8") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches",
                                        "nonvoluntary_ctxt_switches")):
                        n += int(line.split()[1])
        except FileNotFoundError:
            continue
        out[task] = n
    return out


def woken(before, after):
    """wake-ups between two samples: the threads' switches, a thread that ended counting one"""
    n = sum(after[t] - before.get(t, 0) for t in after)
    return n + len([t for t in before if t not in after])


try:
    # startup's helper threads (GLib's pool) end after 15 idle seconds: measure after that
    time.sleep(settle)
    rss = status("VmRSS")
    threads = status("Threads")[0]
    before = switches()
    time.sleep(idle)
    woke = woken(before, switches())
    print(f"{'idle_rss':26} {rss[0]} {rss[1]} ({threads} threads)")
    print(f"{'wakeups_per_minute':26} {woke * 60 / idle:.1f} (over {idle} s idle)")

    service, direct = [], []
    for i in range(runs):
        matching = f"BENCH-{i}"
        t = time.monotonic()
        op = client.download(euicc, {"activation-code": q.v("s", f"LPA:1${smdp.address}${matching}"),
                                     "secure": q.v("b", True)})
        rs = client.wait_finished(op)
        service.append(time.monotonic() - t)
        assert rs["result"] == "ok", rs
        t = time.monotonic()
        rd = qltest.quantra(*qltest.download_args(smdp, pki, matching), "--secure",
                            device=q.virtual_spec(os.path.join(tmp, f"direct-{i}.state"), pki)).out
        direct.append(time.monotonic() - t)
    for k in ("apdus", "bytes_to_euicc", "bytes_from_euicc", "tls_handshakes", "http_requests",
              "bpp_segments"):
        same = "identical" if rs[k] == rd[k] else "DIFFERENT"
        print(f"{k:26} service {rs[k]:>6}  direct {rd[k]:>6}  {same}")
    ms, md = statistics.median(service), statistics.median(direct)
    print(f"{'download_wall_s':26} service {ms:.3f}  direct {md:.3f}  (median of {runs})")
    print(f"{'service_direct_ratio':26} {ms / md:.2f}")
    print("(the direct figure includes starting quantra-l and loading its plugin; the service "
          "keeps both)")
finally:
    daemon.stop()
    polkit.stop()
    client.close()
    bus.stop()
    smdp.stop()
PY
