#!/usr/bin/env bash
# bench/dht.sh — DHT benchmark: bare magnet to first byte, and DHT memory.
#
# 1. A private DHT on loopback: aria2c node N (seeding a dummy torrent, as
#    aria2c runs its DHT only with a BitTorrent download) and an aria2c
#    seeder of a random file bootstrapped from N. Then, BENCH_RUNS times,
#    each client in turn with a fresh data directory, bootstrapped from N
#    only:
#    - rill serve (dht_bootstrap = [N]): time from POST of the bare magnet
#      to the end of the first 64 KiB of /stream/HASH/0, asked right after
#      the POST (the request waits for the metadata, as a player's would);
#    - rqbit server (--dht-bootstrap-addrs N): time from POST /torrents of
#      the bare magnet (answered once rqbit has the metadata) to the end of
#      the first 64 KiB of /torrents/HASH/stream/0;
#    - aria2c --bt-metadata-only bootstrapped from N: time from start to
#      its exit with the metadata (it fetches no data, so this flatters it).
#    rill's and rqbit's 64 KiB are compared with the source. The HTTP
#    servers are up before the clock starts (no process start is timed).
# 2. Memory on the pi-zero-2w profile: rill serve idle with dht = false,
#    and with the DHT on and a synthetic full routing table (161 buckets of
#    8 nodes plus a spare, loaded from <data>/dht-routing, no bootstrap):
#    VmRSS after 10 s.
# Prints markdown rows for docs/benchmarks.md.
#
# With rqbit among the clients the script runs itself in a network
# namespace it makes with only lo up (needs root): rqbit's DHT binds the
# wildcard address and would otherwise be free to reach the internet; in
# the namespace nothing but loopback exists.
#
# Usage: bench/dht.sh              (from the repository root)
# Environment:
#   BENCH_RUNS=3  BENCH_SIZE_MB=64  BENCH_NET=127.91.0  BENCH_KEEP=1  BENCH_DIR=...
#   BENCH_CLIENTS="rill rqbit aria2c"
#   BENCH_CACHE=~/.cache/rill-bench   where rqbit is installed if missing
#   BENCH_RQBIT_LOG=warn              rqbit's console log level (its log: WORK/rqbit-N.log)
#   RILL_BIN=...  rill binary (default: cargo build --release)
#
# Not for CI: it wants a quiet machine.

set -euo pipefail

RUNS=${BENCH_RUNS:-3}
SIZE_MB=${BENCH_SIZE_MB:-64}
NET=${BENCH_NET:-127.91.0}
CLIENTS=${BENCH_CLIENTS:-"rill rqbit aria2c"}
BENCH_NAME=dht.sh
. "$(dirname "$0")/lib.sh"
need_tools "" aria2c mktorrent curl bc python3
rill_bin
RILL=$RILL_BIN
RQBIT=${RQBIT:-}
case " $CLIENTS " in *" rqbit "*)
    rqbit_bin
    export RQBIT
    if [ -z "${RILL_BENCH_IN_NETNS:-}" ]; then
        [ "$(id -u)" = 0 ] || die "rqbit runs in a network namespace: needs root (or BENCH_CLIENTS without rqbit)"
        need_tools "Debian package iproute2" ip
        bench_in_netns dht-bench "$@"
    fi
    ;;
esac
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
    : >"$data/out" # before the child opens it: the wait below reads it at once
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

# first_64k URL OUT: the first 64 KiB of URL into OUT, checked against the
# source; dies naming the client otherwise.
first_64k() {
    curl -s --max-time 120 -o "$2" -r 0-65535 "$1" || true
    cmp -s "$2" "$WORK/first64k" || die "$1: the first 64 KiB differ from the source"
}
head -c 65536 "$WORK/seed/video.bin" >"$WORK/first64k"

