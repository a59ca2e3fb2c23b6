#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The download under a latency model (`meson test --benchmark`, or run by hand).

On a real modem each APDU costs tens of milliseconds and each HTTPS round trip tens more; CPU
hardly counts. This benchmark gives the project's own test parts those costs: the virtual eUICC
answers each APDU after --apdu-delay ms (default 20), the test SM-DP+ holds each answer until
--rtt ms (default 50) after the request came in, and its first one a further round trip after
the connection was accepted (the TCP handshake). For each profile size (about 8, 32 and 128 KiB
by default) it downloads one profile through the virtual card in-process (virtual:) and through
a real pcscd with vsmartcard's vpcd (pcsc:, ql-fake-pcsc; needs root), prints a table and
writes the figures as JSON:

  apdus / apdus_minimum  APDUs sent, and the fewest the same ES10 commands take with the STORE
                         DATA block in use (their blocks plus the GET RESPONSEs no short answer
                         avoids); the download's APDUs only (not the channel's open and close)
  bytes_to/from_euicc    command and answer bytes
  tls_handshakes, http_requests
  wall_ms                the download, from its first eUICC read to its end (quantra-l's own
                         clock: process start-up, plugin loading and the channel are not in it)
  serial_ms              the model with every step after the other: APDUs x delay + HTTP
                         requests x RTT + handshakes x (TCP + TLS round trips)
  overlapped_min_ms      the model with the overlaps this LPA makes: the connection set up beside
                         the eUICC's first reads, the notification delivered beside the read-back
                         (each window costs the longer of its two sides)
  overlap_won_ms         serial_ms - wall_ms
  instructions           quantra-l's instructions under callgrind (for virtual:, the in-process
                         card's are in it; for pcsc:, the card is another process)
  peak_rss_kib           quantra-l's peak resident set (getrusage of the timed run)
  peak_heap_bytes        quantra-l's peak heap under massif (128 KiB profile, pcsc:, or virtual:
                         when PC/SC cannot run)

