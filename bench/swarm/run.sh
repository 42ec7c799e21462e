#!/usr/bin/env bash
# bench/swarm/run.sh — what a viewer feels: a player model against rill,
# rqbit and webtorrent in a swarm that looks like the internet.
#
# Builds everything in network namespaces it makes (names rillsw-PID-*,
# removed on every exit path), nothing outside them: a hub namespace with a
# bridge and opentracker, one namespace per peer joined to the bridge by a
# veth pair, and one for the client under test. Each peer's upload is
# limited by TBF on its veth (rates spread geometrically between 100 KB/s
# and 4 MB/s, scaled so they add up to SWARM_CAPACITY x the media bitrate).
# Peers are qbittorrent-nox, transmission-daemon, rill and aria2c seeders;
# SWARM_PARTIAL aria2c peers hold only part of the file (a hole of 40%,
# downloading at 1 KB/s, so they stay partial); SWARM_SLOW aria2c seeders
# sit behind bench/swarm/relay.py, which holds every chunk SWARM_DELAY_MS
# (no netem on this kernel); SWARM_CHURN peers are killed every
# SWARM_CHURN_PERIOD s and restarted SWARM_CHURN_DOWN s later. The file is
# random bytes (a single-file torrent): the player model plays bytes at a
# bitrate, it decodes nothing.
#
# For each session and client (interleaved), the client starts empty in its
# namespace, the torrent is added, and bench/swarm/player.py plays its
# stream for SWARM_DURATION s with seeks at 25% (forward 20% of the file),
# 50% (back 10%) and 75% (to 90%) of the session. Startup is timed from
# the player's first request, right after the add. Bytes downloaded are the
# client namespace's veth rx bytes (all protocol overhead included). CPU is
# the client's utime+stime over the session.
#
# Usage (as root, from anywhere):  bench/swarm/run.sh
# Environment (defaults: the small run, a few minutes):
#   SWARM_CLIENTS="rill rqbit webtorrent"   missing ones are skipped (said so)
#   SWARM_PEERS=6           peers (big setting: 30)
#   SWARM_SLOW=1            of them behind the delaying relay (big: 4)
#   SWARM_PARTIAL=1         of them partial (big: 6)
#   SWARM_CHURN=1           of them killed and restarted (big: 6)
#   SWARM_CAPACITY=2        total peer upload / media bitrate (1.2, 2, 4)
#   SWARM_BITRATE=8000000   media bitrate, bit/s (3000000: 720p)
#   SWARM_DURATION=60       session length, s (issue: 600)
#   SWARM_SESSIONS=1        sessions per client (issue: 5)
#   SWARM_SIZE_MB=128       file size (big: 4096)
#   SWARM_PIECE_LOG2=20     piece size 2^n
#   SWARM_DELAY_MS=300      relay delay each way
#   SWARM_CHURN_PERIOD=20   SWARM_CHURN_DOWN=8   seconds
#   SWARM_MIN_RATE=100000  SWARM_MAX_RATE=4000000   bounds of a peer's rate, B/s
#                           (n peers need n x MIN_RATE <= capacity: at 8 Mbit/s
#                           and 2x, 20 peers all sit at 100 KB/s; lower it for
#                           30 peers at 1.2x, or the script says it cannot)
#   SWARM_START_S=2  SWARM_LOW_S=10  SWARM_HIGH_S=30   player buffer (s)
#   SWARM_DIR=...           work directory (default: new one in /var/tmp)
#   SWARM_KEEP=1            keep it (logs of every peer)
#   SWARM_JSON=FILE         also write every session's JSON lines there
#   BENCH_CACHE=~/.cache/rill-bench   rqbit (bin/rqbit), webtorrent-cli 4 (webtorrent/,
#                           npm-installed there when missing)
#   RQBIT=/opt/rqbit/bin/rqbit  RILL_BIN=... (default: cargo build --release)
#   RILL_BASE_BIN=...       a second rill binary, client "rill-base" (before/after
#                           a change on the same swarm in the same run, e.g.
#                           SWARM_CLIENTS="rill-base rill webtorrent")
# The big run the issue asks for:
#   SWARM_PEERS=30 SWARM_SLOW=4 SWARM_PARTIAL=6 SWARM_CHURN=6 SWARM_SIZE_MB=4096 \
#   SWARM_DURATION=600 SWARM_SESSIONS=5 SWARM_CAPACITY=2 bench/swarm/run.sh

set -euo pipefail