rqbit_start() { # DIR IP -> sets RQBIT_PID, HTTP
    mkdir -p "$1"
    HTTP="$2:26301"
    RQBIT_LOG_LEVEL_CONSOLE=${BENCH_RQBIT_LOG:-warn} "$RQBIT" --dht-bootstrap-addrs "$NODE" --disable-dht-persistence \
        --disable-upnp-port-forward --disable-lsd --ipv4-only --listen-ip "$2" --listen-port 26300 \
        --http-api-listen-addr "$HTTP" server start --disable-persistence "$1" >"$1.log" 2>&1 &
    RQBIT_PID=$!
    PIDS+=("$RQBIT_PID")
    for _ in $(seq 200); do
        curl -sf -o /dev/null "http://$HTTP/torrents" && return 0
        kill -0 "$RQBIT_PID" 2>/dev/null || die "rqbit exited at start (see $1.log)"
        sleep 0.05
    done
    die "rqbit did not answer on http://$HTTP (see $1.log)"
}

has() { case " $CLIENTS " in *" $1 "*) return 0 ;; esac; return 1; }
rill_times=()
rqbit_times=()
rqbit_failed=0
aria_times=()
for run in $(seq "$RUNS"); do
    if has rill; then
        serve "$WORK/rill-$run" "$NET.$((10 + run))" "dht_bootstrap = [\"$NODE\"]" generic-x86_64
        t0=$(now)
        curl -s -o /dev/null --data "magnet:?xt=urn:btih:$HASH" "http://$HTTP/api/torrents"
        # At once, as a player handed the URL: /stream waits for metadata.
        first_64k "http://$HTTP/stream/$HASH/0" "$WORK/rill-$run.64k"
        rill_times+=("$(echo "$(now) - $t0" | bc)")
        kill "$SERVE_PID"
        wait "$SERVE_PID" 2>/dev/null || true
    fi

    if has rqbit; then
        rqbit_start "$WORK/rqbit-$run" "$NET.$((60 + run))"
        t0=$(now)
        # The add is answered once rqbit has the metadata: a run without it
        # in 120 s is counted as failed, not timed.
        if curl -sf --max-time 120 -o "$WORK/rqbit-$run.add" --data "magnet:?xt=urn:btih:$HASH" \
            "http://$HTTP/torrents"; then
            first_64k "http://$HTTP/torrents/$HASH/stream/0" "$WORK/rqbit-$run.64k"
            rqbit_times+=("$(echo "$(now) - $t0" | bc)")
        else
            log "rqbit run $run: no metadata within 120 s (see $WORK/rqbit-$run.log)"
            rqbit_failed=$((rqbit_failed + 1))
        fi
        kill -9 "$RQBIT_PID"
        wait "$RQBIT_PID" 2>/dev/null || true
    fi

    if has aria2c; then
        mkdir -p "$WORK/aria-$run"
        t0=$(now)
        # shellcheck disable=SC2046
        timeout 120 aria2c $(aria2_dht "$NET.$((40 + run))" 26200 26201 "$WORK/aria-$run" "$NODE") \
            --bt-metadata-only=true --bt-save-metadata=false "magnet:?xt=urn:btih:$HASH" \
            >"$WORK/aria-$run.log" 2>&1 || true
        aria_times+=("$(echo "$(now) - $t0" | bc)")
    fi
done

med() { [ "$#" -gt 0 ] && printf '%s\n' "$@" | median || echo nan; }
rill_med=$(med "${rill_times[@]}")
rqbit_med=$(med "${rqbit_times[@]}")
aria_med=$(med "${aria_times[@]}")
echo
echo "| bare magnet in a private aria2c DHT (${SIZE_MB} MiB, $RUNS runs) | median s | runs |"
echo "|---|---|---|"
has rill && echo "| rill serve: POST to first 64 KiB of /stream | $rill_med | ${rill_times[*]} |"
has rqbit && echo "| rqbit $("$RQBIT" --version 2>/dev/null | awk '{print $NF}') server: POST /torrents to first 64 KiB of /torrents/HASH/stream/0 | $rqbit_med | ${rqbit_times[*]}$([ "$rqbit_failed" = 0 ] || echo " ($rqbit_failed failed: no metadata in 120 s)") |"
has aria2c && echo "| aria2c --bt-metadata-only: start to metadata | $aria_med | ${aria_times[*]} |"
if has rill; then
    best=$(printf '%s\n' "$rqbit_med" "$aria_med" | grep -v nan | sort -g | head -1 || true)
    [ -n "$best" ] && echo "| ratio rill / best baseline ($best s) | $(echo "scale=3; $rill_med / $best" | bc | xargs printf '%.2f') | |"
fi

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
