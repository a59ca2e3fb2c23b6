#!/bin/bash
# Benchmark of the main job: one secure profile download into the virtual eUICC from the local
# test SM-DP+, measured in counts, not seconds: APDUs, bytes to the eUICC, TLS handshakes, HTTP
# requests, BPP size, and the CPU instructions quantra-l executes (valgrind --tool=callgrind,
# repeatable on one machine) and its peak heap (valgrind --tool=massif).
#
# usage: tests/bench/bench-download.sh [BUILD_DIR]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
ql=$build/src/cli/quantra-l
smdp=$build/tests/smdp/ql-test-smdp
tmp=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$smdp" --listen 127.0.0.1:0 --pki "$tmp/pki" >"$tmp/smdp.log" &
srv=$!
for _ in $(seq 100); do
	grep -q "listening on" "$tmp/smdp.log" 2>/dev/null && break
	sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$tmp/smdp.log")
[ -n "$addr" ] || { echo "ql-test-smdp did not start" >&2; exit 1; }

run() {
	"$@" --direct "virtual:$tmp/euicc-$RANDOM.state?identity=$tmp/pki/euicc" --json \
		profile download --activation-code "LPA:1\$$addr\$BENCH" \
		--trust-anchor "$tmp/pki/ci.pem" --secure
}

run "$ql" >"$tmp/plain.json"
python3 - "$tmp/plain.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for k in ("apdus", "bytes_to_euicc", "bytes_from_euicc", "tls_handshakes", "http_requests",
          "bpp_segments", "bpp_bytes"):
    print(f"{k:20} {r[k]}")
print(f"{'tls':20} {r['tls_version']} {r['cipher_suite']}")
PY
if command -v valgrind >/dev/null; then
	run valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$ql" >/dev/null 2>"$tmp/cg.log"
	echo "instructions         $(sed -n 's/^summary: //p' "$tmp/cg.out")"
	run valgrind --tool=massif --massif-out-file="$tmp/ms.out" "$ql" >/dev/null 2>/dev/null
	peak=$(grep mem_heap_B "$tmp/ms.out" | sed 's/mem_heap_B=//' | sort -n | tail -1)
	echo "peak_heap_bytes      $peak"
fi