CLIENTS=${SWARM_CLIENTS:-"rill rqbit webtorrent"}
PEERS=${SWARM_PEERS:-6}
SLOW=${SWARM_SLOW:-1}
PARTIAL=${SWARM_PARTIAL:-1}
CHURN=${SWARM_CHURN:-1}
CAPACITY=${SWARM_CAPACITY:-2}
BITRATE=${SWARM_BITRATE:-8000000}
DURATION=${SWARM_DURATION:-60}
SESSIONS=${SWARM_SESSIONS:-1}
SIZE_MB=${SWARM_SIZE_MB:-128}
PIECE_LOG2=${SWARM_PIECE_LOG2:-20}
DELAY_MS=${SWARM_DELAY_MS:-300}
CHURN_PERIOD=${SWARM_CHURN_PERIOD:-20}
CHURN_DOWN=${SWARM_CHURN_DOWN:-8}
MIN_RATE=${SWARM_MIN_RATE:-100000}
MAX_RATE=${SWARM_MAX_RATE:-4000000}
START_S=${SWARM_START_S:-2}
LOW_S=${SWARM_LOW_S:-10}
HIGH_S=${SWARM_HIGH_S:-30}
CACHE=${BENCH_CACHE:-$HOME/.cache/rill-bench}
HERE=$(cd "$(dirname "$0")" && pwd)
# info_hash (and ROOT) from the shared bench lib; die/log are ours below.
BENCH_NAME=swarm
. "$HERE/../lib.sh"

PFX="rillsw-$$"
HUB="$PFX-hub"
CLIENT_NS="$PFX-client"
NET=10.231.0
TRACKER_IP="$NET.1"
CLIENT_IP="$NET.200"
TRACKER="http://$TRACKER_IP:6969/announce"

die() { echo "swarm: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root (ip netns, tc)"
for tool in ip tc opentracker aria2c qbittorrent-nox transmission-daemon transmission-remote mktorrent curl python3; do
    command -v "$tool" >/dev/null || die "missing $tool (Debian: iproute2 opentracker aria2 qbittorrent-nox transmission-daemon transmission-cli mktorrent curl python3)"
done
[ "$PEERS" -gt $((SLOW + PARTIAL)) ] || die "SWARM_PEERS must exceed SWARM_SLOW + SWARM_PARTIAL"
[ "$PEERS" -le 150 ] || die "SWARM_PEERS at most 150 (addresses $NET.11-160)"

# --- cleanup: every process in our namespaces, then the namespaces ----------
WORK=${SWARM_DIR:-$(mktemp -d /var/tmp/rill-swarm.XXXXXX)}
mkdir -p "$WORK"
CHURN_PID=""
cleanup() {
    set +e
    exec 3>&2 2>/dev/null  # no job-control notices for the kills below
    [ -n "$CHURN_PID" ] && kill -9 "$CHURN_PID" 2>/dev/null
    for ns in $(ip netns list | awk -v p="$PFX-" 'index($1, p) == 1 { print $1 }'); do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    done
    { wait; } 2>/dev/null
    for ns in $(ip netns list | awk -v p="$PFX-" 'index($1, p) == 1 { print $1 }'); do
        ip netns del "$ns" 2>/dev/null
    done
    if [ "${SWARM_KEEP:-}" = 1 ]; then log "kept $WORK" 2>&3; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the clients under test (a missing one is skipped) ------------------------
RUN_CLIENTS=""
for c in $CLIENTS; do
    case $c in
        rill)
            if [ -z "${RILL_BIN:-}" ]; then
                log "building rill (release)"
                (cd "$ROOT" && cargo build --release --quiet --bin rill)
                RILL_BIN="$ROOT/target/release/rill"
            fi
            [ -x "$RILL_BIN" ] || die "no rill binary at $RILL_BIN"
            RUN_CLIENTS="$RUN_CLIENTS rill"
            ;;
        rill-base)
            [ -x "${RILL_BASE_BIN:-}" ] || die "client rill-base needs RILL_BASE_BIN (a rill binary)"
            RUN_CLIENTS="$RUN_CLIENTS rill-base"
            ;;
        rqbit)
            RQBIT=${RQBIT:-}
            for cand in /opt/rqbit/bin/rqbit "$CACHE/bin/rqbit" "$(command -v rqbit || true)"; do
                [ -z "$RQBIT" ] && [ -n "$cand" ] && [ -x "$cand" ] && RQBIT=$cand
            done
            if [ -n "$RQBIT" ]; then RUN_CLIENTS="$RUN_CLIENTS rqbit"; else
                log "SKIPPING rqbit: not installed (/opt/rqbit/bin/rqbit, $CACHE/bin/rqbit or PATH)"
            fi
            ;;
        webtorrent)
            # webtorrent-cli 4 (webtorrent 1.x): version 5 needs node-datachannel,
            # whose native build is fetched from GitHub at install time.
            WEBTORRENT="$CACHE/webtorrent/node_modules/.bin/webtorrent"
            if [ ! -x "$WEBTORRENT" ] && command -v npm >/dev/null; then
                log "installing webtorrent-cli@4 into $CACHE/webtorrent (once)"
                mkdir -p "$CACHE/webtorrent"
                (cd "$CACHE/webtorrent" && npm install --no-audit --no-fund --ignore-scripts webtorrent-cli@4 >&2) || true
            fi
            if [ -x "$WEBTORRENT" ] && timeout 30 "$WEBTORRENT" --version >/dev/null 2>&1; then
                RUN_CLIENTS="$RUN_CLIENTS webtorrent"
            else
                log "SKIPPING webtorrent: $WEBTORRENT missing or does not start"
            fi
            ;;
        *) die "unknown client $c (rill, rill-base, rqbit, webtorrent)" ;;
    esac
