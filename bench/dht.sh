#!/usr/bin/env bash
# bench/dht.sh — DHT benchmark: bare magnet to first byte, and DHT memory.
#
# 1. A private DHT on loopback: aria2c node N (seeding a dummy torrent, as
#    aria2c runs its DHT only with a BitTorrent download) and an aria2c
#    seeder of a random file bootstrapped from N. Then, BENCH_RUNS times:
#    - rill serve (dht_bootstrap = [N], fresh data dir): time from POST of
#      the bare magnet to the end of the first 64 KiB of /stream/ID/0;
#    - aria2c --bt-metadata-only bootstrapped from N: time from start to
#      its exit with the metadata (it fetches no data, so this flatters it).
# 2. Memory on the pi-zero-2w profile: rill serve idle with dht = false,
#    and with the DHT on and a synthetic full routing table (161 buckets of
#    8 nodes plus a spare, loaded from <data>/dht-routing, no bootstrap):
#    VmRSS after 10 s.
# Prints markdown rows for docs/benchmarks.md.
#
# Usage: bench/dht.sh              (from the repository root)
# Environment:
#   BENCH_RUNS=3  BENCH_SIZE_MB=64  BENCH_NET=127.91.0  BENCH_KEEP=1  BENCH_DIR=...
#   RILL_BIN=...  rill binary (default: cargo build --release)
#
# Not for CI: it wants a quiet machine.

set -euo pipefail

RUNS=${BENCH_RUNS:-3}
SIZE_MB=${BENCH_SIZE_MB:-64}
NET=${BENCH_NET:-127.91.0}
BENCH_NAME=dht.sh
. "$(dirname "$0")/lib.sh"
need_tools "" aria2c mktorrent curl bc python3
rill_bin
RILL=$RILL_BIN
bench_workdir rill-bench-dht

now() { date +%s.%N; }
aria2_dht() { # IP TCP_PORT DHT_PORT DIR [ENTRY]
    local args=(--enable-dht=true --enable-dht6=false --bt-enable-lpd=false
        --enable-peer-exchange=false --disable-ipv6=true --file-allocation=none
        --summary-interval=0 --console-log-level=notice
        "--interface=$1" "--listen-port=$2" "--dht-listen-port=$3"
        "--dht-file-path=$4/dht.dat" "--dir=$4")
    [ -n "${5:-}" ] && args+=("--dht-entry-point=$5")
    echo "${args[@]}"
}

mkdir -p "$WORK/node" "$WORK/seed"
head -c 100000 /dev/urandom >"$WORK/node/dummy.bin"
mktorrent -o "$WORK/dummy.torrent" "$WORK/node/dummy.bin" >/dev/null
head -c $((SIZE_MB << 20)) /dev/urandom >"$WORK/seed/video.bin"
mktorrent -l 20 -o "$WORK/video.torrent" "$WORK/seed/video.bin" >/dev/null
HASH=$("$RILL" info "$WORK/video.torrent" | awk '/info hash/ {print $3}')
NODE="$NET.2:26001"

# shellcheck disable=SC2046
aria2c $(aria2_dht "$NET.2" 26011 26001 "$WORK/node") -V --seed-ratio=0 \
    "$WORK/dummy.torrent" >"$WORK/node.log" 2>&1 &
PIDS+=($!)
sleep 2
# shellcheck disable=SC2046
aria2c $(aria2_dht "$NET.3" 26012 26002 "$WORK/seed" "$NODE") -V --seed-ratio=0 \
    "$WORK/video.torrent" >"$WORK/seed.log" 2>&1 &
PIDS+=($!)
echo "waiting 20 s for the seeder's announce to reach N" >&2
sleep 20

