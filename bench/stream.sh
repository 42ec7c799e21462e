#!/usr/bin/env bash
# bench/stream.sh — streaming benchmark: time to first byte, rill against rqbit.
#
# Generates two files (1 GiB each by default) in one folder, makes a torrent
# of the folder (1 MiB pieces), seeds it with qbittorrent-nox (libtorrent)
# and aria2c through opentracker, all on loopback. (qbittorrent-nox answers
# a handshake and unchokes at once; aria2c answers handshakes only on its
# ~1 s internal tick, which alone would decide a first byte measured right
# after the add.) Then, N times, interleaved (rill, rqbit, rill, ...), each
# client starts with an empty data directory and is timed (in Python, no
# process start inside a measurement) for
#   1. "offset 0": from sending the .torrent to its HTTP API (metadata known,
#      no data) until the first BENCH_READ_KB KiB of file 0 have arrived over
#      HTTP (the GET is repeated every 5 ms while the client answers with an
#      error; neither client does once the add is answered);
#   2. "after seek": right after that, a GET of BENCH_READ_KB KiB at a
#      random offset of file 0 (the same offsets for both clients), peers
#      now connected, until those bytes have arrived.
# The whole small range is timed, not the first response byte: rqbit sends
# its 206 headers before it has the data, rill only once the piece is
# verified. Every answer is compared with the source. Then, once per
# client, both files are streamed at once at a limited rate for
# BENCH_RSS_SECS seconds and the client's peak RSS (VmHWM) is read from
# /proc. Prints a markdown table (medians, ratios) ready for
# docs/benchmarks.md.
#
# Usage: bench/stream.sh            (from the repository root)
# Environment:
#   BENCH_SIZE_MB=1024     size of each of the two files
#   BENCH_RUNS=5           measurements per client
#   BENCH_CLIENTS="rill rqbit"
#   BENCH_PIECE_LOG2=20    piece size 2^n (mktorrent -l), 1 MiB
#   BENCH_QBT=2            qbittorrent-nox seeders (each on its own address)
#   BENCH_ARIA2=1          aria2c seeders
#   BENCH_READ_KB=64       bytes read per request, KiB
#   BENCH_SEED_RATE=0      upload limit of every seeder, bytes/s (0: none)
#   BENCH_SEEK_AFTER=0     seconds between the offset-0 read and the seek
#                          (with a few seconds, the seek meets full request
#                          queues at the seeders, as in a player that plays)
#   BENCH_RSS_SECS=20      how long the two-stream RSS test streams
#   BENCH_RSS_RATE=2M      curl --limit-rate per stream in the RSS test
#   BENCH_BOARD=           rill --board (default: detected)
#   BENCH_NET=127.91.0     loopback /24 prefix used for every program
#   BENCH_DIR=...          work directory (default: a new one in /var/tmp)
#   BENCH_KEEP=1           keep the work directory
#   BENCH_CACHE=~/.cache/rill-bench   where rqbit is installed if missing
#   RILL_BIN=...           rill binary (default: cargo build --release)
#
# Not for CI: it moves gigabytes and wants a quiet machine.

set -euo pipefail

SIZE_MB=${BENCH_SIZE_MB:-1024}
RUNS=${BENCH_RUNS:-5}
CLIENTS=${BENCH_CLIENTS:-"rill rqbit"}
PIECE_LOG2=${BENCH_PIECE_LOG2:-20}
QBT=${BENCH_QBT:-2}
ARIA2=${BENCH_ARIA2:-1}
SEEDERS=$((QBT + ARIA2))
READ_KB=${BENCH_READ_KB:-64}
SEED_RATE=${BENCH_SEED_RATE:-0}
SEEK_AFTER=${BENCH_SEEK_AFTER:-0}
RSS_SECS=${BENCH_RSS_SECS:-20}
RSS_RATE=${BENCH_RSS_RATE:-2M}
BOARD=${BENCH_BOARD:-}
NET=${BENCH_NET:-127.91.0}
BENCH_NAME=stream.sh
. "$(dirname "$0")/lib.sh"

