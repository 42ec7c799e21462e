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
# With BENCH_HLS=1 (the issue's run) the torrent also holds a 120 s H.264
# MP4 (ffmpeg testsrc2 640x360, AAC), and an HLS player fetches its master
# and media playlists and every segment, in order, while the other files
# stream. With BENCH_LOOP_MB=N (root) the work directory is a loop-mounted
# ext4 image of N MB, and the table also shows what reached that device
# (/sys/block/loopK/stat: ffmpeg's segment files and file system metadata
# included, which rill's own write_bytes does not count).
#
# Usage: bench/stream_writes.sh     (from the repository root)
# Environment:
#   BENCH_SIZE_MB=120  BENCH_FILES=2  BENCH_PIECE_LOG2=18 (256 KiB)
#   BENCH_CACHE_MIB=64  BENCH_RATE=6M  BENCH_BOARD=pi-zero-2w
#   BENCH_HLS=0  BENCH_LOOP_MB=0
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
HLS=${BENCH_HLS:-0}
LOOP_MB=${BENCH_LOOP_MB:-0}
BENCH_NAME=stream_writes.sh
. "$(dirname "$0")/lib.sh"
need_tools "" aria2c mktorrent curl python3
[ "$HLS" = 1 ] && need_tools "" ffmpeg

bench_workdir rill-writes
rill_bin

LOOP_DEV=""
if [ "$LOOP_MB" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "BENCH_LOOP_MB needs root (losetup, mount)"
    truncate -s "${LOOP_MB}M" "$WORK/disk.img"
    mkfs.ext4 -q -F "$WORK/disk.img"
    mkdir -p "$WORK/disk"
    LOOP_DEV=$(losetup --find --show "$WORK/disk.img")
    mount "$LOOP_DEV" "$WORK/disk"
fi
DATA=$WORK/rill-data
[ -n "$LOOP_DEV" ] && DATA=$WORK/disk/rill-data
# bench_cleanup calls this first: stop rill, remove the RAM directory its
# log names for HLS segments (/dev/shm/rill-UID-HASH), unmount the loop.
bench_on_exit() {
    local pid ram
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ram=$(sed -n 's/.*HLS segments in RAM in \(.*\) (.*/\1/p' "$WORK/rill.log" 2>/dev/null | head -1)
    case "$ram" in /dev/shm/rill-*/hls) rm -rf "${ram%/hls}" ;; esac
    if [ -n "$LOOP_DEV" ]; then
        umount "$WORK/disk" || umount -l "$WORK/disk"
        losetup -d "$LOOP_DEV"
    fi
}
# Sectors written to the loop device (512 bytes each), or 0.
dev_written() {
    if [ -n "$LOOP_DEV" ]; then
        awk '{print $7 * 512}' "/sys/block/$(basename "$LOOP_DEV")/stat"
    else
        echo 0
    fi
}

NAME="writes-${FILES}x${SIZE_MB}MB"
mkdir -p "$WORK/seed/$NAME"
log "generating $FILES x $SIZE_MB MB"
for i in $(seq 1 "$FILES"); do
    head -c "$((SIZE_MB * 1000 * 1000))" /dev/urandom >"$WORK/seed/$NAME/f$i.bin"
done
if [ "$HLS" = 1 ]; then
    log "making a 120 s H.264 MP4"
    ffmpeg -v error -f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=frequency=440 \
        -t 120 -c:v libx264 -preset veryfast -b:v 1500k -g 100 -c:a aac -b:a 128k \
        -movflags +faststart "$WORK/seed/$NAME/movie.mp4"
fi
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
data_dir = "$DATA"
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
W0=$(wb); C0=$(cwb); D0=$(dev_written)
curl -sf -o /dev/null --data "{\"uri\": \"magnet:?xt=urn:btih:$HASH&x.pe=$SEED_ADDR\"}" "http://$HTTP/api/torrents"
for _ in $(seq 300); do
    n=$(curl -sf "http://$HTTP/api/torrents/$HASH" | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("files") or []))' 2>/dev/null || echo 0)
    [ "$n" = "$((FILES + HLS))" ] && break
    sleep 0.2
done
[ "$n" = "$((FILES + HLS))" ] || die "metadata never arrived; see $WORK/rill.log"

log "reading $FILES files at $RATE each"
START=$(date +%s.%N)
READERS=()
for i in $(seq 0 $((FILES - 1))); do
    curl -sf --limit-rate "$RATE" -o /dev/null -w '%{size_download}\n' \
        "http://$HTTP/stream/$HASH/$i" >"$WORK/read.$i" &
    READERS+=($!)
done
if [ "$HLS" = 1 ]; then
    # The HLS player: playlists, then every segment in order.
    python3 - "http://$HTTP/hls/$HASH/$FILES/" >"$WORK/read.hls" <<'PY' &
import sys, urllib.parse, urllib.request
def get(url):
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.read()
master_url = sys.argv[1] + "index.m3u8"
master = get(master_url).decode()
variant = urllib.parse.urljoin(master_url, [l for l in master.splitlines() if l and not l.startswith("#")][0])
total = 0
for line in get(variant).decode().splitlines():
    if line and not line.startswith("#"):
        total += len(get(urllib.parse.urljoin(variant, line)))
print(total)
PY
    READERS+=($!)
fi
for p in "${READERS[@]}"; do wait "$p" || die "a reader failed; see $WORK/rill.log"; done
END=$(date +%s.%N)
sync -f "$DATA" 2>/dev/null || sync
sleep 1
W1=$(wb); C1=$(cwb); D1=$(dev_written)
STREAMED=$(cat "$WORK"/read.[0-9]* | awk '{s += $1} END {print s}')
EXPECT=$((FILES * SIZE_MB * 1000 * 1000))
[ "$STREAMED" = "$EXPECT" ] || die "streamed $STREAMED bytes, expected $EXPECT"
PLAYED=$STREAMED
if [ "$HLS" = 1 ]; then
    SEGS=$(cat "$WORK/read.hls")
    [ "${SEGS:-0}" -gt 0 ] || die "the HLS player got nothing; see $WORK/rill.log"
    PLAYED=$((STREAMED + SEGS))
    log "HLS segments: $SEGS bytes (the MP4 is $(stat -c %s "$WORK/seed/$NAME/movie.mp4"))"
fi
METRICS=$(curl -sf "http://$HTTP/metrics")
ev=$(echo "$METRICS" | awk '/^rill_stream_cache_evictions_total/ {print $2}')
wev=$(echo "$METRICS" | awk '/^rill_stream_cache_window_evictions_total/ {print $2}')
python3 - "$W0" "$W1" "$C0" "$C1" "$PLAYED" "$START" "$END" "${ev:-?}" "${wev:-?}" "$D0" "$D1" <<'PY'
import sys
w0, w1, c0, c1, played = map(int, sys.argv[1:6])
secs = float(sys.argv[7]) - float(sys.argv[6])
d = int(sys.argv[11]) - int(sys.argv[10])
w, c = w1 - w0, c1 - c0
dev = f"{d/1e6:.1f} ({d/played:.3f})" if d else "-"
print(f"| played MB | write_bytes MB | ratio | device MB (ratio) | cancelled MB | evictions | window evictions | s |")
print(f"|---:|---:|---:|---:|---:|---:|---:|---:|")
print(f"| {played/1e6:.1f} | {w/1e6:.1f} | {w/played:.3f} | {dev} | {c/1e6:.1f} | {sys.argv[8]} | {sys.argv[9]} | {secs:.1f} |")
PY
