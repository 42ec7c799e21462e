#!/usr/bin/env bash
# bench/transport.sh — what uTP and MSE/PE cost rill, against its own TCP
# plaintext download of the same swarm in the same run.
#
# Everything runs in a network namespace of its own (its loopback): a
# local opentracker, two seeding `rill download --seed` (each on its own
# 127.0.0.x, encryption "prefer", uTP on), and one downloader at a time,
# interleaved run by run:
#   rill-tcp      --utp off --encryption off (the base of the ratios)
#   rill-utp      --encryption off, uTP: while it runs, an nftables rule in
#                 the namespace refuses TCP between peers, so every peer
#                 connection is uTP (the log is checked for it)
#   rill-require  --utp off --encryption require (RC4 both ways)
#   aria2-crypto  aria2c --bt-require-crypto=true --bt-min-crypto-level=arc4
#   rqbit         rqbit download over TCP, plaintext (it has no encryption
#                 and no uTP by default), DHT, its persistence, UPnP and
#                 LSD off; only when asked for (installed by bench/lib.sh's
#                 rqbit_bin if missing, which takes minutes)
# Every download is compared byte for byte with the source.
# Each run also records the seeders' CPU time (they do the sending) and the
# namespace's UDP counters: datagrams sent, and datagrams dropped because
# a receive buffer was full (RcvbufErrors).
#
# With BENCH_CALLGRIND=1 each rill client also downloads once under
# valgrind --tool=callgrind: instructions per MiB for the whole process
# (user space), and those in RC4 (`rill::crypto::rc4`) and in the uTP layer
# (`rill::utp`, `rill::wire::utp`) themselves; a CPU measure that a machine
# shared with other work does not blur.
#
# Usage: bench/transport.sh   (root; from the repository root)
#   BENCH_SIZE_MB=1024  BENCH_RUNS=3  BENCH_PIECE_LOG2=20  BENCH_TIMEOUT=1800
#   BENCH_CLIENTS="rill-tcp rill-utp rill-require aria2-crypto"  (add rqbit)
#   BENCH_CALLGRIND=0|1  BENCH_CALLGRIND_MB=64 (its own smaller torrent)
#   BENCH_SEED_LOG=info|debug  the seeders' log level (debug: their uTP send and
#                         resend counts per connection, listed at the end)
#   RILL_CG_BIN=...     the rill run under callgrind: a release build with
#                       its symbols (default: built into target/bench-symbols
#                       with CARGO_PROFILE_RELEASE_STRIP=false)
#   BENCH_NETNS=tr-bench-PID  BENCH_KEEP=1  BENCH_DIR=...  RILL_BIN=...
#
# Not for CI: it moves gigabytes and wants a quiet machine.

set -euo pipefail
BENCH_NAME=transport.sh
. "$(dirname "$0")/lib.sh"

# --- into a namespace of our own ------------------------------------------------
if [ -z "${RILL_BENCH_IN_NETNS:-}" ]; then
    [ "$(id -u)" = 0 ] || die "needs root (a network namespace, nftables)"
    need_tools "Debian packages: iproute2 nftables" ip nft
    rill_bin
    # rqbit_bin may install it, which needs the network: outside the namespace.
    case " ${BENCH_CLIENTS:-} " in *" rqbit "*) rqbit_bin; export RQBIT ;; esac
    if [ "${BENCH_CALLGRIND:-0}" = 1 ] && [ -z "${RILL_CG_BIN:-}" ]; then
        log "building rill with symbols for callgrind"
        (cd "$ROOT" && CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --locked --quiet \
            --bin rill --target-dir target/bench-symbols) || die "cargo build failed"
        RILL_CG_BIN="$ROOT/target/bench-symbols/release/rill"
    fi
    export RILL_CG_BIN
    bench_in_netns tr-bench "$@"
fi

SIZE_MB=${BENCH_SIZE_MB:-1024}
RUNS=${BENCH_RUNS:-3}
CLIENTS=${BENCH_CLIENTS:-"rill-tcp rill-utp rill-require aria2-crypto"}
PIECE_LOG2=${BENCH_PIECE_LOG2:-20}
TIMEOUT=${BENCH_TIMEOUT:-1800}
CG=${BENCH_CALLGRIND:-0}
CG_MB=${BENCH_CALLGRIND_MB:-64}
TRACKER=127.0.0.1:6969
PEER_PORT=51001
LEECH=127.0.0.10

need_tools "Debian packages: opentracker aria2 mktorrent curl time" \
    opentracker aria2c mktorrent curl /usr/bin/time