done
[ -n "$RUN_CLIENTS" ] || die "no client to measure"

# --- data and torrent ---------------------------------------------------------
SEED="$WORK/seed"
NAME="swarm-${SIZE_MB}MiB.bin"
mkdir -p "$SEED"
log "generating $SIZE_MB MiB"
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$SEED/$NAME"
TORRENT="$WORK/swarm.torrent"
mktorrent -l "$PIECE_LOG2" -a "$TRACKER" -o "$TORRENT" "$SEED/$NAME" >/dev/null
HASH=$(info_hash "$TORRENT")
ENC_HASH=$(sed 's/../%&/g' <<<"$HASH")

# --- network: hub (bridge + tracker), a namespace per peer ---------------------
ip netns add "$HUB"
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" addr add "$TRACKER_IP/24" dev br0
ip -n "$HUB" link set br0 up
ip -n "$HUB" link set lo up

# attach NS HOSTNAME_IN_HUB IP: a namespace on the bridge.
attach() {
    ip netns add "$1"
    ip -n "$HUB" link add "$2" type veth peer name eth0 netns "$1"
    ip -n "$HUB" link set "$2" master br0 up
    ip -n "$1" addr add "$3/24" dev eth0
    ip -n "$1" link set eth0 up
    ip -n "$1" link set lo up
}

mkdir -p "$WORK/tracker"
echo "$HASH" >"$WORK/tracker/whitelist"
chmod 755 "$WORK/tracker"; chmod 644 "$WORK/tracker/whitelist"
ip netns exec "$HUB" opentracker -i "$TRACKER_IP" -p 6969 -P 6969 -d "$WORK/tracker" -w /whitelist \
    >"$WORK/tracker.log" 2>&1 &

# Roles: the first SLOW peers are slow aria2c seeders, the next PARTIAL
# partial aria2c peers, the rest cycle through the four programs; the last
# CHURN of those churn.
ROLE=()
for i in $(seq 0 $((PEERS - 1))); do
    if [ "$i" -lt "$SLOW" ]; then ROLE+=(slow)
    elif [ "$i" -lt $((SLOW + PARTIAL)) ]; then ROLE+=(partial)
    else
        kinds=(qbt transmission rill aria2)
        ROLE+=("${kinds[$(((i - SLOW - PARTIAL) % 4))]}")
    fi
done

# Upload rate of each peer, bytes/s: spread geometrically, in a fixed
# shuffled order (roles come in a fixed order, rates should not), scaled so
# the swarm's capacity is CAPACITY x the bitrate, a partial peer counting
# for the 60% of the file it holds.
mapfile -t RATES < <(python3 - "$CAPACITY" "$BITRATE" "$MIN_RATE" "$MAX_RATE" "${ROLE[@]}" <<'EOF'
import random, sys
mult, bitrate, lo, hi = (float(x) for x in sys.argv[1:5])
roles = sys.argv[5:]
n = len(roles)
w = [0.6 if r == "partial" else 1.0 for r in roles]
total = mult * bitrate / 8
raw = [lo * (hi / lo) ** (i / max(1, n - 1)) for i in range(n)]
random.Random(17).shuffle(raw)
scale = total / sum(x * y for x, y in zip(raw, w))
for _ in range(50):  # scale, clamp, rescale what is left free
    r = [min(hi, max(lo, x * scale)) for x in raw]
    s = sum(x * y for x, y in zip(r, w))
    if abs(s - total) < 1:
        break
    free = sum(x * scale * y for x, y, z in zip(raw, w, r) if lo < z < hi)
    if free == 0:
        break
    scale *= 1 + (total - s) / free
if abs(s - total) > total * 0.01:
    print("swarm: %d peers between %.0f and %.0f B/s give %.0f B/s, not %.0f (see SWARM_MIN_RATE)"
          % (n, lo, hi, s, total), file=sys.stderr)
for x in r:
    print(int(x))
EOF
)