TRACKER="$NET.1:6969"
LEECH_IP="$NET.10"          # both clients take peers on the same address,
LEECH_PORT=51010            # so the tracker's peer list does not grow
HTTP_RILL="$NET.20:8080"
HTTP_RQBIT="$NET.21:3030"
NAME="stream-${SIZE_MB}MiB"
FILE_BYTES=$((SIZE_MB * 1024 * 1024))
READ_BYTES=$((READ_KB * 1024))

need_tools "Debian packages: opentracker aria2 qbittorrent-nox mktorrent curl python3" \
    opentracker aria2c qbittorrent-nox mktorrent curl python3
[ "$FILE_BYTES" -gt "$READ_BYTES" ] || die "BENCH_SIZE_MB is too small for BENCH_READ_KB"

# --- work directory and cleanup ---------------------------------------------
bench_workdir rill-stream
CLIENT_PID=""
bench_on_exit() { [ -z "$CLIENT_PID" ] || kill -9 "$CLIENT_PID" 2>/dev/null; }

# --- the clients ---------------------------------------------------------------
case " $CLIENTS " in *" rill "*)
    rill_bin
    ;;
esac

RQBIT=""
case " $CLIENTS " in *" rqbit "*)
    rqbit_bin
    ;;
esac

# --- data, torrent, tracker, seeders -------------------------------------------
SEED="$WORK/seed"
mkdir -p "$SEED/$NAME"
log "generating 2 x $SIZE_MB MiB"
head -c "$FILE_BYTES" /dev/urandom >"$SEED/$NAME/a.bin"
head -c "$FILE_BYTES" /dev/urandom >"$SEED/$NAME/b.bin"
TORRENT="$WORK/$NAME.torrent"
mktorrent -l "$PIECE_LOG2" -a "http://$TRACKER/announce" -o "$TORRENT" "$SEED/$NAME" >/dev/null
# The info hash, and the order of the files in the torrent (a.bin is not
# necessarily file 0).
read -r HASH FILE0 < <(python3 - "$TORRENT" <<'EOF'
import hashlib, sys
d = open(sys.argv[1], 'rb').read()
def parse(i):
    c = d[i:i+1]
    if c == b'i':
        e = d.index(b'e', i); return int(d[i+1:e]), e + 1
    if c == b'l':
        i += 1; out = []
        while d[i:i+1] != b'e':
            v, i = parse(i); out.append(v)
        return out, i + 1
    if c == b'd':
        i += 1; out = {}
        while d[i:i+1] != b'e':
            k, i = parse(i); v0 = i; v, i = parse(i); out[k] = v
            if k == b'info': out[b'__raw'] = d[v0:i]
        return out, i + 1
    colon = d.index(b':', i); n = int(d[i:colon])
    return d[colon+1:colon+1+n], colon + 1 + n
top, _ = parse(0)
print(hashlib.sha1(top[b'__raw']).hexdigest(), b'/'.join(top[b'info'][b'files'][0][b'path']).decode())
EOF
)
[ -n "$HASH" ] || die "cannot compute the info hash"
SRC0="$SEED/$NAME/$FILE0"

start_tracker "$HASH"

# Seeder n listens on $NET.(n+1):(51000+n).
for s in $(seq "$QBT"); do
    profile="$WORK/qbt-$s"
    mkdir -p "$profile/qBittorrent/config"
    cat >"$profile/qBittorrent/config/qBittorrent.conf" <<EOF
[LegalNotice]
Accepted=true

[BitTorrent]
Session\\InterfaceAddress=$NET.$((s + 1))
Session\\Port=$((51000 + s))
Session\\DHTEnabled=false
Session\\LSDEnabled=false
Session\\PeXEnabled=false
Session\\AddTorrentPaused=false
Session\\QueueingSystemEnabled=false
Session\\GlobalMaxRatio=-1

