#!/usr/bin/env bash
# bench/front_door.sh — what the HTTP front door holds, per board profile:
# how many half-sent (slow-loris) connections it holds and how soon it
# answers again, how many requests per second it sustains on small routes
# (wrk, keep-alive), and how much RSS a 16 MB header flood costs. Prints a markdown table for
# docs/benchmarks.md. rqbit (from crates.io, see bench/lib.sh) is the
# baseline: its HTTP API's /torrents under the same wrk runs.
#
# Usage: bench/front_door.sh               (from the repository root)
# Environment:
#   BENCH_PROFILES="pi-zero-2w generic-x86_64"   boards to measure
#   BENCH_RUNS=3          wrk runs per route (median taken)
#   BENCH_SECS=5          seconds per wrk run
#   BENCH_CONNS=16        wrk connections
#   BENCH_ADDR=127.79.0.1 loopback address (HTTP on port 18090)
#   BENCH_RQBIT=1         0: leave the rqbit baseline out
#   RILL_BIN=...          rill binary (default: cargo build --release)

set -euo pipefail

PROFILES=${BENCH_PROFILES:-"pi-zero-2w generic-x86_64"}
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECS:-5}
CONNS=${BENCH_CONNS:-16}
ADDR=${BENCH_ADDR:-127.79.0.1}
PORT=18090
BENCH_NAME=front_door.sh
. "$(dirname "$0")/lib.sh"
need_tools "(apt-get install wrk curl python3)" wrk curl python3
rill_bin

bench_workdir rill-front-door
PID=""
bench_on_exit() { [ -z "$PID" ] || kill -9 "$PID" 2>/dev/null; }

wait_http() {
    for _ in $(seq 1 400); do
        curl -sf -o /dev/null "$1" && return 0
        kill -0 "$PID" 2>/dev/null || die "server exited: $(tail -3 "$WORK/err" 2>/dev/null)"
        sleep 0.05
    done
    die "no answer from $1"
}

# Requests per second of `wrk` on URL: median of RUNS runs; also the
# non-2xx/socket-error count summed over the runs.
rps() {
    local url=$1 out r errs=0
    local -a all=()
    for _ in $(seq 1 "$RUNS"); do
        out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" "$url")
        r=$(awk '/^Requests\/sec:/ {print int($2)}' <<<"$out")
        all+=("$r")
        errs=$((errs + $(awk '/Non-2xx/ {s+=$NF} /Socket errors/ {gsub(",", ""); s+=$4+$6+$8+$10} END {print s+0}' <<<"$out")))
    done
    echo "$(printf '%s\n' "${all[@]}" | median) $errs"
}

# Slow-loris clients: open N connections from one address (127.0.0.2)
# that send half a request head and stay silent. Prints how many the
# server keeps open after 2 s, how many it refused at once (an answer:
# the cap's or the client's share's 503), how long until a normal request
# from another address (127.0.0.3) is answered, and how long until one
# from the slow-loris address itself is (its heads time out).
held() {
    python3 - "$ADDR" "$PORT" "$1" <<'PY'
import socket, sys, time
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
LORIS, OTHER = "127.0.0.2", "127.0.0.3"
socks = []
for _ in range(n):
    try:
        s = socket.create_connection((addr, port), timeout=2, source_address=(LORIS, 0))
        s.sendall(b"GET /api/torrents HTTP/1.1\r\nHost: %s\r\n" % addr.encode())
        socks.append(s)
    except OSError:
        break
time.sleep(2)
held = refused = 0
for s in socks:
    s.setblocking(False)
    try:
        refused += 1 if s.recv(1) else 0
    except BlockingIOError:
        held += 1
    except OSError:
        pass
def answered_after(src):
    t = time.time()
    while time.time() - t < 30:
        try:
            c = socket.create_connection((addr, port), timeout=5, source_address=(src, 0))
            c.sendall(b"GET /api/torrents HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % addr.encode())
            if c.recv(12).startswith(b"HTTP/1.1 200"):
                return int((time.time() - t) * 1000)
        except OSError:
            pass
        time.sleep(0.25)
    return -1
other = answered_after(OTHER)
same = answered_after(LORIS)
print(held, refused, other, same)
PY
}

# Peak RSS growth (KiB) of the server from one client sending 16 MB of
# header lines.
flood() {
    local before after
    before=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
    python3 - "$ADDR" "$PORT" <<'PY' || true
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"GET /api/torrents HTTP/1.1\r\nHost: x\r\n")
line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
try:
    for _ in range(16 * 1024):
        s.sendall(line)
except OSError:
    pass
PY
    sleep 0.5
    after=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
    echo $((after - before))
}

echo "| profile | slow-loris connections from one address held / refused (2x cap tried) | another address answered after | that address answered again after | req/s /api/torrents | req/s /playlist.m3u | wrk errors | RSS growth, 16 MB header flood |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for p in $PROFILES; do
    rm -rf "$WORK/data"
    # Loopback only: no DHT, no DLNA multicast (port mapping is off on a
    # loopback peer address).
    printf 'dht = false\ndlna = false\n' >"$WORK/rill.toml"
    "$RILL_BIN" serve --config "$WORK/rill.toml" --board "$p" --data "$WORK/data" \
        --listen "$ADDR:$PORT" --peer-listen "$ADDR:$((PORT + 1))" >"$WORK/out" 2>"$WORK/err" &
    PID=$!
    wait_http "http://$ADDR:$PORT/api/torrents"
    cap=$(sed -n 's/^http_connections *= *\([0-9]*\).*/\1/p' "$ROOT/board/$p.toml")
    [ -n "$cap" ] || die "board/$p.toml has no http_connections"
    read -r kept refused other back < <(held $((cap * 2)))
    read -r api errs1 < <(rps "http://$ADDR:$PORT/api/torrents")
    read -r m3u errs2 < <(rps "http://$ADDR:$PORT/playlist.m3u")
    growth=$(flood)
    echo "| $p (cap $cap) | $kept / $refused | ${other} ms | ${back} ms | $api | $m3u | $((errs1 + errs2)) | ${growth} KiB |"
    kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
done

if [ "${BENCH_RQBIT:-1}" = 1 ]; then
    rqbit_bin
    RQBIT_LOG_LEVEL_CONSOLE=warn "$RQBIT" --disable-dht --disable-dht-persistence \
        --disable-upnp-port-forward --disable-lsd --ipv4-only --listen-ip "$ADDR" \
        --listen-port $((PORT + 1)) --http-api-listen-addr "$ADDR:$PORT" \
        server start --disable-persistence "$WORK/rqbit" >"$WORK/out" 2>"$WORK/err" &
    PID=$!
    wait_http "http://$ADDR:$PORT/torrents"
    read -r api errs < <(rps "http://$ADDR:$PORT/torrents")
    echo "| rqbit $("$RQBIT" --version 2>/dev/null | awk '{print $NF}') (baseline, /torrents) | | | $api | | $errs | |"
fi
echo
echo "(wrk -t2 -c$CONNS, $RUNS x ${SECS} s per route, median; $(date -u +%Y-%m-%d), $("$RILL_BIN" --version 2>/dev/null || echo rill))"
