#!/usr/bin/env bash
# bench/download.sh — download benchmark: rill against aria2c and rqbit.
#
# Generates a file (1 GiB by default), makes a torrent, seeds it with aria2c
# and transmission-daemon through opentracker, all on loopback, then lets
# each client download it N times (interleaved: rill, aria2, rqbit, rill, ...)
# under `/usr/bin/time -v`. Every download is checked byte for byte against
# the source (outside the timing). Prints a markdown table (medians, and
# ratios against rill) ready to append to docs/benchmarks.md, plus the sizes
# of the cross-compiled binaries if target/ holds them.
#
# Usage: bench/download.sh            (from the repository root)
# Environment:
#   BENCH_SIZE_MB=1024     size of the generated file
#   BENCH_RUNS=3           downloads per client
#   BENCH_CLIENTS="rill aria2 rqbit"  (also: rill-buffered, rill writing
#                          through the page cache: RILL_WRITE_MODE=buffered;
#                          rill-direct and rill-writeback likewise, see
#                          src/store/files.rs; rill-pagecache = rill-buffered;
#                          rill-require / rill-off: --encryption require /
#                          off; aria2-crypto: aria2c requiring RC4)
#   BENCH_BASE=rill        the client the ratio columns divide by
#   BENCH_FS=              where the clients write: empty for the work
#                          directory's filesystem, or ext4, xfs, btrfs,
#                          exfat (exfat-fuse), ntfs (ntfs-3g), tmpfs: a
#                          loop-mounted image made for the run (root only)
#
# Beside wall time, CPU and RSS it reports the page cache each download
# leaves behind: Cached and Dirty of /proc/meminfo just before the client
# starts and right after it exits (the difference; other programs on the
# machine add noise: the seeders read the source through the page cache,
# which is dropped before each run), and how much of the downloaded file
# itself is still in the page cache (`fincore`, util-linux).
#   BENCH_PIECE_LOG2=20    piece size 2^n (mktorrent -l), 1 MiB
#   BENCH_NET=127.77.0     loopback /24 prefix used for every program
#   BENCH_DIR=...          work directory (default: a new one in /var/tmp)
#   BENCH_KEEP=1           keep the work directory
#   BENCH_TIMEOUT=1800     seconds allowed per download
#   BENCH_CACHE=~/.cache/rill-bench   where rqbit is installed if missing
#   RILL_BIN=...           rill binary (default: cargo build --release)
#   RILL_BASE_BIN=...      a second rill binary, the client `rill-base` (A/B)
#
# For rill it also reports the payload its log says was wasted (second
# copies of blocks and the like: src/swarm/waste.rs; "-" for the others).
#
# Not for CI: it moves gigabytes and wants a quiet machine.

set -euo pipefail

SIZE_MB=${BENCH_SIZE_MB:-1024}
RUNS=${BENCH_RUNS:-3}
CLIENTS=${BENCH_CLIENTS:-"rill aria2 rqbit"}
PIECE_LOG2=${BENCH_PIECE_LOG2:-20}
NET=${BENCH_NET:-127.77.0}
TIMEOUT=${BENCH_TIMEOUT:-1800}
BENCH_NAME=download.sh
. "$(dirname "$0")/lib.sh"

TRACKER="$NET.1:6969"
TR_PEER="$NET.2"
A2_PEER="$NET.3"
LEECH_IP="$NET.10"          # every client downloads from the same address,
LEECH_PORT=51010            # so the tracker's peer list does not grow
NAME="bench-${SIZE_MB}MiB.bin"

need_tools "Debian packages: opentracker transmission-daemon transmission-cli aria2 mktorrent curl time" \
    opentracker transmission-daemon transmission-remote aria2c mktorrent curl /usr/bin/time

# --- work directory and cleanup ---------------------------------------------
bench_workdir rill-bench

