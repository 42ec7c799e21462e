# bench/lib.sh — the setup every bench script shares; sourced, never run.
#
# A script sets BENCH_NAME (its file name, for messages) and sources it:
#     BENCH_NAME=download.sh
#     . "$(dirname "$0")/lib.sh"
# and then has:
#   ROOT                         the repository root
#   die MSG, log MSG             a fatal error (exit 1) / a progress line, stderr
#   need_tools HINT TOOL...      die with HINT unless every TOOL is installed
#   bench_workdir PREFIX         WORK (BENCH_DIR, or a new /var/tmp/PREFIX.XXXXXX),
#                                PIDS=() and an EXIT trap running bench_cleanup
#   bench_cleanup                kills every pid in PIDS (SIGKILL), calls the
#                                script's bench_on_exit if it defines one, and
#                                removes WORK unless BENCH_KEEP=1
#   rill_bin                     RILL_BIN, built (cargo build --release) when unset
#   rqbit_bin                    RQBIT: on PATH, in BENCH_CACHE, or installed there
#   has_opt HELP OPT             whether the --help text HELP lists option OPT
#   rqbit_download_opts IP PORT  RQ_GLOBAL and RQ_DL: `$RQBIT "${RQ_GLOBAL[@]}"
#                                download "${RQ_DL[@]}" -o OUT TORRENT` listens on
#                                IP:PORT (API on IP:3030), exits when done, with DHT,
#                                its persistence, UPnP and LSD off: only the options
#                                this rqbit's --help lists
#   info_hash TORRENT            the torrent's info hash, hex
#   start_tracker HASH...        opentracker on $TRACKER (ip:port) tracking only
#                                HASH..., its dir and log in WORK, pid in PIDS
#   wait_seeders HASH N TRIES PAUSE [PID...]
#                                until the tracker counts N seeders of HASH,
#                                at most TRIES scrapes PAUSE s apart; dies if a
#                                PID exits meanwhile
#   median                       the median of the numbers on stdin ("nan": none)
#   bench_in_netns PREFIX ARGS...
#                                run this script again (with ARGS) inside a network
#                                namespace it makes (BENCH_NETNS, else PREFIX-PID) with
#                                only lo up, removed on exit, and exit with its status;
#                                a no-op inside it (RILL_BENCH_IN_NETNS set)
#   tcp_refused_to PORT on|off   an nftables rule refusing TCP to PORT (uTP-only runs)
#
# Every wait is bounded; nothing here touches more than loopback, WORK and
# the namespace bench_in_netns makes.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${BENCH_NAME:=bench}"

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

need_tools() {
    local hint=$1 tool; shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "missing $tool${hint:+ ($hint)}"
    done
}

bench_workdir() {
    WORK=${BENCH_DIR:-$(mktemp -d "/var/tmp/$1.XXXXXX")}
    mkdir -p "$WORK"
    PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local pid
    if declare -F bench_on_exit >/dev/null; then bench_on_exit || true; fi
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${BENCH_KEEP:-}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}

rill_bin() {
    if [ -z "${RILL_BIN:-}" ]; then
        log "building rill (release)"
        (cd "$ROOT" && cargo build --release --locked --quiet --bin rill) || die "cargo build failed"
        RILL_BIN="$ROOT/target/release/rill"
    fi
    [ -x "$RILL_BIN" ] || die "no rill binary at $RILL_BIN"
}

rqbit_bin() {
    local cache=${BENCH_CACHE:-$HOME/.cache/rill-bench}
    RQBIT=$(command -v rqbit || true)
    if [ -z "$RQBIT" ] && [ -x "$cache/bin/rqbit" ]; then RQBIT="$cache/bin/rqbit"; fi
    if [ -z "$RQBIT" ]; then
        log "installing rqbit 9.1.0 into $cache (takes minutes, once)"
        # Without its web UI: librqbit's build script would run npm for
        # it, and the benches use only its HTTP API.
        cargo install rqbit --version 9.1.0 --locked --root "$cache" \
            --no-default-features --features default-tls,postgres,prometheus >&2
        RQBIT="$cache/bin/rqbit"
    fi
}

has_opt() { grep -qE -- "(^|[[:space:],])$2([[:space:]=,]|\$)" <<<"$1"; }