peer_ip() { echo "$NET.$((11 + $1))"; }

# start_peer I: starts peer I's program in its namespace (again, for churn).
start_peer() {
    local i=$1 ns="$PFX-p$1" ip dir
    ip=$(peer_ip "$i")
    dir="$WORK/peer-$i"
    mkdir -p "$dir"
    case ${ROLE[$i]} in
        aria2 | partial | slow)
            local data="$SEED" extra=() bind="$ip"
            if [ "${ROLE[$i]}" = partial ]; then data="$dir/data"; extra=(--max-download-limit=1K); fi
            if [ "${ROLE[$i]}" = slow ]; then bind=127.0.0.1; extra=(--bt-exclude-tracker='*'); fi
            ip netns exec "$ns" aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false \
                --enable-peer-exchange=false --disable-ipv6=true --interface="$bind" --listen-port=6881 \
                -V --seed-ratio=0 --summary-interval=0 --dir="$data" "${extra[@]}" "$TORRENT" \
                >>"$dir/log" 2>&1 &
            ;;
        qbt)
            mkdir -p "$dir/qBittorrent/config"
            [ -f "$dir/qBittorrent/config/qBittorrent.conf" ] ||
                printf '%s\n' '[LegalNotice]' 'Accepted=true' '[BitTorrent]' \
                    "Session\\InterfaceAddress=$ip" 'Session\Port=6881' 'Session\DHTEnabled=false' \
                    'Session\LSDEnabled=false' 'Session\PeXEnabled=false' 'Session\QueueingSystemEnabled=false' \
                    'Session\GlobalMaxRatio=-1' '[Network]' 'PortForwardingEnabled=false' '[Preferences]' \
                    'Connection\ResolvePeerCountries=false' "WebUI\\Address=$ip" 'WebUI\Port=8090' \
                    'WebUI\LocalHostAuth=false' 'WebUI\AuthSubnetWhitelistEnabled=true' \
                    "WebUI\\AuthSubnetWhitelist=$NET.0/24" 'WebUI\CSRFProtection=false' 'WebUI\HostHeaderValidation=false' \
                    >"$dir/qBittorrent/config/qBittorrent.conf"
            ip netns exec "$ns" qbittorrent-nox --profile="$dir" --webui-port=8090 >>"$dir/log" 2>&1 &
            ;;
        transmission)
            mkdir -p "$dir/tr"
            [ -f "$dir/tr/settings.json" ] || cat >"$dir/tr/settings.json" <<EOF
{"bind-address-ipv4": "$ip", "peer-port": 6881, "rpc-bind-address": "$ip", "rpc-port": 9091,
 "rpc-whitelist-enabled": false, "rpc-host-whitelist-enabled": false, "rpc-authentication-required": false,
 "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "port-forwarding-enabled": false,
 "ratio-limit-enabled": false, "download-dir": "$SEED", "message-level": 1}
EOF
            ip netns exec "$ns" transmission-daemon -f -g "$dir/tr" >>"$dir/log" 2>&1 &
            ;;
        rill)
            ip netns exec "$ns" "$RILL_BIN" download "$TORRENT" --out "$SEED" --seed --listen "$ip:6881" --no-dht \
                >>"$dir/log" 2>&1 &
            ;;
    esac
}

# add_to_peer I: what qbittorrent and transmission need once (API adds).
add_to_peer() {
    local i=$1 ns="$PFX-p$1" ip
    ip=$(peer_ip "$i")
    case ${ROLE[$i]} in
        qbt)
            for _ in $(seq 150); do ip netns exec "$ns" curl -sf -o /dev/null "http://$ip:8090/api/v2/app/version" && break; sleep 0.2; done
            ip netns exec "$ns" curl -sf -F torrents=@"$TORRENT" -F savepath="$SEED" \
                "http://$ip:8090/api/v2/torrents/add" >/dev/null || die "qbittorrent-nox peer $i refused the torrent (see $WORK/peer-$i/log; SWARM_KEEP=1)"
            ;;
        transmission)
            for _ in $(seq 150); do ip netns exec "$ns" transmission-remote "$ip:9091" -l >/dev/null 2>&1 && break; sleep 0.2; done
            ip netns exec "$ns" transmission-remote "$ip:9091" -a "$TORRENT" -w "$SEED" >/dev/null ||
                die "transmission peer $i refused the torrent"
            ;;
    esac
}

