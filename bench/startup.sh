#!/usr/bin/env bash
# bench/startup.sh — how long `rill serve` takes to come back with a full
# session: N torrents (100 by default) in the data directory, then R
# restarts after a clean stop and R after a kill -9. For each start it
# records the time until the ready line ("rill serve: http://...") and until
# `GET /api/torrents` lists every torrent. Prints medians as a markdown
# table for docs/benchmarks.md.
#
# Usage: bench/startup.sh              (from the repository root)
# Environment:
#   BENCH_TORRENTS=100    torrents in the session
#   BENCH_RUNS=5          restarts of each kind
#   BENCH_ADDR=127.78.0.1 loopback address for HTTP (port 18080) and peers
#   RILL_BIN=...          rill binary (default: cargo build --release)
#
# Nothing is downloaded: the torrents' data exists nowhere, so this measures
# the session and store start-up (reading the session, parsing torrents,
# opening stores from resume files), not the swarm.

set -euo pipefail

N=${BENCH_TORRENTS:-100}
RUNS=${BENCH_RUNS:-5}
ADDR=${BENCH_ADDR:-127.78.0.1}
BENCH_NAME=startup.sh
. "$(dirname "$0")/lib.sh"
need_tools "" mktorrent curl python3
rill_bin

bench_workdir rill-startup
PID=""
bench_on_exit() { [ -z "$PID" ] || kill -9 "$PID" 2>/dev/null; }

now_ms() { date +%s%3N; }

# Start rill serve; set READY and LISTED (ms since the start).
start() {
    local t0 ready listed out="$WORK/serve.out"
    : >"$out"
    t0=$(now_ms)
    "$RILL_BIN" serve --data "$WORK/data" --listen "$ADDR:18080" \
        --peer-listen "$ADDR:18081" >"$out" 2>"$WORK/serve.err" &
    PID=$!
    for _ in $(seq 1 2000); do
        grep -q '^rill serve:' "$out" && break
        kill -0 "$PID" 2>/dev/null || die "rill serve exited: $(tail -3 "$WORK/serve.err")"
        sleep 0.005
    done
    ready=$(( $(now_ms) - t0 ))
    for _ in $(seq 1 2000); do
        count=$(curl -s "http://$ADDR:18080/api/torrents" | { grep -o '"id"' || true; } | wc -l)
        [ "$count" -ge "$N" ] && break
        sleep 0.005
    done
    listed=$(( $(now_ms) - t0 ))
    READY=$ready LISTED=$listed
}

stop_clean() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
stop_kill9() { kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }


echo "== making $N torrents" >&2
mkdir -p "$WORK/src"
for i in $(seq 1 "$N"); do
    f="$WORK/src/file-$i.bin"
    head -c 65536 /dev/urandom >"$f"
    mktorrent -l 16 -a "http://$ADDR:1/announce" -o "$f.torrent" "$f" >/dev/null
done

start
for i in $(seq 1 "$N"); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-bittorrent' \
        --data-binary @"$WORK/src/file-$i.bin.torrent" "http://$ADDR:18080/api/torrents")
    [ "$code" = 201 ] || die "add $i answered $code"
done
stop_clean

declare -a clean_ready clean_listed kill_ready kill_listed
for r in $(seq 1 "$RUNS"); do
    start; clean_ready+=("$READY"); clean_listed+=("$LISTED")
    stop_kill9
    start; kill_ready+=("$READY"); kill_listed+=("$LISTED")
    stop_clean
    echo "== run $r: after clean stop ${clean_ready[-1]}/${clean_listed[-1]} ms, after kill -9 ${kill_ready[-1]}/${kill_listed[-1]} ms" >&2
done

echo
echo "| restart of \`rill serve\` with $N torrents | ready line, median ms | all listed, median ms |"
echo "|---|---:|---:|"
echo "| after a clean stop (SIGTERM) | $(printf '%s\n' "${clean_ready[@]}" | median) | $(printf '%s\n' "${clean_listed[@]}" | median) |"
echo "| after kill -9 | $(printf '%s\n' "${kill_ready[@]}" | median) | $(printf '%s\n' "${kill_listed[@]}" | median) |"
echo
echo "($RUNS restarts of each kind, $(date -u +%Y-%m-%d), $("$RILL_BIN" --version 2>/dev/null || echo rill))"