serve() { # DATA PEER_IP EXTRA_CONFIG BOARD -> sets SERVE_PID, HTTP
    local data=$1
    mkdir -p "$data"
    printf 'listen = "%s:0"\ndata_dir = "%s"\npeer_listen = "%s:26100"\ndlna = false\n%s\n' \
        "$2" "$data" "$2" "$3" >"$data/config.toml"
    "$RILL" serve --config "$data/config.toml" --board "$4" >"$data/out" 2>"$data/err" &
    SERVE_PID=$!
    PIDS+=("$SERVE_PID")
    for _ in $(seq 100); do
        HTTP=$(sed -n 's|^rill serve: http://\([^/]*\)/.*|\1|p' "$data/out")
        [ -n "$HTTP" ] && return 0
        sleep 0.1
    done
    die "rill serve did not start (see $data/err)"
}

rill_times=()
aria_times=()
for run in $(seq "$RUNS"); do
    serve "$WORK/rill-$run" "$NET.$((10 + run))" "dht_bootstrap = [\"$NODE\"]" generic-x86_64
    t0=$(now)
    curl -s -o /dev/null --data "magnet:?xt=urn:btih:$HASH" "http://$HTTP/api/torrents"
    for _ in $(seq 600); do
        state=$(curl -s "http://$HTTP/api/torrents/$HASH" | sed -n 's/.*"state":"\([a-z_]*\)".*/\1/p')
        [ "$state" != fetching_metadata ] && break
        sleep 0.05
    done
    curl -s -o /dev/null -r 0-65535 "http://$HTTP/stream/$HASH/0"
    rill_times+=("$(echo "$(now) - $t0" | bc)")
    kill "$SERVE_PID"
    wait "$SERVE_PID" 2>/dev/null || true

    mkdir -p "$WORK/aria-$run"
    t0=$(now)
    # shellcheck disable=SC2046
    timeout 120 aria2c $(aria2_dht "$NET.$((40 + run))" 26200 26201 "$WORK/aria-$run" "$NODE") \
        --bt-metadata-only=true --bt-save-metadata=false "magnet:?xt=urn:btih:$HASH" \
        >"$WORK/aria-$run.log" 2>&1 || true
    aria_times+=("$(echo "$(now) - $t0" | bc)")
done

echo
echo "| bare magnet in a private aria2c DHT (${SIZE_MB} MiB, $RUNS runs) | median s | runs |"
echo "|---|---|---|"
echo "| rill serve: POST to first 64 KiB of /stream | $(printf '%s\n' "${rill_times[@]}" | median) | ${rill_times[*]} |"
echo "| aria2c --bt-metadata-only: start to metadata | $(printf '%s\n' "${aria_times[@]}" | median) | ${aria_times[*]} |"

# Memory: a synthetic full routing table.
python3 - "$WORK/full/dht-routing" <<'EOF'
import os, struct, sys
own = os.urandom(20)
out = bytearray(b"RDHT\x01" + own)
n = 0
for prefix in range(160):
    for j in range(9):
        idb = bytearray(os.urandom(20))
        for bit in range(prefix + 1):
            byte, mask = bit // 8, 0x80 >> (bit % 8)
            want = own[byte] & mask
            if bit == prefix:
                want ^= mask
            idb[byte] = (idb[byte] & ~mask & 0xff) | want
        n += 1
        out += bytes([4]) + idb + bytes([127, 1, n >> 8, n & 0xff]) + struct.pack(">H", 6881)
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
open(sys.argv[1], "wb").write(out)
EOF
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
serve "$WORK/off" "$NET.90" "dht = false" pi-zero-2w
sleep 10
off=$(rss "$SERVE_PID")
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
serve "$WORK/full" "$NET.91" "dht_bootstrap = []" pi-zero-2w
sleep 10
on=$(rss "$SERVE_PID")
nodes=$(curl -s "http://$HTTP/metrics" | awk '$1 == "rill_dht_nodes" {print $2}')
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
echo
echo "| rill serve idle, pi-zero-2w profile | VmRSS KiB |"
echo "|---|---|"
echo "| dht = false | $off |"
echo "| DHT on, synthetic full table ($nodes nodes) | $on |"
echo "| difference | $((on - off)) |"