log "peers:${ROLE[*]}; rates B/s: ${RATES[*]}"
for i in $(seq 0 $((PEERS - 1))); do
    ns="$PFX-p$i"
    attach "$ns" "p$i" "$(peer_ip "$i")"
    rate=${RATES[$i]}
    burst=$((rate / 50 > 16384 ? rate / 50 : 16384))
    ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate "$((rate * 8))bit" burst "$burst" latency 200ms
    if [ "${ROLE[$i]}" = partial ]; then
        mkdir -p "$WORK/peer-$i/data"
        cp "$SEED/$NAME" "$WORK/peer-$i/data/$NAME"
        # A 40% hole at a place of its own.
        mb=$((SIZE_MB * 2 / 5)); at=$(((i * 37) % (SIZE_MB - mb + 1)))
        dd if=/dev/zero of="$WORK/peer-$i/data/$NAME" bs=1M seek="$at" count="$mb" conv=notrunc status=none
    fi
    if [ "${ROLE[$i]}" = slow ]; then
        ip netns exec "$ns" python3 "$HERE/relay.py" "$(peer_ip "$i"):7000" 127.0.0.1:6881 \
            --delay-ms "$DELAY_MS" >"$WORK/relay-$i.log" 2>&1 &
    fi
    start_peer "$i"
done
for i in $(seq 0 $((PEERS - 1))); do add_to_peer "$i"; done
disown -a  # churn kills them by namespace; no job notices for that
attach "$CLIENT_NS" client "$CLIENT_IP"

# Slow peers have no tracker of their own: their relay's address is
# announced for them, from their namespace (the tracker takes the source IP).
announce_slow() {
    local i=$1
    ip netns exec "$PFX-p$i" curl -sf -o /dev/null \
        "$TRACKER?info_hash=$ENC_HASH&peer_id=-SW0001-relay$(printf %07d "$i")&port=7000&uploaded=0&downloaded=0&left=0&compact=1&event=started"
}

SEEDERS=$((PEERS - PARTIAL))
log "waiting for $SEEDERS seeders to announce (they check $SIZE_MB MiB first)"
for t in $(seq 300); do
    for i in $(seq 0 $((SLOW - 1))); do announce_slow "$i" || true; done
    SCRAPE=$(ip netns exec "$HUB" curl -s "http://$TRACKER_IP:6969/scrape?info_hash=$ENC_HASH" | tr -c '[:print:]' '.' || true)
    N=$(grep -o '8:completei[0-9]*e' <<<"$SCRAPE" | head -1 | tr -dc '0-9' | sed 's/^8//' || true)
    [ "${N:-0}" -ge "$SEEDERS" ] && break
    [ "$t" = 300 ] && die "only ${N:-0} of $SEEDERS seeders announced in 300 s (SWARM_KEEP=1 keeps $WORK/peer-*/log)"
    sleep 1
done

# --- churn: the last CHURN plain peers go away and come back --------------------
if [ "$CHURN" -gt 0 ]; then
    (
        trap - EXIT
        for _ in $(seq 100000); do
            sleep "$CHURN_PERIOD"
            for i in $(seq $((PEERS - CHURN)) $((PEERS - 1))); do
                for pid in $(ip netns pids "$PFX-p$i"); do kill -9 "$pid" 2>/dev/null || true; done
            done
            sleep "$CHURN_DOWN"
            for i in $(seq $((PEERS - CHURN)) $((PEERS - 1))); do start_peer "$i"; done
        done
    ) >"$WORK/churn.log" 2>&1 &
    CHURN_PID=$!
fi

