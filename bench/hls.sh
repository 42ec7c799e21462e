#!/usr/bin/env bash
# bench/hls.sh — the HLS issue's numbers: time to first segment (copy and
# re-encode) on partially downloaded files, CPU seconds per minute of
# output (copy vs re-encode), and the cost of storing a segment and of
# playlist/segment requests at small and large sizes.
#
# 1. Media made with ffmpeg: a 720p H.264 + AAC MP4 (copy mode; as ffmpeg
#    writes it, index at the end, and remuxed with +faststart) and an
#    MPEG-4 Part 2 + AC-3 Matroska file (re-encode mode), both
#    BENCH_DURATION s at about 3 Mbit/s; and two small H.264 MP4s with a
#    keyframe every 6 s whose playlists have 100 and 10,000 segments.
# 2. First segment: aria2c seeds the big file on loopback, limited to
#    BENCH_SEED_RATE, through a local opentracker (a fresh aria2c per run:
#    its limiter pays back a burst of the run before). For each run and mode a
#    fresh `rill serve` (new data directory) gets the torrent over the API;
#    the clock starts with the first master playlist request and stops when
#    segment 0 has been received whole (master, then media playlist, then
#    00000.ts, each one curl). The torrent's progress at that moment is
#    recorded (it shows the file was partial).
# 3. CPU: a second seeder, unlimited, serves everything to one `rill serve`;
#    once a file is complete its segments are asked for in order (one curl,
#    keep-alive, each request waits until ffmpeg made it) until the job has
#    made the whole file and exited. ffmpeg's CPU is the growth of rill's
#    cutime+cstime (/proc/PID/stat fields 16+17: CPU of children rill has
#    reaped) over that phase; rill's own is the growth of utime+stime.
#    Divided by the output minutes (the media duration).
# 4. Requests: the media playlist (plain, and gzip as browsers ask for it)
#    and 10 cached segments of the long files, asked BENCH_REQUESTS times
#    each over one keep-alive connection: the client's time (curl -w
#    %{time_total}, median; with gzip it includes curl inflating the
#    text) and rill's CPU per request (the growth of the schedstat run
#    time of all its threads, ns, divided by the requests).
# 5. In-process costs: `cargo test --release --test hls_costs -- --ignored`
#    (tests/hls_costs.rs): segment store with 1,000 vs 100,000 segments,
#    per-request route work at 100 vs 10,000 segments, one-time playlist
#    render and gzip.
#
# Usage: bench/hls.sh                 (from the repository root)
# Environment:
#   BENCH_RUNS=3            fresh runs per mode for the first segment
#   BENCH_DURATION=300      seconds of the two big files
#   BENCH_SEED_RATE=4M      aria2c --max-upload-limit for the first segment
#   BENCH_REQUESTS=1000     requests per request-cost measurement
#   BENCH_NET=127.79.0      loopback /24 used by every program
#   BENCH_DIR=...           work directory (default: new in /var/tmp)
#   BENCH_KEEP=1            keep it
#   BENCH_SKIP_COSTS=1      skip the in-process cargo test
#   BENCH_FIRST_ONLY=1      only the first-segment runs (1.)
#   BENCH_SKIP_FIRST=1      everything but the first-segment runs
#   RILL_BIN=...            rill binary (default: cargo build --release)
#
# Needs ffmpeg, ffprobe, aria2, mktorrent, opentracker, curl, python3.
# Prints markdown for docs/benchmarks.md on stdout, progress on stderr.

set -euo pipefail

RUNS=${BENCH_RUNS:-3}
DUR=${BENCH_DURATION:-300}
SEED_RATE=${BENCH_SEED_RATE:-4M}
REQS=${BENCH_REQUESTS:-1000}
NET=${BENCH_NET:-127.79.0}
BENCH_NAME=hls.sh
. "$(dirname "$0")/lib.sh"

TRACKER="$NET.1:6969"
SLOW_PEER="$NET.2"
FAST_PEER="$NET.3"
RILL_IP="$NET.10"
HTTP="http://$RILL_IP:18090"
TICK=$(getconf CLK_TCK)

need_tools "" ffmpeg ffprobe aria2c mktorrent opentracker curl python3
rill_bin

bench_workdir rill-hls
RILL_PID=""
bench_on_exit() { [ -z "$RILL_PID" ] || kill -9 "$RILL_PID" 2>/dev/null; }

now_ns() { date +%s%N; }
pct() { awk -v p="$1" 'BEGIN { printf "%.1f", 100 * p }'; }