# --- where the downloads go (BENCH_FS) -----------------------------------------
FS=${BENCH_FS:-}
OUTROOT="$WORK"
MNT=""; LOOPDEV=""
umount_fs() {
    [ -n "$MNT" ] && { umount "$MNT" 2>/dev/null || sleep 1; umount "$MNT" 2>/dev/null || true; }
    [ -n "$LOOPDEV" ] && losetup -d "$LOOPDEV" 2>/dev/null || true
    MNT=""; LOOPDEV=""
}
if [ -n "$FS" ]; then
    [ "$(id -u)" = 0 ] || die "BENCH_FS needs root (losetup, mount)"
    MNT="$WORK/mnt"; mkdir -p "$MNT"
    IMG="$WORK/fs.img"
    truncate -s "$((SIZE_MB * 3 / 2 + 400))M" "$IMG"
    case $FS in
        tmpfs) mount -t tmpfs -o "size=$((SIZE_MB + 64))m" tmpfs "$MNT" ;;
        ntfs) mkntfs -F -Q -q "$IMG" && ntfs-3g "$IMG" "$MNT" ;;
        ext4|xfs|btrfs|exfat)
            LOOPDEV=$(losetup -f --show "$IMG")
            case $FS in
                ext4) mkfs.ext4 -q -F "$LOOPDEV" ;;
                xfs) mkfs.xfs -q -f "$LOOPDEV" ;;
                btrfs) mkfs.btrfs -q -f "$LOOPDEV" ;;
                exfat) mkfs.exfat "$LOOPDEV" >/dev/null ;;
            esac
            if [ "$FS" = exfat ]; then mount.exfat-fuse "$LOOPDEV" "$MNT"; else mount "$LOOPDEV" "$MNT"; fi
            ;;
        f2fs|vfat|fat32) die "this kernel has no $FS driver (see DESIGN.md); cannot benchmark it here" ;;
        *) die "unknown BENCH_FS $FS" ;;
    esac
    OUTROOT="$MNT"
    trap 'umount_fs; bench_cleanup' EXIT
fi
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

# --- the clients ---------------------------------------------------------------

BASE=${BENCH_BASE:-rill}

case " $CLIENTS " in *" rill"*)
    rill_bin
    ;;
esac

RQBIT=""
case " $CLIENTS " in *" rqbit "*)
    rqbit_bin
    rqbit_download_opts "$LEECH_IP" "$LEECH_PORT"
    ;;
esac

# --- data, torrent, tracker, seeders -------------------------------------------
SEED="$WORK/seed"
mkdir -p "$SEED"
log "generating $SIZE_MB MiB"
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$SEED/$NAME"
TORRENT="$WORK/$NAME.torrent"
mktorrent -l "$PIECE_LOG2" -a "http://$TRACKER/announce" -o "$TORRENT" "$SEED/$NAME" >/dev/null
HASH=$(transmission-show "$TORRENT" 2>/dev/null | awk '/Hash:/ {print $2; exit}')
[ -n "$HASH" ] || HASH=$(info_hash "$TORRENT")
[ -n "$HASH" ] || die "cannot compute the info hash"

start_tracker "$HASH"

mkdir -p "$WORK/transmission"
cat >"$WORK/transmission/settings.json" <<EOF
{"bind-address-ipv4": "$TR_PEER", "peer-port": 51001, "rpc-bind-address": "$TR_PEER",
 "rpc-port": 9091, "rpc-whitelist-enabled": false, "rpc-host-whitelist-enabled": false,
 "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
 "port-forwarding-enabled": false, "ratio-limit-enabled": false, "download-dir": "$SEED"}
EOF
transmission-daemon -f -g "$WORK/transmission" >"$WORK/transmission.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do transmission-remote "$TR_PEER:9091" -l >/dev/null 2>&1 && break; sleep 0.2; done
transmission-remote "$TR_PEER:9091" -a "$TORRENT" -w "$SEED" >/dev/null || die "transmission did not take the torrent"

aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false \
    --disable-ipv6=true --interface="$A2_PEER" --listen-port=51002 -V --seed-ratio=0 \
    --summary-interval=0 --dir="$SEED" "$TORRENT" >"$WORK/aria2-seed.log" 2>&1 &
PIDS+=($!)

log "waiting for both seeders (they check $SIZE_MB MiB first)"
wait_seeders "$HASH" 2 600 1 "${PIDS[@]}"

# --- one timed download -----------------------------------------------------------
# run_client CLIENT RUN: downloads into a fresh directory, appends
# "client wall_s cpu_s rss_kib" to results.
RESULTS="$WORK/results.txt"
: >"$RESULTS"
run_client() {
    local client=$1 run=$2 out="$OUTROOT/out" cmd
    rm -rf "$out"; mkdir -p "$out"
    case $client in
        rill) cmd=("$RILL_BIN" download "$TORRENT" --out "$out" --listen "$LEECH_IP:$LEECH_PORT") ;;
        rill-base) [ -x "${RILL_BASE_BIN:-}" ] || die "rill-base needs RILL_BASE_BIN"
               cmd=("$RILL_BASE_BIN" download "$TORRENT" --out "$out" --listen "$LEECH_IP:$LEECH_PORT") ;;
        rill-pagecache|rill-buffered|rill-direct|rill-writeback)
            local mode=${client#rill-}; [ "$mode" = pagecache ] && mode=buffered
            cmd=(env RILL_WRITE_MODE="$mode" "$RILL_BIN" download "$TORRENT" --out "$out"
                 --listen "$LEECH_IP:$LEECH_PORT") ;;
        rill-require|rill-off)
               cmd=("$RILL_BIN" download "$TORRENT" --out "$out" --listen "$LEECH_IP:$LEECH_PORT"
                    --encryption "${client#rill-}") ;;
        aria2-crypto) cmd=(aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false
                    --enable-peer-exchange=false --disable-ipv6=true --interface="$LEECH_IP"
                    --listen-port="$LEECH_PORT" --seed-time=0 --file-allocation=none
                    --bt-require-crypto=true --bt-min-crypto-level=arc4
                    --summary-interval=0 --dir="$out" "$TORRENT") ;;
        aria2) cmd=(aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false
                    --enable-peer-exchange=false --disable-ipv6=true --interface="$LEECH_IP"
                    --listen-port="$LEECH_PORT" --seed-time=0 --file-allocation=none
                    --summary-interval=0 --dir="$out" "$TORRENT") ;;
        rqbit) cmd=("$RQBIT" "${RQ_GLOBAL[@]}" download "${RQ_DL[@]}" -o "$out" "$TORRENT") ;;
        *) die "unknown client $client" ;;
    esac
    log "run $run: $client"
    local tfile="$WORK/time-$client-$run.txt"
    sync; echo 1 >/proc/sys/vm/drop_caches 2>/dev/null || true
    local c0 d0 c1 d1
    c0=$(meminfo Cached); d0=$(meminfo Dirty)
    if ! timeout "$TIMEOUT" /usr/bin/time -v -o "$tfile" "${cmd[@]}" >"$WORK/$client-$run.log" 2>&1; then
        tail -20 "$WORK/$client-$run.log" >&2
        die "$client failed or timed out in run $run"
    fi
    c1=$(meminfo Cached); d1=$(meminfo Dirty)
    local res=0
    command -v fincore >/dev/null && res=$(fincore --bytes --noheadings --output RES "$out/$NAME" 2>/dev/null || echo 0)
    cmp -s "$SEED/$NAME" "$out/$NAME" || die "$client run $run: downloaded file differs from the source"
    local wasted
    wasted=$(grep -oE '[0-9.]+ MiB wasted' "$WORK/$client-$run.log" | tail -1 | cut -d' ' -f1 || true)
    awk -v c="$client" -v dc="$(( (c1 - c0) / 1024 ))" -v dd="$(( (d1 - d0) / 1024 ))" -v fc="$(( ${res:-0} / 1048576 ))" -v wa="${wasted:--}" '
        /Elapsed \(wall clock\)/ { n = split($NF, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
        /User time \(seconds\)/ { u = $NF }
        /System time \(seconds\)/ { s = $NF }
        /Maximum resident set size/ { r = $NF }
        END { printf "%s %.2f %.2f %d %d %d %d %s\n", c, w, u + s, r, dc, dd, fc, wa }' "$tfile" >>"$RESULTS"
    rm -rf "$out"
}

for run in $(seq "$RUNS"); do
    for client in $CLIENTS; do run_client "$client" "$run"; done
done

# --- report ---------------------------------------------------------------------------
col() { awk -v c="$1" -v k="$2" '$1 == c { print $k }' "$RESULTS" | median; }

RILL_W=$(col "$BASE" 2); RILL_C=$(col "$BASE" 3); RILL_R=$(col "$BASE" 4)
echo
echo "### Download, $SIZE_MB MiB, 2^$PIECE_LOG2-byte pieces, seeded by aria2c + transmission on loopback, written to ${FS:-the work directory} ($(date -u +%Y-%m-%d), $(nproc) cores, median of $RUNS)"
echo
echo "| client | wall s | MiB/s | CPU user+sys s | peak RSS MiB | wall / $BASE | CPU / $BASE | RSS / $BASE | Cached + MiB | Dirty + MiB | file cached MiB | wasted MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for client in $CLIENTS; do
    W=$(col "$client" 2); C=$(col "$client" 3); R=$(col "$client" 4)
    DC=$(col "$client" 5); DD=$(col "$client" 6); FC=$(col "$client" 7)
    WA=$(awk -v c="$client" '$1 == c && $8 != "-" { print $8 }' "$RESULTS" | median)
    awk -v c="$client" -v w="$W" -v cpu="$C" -v r="$R" -v mb="$SIZE_MB" \
        -v rw="${RILL_W:-0}" -v rc="${RILL_C:-0}" -v rr="${RILL_R:-0}" -v dc="$DC" -v dd="$DD" -v fc="$FC" -v wa="$WA" '
        function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
        BEGIN { printf "| %s | %.1f | %.0f | %.1f | %.1f | %s | %s | %s | %d | %d | %d | %s |\n",
                c, w, (w > 0 ? mb / w : 0), cpu, r / 1024, ratio(w, rw), ratio(cpu, rc), ratio(r, rr), dc, dd, fc,
                (wa == "nan" ? "-" : wa) }'
done
echo
VERSIONS="$(aria2c --version | head -1)"
[ -n "${RILL_BIN:-}" ] && VERSIONS="$("$RILL_BIN" --version 2>/dev/null | head -1), $VERSIONS"
[ -n "$RQBIT" ] && VERSIONS="$VERSIONS, $("$RQBIT" --version 2>/dev/null | head -1)"
echo "Versions: $VERSIONS, $(transmission-daemon -V 2>&1 | head -1) (seeder)."

# --- cross-compiled binary sizes --------------------------------------------------------
SIZES=""
for triple in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    for bin in "$ROOT/target/cross/target/$triple/release/rill" "$ROOT/target/cross/$triple/release/rill" \
               "$ROOT/target/$triple/release/rill"; do
        [ -f "$bin" ] || continue
        copy="$WORK/rill-$triple"
        cp "$bin" "$copy"
        case $triple in
            aarch64*) strip_tool=aarch64-linux-gnu-strip ;;
            *) strip_tool=arm-linux-gnueabihf-strip ;;
        esac
        command -v "$strip_tool" >/dev/null && "$strip_tool" "$copy"
        SIZES="$SIZES| $triple | $(stat -c %s "$copy") |"$'\n'
        break
    done
done
if [ -n "$SIZES" ]; then
    echo
    echo "| target | stripped rill binary, bytes |"
    echo "|---|---:|"
    printf '%s' "$SIZES"
fi