# --- sessions -------------------------------------------------------------------
CPID=""
# start_client CLIENT DIR: starts it in the client namespace, adds the
# torrent, sets URL (the stream of file 0) and CPID.
start_client() {
    local c=$1 dir=$2 out
    rm -rf "$dir"; mkdir -p "$dir"
    case $c in
        rill | rill-base)
            local bin=$RILL_BIN
            [ "$c" = rill-base ] && bin=$RILL_BASE_BIN
            ip netns exec "$CLIENT_NS" "$bin" serve --listen 127.0.0.1:8080 --data "$dir" \
                --peer-listen "$CLIENT_IP:6881" >"$dir.log" 2>&1 &
            CPID=$!
            wait_http "http://127.0.0.1:8080/api/torrents" "$c" "$dir"
            ip netns exec "$CLIENT_NS" curl -sf -o /dev/null -H 'Content-Type: application/x-bittorrent' \
                --data-binary @"$TORRENT" http://127.0.0.1:8080/api/torrents || die "rill refused the torrent"
            URL="http://127.0.0.1:8080/stream/$HASH/0"
            ;;
        rqbit)
            ip netns exec "$CLIENT_NS" env RQBIT_LOG_LEVEL_CONSOLE=warn "$RQBIT" --disable-dht \
                --disable-dht-persistence --disable-upnp-port-forward --disable-lsd --ipv4-only \
                --listen-ip "$CLIENT_IP" --listen-port 6881 --http-api-listen-addr 127.0.0.1:3030 \
                server start --disable-persistence "$dir" >"$dir.log" 2>&1 &
            CPID=$!
            wait_http "http://127.0.0.1:3030/torrents" "$c" "$dir"
            out=$(ip netns exec "$CLIENT_NS" curl -sf -H 'Content-Type: application/x-bittorrent' \
                --data-binary @"$TORRENT" "http://127.0.0.1:3030/torrents?overwrite=true") || die "rqbit refused the torrent"
            URL="http://127.0.0.1:3030/torrents/$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$out")/stream/0"
            ;;
        webtorrent)
            # It adds the torrent itself and serves every file over HTTP.
            ip netns exec "$CLIENT_NS" "$WEBTORRENT" download "$TORRENT" --port 8000 --torrent-port 6881 \
                --out "$dir" --keep-seeding --quiet >"$dir.log" 2>&1 &
            CPID=$!
            URL="http://127.0.0.1:8000/0"
            ;;
    esac
}

wait_http() {
    for _ in $(seq 300); do
        ip netns exec "$CLIENT_NS" curl -sf -o /dev/null "$1" && return 0
        kill -0 "$CPID" 2>/dev/null || { tail -20 "$3.log" >&2; die "$2 exited at start"; }
        sleep 0.05
    done
    die "$2 did not answer on $1"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
rx_bytes() { ip -n "$CLIENT_NS" -s -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["bytes"])'; }

RESULTS="$WORK/sessions.jsonl"
: >"$RESULTS"
for s in $(seq "$SESSIONS"); do
    for c in $RUN_CLIENTS; do
        log "session $s: $c, $DURATION s at $BITRATE bit/s"
        rx0=$(rx_bytes)
        start_client "$c" "$WORK/$c-data"
        c0=$(cpu_ticks "$CPID")
        t0=$(date +%s.%N)
        out=$(ip netns exec "$CLIENT_NS" python3 -B "$HERE/player.py" "$URL" --bitrate "$BITRATE" \
            --duration "$DURATION" --start "$START_S" --low "$LOW_S" --high "$HIGH_S") ||
            { tail -20 "$WORK/$c-data.log" >&2; die "player failed against $c"; }
        t1=$(date +%s.%N)
        c1=$(cpu_ticks "$CPID")
        rx1=$(rx_bytes)
        kill -9 "$CPID" 2>/dev/null || true
        wait "$CPID" 2>/dev/null || true
        python3 -c '
import json, os, sys
d = json.loads(sys.argv[1])
c, s, cpu, rx = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[7])
wall = float(sys.argv[6]) - float(sys.argv[5])
d.update(client=c, session=s, cpu_s=cpu / os.sysconf("SC_CLK_TCK"), wall_s=wall, net_rx_bytes=rx)
print(json.dumps(d))' "$out" "$c" "$s" "$((c1 - c0))" "$t0" "$t1" "$((rx1 - rx0))" >>"$RESULTS"
    done
done
[ -n "${SWARM_JSON:-}" ] && cp "$RESULTS" "$SWARM_JSON"

python3 "$HERE/summary.py" "$RESULTS" "peers $PEERS (${ROLE[*]}), capacity ${CAPACITY}x of $BITRATE bit/s, $SIZE_MB MiB file, $DURATION s sessions x $SESSIONS, $SLOW behind a $DELAY_MS ms relay, $PARTIAL partial, $CHURN churning (every $CHURN_PERIOD s, down $CHURN_DOWN s)"