# --- media ----------------------------------------------------------------------
MEDIA="$WORK/media"
mkdir -p "$MEDIA"
FF=(ffmpeg -hide_banner -loglevel error -y)
log "making ${DUR}s 720p H.264+AAC (copy.mp4)"
"${FF[@]}" -f lavfi -i "testsrc2=s=1280x720:r=25" -f lavfi -i "sine=f=440:sample_rate=48000" \
    -t "$DUR" -c:v libx264 -preset ultrafast -b:v 3M -maxrate 3M -bufsize 6M -g 50 \
    -c:a aac -b:a 128k -ac 2 "$MEDIA/copy.mp4"
log "making ${DUR}s 720p MPEG-4 Part 2+AC-3 (encode.mkv)"
"${FF[@]}" -f lavfi -i "testsrc2=s=1280x720:r=25" -f lavfi -i "sine=f=440:sample_rate=48000" \
    -t "$DUR" -c:v mpeg4 -b:v 3M -g 50 -c:a ac3 -b:a 192k -ac 2 "$MEDIA/encode.mkv"
log "remuxing it with the index first (copy-faststart.mp4)"
"${FF[@]}" -i "$MEDIA/copy.mp4" -c copy -movflags +faststart "$MEDIA/copy-faststart.mp4"
SEGS="100 10000"
[ "${BENCH_FIRST_ONLY:-}" = 1 ] && SEGS=""
LONG=""
for segs in $SEGS; do
    LONG="$LONG long$segs.mp4"
    log "making a ${segs}-segment H.264 MP4 (long$segs.mp4)"
    "${FF[@]}" -f lavfi -i "color=c=gray:s=64x64:r=2" -t "$((segs * 6))" \
        -c:v libx264 -preset ultrafast -g 12 -keyint_min 12 -sc_threshold 0 "$MEDIA/long$segs.mp4"
done

declare -A HASH
for f in copy.mp4 copy-faststart.mp4 encode.mkv $LONG; do
    mktorrent -l 18 -a "http://$TRACKER/announce" -o "$WORK/$f.torrent" "$MEDIA/$f" >/dev/null
    HASH[$f]=$(info_hash "$WORK/$f.torrent")
done
start_tracker "${HASH[@]}"

# seed ADDR PORT LIMIT FILE...: an aria2c seeder; prints its pid.
seed() {
    local addr=$1 port=$2 limit=$3; shift 3
    local args=(--enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false
                --disable-ipv6=true --interface="$addr" --listen-port="$port" -V --seed-ratio=0
                --summary-interval=0 --dir="$MEDIA" --max-upload-limit="$limit")
    for t in "$@"; do args+=("$WORK/$t.torrent"); done
    aria2c "${args[@]}" >"$WORK/aria2-$addr.log" 2>&1 &
    echo $!
}

# wait_seeded HASH PID: until the tracker lists a seeder of HASH (aria2c
# checks its files before it announces), as long as seeder PID runs.
wait_seeded() { wait_seeders "$1" 1 600 0.5 "$2"; }

# --- rill serve ---------------------------------------------------------------------
start_rill() {
    local data=$1 out="$WORK/serve.out"
    rm -rf "$data"; : >"$out"
    "$RILL_BIN" serve --data "$data" --listen "$RILL_IP:18090" --peer-listen "$RILL_IP:18091" \
        >"$out" 2>>"$WORK/serve.err" &
    RILL_PID=$!
    for _ in $(seq 1 2000); do
        grep -q '^rill serve:' "$out" && return 0
        kill -0 "$RILL_PID" 2>/dev/null || die "rill serve exited: $(tail -3 "$WORK/serve.err")"
        sleep 0.01
    done
    die "rill serve not ready"
}
stop_rill() { kill -TERM "$RILL_PID" 2>/dev/null || true; wait "$RILL_PID" 2>/dev/null || true; RILL_PID=""; }

add() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-bittorrent' \
        --data-binary @"$WORK/$1.torrent" "$HTTP/api/torrents")
    [ "$code" = 201 ] || die "adding $1 answered $code"
}
field() { curl -s "$HTTP/api/torrents/$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
progress() { field "$1" progress; }
bytes_done() { field "$1" bytes_done; }
wait_complete() {
    for _ in $(seq 1 1200); do
        [ "$(progress "$1")" = 1.0 ] && return 0
        sleep 0.5
    done
    die "torrent $1 did not complete"
}
# The variant's media playlist path of file 0 (from the master playlist).
variant_of() {
    local master
    master=$(curl -sf --max-time 120 "$HTTP/hls/$1/0/index.m3u8") || die "master playlist of $1 failed"
    grep -v '^#' <<<"$master" | grep -m1 '\.m3u8' | tr -d '\r'
}

# --- 1. first segment on a partial file --------------------------------------------------
FIRST_FILES="copy.mp4 copy-faststart.mp4 encode.mkv"
# A fresh seeder per run: aria2c's upload limit lets a new connection
# take a burst and then pays it back, so a seeder that served the run
# before sends far below the limit for seconds (0.3 MB/s instead of
# 4 MB/s was seen); each run gets the same fresh start instead.
fresh_seeder() {
    if [ -n "${SLOW:-}" ]; then
        kill "$SLOW" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SLOW" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SLOW" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SLOW" 2>/dev/null || break; sleep 0.1; done
    fi
    SLOW=$(seed "$SLOW_PEER" 51002 "$SEED_RATE" "$1")
    PIDS+=("$SLOW")
    for _ in $(seq 1 600); do
        grep -q 'Verification finished' "$WORK/aria2-$SLOW_PEER.log" 2>/dev/null && break
        sleep 0.1
    done
    wait_seeded "${HASH[$1]}" "$SLOW"
}
FIRST="$WORK/first.txt"
: >"$FIRST"
[ "${BENCH_SKIP_FIRST:-}" = 1 ] && RUNS=0
for run in $(seq 1 "$RUNS"); do
    for f in $FIRST_FILES; do
        h=${HASH[$f]}
        fresh_seeder "$f"
        start_rill "$WORK/data-first"
        add "$f"
        # "Partially downloaded": the first playlist is asked for once data
        # flows (this leaves out the connect, which aria2c answers only on its
        # ~1 s tick).
        for _ in $(seq 1 1500); do
            [ "$(bytes_done "$h")" -gt 0 ] && break
            sleep 0.02
        done
        p0=$(progress "$h")
        t0=$(now_ns)
        v=$(variant_of "$h")
        t1=$(now_ns)
        curl -sf --max-time 120 -o "$WORK/pl.m3u8" "$HTTP/hls/$h/0/$v" || die "media playlist $v failed"
        t2=$(now_ns)
        code=$(curl -s --max-time 120 -o "$WORK/seg0.ts" -w '%{http_code}' "$HTTP/hls/$h/0/${v%.m3u8}/00000.ts")
        t3=$(now_ns)
        [ "$code" = 200 ] || die "segment 0 of $f answered $code"
        p=$(progress "$h")
        secs=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$WORK/seg0.ts")
        echo "$f $(( (t3 - t0) / 1000000 )) $(( (t1 - t0) / 1000000 )) $(( (t2 - t1) / 1000000 )) $(( (t3 - t2) / 1000000 )) $(pct "$p0") $(pct "$p") $v $secs" >>"$FIRST"
        log "run $run $f: $(tail -1 "$FIRST")"
        stop_rill
    done
done
[ -n "${SLOW:-}" ] && { kill -9 "$SLOW" 2>/dev/null || true; }
if [ "${BENCH_FIRST_ONLY:-}" = 1 ]; then
    BENCH_SKIP_COSTS=1
    : >"$WORK/cpu.txt"
    : >"$WORK/req.txt"
else

# --- 2. CPU per minute of output, and 3. request costs ------------------------------------
FAST=$(seed "$FAST_PEER" 51003 0 copy.mp4 encode.mkv long100.mp4 long10000.mp4)
PIDS+=("$FAST")
wait_seeded "${HASH[long10000.mp4]}" "$FAST"
start_rill "$WORK/data-cpu"
for f in copy.mp4 encode.mkv long100.mp4 long10000.mp4; do add "$f"; done
for f in copy.mp4 encode.mkv long100.mp4 long10000.mp4; do wait_complete "${HASH[$f]}"; done
log "all four files complete"

stat_of() { awk -v p="$2" '{ print p ? $16 + $17 : $14 + $15 }' "/proc/$1/stat"; }
ffmpeg_children() { pgrep -P "$RILL_PID" -x ffmpeg || true; }
CPU="$WORK/cpu.txt"
: >"$CPU"
for f in copy.mp4 encode.mkv; do
    h=${HASH[$f]}
    v=$(variant_of "$h")
    pl=$(curl -sf "$HTTP/hls/$h/0/$v")
    n=$(grep -c '^#EXTINF' <<<"$pl")
    for _ in $(seq 1 100); do [ -z "$(ffmpeg_children)" ] && break; sleep 0.2; done
    c0=$(stat_of "$RILL_PID" 1); s0=$(stat_of "$RILL_PID" 0); t0=$(now_ns)
    args=()
    for i in $(seq 0 $((n - 1))); do args+=(-o /dev/null "$HTTP/hls/$h/0/${v%.m3u8}/$(printf %05d "$i").ts"); done
    codes=$(curl -s --max-time 3600 -w '%{http_code}\n' "${args[@]}" | sort | uniq -c | tr '\n' ' ')
    for _ in $(seq 1 300); do [ -z "$(ffmpeg_children)" ] && break; sleep 0.2; done
    t1=$(now_ns); c1=$(stat_of "$RILL_PID" 1); s1=$(stat_of "$RILL_PID" 0)
    echo "$f $n $(( (t1 - t0) / 1000000 )) $((c1 - c0)) $((s1 - s0)) $v" >>"$CPU"
    log "$f: $n segments, answers: $codes; $(tail -1 "$CPU")"
done

REQ="$WORK/req.txt"
: >"$REQ"
# rill's CPU time so far, ns (all threads; schedstat's first field).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s }'; }
# Wait (at most 30 s) until rill is idle: under 1 ms of CPU in 200 ms, so
# no HLS job still making segments ahead is counted.
quiet() {
    local a b
    for _ in $(seq 1 150); do
        a=$(cpu_ns "$RILL_PID"); sleep 0.2; b=$(cpu_ns "$RILL_PID")
        [ $((b - a)) -lt 1000000 ] && return 0
    done
    log "rill did not go idle; measuring anyway"
}
# Ask for the URLs of file $1 in turn, BENCH_REQUESTS in all, over one
# keep-alive connection (extra curl arguments after it): the median time
# per request (ms) and rill's CPU per request (us).
hammer() {
    local list=$1 cfg="$WORK/curl.cfg" c0 c1 med
    shift
    mapfile -t urls <"$list"
    : >"$cfg"
    for k in $(seq 0 $((REQS - 1))); do
        printf 'url = "%s"\noutput = "/dev/null"\n' "${urls[$((k % ${#urls[@]}))]}" >>"$cfg"
    done
    quiet
    c0=$(cpu_ns "$RILL_PID")
    med=$(curl -s "$@" -K "$cfg" -w '%{time_total}\n' | median)
    c1=$(cpu_ns "$RILL_PID")
    awk -v m="$med" -v c=$((c1 - c0)) -v n="$REQS" 'BEGIN { printf "%.3f %.1f\n", m * 1000, c / n / 1000 }'
}
for f in long100.mp4 long10000.mp4; do
    h=${HASH[$f]}
    v=$(variant_of "$h")
    pl_url="$HTTP/hls/$h/0/$v"
    n=$(curl -sf "$pl_url" | grep -c '^#EXTINF')
    bytes=$(curl -sf "$pl_url" | wc -c)
    wire=$(curl -sf -H 'Accept-Encoding: gzip' "$pl_url" | wc -c)
    mid=$((n / 2))
    echo "$pl_url" >"$WORK/pl.list"
    : >"$WORK/seg.list"
    for i in $(seq "$mid" $((mid + 9))); do echo "$HTTP/hls/$h/0/${v%.m3u8}/$(printf %05d "$i").ts" >>"$WORK/seg.list"; done
    while read -r u; do curl -sf -o /dev/null --max-time 120 "$u" || die "segment $u failed"; done <"$WORK/seg.list"
    sbytes=$(curl -sf "$(head -1 "$WORK/seg.list")" | wc -c)
    plain=$(hammer "$WORK/pl.list")
    gz=$(hammer "$WORK/pl.list" --compressed)
    seg=$(hammer "$WORK/seg.list")
    echo "$f $n $bytes $wire $plain $gz $seg $sbytes" >>"$REQ"
    log "$f: $(tail -1 "$REQ")"
done
stop_rill
fi

# --- 4. in-process costs -----------------------------------------------------------------------
COSTS="$WORK/costs.txt"
: >"$COSTS"
if [ "${BENCH_SKIP_COSTS:-}" != 1 ]; then
    log "in-process costs (cargo test --release --test hls_costs)"
    (cd "$ROOT" && cargo test --release --locked -q --test hls_costs -- --ignored --nocapture 2>/dev/null) \
        | awk '$1 == "RESULT" { print $2, $3, $4 }' >"$COSTS"
fi

# --- report --------------------------------------------------------------------------------------
col() { awk -v f="$1" -v k="$3" '$1 == f { print $k }' "$2" | median; }
cost() { awk -v w="$1" -v n="$2" '$1 == w && $2 == n { print $3 }' "$COSTS"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

if [ -s "$FIRST" ]; then
echo
echo "First segment on a partial file, seeder at $SEED_RATE/s (median of $RUNS fresh runs, ms):"
echo
echo "| mode | file | master playlist | media playlist | segment 0 | total | % done at request | % done at segment 0 | segment 0 s |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for f in $FIRST_FILES; do
    case $f in encode.mkv) mode=re-encode ;; copy.mp4) mode="copy, index at the end" ;; *) mode="copy, index first" ;; esac
    echo "| $mode ($(awk -v f="$f" '$1 == f { print $8; exit }' "$FIRST")) | $f | $(col "$f" "$FIRST" 3) | $(col "$f" "$FIRST" 4) | $(col "$f" "$FIRST" 5) | $(col "$f" "$FIRST" 2) | $(col "$f" "$FIRST" 6) | $(col "$f" "$FIRST" 7) | $(col "$f" "$FIRST" 9) |"
