#!/usr/bin/env bash
# bench/api/run.sh: GET /v1/vms on flotillad (100 VMs defined, authenticated) against the floor
# server (a bare Beast server answering the same body), wrk -t2 -c64 -d10s, 3 rounds alternating.
# Prints requests/s, p50, p99 for both (medians of the rounds) and the throughput ratio.
# Builds nothing: expects build/ (cmake --build build --target flotillad flotilla api_floor_server).
#
#   bench/api/run.sh [--rounds N] [--duration 10s] [--threads N] [--results FILE]
# --threads: API threads for both servers (default 2, flotillad's default; set via http.threads).
# --results: also write the figures as Markdown to FILE (e.g. bench/api/RESULTS.md).
# FLOTILLAD_EXTRA_ARGS (env): extra flotillad flags for experiments (e.g. "--log-level warn");
# the published figures use none.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
invocation="bench/api/run.sh $*"
build=${FLOTILLA_BUILD_DIR:-$root/build}
rounds=3 duration=10s threads=2 results=""
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--duration D] [--threads N] [--results FILE]" >&2; exit 2 ;;
  esac
done
flotillad=$build/daemon/flotillad flotilla=$build/cli/flotilla floor=$build/bench/api/floor_server
for bin in "$flotillad" "$flotilla" "$floor"; do
  [ -x "$bin" ] || { echo "missing $bin: cmake --build build --target flotillad flotilla api_floor_server" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 1; }

work=$(mktemp -d /tmp/flotilla-bench-api.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_for CMD...: retries for up to 20 s.
wait_for() {
  local deadline=$((SECONDS + 20))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for: $*" >&2; return 1; }
    sleep 0.1
  done
}

port=$(free_port)
echo "{\"http\": {\"threads\": $threads}}" >"$work/flotillad.json"
# shellcheck disable=SC2086 # word splitting of the extra flags is intended
"$flotillad" --config "$work/flotillad.json" --state-dir "$work/state" --listen "127.0.0.1:$port" \
  ${FLOTILLAD_EXTRA_ARGS:-} >"$work/flotillad.log" 2>&1 &
pids+=($!)
wait_for curl -sf "http://127.0.0.1:$port/healthz"
wait_for test -s "$work/state/admin.token"
token=$(head -n1 "$work/state/admin.token")
auth="Authorization: Bearer $token"

: >"$work/vmlinux"  # the kernel path must exist; nothing boots in this benchmark
for i in $(seq 1 100); do
  "$flotilla" --state-dir "$work/state" vm create "bench-$i" --kernel "$work/vmlinux" >/dev/null
done
curl -sf -H "$auth" "http://127.0.0.1:$port/v1/vms" >"$work/body.json"
count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$work/body.json")
[ "$count" = 100 ] || { echo "expected 100 VMs, got $count" >&2; exit 1; }

"$floor" --port 0 --threads "$threads" --body "$work/body.json" >"$work/floor.log" 2>&1 &
pids+=($!)
wait_for grep -q "listening on" "$work/floor.log"
floor_port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/floor.log")

# run_wrk URL [HEADER]: prints "rps p50_us p99_us timeouts"; fails on any non-2xx answer or
# connection error (timeouts under load are reported, not fatal).
run_wrk() {
  local out line
  out=$(wrk -t2 -c64 -d"$duration" -s bench/api/latency.lua ${2:+-H "$2"} "$1")
  line=$(grep '^RESULT' <<<"$out") || { echo "$out" >&2; return 1; }
  eval "${line#RESULT }"
  if [ "$non2xx" != 0 ] || [ "$connect_errors" != 0 ] || [ "$io_errors" != 0 ]; then
    echo "$out" >&2; echo "wrk: $non2xx non-2xx, $connect_errors connect, $io_errors io errors against $1" >&2
    return 1
  fi
  echo "$rps $p50_us $p99_us $timeouts"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
ours=() theirs=()
for r in $(seq 1 "$rounds"); do
  ours+=("$(run_wrk "http://127.0.0.1:$port/v1/vms" "$auth")")
  theirs+=("$(run_wrk "http://127.0.0.1:$floor_port/v1/vms")")
  echo "round $r: flotillad ${ours[-1]} | floor ${theirs[-1]}  (rps p50_us p99_us timeouts)" >&2
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
body_bytes=$(wc -c <"$work/body.json")
summary=$(python3 - "$body_bytes" "$threads" "$duration" "${ours[@]}" -- "${theirs[@]}" <<'PY'
import statistics, sys
body, threads, duration = sys.argv[1:4]
rest = sys.argv[4:]
split = rest.index("--")
def med(rows, i): return statistics.median(float(r.split()[i]) for r in rows)
ours, floor = rest[:split], rest[split + 1:]
o = [med(ours, i) for i in range(3)]
f = [med(floor, i) for i in range(3)]
timeouts = (sum(int(r.split()[3]) for r in ours), sum(int(r.split()[3]) for r in floor))
ratio = o[0] / f[0]
goal = ratio >= 0.7 and o[2] < 10000
print(f"| server | requests/s | p50 | p99 |")
print(f"|---|---|---|---|")
print(f"| flotillad GET /v1/vms | {o[0]:.0f} | {o[1]/1000:.2f} ms | {o[2]/1000:.2f} ms |")
print(f"| floor (bare Beast) | {f[0]:.0f} | {f[1]/1000:.2f} ms | {f[2]/1000:.2f} ms |")
print()
print(f"ratio (flotillad / floor requests/s): **{ratio:.2f}**; "
      f"goal >= 0.70 and p99 < 10 ms: **{'met' if goal else 'missed'}**")
print()
print(f"Medians of {len(ours)} alternating rounds of `wrk -t2 -c64 -d{duration}`, "
      f"100 VMs, body {body} bytes, {threads} API threads per server; wrk timeouts (> 2 s): "
      f"flotillad {timeouts[0]}, floor {timeouts[1]}.")
PY
)
echo
echo "$summary"
if [ -n "$results" ]; then
  {
    echo "# bench/api results"
    echo
    echo "Measured $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(uname -r)); load average before"
    echo "the run: $load_before, after: $load_after (other work on the machine competes with both"
    echo "servers alike)."
    echo "Command: \`cmake --build build --target flotillad flotilla api_floor_server && $invocation\`"
    echo
    echo "$summary"
    echo
    echo "Every round (requests/s, p50 µs, p99 µs, wrk timeouts), flotillad | floor:"
    echo
    for i in "${!ours[@]}"; do echo "- round $((i + 1)): ${ours[$i]} | ${theirs[$i]}"; done
  } >"$results"
  echo "wrote $results" >&2
fi