[ "$CG" = 1 ] && need_tools "Debian package valgrind" valgrind callgrind_annotate
bench_workdir rill-transport
case " $CLIENTS " in *" rqbit "*) rqbit_download_opts "$LEECH" "$PEER_PORT" ;; esac

# TCP between peers refused (uTP runs); the tracker's HTTP is not a peer port.
tcp_refused() { tcp_refused_to "$PEER_PORT" "$1"; }
bench_on_exit() { tcp_refused off; }

# --- the swarms: data, torrent, tracker, two rill seeders -----------------------
HASHES=()
mkdir -p "$WORK/main" "$WORK/cg"
# The tracker must know the hashes before the seeders announce, so the
# seeders start after it: make the data, then the tracker, then seed.
prepare() {
    local tag=$1 mb=$2 name="bench-$2MiB.bin"
    mkdir -p "$WORK/$tag/seed-0" "$WORK/$tag/seed-1"
    log "generating $mb MiB"
    head -c "$((mb * 1024 * 1024))" /dev/urandom >"$WORK/$tag/seed-0/$name"
    cp "$WORK/$tag/seed-0/$name" "$WORK/$tag/seed-1/"
    mktorrent -l "$PIECE_LOG2" -a "http://$TRACKER/announce" -o "$WORK/$tag/$name.torrent" \
        "$WORK/$tag/seed-0/$name" >/dev/null
    HASHES+=("$(info_hash "$WORK/$tag/$name.torrent")")
}
# seed TAG MIB FIRST: two seeders on 127.0.0.FIRST and the next address.
seed() {
    local tag=$1 name="bench-$2MiB.bin" i
    for i in 0 1; do
        # BENCH_SEED_LOG=debug: each uTP connection's "closed after N
        # packets sent, M resent" line (the seeders are the senders). Not
        # the default: debug logging slows the seeders, and that changes
        # the result (fewer duplicate blocks reach the downloader).
        RILL_LOG=${BENCH_SEED_LOG:-info} "$RILL_BIN" download "$WORK/$tag/$name.torrent" --out "$WORK/$tag/seed-$i" \
            --seed --no-dht --listen "127.0.0.$(($3 + i)):$PEER_PORT" >"$WORK/$tag-seed-$i.log" 2>&1 &
        PIDS+=($!)
        SEEDERS+=($!)
    done
}
SEEDERS=()
prepare main "$SIZE_MB"
[ "$CG" = 1 ] && prepare cg "$CG_MB"
start_tracker "${HASHES[@]}"
seed main "$SIZE_MB" 2
[ "$CG" = 1 ] && seed cg "$CG_MB" 4
log "waiting for the seeders (they check their data first)"
for h in "${HASHES[@]}"; do wait_seeders "$h" 2 600 1 "${PIDS[@]}"; done