done
echo
echo '```'
cat "$FIRST"
echo '```'
fi
if [ -s "$WORK/cpu.txt" ]; then
echo
echo "CPU per minute of output (whole file, ${DUR} s, complete on disk, read through the loopback source):"
echo
echo "| mode | segments | wall s | ffmpeg CPU s | ffmpeg CPU s / output min | % of one core at real time | rill CPU s / output min |"
echo "|---|---:|---:|---:|---:|---:|---:|"
while read -r f n wall cc sc v; do
    mode=copy; [ "$f" = encode.mkv ] && mode=re-encode
    awk -v m="$mode ($v)" -v n="$n" -v w="$wall" -v c="$cc" -v s="$sc" -v t="$TICK" -v d="$DUR" 'BEGIN {
        printf "| %s | %d | %.1f | %.2f | %.2f | %.1f%% | %.3f |\n", m, n, w / 1000, c / t, c / t / (d / 60), 100 * c / t / d, s / t / (d / 60) }'
done <"$CPU"
echo
echo "Requests over one keep-alive connection ($REQS each): median time per request seen by curl (ms), and rill's CPU per request (µs, all threads):"
echo
echo "| file | segments | playlist bytes: text / gzip | playlist ms: plain / gzip | segment ms | rill µs per playlist: plain / gzip | rill µs per segment | segment bytes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
while read -r f n b w pm pc gm gc sm sc sb; do
    echo "| $f | $n | $b / $w | $pm / $gm | $sm | $pc / $gc | $sc | $sb |"