[Network]
PortForwardingEnabled=false

[Preferences]
Connection\\ResolvePeerCountries=false
WebUI\\Address=$NET.$((s + 1))
WebUI\\Port=8090
WebUI\\LocalHostAuth=false
WebUI\\CSRFProtection=false
WebUI\\HostHeaderValidation=false
EOF
    qbittorrent-nox --profile="$profile" --webui-port=8090 >"$WORK/qbt-$s.log" 2>&1 &
    PIDS+=($!)
    api="http://$NET.$((s + 1)):8090/api/v2"
    for _ in $(seq 100); do curl -sf -o /dev/null "$api/app/version" && break; sleep 0.2; done
    curl -sf -F torrents=@"$TORRENT" -F savepath="$SEED" "$api/torrents/add" >/dev/null ||
        die "qbittorrent-nox $s did not take the torrent (see $WORK/qbt-$s.log)"
    curl -sf -d limit="$SEED_RATE" "$api/transfer/setUploadLimit" >/dev/null ||
        die "qbittorrent-nox $s did not take the upload limit"
done
for s in $(seq "$((QBT + 1))" "$SEEDERS"); do
    aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false \
        --disable-ipv6=true --interface="$NET.$((s + 1))" --listen-port=$((51000 + s)) -V --seed-ratio=0 \
        --max-upload-limit="$SEED_RATE" --summary-interval=0 --dir="$SEED" "$TORRENT" \
        >"$WORK/aria2-seed-$s.log" 2>&1 &
    PIDS+=($!)
done

log "waiting for $SEEDERS seeders (they check 2 x $SIZE_MB MiB first)"
wait_seeders "$HASH" "$SEEDERS" 300 1 "${PIDS[@]}"

# --- starting a client, adding the torrent, stream URLs --------------------------
# start_client CLIENT DIR: starts it on a fresh data directory, sets
# CLIENT_PID, waits for its HTTP API.
start_client() {
    local client=$1 dir=$2
    rm -rf "$dir"; mkdir -p "$dir"
    case $client in
        rill)
            local board=()
            [ -n "$BOARD" ] && board=(--board "$BOARD")
            "$RILL_BIN" serve --listen "$HTTP_RILL" --data "$dir" --peer-listen "$LEECH_IP:$LEECH_PORT" \
                "${board[@]}" >"$dir.log" 2>&1 &
            CLIENT_PID=$!
            BASE="http://$HTTP_RILL"
            PROBE="$BASE/api/torrents"
            ;;
        rqbit)
            RQBIT_LOG_LEVEL_CONSOLE=warn "$RQBIT" --disable-dht --disable-dht-persistence --disable-upnp-port-forward \
                --disable-lsd --ipv4-only --listen-ip "$LEECH_IP" --listen-port "$LEECH_PORT" \
                --http-api-listen-addr "$HTTP_RQBIT" server start --disable-persistence "$dir" \
                >"$dir.log" 2>&1 &
            CLIENT_PID=$!
            BASE="http://$HTTP_RQBIT"
            PROBE="$BASE/torrents"
            ;;
        *) die "unknown client $client" ;;
    esac
    for _ in $(seq 300); do
        curl -sf -o /dev/null "$PROBE" && return 0
        kill -0 "$CLIENT_PID" 2>/dev/null || { tail -20 "$dir.log" >&2; die "$client exited at start"; }
        sleep 0.05
    done
    die "$client did not answer on $PROBE"
}

stop_client() {
    kill -9 "$CLIENT_PID" 2>/dev/null || true
    wait "$CLIENT_PID" 2>/dev/null || true
    CLIENT_PID=""
}

