#!/usr/bin/env bash
# bench/api/profile.sh: where flotillad's time goes under the run.sh load. Starts flotillad in a
# temporary state folder with 100 VMs (as run.sh does), runs wrk -t2 -c64 against GET /v1/vms
# while `perf record -g` samples the daemon, and prints the top symbols (self time).
# Builds nothing: expects build/ (cmake --build build --target flotillad flotilla).
#
#   bench/api/profile.sh [--duration 10s] [--threads N] [--top N] [--keep DIR]
# --keep: leave perf.data (and the daemon log) in DIR for `perf report -i DIR/perf.data`.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${FLOTILLA_BUILD_DIR:-$root/build}
duration=10s threads=2 top=40 keep=""
while [ $# -gt 0 ]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --top) top=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    *) echo "usage: $0 [--duration D] [--threads N] [--top N] [--keep DIR]" >&2; exit 2 ;;
  esac
done
flotillad=$build/daemon/flotillad flotilla=$build/cli/flotilla
for bin in "$flotillad" "$flotilla"; do
  [ -x "$bin" ] || { echo "missing $bin: cmake --build build --target flotillad flotilla" >&2; exit 1; }
done
for tool in wrk perf; do
  command -v $tool >/dev/null || { echo "$tool not installed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/flotilla-profile-api.XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$work"/perf.data "$work"/flotillad.log "$keep"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "{\"http\": {\"threads\": $threads}}" >"$work/flotillad.json"
"$flotillad" --config "$work/flotillad.json" --state-dir "$work/state" --listen "127.0.0.1:$port" \
  >"$work/flotillad.log" 2>&1 &
pid=$!
deadline=$((SECONDS + 20))
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && [ -s "$work/state/admin.token" ]; do
  [ $SECONDS -lt $deadline ] || { echo "flotillad did not come up" >&2; exit 1; }
  sleep 0.1
done
auth="Authorization: Bearer $(head -n1 "$work/state/admin.token")"
: >"$work/vmlinux"
for i in $(seq 1 100); do
  "$flotilla" --state-dir "$work/state" vm create "bench-$i" --kernel "$work/vmlinux" >/dev/null
done
secs=${duration%s}
perf record -q -F 499 -g -p "$pid" -o "$work/perf.data" -- sleep "$secs" 2>/dev/null &
perf_pid=$!
wrk -t2 -c64 -d"$duration" -s bench/api/latency.lua -H "$auth" "http://127.0.0.1:$port/v1/vms" | grep '^RESULT'
wait "$perf_pid" || true
perf report -i "$work/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
  grep -E "^ +[0-9]" | sed -E "s/ +$//; s/ +- +- *$//" | cut -c1-120 | head -n "$top"