Environment overrides (for `meson test --benchmark`): QL_BENCH_APDU_DELAY, QL_BENCH_RTT,
QL_BENCH_SIZES, QL_BENCH_TRANSPORTS, QL_BENCH_PARAMS, QL_BENCH_JSON, QL_BENCH_VALGRIND=0.
The figures are printed, never asserted: the only failure is a download that fails."""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import qltest  # noqa: E402


def parse_args():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=env("QL_BUILD_ROOT", "build"), help="the build tree")
    p.add_argument("--apdu-delay", type=int, default=int(env("QL_BENCH_APDU_DELAY", "20")),
                   help="ms per APDU (default 20)")
    p.add_argument("--rtt", type=int, default=int(env("QL_BENCH_RTT", "50")),
                   help="ms per round trip to the SM-DP+ (default 50)")
    p.add_argument("--sizes", default=env("QL_BENCH_SIZES", "8K,32K,128K"),
                   help="profile sizes (default 8K,32K,128K)")
    p.add_argument("--transports", default=env("QL_BENCH_TRANSPORTS", "virtual,pcsc"),
                   help="virtual, pcsc or both (default)")
    p.add_argument("--params", default=env("QL_BENCH_PARAMS", ""),
                   help="device parameters added to every spec, e.g. extended=off")
    p.add_argument("--json", default=env("QL_BENCH_JSON", ""),
                   help="write the figures here (default BUILD/bench-latency.json)")
    p.add_argument("--label", default="", help="a name for this run, kept in the JSON")
    p.add_argument("--no-valgrind", action="store_true",
                   default=env("QL_BENCH_VALGRIND", "1") == "0",
                   help="skip the callgrind and massif runs")
    return p.parse_args()


def run_quantra(args, env):
    """Runs quantra-l; returns (rc, stdout, stderr, peak RSS in KiB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(args, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read(), err.read(), usage.ru_maxrss


def download_cmd(ql, spec, smdp, pki, prefix=()):
    return list(prefix) + [ql, "--direct", spec, "--json", "profile", "download",
                           "--activation-code", f"LPA:1${smdp.address}$BENCH",
                           "--trust-anchor", os.path.join(pki, "ci.pem"), "--secure"]


def with_params(spec, params):
    if not params:
        return spec
    return spec + ("&" if "?" in spec else "?") + params


def model(r, delay, rtt):
    """The serial and the overlapped model of one download, in ms."""
    tls_rtts = 1 if r.get("tls_version") == "TLS1.3" else 2
    handshake = r["tls_handshakes"] * (1 + tls_rtts) * rtt  # TCP, then TLS
    serial = r["apdus"] * delay + r["http_requests"] * rtt + handshake
    # each overlapped window costs the longer of its sides, not their sum
    won = min(r.get("apdus_beside_connect", 0) * delay, handshake)
    won += min(r.get("apdus_beside_notification", 0) * delay, rtt)
    return serial, serial - won


def valgrind_figures(ql, spec, smdp, pki, env, tmp, massif):
    """callgrind's instruction count (and massif's peak heap) of one more download."""
    figures = {}
    cg = os.path.join(tmp, "cg.out")
    rc, out, err, _ = run_quantra(download_cmd(ql, spec, smdp, pki, [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}"]), env)
    if rc == 0:
        with open(cg, encoding="utf-8") as f:
            m = re.search(r"^summary: (\d+)", f.read(), re.M)
        figures["instructions"] = int(m.group(1)) if m else None
    else:
        print(f"# callgrind run failed ({rc}): {err.strip()[-300:]}", file=sys.stderr)
    if massif:
        ms = os.path.join(tmp, "ms.out")
        rc, out, err, _ = run_quantra(download_cmd(ql, spec, smdp, pki, [
            "valgrind", "--tool=massif", f"--massif-out-file={ms}"]), env)
        if rc == 0:
            with open(ms, encoding="utf-8") as f:
                heaps = [int(v) for v in re.findall(r"^mem_heap_B=(\d+)", f.read(), re.M)]
            figures["peak_heap_bytes"] = max(heaps) if heaps else None
        else:
            print(f"# massif run failed ({rc}): {err.strip()[-300:]}", file=sys.stderr)
    return figures


def main():
    a = parse_args()
    build = os.path.abspath(a.build)
    ql = os.environ.get("QUANTRA_L", os.path.join(build, "src", "cli", "quantra-l"))
    smdp_bin = os.path.join(build, "tests", "smdp", "ql-test-smdp")
    fake_pcsc = os.path.join(build, "tests", "pcsc", "ql-fake-pcsc")
    qltest.SMDP = smdp_bin
    env = dict(os.environ)
    env.setdefault("QL_PLUGIN_DIR", os.path.join(build, "plugin"))
    env.setdefault("QUANTRA_L_STATE_DIR", os.path.join(build, "tests", "state"))
    tmp = tempfile.mkdtemp(prefix="ql-bench-latency-")
    pki = os.path.join(tmp, "pki")
    identity = os.path.join(pki, "euicc")
    transports = [t for t in a.transports.split(",") if t]
    use_valgrind = not a.no_valgrind and shutil.which("valgrind") is not None
    if "pcsc" in transports and (os.geteuid() != 0 or not os.path.exists(fake_pcsc)):
        print("# pcsc: skipped (needs root and the pcsc plugin's fake, ql-fake-pcsc)")
        transports.remove("pcsc")
    heap_transport = "pcsc" if "pcsc" in transports else (transports[-1] if transports else "")
    rows, failed = [], False
    started = time.monotonic()
    for size in [s for s in a.sizes.split(",") if s]:
        smdp = qltest.Smdp(pki, args=["--rtt", str(a.rtt), "--profile-size", size])
        try:
            for transport in transports:
                fake = None
                state = os.path.join(tmp, f"{transport}-{size}.state")
                if transport == "virtual":
                    spec = f"virtual:{state}?identity={identity}&apdu-delay={a.apdu_delay}"
                else:
                    fake = qltest.Fake(fake_pcsc, state, "--apdu-delay", str(a.apdu_delay),
                                       seed=0, identity=identity)
                    # T=1, which carries extended lengths (T=0 is the plugin's default, so
                    # that T=0-only clients can share the card)
                    spec = with_params(fake.spec, "extended=on")
                spec = with_params(spec, a.params)
                try:
                    rc, out, err, rss = run_quantra(download_cmd(ql, spec, smdp, pki), env)
                    if rc != 0:
                        print(f"# {transport} {size}: the download failed ({rc}): "
                              f"{err.strip()[-400:]}")
                        failed = True
                        continue
                    r = json.loads(out)
                    serial, overlapped = model(r, a.apdu_delay, a.rtt)
                    row = {"transport": transport, "profile_size": size,
                           "bpp_bytes": r["bpp_bytes"], "bpp_segments": r["bpp_segments"],
                           "apdus": r["apdus"], "apdus_minimum": r.get("apdus_minimum"),
                           "store_data_block": r.get("store_data_block"),
                           "extended_length": r.get("extended_length"),
                           "bytes_to_euicc": r["bytes_to_euicc"],
                           "bytes_from_euicc": r["bytes_from_euicc"],
                           "tls_handshakes": r["tls_handshakes"],
                           "http_requests": r["http_requests"],
                           "notification_delivered": r["notification_delivered"],
                           "wall_ms": r.get("elapsed_ms"), "serial_ms": serial,
                           "overlapped_min_ms": overlapped,
                           "overlap_won_ms": (serial - r["elapsed_ms"]
                                              if "elapsed_ms" in r else None),
                           "peak_rss_kib": rss, "instructions": None,
                           "peak_heap_bytes": None}
                    if use_valgrind:
                        row.update(valgrind_figures(
                            ql, spec, smdp, pki, env, tmp,
                            massif=transport == heap_transport and size == a.sizes.split(",")[-1]))
                    rows.append(row)
                finally:
                    if fake is not None and fake.stop() != 0:
                        print(f"# {transport} {size}: logical channels left open")
                        failed = True
        finally:
            smdp.stop()
    shutil.rmtree(tmp, ignore_errors=True)

    print(f"# model: {a.apdu_delay} ms per APDU, {a.rtt} ms per round trip"
          f"{', params ' + a.params if a.params else ''}; "
          f"{time.monotonic() - started:.0f} s in all")
    head = ("transport", "profile", "BPP B", "APDUs", "min", "block", "to eUICC", "from",
            "TLS", "HTTP", "wall ms", "serial ms", "overl. min", "won ms", "Minstr", "RSS KiB")
    print(" ".join(f"{h:>10}" for h in head))
    for r in rows:
        cells = (r["transport"], r["profile_size"], r["bpp_bytes"], r["apdus"],
                 r["apdus_minimum"], "ext" if r["extended_length"] else r["store_data_block"],
                 r["bytes_to_euicc"], r["bytes_from_euicc"], r["tls_handshakes"],
                 r["http_requests"], r["wall_ms"], r["serial_ms"], r["overlapped_min_ms"],
                 r["overlap_won_ms"],
                 f"{r['instructions'] / 1e6:.0f}" if r["instructions"] else "-",
                 r["peak_rss_kib"])
        print(" ".join(f"{str(c) if c is not None else '-':>10}" for c in cells))
    for r in rows:
        if r["peak_heap_bytes"]:
            print(f"# peak heap ({r['transport']}, {r['profile_size']}, BPP "
                  f"{r['bpp_bytes']} bytes): {r['peak_heap_bytes']} bytes")
    path = a.json or os.path.join(build, "bench-latency.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"label": a.label, "apdu_delay_ms": a.apdu_delay, "rtt_ms": a.rtt,
                   "params": a.params, "rows": rows}, f, indent=1)
    print(f"# figures written to {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