# add_torrent CLIENT: adds it, waits until the client can stream it, sets
# STREAM0 and STREAM1 (URLs of files 0 and 1). For the RSS test.
add_torrent() {
    local client=$1 out
    case $client in
        rill)
            curl -sf -o /dev/null -H 'Content-Type: application/x-bittorrent' --data-binary @"$TORRENT" \
                "$BASE/api/torrents" || die "rill refused the torrent"
            STREAM0="$BASE/stream/$HASH/0"; STREAM1="$BASE/stream/$HASH/1"
            ;;
        rqbit)
            out=$(curl -sf -H 'Content-Type: application/x-bittorrent' --data-binary @"$TORRENT" \
                "$BASE/torrents?overwrite=true") || die "rqbit refused the torrent"
            local id
            id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$out")
            STREAM0="$BASE/torrents/$id/stream/0"; STREAM1="$BASE/torrents/$id/stream/1"
            ;;
    esac
    for _ in $(seq 1000); do
        curl -sf -r 0-0 -o /dev/null "$STREAM0" && curl -sf -r 0-0 -o /dev/null "$STREAM1" && return 0
        sleep 0.01
    done
    die "$client: files not streamable after 10 s"
}

# measure CLIENT OFFSET: the timed part, in Python so that no process start
# is inside a measurement. Adds the torrent, then asks for the first
# READ_BYTES of file 0 until the client serves them (an error status is
# retried every 5 ms); the time
# from sending the add to holding those bytes is "offset 0". Then it asks for
# READ_BYTES at OFFSET (SEEK_AFTER seconds later): "after seek". Both are
# checked against the source.
# Prints "offset0_s seek_s".
measure() {
    python3 - "$1" "$BASE" "$TORRENT" "$HASH" "$SRC0" "$READ_BYTES" "$2" "$SEEK_AFTER" <<'EOF'
import http.client, json, sys, time, urllib.parse
client, base, torrent, ih, src, n, off, pause = sys.argv[1:9]
n, off, pause = int(n), int(off), float(pause)
u = urllib.parse.urlsplit(base)
body = open(torrent, 'rb').read()
want0 = open(src, 'rb').read(n)
with open(src, 'rb') as f:
    f.seek(off)
    want1 = f.read(n)

def req(method, path, data=None, headers=None, timeout=60):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request(method, path, body=data, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()

def get_range(path, start):
    return req('GET', path, headers={'Range': 'bytes=%d-%d' % (start, start + n - 1)})

t_add = time.perf_counter()
st, out = req('POST', '/api/torrents' if client == 'rill' else '/torrents?overwrite=true',
              body, {'Content-Type': 'application/x-bittorrent'})
if st not in (200, 201, 202):
    sys.exit('%s refused the torrent: %d %r' % (client, st, out[:200]))
path = '/stream/%s/0' % ih if client == 'rill' else '/torrents/%s/stream/0' % json.loads(out)['id']
deadline = t_add + 60
while True:
    st, got = get_range(path, 0)
    if st == 206:
        break
    if time.perf_counter() > deadline:
        sys.exit('%s: no 206 for offset 0 within 60 s (last status %d)' % (client, st))
    time.sleep(0.005)
t0 = time.perf_counter() - t_add
if got != want0:
    sys.exit('%s: offset 0: bytes differ from the source' % client)
time.sleep(pause)
t_seek = time.perf_counter()
st, got = get_range(path, off)
t1 = time.perf_counter() - t_seek
if st != 206 or got != want1:
    sys.exit('%s: offset %d: status %d or bytes differ from the source' % (client, off, st))
print('%.6f %.6f' % (t0, t1))
EOF
}

# --- the runs ---------------------------------------------------------------------
RESULTS="$WORK/results.txt"
: >"$RESULTS"
OFFSETS=()
for run in $(seq "$RUNS"); do
    OFFSETS+=("$(python3 -c "import random; print(random.randrange($FILE_BYTES - $READ_BYTES))")")
done

for run in $(seq "$RUNS"); do
    for client in $CLIENTS; do
        off=${OFFSETS[$((run - 1))]}
        log "run $run: $client (seek to $off)"
        start_client "$client" "$WORK/$client-data"
        times=$(measure "$client" "$off") || die "$client run $run failed (BENCH_KEEP=1 keeps $WORK/$client-data.log)"
        stop_client
        echo "$client $times" >>"$RESULTS"
    done
done

# --- peak RSS while two files stream ------------------------------------------------
RSS="$WORK/rss.txt"
: >"$RSS"
for client in $CLIENTS; do
    log "RSS: $client streams both files at $RSS_RATE/s each for $RSS_SECS s"
    start_client "$client" "$WORK/$client-data"
    add_torrent "$client"
    curl -s --max-time "$RSS_SECS" --limit-rate "$RSS_RATE" -o /dev/null "$STREAM0" &
    c0=$!
    curl -s --max-time "$RSS_SECS" --limit-rate "$RSS_RATE" -o /dev/null "$STREAM1" &
    c1=$!
    wait "$c0" "$c1" || true    # curl ends with 28 (timeout) by design
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$CLIENT_PID/status")
    stop_client
    echo "$client $hwm" >>"$RSS"
done

# --- report ---------------------------------------------------------------------------
col() { awk -v c="$1" -v k="$2" '$1 == c { print $k }' "$RESULTS" | median; }
rss() { awk -v c="$1" '$1 == c { print $2 }' "$RSS"; }

RILL0=$(col rill 2); RILL1=$(col rill 3)
echo
echo "### Streaming TTFB, 2 x $SIZE_MB MiB, 2^$PIECE_LOG2-byte pieces, $QBT qbittorrent-nox + $ARIA2 aria2c seeders on loopback ($(date -u +%Y-%m-%d), $(nproc) cores, median of $RUNS)"
echo
echo "Time until the first $READ_KB KiB have arrived, ms (offset 0: from the add); ratio = client / rill."
echo
echo "| client | offset 0 ms | after seek ms | offset 0 / rill | seek / rill | peak RSS MiB, 2 streams |"
echo "|---|---:|---:|---:|---:|---:|"
for client in $CLIENTS; do
    A=$(col "$client" 2); B=$(col "$client" 3); R=$(rss "$client")
    awk -v c="$client" -v a="$A" -v b="$B" -v r="${R:-0}" -v ra="${RILL0:-0}" -v rb="${RILL1:-0}" '
        function ratio(x, y) { return y > 0 ? sprintf("%.2f", x / y) : "-" }
        BEGIN { printf "| %s | %.0f | %.0f | %s | %s | %.1f |\n",
                c, a * 1000, b * 1000, ratio(a, ra), ratio(b, rb), r / 1024 }'
done
echo
echo "Every measurement (client, offset 0 s, after seek s):"
echo
echo '```'
cat "$RESULTS"
echo '```'
echo
VERSIONS="qBittorrent $(qbittorrent-nox --version 2>/dev/null | awk '{print $2}'), $(aria2c --version | head -1) (seeders)"
[ -n "${RILL_BIN:-}" ] && VERSIONS="$("$RILL_BIN" --version 2>/dev/null | head -1 || echo rill), $VERSIONS"
[ -n "$RQBIT" ] && VERSIONS="$VERSIONS, $("$RQBIT" --version 2>/dev/null | head -1)"
LIMITS=""
[ "$SEED_RATE" != 0 ] && LIMITS=" Seeders limited to $SEED_RATE bytes/s each."
[ "$SEEK_AFTER" != 0 ] && LIMITS="$LIMITS Seek $SEEK_AFTER s after the offset-0 read."
echo "Versions: $VERSIONS. RSS test: both files streamed at $RSS_RATE/s each for $RSS_SECS s${BOARD:+, rill --board $BOARD}.$LIMITS"
