#!/usr/bin/env bash
# bench/stream_writes.sh — flash wear of storage mode `stream`: bytes rill
# writes to disk against bytes its players read.
#
# Makes a torrent of BENCH_FILES random files of BENCH_SIZE_MB each (one
# folder, 2^BENCH_PIECE_LOG2-byte pieces), seeds it with one aria2c on
# loopback, starts `rill serve --board BENCH_BOARD` with `storage = "stream"`
# and `stream_cache_mib = BENCH_CACHE_MIB`, adds the torrent as a magnet
# (peer in `x.pe`) and reads every file whole through `/stream/ID/N`, all at
# once, each with `curl --limit-rate BENCH_RATE` (a player's pace). Then
# prints the write_bytes of rill's /proc/PID/io (what the kernel counted as
# written to the block device, page-cache writes included) against the
# bytes the players received, and the ratio. The target (issue 10) is at
# most 1.05 when every file is played to its end.
#
# Usage: bench/stream_writes.sh     (from the repository root)
# Environment:
#   BENCH_SIZE_MB=120  BENCH_FILES=2  BENCH_PIECE_LOG2=18 (256 KiB)
#   BENCH_CACHE_MIB=64  BENCH_RATE=6M  BENCH_BOARD=pi-zero-2w
#   BENCH_NET=127.93.0  (loopback /24 used)
#   BENCH_DIR=... (default a new dir in /var/tmp; must be on a disk, not
#   tmpfs: tmpfs writes are not counted in write_bytes)  BENCH_KEEP=1
#   RILL_BIN=... (default: cargo build --release)

set -euo pipefail

SIZE_MB=${BENCH_SIZE_MB:-120}
FILES=${BENCH_FILES:-2}
PIECE_LOG2=${BENCH_PIECE_LOG2:-18}
CACHE_MIB=${BENCH_CACHE_MIB:-64}
RATE=${BENCH_RATE:-6M}
BOARD=${BENCH_BOARD:-pi-zero-2w}
NET=${BENCH_NET:-127.93.0}
BENCH_NAME=stream_writes.sh
. "$(dirname "$0")/lib.sh"
need_tools "" aria2c mktorrent curl python3

bench_workdir rill-writes
rill_bin

NAME="writes-${FILES}x${SIZE_MB}MB"
mkdir -p "$WORK/seed/$NAME"
log "generating $FILES x $SIZE_MB MB"
for i in $(seq 1 "$FILES"); do
    head -c "$((SIZE_MB * 1000 * 1000))" /dev/urandom >"$WORK/seed/$NAME/f$i.bin"
done
mktorrent -l "$PIECE_LOG2" -a "http://127.0.0.1:9/announce" -o "$WORK/t.torrent" "$WORK/seed/$NAME" >/dev/null
HASH=$(info_hash "$WORK/t.torrent")

SEED_ADDR="$NET.2:6881"
aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
    --enable-peer-exchange=false --disable-ipv6=true --file-allocation=none \
    --summary-interval=0 --console-log-level=warn --show-console-readout=false \
    --interface="$NET.2" --listen-port=6881 --dir="$WORK/seed" \
    --seed-ratio=0 -V "$WORK/t.torrent" >"$WORK/aria2.log" 2>&1 &
PIDS+=($!)

HTTP="$NET.3:8080"
cat >"$WORK/rill.toml" <<TOML
listen = "$HTTP"
peer_listen = "$NET.3:0"
data_dir = "$WORK/rill-data"
board = "$BOARD"
storage = "stream"
stream_cache_mib = $CACHE_MIB
TOML
RILL_LOG=${RILL_LOG:-info} "$RILL_BIN" serve --config "$WORK/rill.toml" >"$WORK/rill.log" 2>&1 &
RILL_PID=$!
PIDS+=($RILL_PID)
for _ in $(seq 100); do curl -sf "http://$HTTP/api/torrents" >/dev/null && break; sleep 0.1; done
for _ in $(seq 100); do (exec 3<>"/dev/tcp/$NET.2/6881") 2>/dev/null && break; sleep 0.2; done

wb() { awk '/^write_bytes/ {print $2}' "/proc/$RILL_PID/io"; }
cwb() { awk '/^cancelled_write_bytes/ {print $2}' "/proc/$RILL_PID/io"; }
W0=$(wb); C0=$(cwb)
curl -sf -o /dev/null --data "{\"uri\": \"magnet:?xt=urn:btih:$HASH&x.pe=$SEED_ADDR\"}" "http://$HTTP/api/torrents"
for _ in $(seq 300); do
    n=$(curl -sf "http://$HTTP/api/torrents/$HASH" | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("files") or []))' 2>/dev/null || echo 0)
    [ "$n" = "$FILES" ] && break
    sleep 0.2
done
[ "$n" = "$FILES" ] || die "metadata never arrived; see $WORK/rill.log"

log "reading $FILES files at $RATE each"
START=$(date +%s.%N)
READERS=()
for i in $(seq 0 $((FILES - 1))); do
    curl -sf --limit-rate "$RATE" -o /dev/null -w '%{size_download}\n' \
        "http://$HTTP/stream/$HASH/$i" >"$WORK/read.$i" &
    READERS+=($!)
done
for p in "${READERS[@]}"; do wait "$p" || die "a reader failed; see $WORK/rill.log"; done
END=$(date +%s.%N)
sync -f "$WORK/rill-data" 2>/dev/null || sync
sleep 1
W1=$(wb); C1=$(cwb)
PLAYED=$(cat "$WORK"/read.* | awk '{s += $1} END {print s}')
EXPECT=$((FILES * SIZE_MB * 1000 * 1000))
[ "$PLAYED" = "$EXPECT" ] || die "played $PLAYED bytes, expected $EXPECT"
METRICS=$(curl -sf "http://$HTTP/metrics")
ev=$(echo "$METRICS" | awk '/^rill_stream_cache_evictions_total/ {print $2}')
wev=$(echo "$METRICS" | awk '/^rill_stream_cache_window_evictions_total/ {print $2}')
python3 - "$W0" "$W1" "$C0" "$C1" "$PLAYED" "$START" "$END" "${ev:-?}" "${wev:-?}" <<'PY'
import sys
w0, w1, c0, c1, played = map(int, sys.argv[1:6])
secs = float(sys.argv[7]) - float(sys.argv[6])
w, c = w1 - w0, c1 - c0
print(f"| played MB | write_bytes MB | ratio | cancelled MB | evictions | window evictions | s |")
print(f"|---:|---:|---:|---:|---:|---:|---:|")
print(f"| {played/1e6:.1f} | {w/1e6:.1f} | {w/played:.3f} | {c/1e6:.1f} | {sys.argv[8]} | {sys.argv[9]} | {secs:.1f} |")
PY