done <"$REQ"
r() { awk -v row="$1" -v k="$2" 'NR == row { print $k }' "$REQ"; }
echo
echo "Ratios 10,000 / 100 segments: client time: playlist plain $(ratio "$(r 2 5)" "$(r 1 5)"), gzip $(ratio "$(r 2 7)" "$(r 1 7)"), segment $(ratio "$(r 2 9)" "$(r 1 9)"); rill CPU: playlist plain $(ratio "$(r 2 6)" "$(r 1 6)"), gzip $(ratio "$(r 2 8)" "$(r 1 8)"), segment $(ratio "$(r 2 10)" "$(r 1 10)")."
fi
if [ -s "$COSTS" ]; then
    echo
    echo "In-process (tests/hls_costs.rs, median ns per operation):"
    echo
    echo "| operation | small | large | large / small |"
    echo "|---|---:|---:|---:|"
    for w in store_memory store_files; do
        a=$(cost "$w" 1000); b=$(cost "$w" 100000)
        echo "| $w: insert into a full cache, 1,000 vs 100,000 segments | $a | $b | $(ratio "$b" "$a") |"
    done
    for w in playlist_share segment_lookup playlist_render playlist_gzip; do
        a=$(cost "$w" 100); b=$(cost "$w" 10000)
        echo "| $w: 100 vs 10,000 segments | $a | $b | $(ratio "$b" "$a") |"
    done
fi
echo
echo "($(date -u +%Y-%m-%d), $("$RILL_BIN" --version 2>/dev/null | head -1), $(ffmpeg -version | head -1 | cut -d' ' -f1-3), $(aria2c --version | head -1), $(nproc) cores)"