# --- one download ---------------------------------------------------------------
# client_cmd CLIENT TAG OUT [BIN]: the command line into CMD, its
# environment into CMD_ENV (outside the command, so valgrind sees rill).
client_cmd() {
    local client=$1 tag=$2 out=$3 bin=${4:-$RILL_BIN} t
    t=$(ls "$WORK/$tag"/*.torrent)
    CMD_ENV=(RILL_LOG=${BENCH_LEECH_LOG:-info})
    local rill=("$bin" download "$t" --out "$out" --listen "$LEECH:$PEER_PORT" --no-dht)
    case $client in
        rill-tcp) CMD=("${rill[@]}" --utp off --encryption off) ;;
        rill-utp) CMD=("${rill[@]}" --encryption off); CMD_ENV=(RILL_LOG=debug) ;;
        rill-require) CMD=("${rill[@]}" --utp off --encryption require) ;;
        aria2-crypto) CMD=(aria2c --enable-dht=false --enable-dht6=false --bt-enable-lpd=false
                    --enable-peer-exchange=false --disable-ipv6=true --interface="$LEECH"
                    --listen-port="$PEER_PORT" --seed-time=0 --file-allocation=none
                    --bt-require-crypto=true --bt-min-crypto-level=arc4
                    --summary-interval=0 --dir="$out" "$t") ;;
        rqbit) CMD=("$RQBIT" "${RQ_GLOBAL[@]}" download "${RQ_DL[@]}" -o "$out" "$t") ;;
        *) die "unknown client $client" ;;
    esac
}

# after_run CLIENT LOG OUT TAG: the checks every download passes.
after_run() {
    local client=$1 logf=$2 out=$3 tag=$4 src
    src=$(ls "$WORK/$tag"/seed-0/*.bin)
    cmp -s "$src" "$out/$(basename "$src")" || die "$client: downloaded file differs from the source"
    if [ "$client" = rill-utp ]; then
        grep -q ") over uTP" "$logf" || die "rill-utp: no uTP connection in $logf"
        ! grep -q ") over TCP" "$logf" || die "rill-utp: a TCP connection in $logf"
    fi
}

# CPU seconds (user+sys) all seeders have used so far: they send the
# data, so a sender's cost shows here and not in the downloader's time.
seeders_cpu() {
    local pid ticks=0 t
    for pid in "${SEEDERS[@]}"; do
        t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
        ticks=$((ticks + t))
    done
    awk -v t="$ticks" -v k="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / k }'
}
# udp_counter NAME: the namespace's UDP counter NAME (/proc/net/snmp), e.g.
# RcvbufErrors: datagrams dropped because a receive buffer was full.
udp_counter() {
    awk -v n="$1" '$1 == "Udp:" { if (!k) { for (i = 2; i <= NF; i++) if ($i == n) k = i } else { print $k; exit } }' \
        /proc/net/snmp
}

# lo_bytes: bytes the namespace's loopback carried (/proc/net/dev: per
# namespace), all of the swarm's traffic; its growth over a download minus
# the file is what the transport and the engine cost on the wire.
lo_bytes() { awk '$1 == "lo:" { print $2 }' /proc/net/dev; }

RESULTS="$WORK/results.txt"
: >"$RESULTS"
run_client() {
    local client=$1 run=$2 out="$WORK/out" tfile="$WORK/time-$1-$2.txt" logf="$WORK/$1-$2.log"
    rm -rf "$out"; mkdir -p "$out"
    client_cmd "$client" main "$out"
    log "run $run: $client"
    [ "$client" = rill-utp ] && tcp_refused on
    sync; echo 1 >/proc/sys/vm/drop_caches 2>/dev/null || true
    local seed0 out0 drop0 lo0
    seed0=$(seeders_cpu); out0=$(udp_counter OutDatagrams); drop0=$(udp_counter RcvbufErrors)
    lo0=$(lo_bytes)
    if ! env "${CMD_ENV[@]}" timeout "$TIMEOUT" /usr/bin/time -v -o "$tfile" "${CMD[@]}" >"$logf" 2>&1; then
        tcp_refused off
        tail -20 "$logf" >&2
        die "$client failed or timed out in run $run"
    fi
    tcp_refused off
    local seed_cpu udp_out udp_drop excess wasted
    seed_cpu=$(awk -v a="$seed0" -v b="$(seeders_cpu)" 'BEGIN { printf "%.2f", b - a }')
    udp_out=$(($(udp_counter OutDatagrams) - out0)); udp_drop=$(($(udp_counter RcvbufErrors) - drop0))
    excess=$(awk -v a="$lo0" -v b="$(lo_bytes)" -v f="$((SIZE_MB * 1048576))" 'BEGIN { printf "%.1f", (b - a - f) * 100 / f }')
    # What rill's log says it received for nothing (src/swarm/waste.rs).
    wasted=$(grep -oE '[0-9.]+ MiB wasted' "$logf" | tail -1 | cut -d' ' -f1 || true)
    after_run "$client" "$logf" "$out" main
    awk -v c="$client" -v sc="$seed_cpu" -v uo="$udp_out" -v ud="$udp_drop" -v ex="$excess" -v wa="${wasted:--}" '
        /Elapsed \(wall clock\)/ { n = split($NF, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
        /User time \(seconds\)/ { u = $NF }
        /System time \(seconds\)/ { s = $NF }
        /Maximum resident set size/ { r = $NF }
        END { printf "%s %.2f %.2f %d %s %d %d %s %s\n", c, w, u + s, r, sc, uo, ud, ex, wa }' "$tfile" >>"$RESULTS"
    rm -rf "$out"
}

for run in $(seq "$RUNS"); do
    for client in $CLIENTS; do run_client "$client" "$run"; done
done

# --- instruction counts under callgrind -----------------------------------------
CG_RESULTS="$WORK/callgrind.txt"
: >"$CG_RESULTS"
if [ "$CG" = 1 ]; then
    for client in $CLIENTS; do
        case $client in rill-*) ;; *) continue ;; esac
        out="$WORK/out"; rm -rf "$out"; mkdir -p "$out"
        client_cmd "$client" cg "$out" "$RILL_CG_BIN"
        cgf="$WORK/callgrind-$client.out"; logf="$WORK/$client-callgrind.log"
        log "callgrind: $client, $CG_MB MiB"
        [ "$client" = rill-utp ] && tcp_refused on
        env "${CMD_ENV[@]}" timeout "$TIMEOUT" valgrind --tool=callgrind --callgrind-out-file="$cgf" "${CMD[@]}" \
            >"$logf" 2>&1 || { tcp_refused off; tail -20 "$logf" >&2; die "$client under callgrind failed"; }
        tcp_refused off
        after_run "$client" "$logf" "$out" cg
        # Exclusive counts: RC4's own, and the sum over the uTP layer's
        # functions (rill::utp and its packet format), syscalls not counted.
        callgrind_annotate --threshold=100 "$cgf" >"$cgf.txt" 2>/dev/null
        awk -v c="$client" -v mb="$CG_MB" '
            function num(s) { gsub(",", "", s); return s + 0 }
            /PROGRAM TOTALS/ { total = num($1) }
            /rill::crypto::rc4::Rc4::/ { rc4 += num($1) }
            /rill::utp::|rill::wire::utp::/ { utp += num($1) }
            END { printf "%s %.0f %.0f %.0f\n", c, total / mb, rc4 / mb, utp / mb }' "$cgf.txt" >>"$CG_RESULTS"
        rm -rf "$out"
    done
fi

# --- report ---------------------------------------------------------------------
BASE=rill-tcp
col() { awk -v c="$1" -v k="$2" '$1 == c { print $k }' "$RESULTS" | median; }
BW=$(col "$BASE" 2); BC=$(col "$BASE" 3)
echo
echo "### Transports, $SIZE_MB MiB from two rill seeders in a network namespace ($(date -u +%Y-%m-%d), $(nproc) cores, median of $RUNS)"
echo
BS=$(col "$BASE" 5)
echo "| client | wall s | MiB/s | CPU user+sys s | peak RSS MiB | MiB/s / $BASE | CPU / $BASE | seeders' CPU s | seeders' CPU / $BASE | wire excess % |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for client in $CLIENTS; do
    W=$(col "$client" 2); C=$(col "$client" 3); R=$(col "$client" 4); S=$(col "$client" 5)
    X=$(col "$client" 8)
    awk -v c="$client" -v w="$W" -v cpu="$C" -v r="$R" -v sc="$S" -v mb="$SIZE_MB" \
        -v bw="${BW:-0}" -v bc="${BC:-0}" -v bs="${BS:-0}" -v x="$X" '
        function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
        BEGIN { printf "| %s | %.1f | %.0f | %.1f | %.1f | %s | %s | %.1f | %s | %.1f |\n",
                c, w, (w > 0 ? mb / w : 0), cpu, r / 1024, ratio(bw, w), ratio(cpu, bc), sc, ratio(sc, bs), x }'
done
echo
echo "Wire excess: what the namespace's loopback carried during the download beyond the file"
echo "itself (both directions: requests, acks, headers, and any block sent twice), in %."
echo
echo "Per run (client wall_s cpu_s rss_kib seeders_cpu_s udp_datagrams_out udp_rcvbuf_drops wire_excess_% rill_wasted_MiB):"
sed 's/^/    /' "$RESULTS"
if [ -s "$CG_RESULTS" ]; then
    BI=$(awk -v c="$BASE" '$1 == c { print $2 }' "$CG_RESULTS")
    echo
    echo "Instructions per MiB downloaded under callgrind ($CG_MB MiB, x86-64):"
    echo
    echo "| client | whole process | / $BASE | in RC4 | in the uTP layer |"
    echo "|---|---:|---:|---:|---:|"
    awk -v b="${BI:-0}" '{ printf "| %s | %d | %s | %d | %d |\n", $1, $2, (b > 0 ? sprintf("%.2f", $2 / b) : "-"), $3, $4 }' "$CG_RESULTS"
fi
# The seeders' uTP connections end up to 10 s (a FIN's linger) after
# the download: one line per connection, in order (one a run a seeder).
if [[ " $CLIENTS " == *" rill-utp "* && ${BENCH_SEED_LOG:-info} == debug ]]; then
    sleep 12
    echo
    echo "uTP connections closed at the seeders (packets sent, resent, fast, timeout;"
    echo "payload bytes of first sends, first sends not full):"
    for i in 0 1; do
        sed -n 's/.*closed after \([0-9]*\) packets sent, \([0-9]*\) resent (\([0-9]*\) fast, \([0-9]*\) timeout); \([0-9]*\) payload bytes in [0-9]* first sends, \([0-9]*\) not full.*/\1 \2 \3 \4 \5 \6/p' \
            "$WORK/main-seed-$i.log" | sed "s/^/    seed-$i /"
    done
fi
echo
VERSIONS="$("$RILL_BIN" --version 2>/dev/null | head -1), $(aria2c --version | head -1)"
case " $CLIENTS " in *" rqbit "*) VERSIONS="$VERSIONS, $("$RQBIT" --version 2>/dev/null | head -1)" ;; esac
echo "Versions: $VERSIONS."