rqbit_download_opts() {
    local ip=$1 port=$2 help dl_help opt
    help=$("$RQBIT" --help 2>&1 || true)
    dl_help=$("$RQBIT" download --help 2>&1 || true)
    RQ_GLOBAL=()
    for opt in --disable-dht --disable-dht-persistence --disable-upnp --disable-upnp-port-forward --disable-lsd --ipv4-only; do
        has_opt "$help" "$opt" && RQ_GLOBAL+=("$opt")
    done
    has_opt "$help" --listen-ip && RQ_GLOBAL+=(--listen-ip "$ip")
    if has_opt "$help" --listen-port; then
        RQ_GLOBAL+=(--listen-port "$port")
    elif has_opt "$help" --tcp-min-port; then
        RQ_GLOBAL+=(--tcp-min-port "$port" --tcp-max-port "$((port + 1))")
    fi
    RQ_GLOBAL+=(--http-api-listen-addr "$ip:3030")
    RQ_DL=(-e)
    has_opt "$dl_help" --overwrite && RQ_DL+=(--overwrite)
    has_opt "$dl_help" --disable-http-api && RQ_DL+=(--disable-http-api)
}

info_hash() {
    python3 - "$1" <<'EOF'
import hashlib, sys
d = open(sys.argv[1], 'rb').read()
def skip(i):
    c = d[i:i+1]
    if c == b'i': return d.index(b'e', i) + 1
    if c in (b'l', b'd'):
        i += 1
        while d[i:i+1] != b'e': i = skip(i)
        return i + 1
    colon = d.index(b':', i)
    return colon + 1 + int(d[i:colon])
i = 1
while d[i:i+1] != b'e':
    k0 = i; i = skip(i); key = d[k0:i]; v0 = i; i = skip(i)
    if key == b'4:info': print(hashlib.sha1(d[v0:i]).hexdigest())
EOF
}

start_tracker() {
    mkdir -p "$WORK/tracker"
    printf '%s\n' "$@" >"$WORK/tracker/whitelist"
    chmod 755 "$WORK/tracker"; chmod 644 "$WORK/tracker/whitelist"
    opentracker -i "${TRACKER%:*}" -p "${TRACKER#*:}" -P "${TRACKER#*:}" -d "$WORK/tracker" -w /whitelist \
        >"$WORK/tracker.log" 2>&1 &
    PIDS+=($!)
}

wait_seeders() {
    local hash=$1 want=$2 tries=$3 pause=$4 enc scrape n i pid; shift 4
    enc=$(sed 's/../%&/g' <<<"$hash")
    for i in $(seq "$tries"); do
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null || die "a seeder or the tracker exited (see $WORK/*.log; BENCH_KEEP=1 keeps them)"
        done
        scrape=$(curl -s "http://$TRACKER/scrape?info_hash=$enc" | tr -c '[:print:]' '.' || true)
        n=$(grep -o '8:completei[0-9]*e' <<<"$scrape" | head -1 | tr -dc '0-9' | sed 's/^8//' || true)
        [ "${n:-0}" -ge "$want" ] && return 0
        [ "$i" = "$tries" ] || sleep "$pause"
    done
    die "fewer than $want seeders of $hash announced (see $WORK/*.log; BENCH_KEEP=1 keeps them)"
}

median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

bench_in_netns() {
    [ -n "${RILL_BENCH_IN_NETNS:-}" ] && return 0
    local prefix=$1 rc=0
    shift
    NS=${BENCH_NETNS:-$prefix-$$}
    ip netns add "$NS" || die "cannot make network namespace $NS"
    trap 'ip netns del "$NS" 2>/dev/null || true' EXIT
    ip -n "$NS" link set lo up
    RILL_BENCH_IN_NETNS=1 RILL_BIN="$RILL_BIN" ip netns exec "$NS" bash "$0" "$@" || rc=$?
    exit "$rc"
}

tcp_refused_to() {
    if [ "$2" = on ]; then
        nft -f - <<EOF
table inet rill_bench {
  chain input { type filter hook input priority 0; tcp dport $1 reject with tcp reset; }
}
EOF
    else
        nft delete table inet rill_bench 2>/dev/null || true
    fi
}
