#!/usr/bin/env bash
# bench/arm_counts.sh — instructions per MiB on armv7 and aarch64 (and
# x86-64 as the bridge to bench/transport.sh's callgrind counts), counted
# under qemu-user, where wall time means nothing.
#
# The counter is a TCG plugin of our own (bench/arm/insn_count.rs, built
# for the host): qemu-user runs the guest program and the plugin adds up
# every guest instruction executed, in all its threads. Each cost is
# measured at two sizes and divided by the difference, so start-up, key
# setup and the handshake cancel out:
#   rc4           bench/arm/rc4_loop.rs: rill's src/crypto/rc4.rs (by
#                 #[path]) XORing its keystream into a 1 MiB buffer N times
#   rill-tcp      a rill download, --utp off --encryption off (the base)
#   rill-utp      --encryption off, uTP only: an nftables rule in the
#                 namespace refuses TCP to the peer port while it runs
#   rill-require  --utp off --encryption require (RC4 both ways)
#   rill-utp-require  --encryption require over uTP only (RC4 + uTP)
# The downloads run as bench/transport.sh's do, in a network namespace of
# their own: opentracker and one (BENCH_SEEDERS=2: two) native
# `rill download --seed` per torrent on its loopback, and the downloader,
# built for the target, under qemu. Every download is compared byte for
# byte with the source, and its debug log must show the transport and
# encryption asked for (all clients log at debug, so logging costs them
# the same). The report also says which SHA-1 rill chose on each arch.
# Not counted: the kernel (qemu-user runs system calls on the host).
# The rill binaries are release builds (opt-level "s", as shipped); the
# RC4 loop is compiled with the same flags.
#
# Usage: bench/arm_counts.sh   (root; from the repository root)
#   BENCH_ARCHS="x86_64 aarch64 armv7"  BENCH_SIZES_MB="4 12"  BENCH_RUNS=3
#   BENCH_CLIENTS="rill-tcp rill-utp rill-require rill-utp-require"
#   BENCH_RC4_MB="16 48"
#   BENCH_SEEDERS=1 (or 2, as transport.sh)  BENCH_PIECE_LOG2=20  BENCH_TIMEOUT=600
#   BENCH_NETNS=arm-bench-PID
#   RILL_BIN=...           the host rill (the seeders; the x86_64 downloader)
#   RILL_AARCH64_BIN=...  RILL_ARMV7_BIN=...   the target rills (default:
#                          cargo build --release --target ..., with the
#                          cross linkers of gcc-aarch64-linux-gnu and
#                          gcc-arm-linux-gnueabihf and rustup's target std)
#   BENCH_KEEP=1  BENCH_DIR=...
#
# Needs: qemu-user 7.x (its binaries export the plugin API), rustup targets
# aarch64-unknown-linux-gnu and armv7-unknown-linux-gnueabihf, the cross
# gcc and libc packages above, opentracker, mktorrent, nftables, iproute2.
# Takes a few minutes at the default sizes.

set -euo pipefail
BENCH_NAME=arm_counts.sh
. "$(dirname "$0")/lib.sh"

ARCHS=${BENCH_ARCHS:-"x86_64 aarch64 armv7"}
SIZES=${BENCH_SIZES_MB:-"4 12"}
RC4_MB=${BENCH_RC4_MB:-"16 48"}
# Per arch: TRIPLE (Rust target), GNU (cross gcc prefix), QEMU, SYSROOT
# (qemu's -L, where the target's dynamic loader and libc are).
arch_info() {
    case $1 in
        x86_64) TRIPLE=x86_64-unknown-linux-gnu GNU="" QEMU=qemu-x86_64 SYSROOT=/ ;;
        aarch64) TRIPLE=aarch64-unknown-linux-gnu GNU=aarch64-linux-gnu QEMU=qemu-aarch64 SYSROOT=/usr/aarch64-linux-gnu ;;
        armv7) TRIPLE=armv7-unknown-linux-gnueabihf GNU=arm-linux-gnueabihf QEMU=qemu-arm SYSROOT=/usr/arm-linux-gnueabihf ;;
        *) die "unknown arch $1 (known: x86_64 aarch64 armv7)" ;;
    esac
}
# per_mib A B MA MB: (B - A) / (MB - MA), the count per MiB.
per_mib() { awk -v a="$1" -v b="$2" -v ma="$3" -v mb="$4" 'BEGIN { printf "%.0f\n", (b - a) / (mb - ma) }'; }
two_sizes() { [ "$(wc -w <<<"$1")" = 2 ] || die "$2 wants two sizes in MiB, got '$1'"; }
two_sizes "$SIZES" BENCH_SIZES_MB
two_sizes "$RC4_MB" BENCH_RC4_MB

# --- outside the namespace: builds, and the RC4 loop ----------------------------
if [ -z "${RILL_BENCH_IN_NETNS:-}" ]; then
    [ "$(id -u)" = 0 ] || die "needs root (a network namespace, nftables)"
    need_tools "Debian packages: iproute2 nftables" ip nft
    need_tools "rustup" rustc cargo rustup
    rill_bin
    OUT_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/arm-counts
    mkdir -p "$OUT_DIR"
    RELEASE_FLAGS=(-C opt-level=s -C panic=abort -C codegen-units=1)
    log "building the instruction counter (a qemu plugin, for the host)"
    rustc --edition 2021 -O --crate-type cdylib -o "$OUT_DIR/libinsn_count.so" "$ROOT/bench/arm/insn_count.rs" \
        || die "building bench/arm/insn_count.rs failed"
    export INSN_PLUGIN=$OUT_DIR/libinsn_count.so
    installed=$(rustup target list --installed)
    for arch in $ARCHS; do
        arch_info "$arch"
        need_tools "Debian package qemu-user" "$QEMU"
        "$QEMU" -h | grep -q -- '^-plugin' || die "$QEMU has no -plugin option (qemu-user 4.2 or later with plugins)"
        linker=()
        if [ -n "$GNU" ]; then
            need_tools "Debian packages gcc-$GNU, libc6-dev-*-cross" "$GNU-gcc"
            grep -qx "$TRIPLE" <<<"$installed" || die "no Rust std for $TRIPLE: rustup target add $TRIPLE"
            linker=(-C "linker=$GNU-gcc")
        fi
        rustc --edition 2021 "${RELEASE_FLAGS[@]}" --target "$TRIPLE" "${linker[@]}" \
            -o "$OUT_DIR/rc4_loop-$arch" "$ROOT/bench/arm/rc4_loop.rs" || die "building rc4_loop for $TRIPLE failed"
        var=RILL_${arch^^}_BIN
        if [ "$arch" = x86_64 ]; then
            export RILL_X86_64_BIN=$RILL_BIN
        elif [ -z "${!var:-}" ]; then
            log "building rill for $TRIPLE (release)"
            up=$(tr 'a-z-' 'A-Z_' <<<"$TRIPLE"); lo=${TRIPLE//-/_}
            (cd "$ROOT" && env "CARGO_TARGET_${up}_LINKER=$GNU-gcc" "CC_$lo=$GNU-gcc" "AR_$lo=$GNU-ar" \
                cargo build --release --locked --quiet --bin rill --target "$TRIPLE") || die "cargo build --target $TRIPLE failed"
            export "$var=${CARGO_TARGET_DIR:-$ROOT/target}/$TRIPLE/release/rill"
        fi
        [ -x "${!var}" ] || die "no rill binary at ${!var} ($var)"
        export "${var?}"
    done

    # RC4: deterministic, one count per size.
    RC4_RESULT=""
    echo "### RC4 keystream XOR under qemu-user ($(date -u +%Y-%m-%d), $RC4_MB MiB)"
    echo
    echo "| arch | instructions per MiB | per byte |"
    echo "|---|---:|---:|"
    for arch in $ARCHS; do
        arch_info "$arch"
        counts=()
        for mb in $RC4_MB; do
            f=$(mktemp)
            "$QEMU" -L "$SYSROOT" -plugin "$INSN_PLUGIN,out=$f" "$OUT_DIR/rc4_loop-$arch" "$mb" >/dev/null \
                || die "rc4_loop $mb under $QEMU failed"
            counts+=("$(cat "$f")"); rm -f "$f"
        done
        # shellcheck disable=SC2086
        pm=$(per_mib "${counts[0]}" "${counts[1]}" $RC4_MB)
        RC4_RESULT+="$arch:$pm "
        awk -v a="$arch" -v p="$pm" 'BEGIN { printf "| %s | %d | %.2f |\n", a, p, p / 1048576 }'
    done
    echo
    export RC4_RESULT INSN_PLUGIN
    bench_in_netns arm-bench "$@"
fi

# --- inside: the downloads ------------------------------------------------------
RUNS=${BENCH_RUNS:-3}
CLIENTS=${BENCH_CLIENTS:-"rill-tcp rill-utp rill-require rill-utp-require"}
PIECE_LOG2=${BENCH_PIECE_LOG2:-20}
TIMEOUT=${BENCH_TIMEOUT:-600}
SEEDERS=${BENCH_SEEDERS:-1}
case $SEEDERS in 1 | 2) ;; *) die "BENCH_SEEDERS is 1 or 2, not $SEEDERS" ;; esac
TRACKER=127.0.0.1:6969
PEER_PORT=51001
LEECH=127.0.0.10

need_tools "Debian packages: opentracker mktorrent curl" opentracker mktorrent curl
bench_workdir rill-arm-counts

tcp_refused() { tcp_refused_to "$PEER_PORT" "$1"; }
bench_on_exit() { tcp_refused off; }

# One torrent per size, each with its seeders on addresses of their own.
HASHES=()
for mb in $SIZES; do
    d="$WORK/t$mb"; name="bench-${mb}MiB.bin"
    mkdir -p "$d/seed-0" "$d/seed-1"
    head -c "$((mb * 1024 * 1024))" /dev/urandom >"$d/seed-0/$name"
    cp "$d/seed-0/$name" "$d/seed-1/"
    mktorrent -l "$PIECE_LOG2" -a "http://$TRACKER/announce" -o "$d/$name.torrent" "$d/seed-0/$name" >/dev/null
    HASHES+=("$(info_hash "$d/$name.torrent")")
done
start_tracker "${HASHES[@]}"
first=20
for mb in $SIZES; do
    d="$WORK/t$mb"
    for i in $(seq 0 $((SEEDERS - 1))); do
        "$RILL_BIN" download "$d/bench-${mb}MiB.bin.torrent" --out "$d/seed-$i" --seed --no-dht \
            --listen "127.0.0.$((first + i)):$PEER_PORT" >"$WORK/seed-$mb-$i.log" 2>&1 &
        PIDS+=($!)
    done
    first=$((first + 2))
done
log "waiting for the seeders"
for h in "${HASHES[@]}"; do wait_seeders "$h" "$SEEDERS" 120 1 "${PIDS[@]}"; done

# check_log CLIENT LOG: the connections were of the kind asked for.
check_log() {
    local c=$1 f=$2
    grep -q ': connected (' "$f" || die "$c: no peer connection logged in $f"
    case $c in
        *-utp*) ! grep -q ') over TCP' "$f" || die "$c: a TCP connection in $f" ;;
        *) ! grep -q ') over uTP' "$f" || die "$c: a uTP connection in $f" ;;
    esac
    case $c in
        *-require) ! grep -q ', plaintext) over' "$f" || die "$c: a plaintext connection in $f" ;;
        *) ! grep -q ', RC4) over' "$f" || die "$c: an RC4 connection in $f" ;;
    esac
}

RESULTS="$WORK/results.txt"
: >"$RESULTS"
# count ARCH CLIENT MIB RUN: one download under qemu, its count into RESULTS.
count() {
    local arch=$1 c=$2 mb=$3 run=$4 d="$WORK/t$3" out="$WORK/out" var cnt logf flags
    arch_info "$arch"
    var=RILL_${arch^^}_BIN
    cnt="$WORK/count-$arch-$c-$mb-$run"; logf="$WORK/$arch-$c-$mb-$run.log"
    case $c in
        rill-tcp) flags=(--utp off --encryption off) ;;
        rill-utp) flags=(--encryption off) ;;
        rill-require) flags=(--utp off --encryption require) ;;
        rill-utp-require) flags=(--encryption require) ;;
        *) die "unknown client $c" ;;
    esac
    rm -rf "$out"; mkdir -p "$out"
    log "run $run: $arch $c $mb MiB"
    case $c in *-utp*) tcp_refused on ;; esac
    if ! RILL_LOG=debug timeout "$TIMEOUT" "$QEMU" -L "$SYSROOT" -plugin "$INSN_PLUGIN,out=$cnt" \
        "${!var}" download "$d/bench-${mb}MiB.bin.torrent" --out "$out" --listen "$LEECH:$PEER_PORT" --no-dht \
        "${flags[@]}" >"$logf" 2>&1; then
        tcp_refused off; tail -20 "$logf" >&2; die "$arch $c ($mb MiB) failed or timed out"
    fi
    tcp_refused off
    cmp -s "$d/seed-0/bench-${mb}MiB.bin" "$out/bench-${mb}MiB.bin" || die "$arch $c: the download differs from the source"
    check_log "$c" "$logf"
    # Which SHA-1 rill chose (it decides at run time from the CPU's features).
    if grep -q "SHA-1: using the CPU's SHA instructions" "$logf"; then
        echo "$arch the CPU's SHA-1 instructions" >>"$WORK/sha1.txt"
    else
        echo "$arch portable SHA-1 (sha1_smol)" >>"$WORK/sha1.txt"
    fi
    [ -s "$cnt" ] || die "$arch $c: the plugin wrote no count"
    echo "$arch $c $mb $run $(cat "$cnt")" >>"$RESULTS"
    rm -rf "$out"
}

for run in $(seq "$RUNS"); do
    for arch in $ARCHS; do
        for c in $CLIENTS; do
            for mb in $SIZES; do count "$arch" "$c" "$mb" "$run"; done
        done
    done
done

# --- report ---------------------------------------------------------------------
# shellcheck disable=SC2086
set -- $SIZES
S1=$1 S2=$2
# per_run ARCH CLIENT: the per-MiB count of each run, one a line.
per_run() {
    awk -v a="$1" -v c="$2" -v s1="$S1" -v s2="$S2" '
        $1 == a && $2 == c && $3 == s1 { x[$4] = $5 }
        $1 == a && $2 == c && $3 == s2 { y[$4] = $5 }
        END { for (r in y) if (r in x) printf "%.0f\n", (y[r] - x[r]) / (s2 - s1) }' "$RESULTS"
}
rc4_of() { tr ' ' '\n' <<<"$RC4_RESULT" | awk -F: -v a="$1" '$1 == a { print $2 }'; }
echo "### rill downloads under qemu-user, instructions per MiB ($S2 MiB minus $S1 MiB, $SEEDERS seeder(s); $(date -u +%Y-%m-%d), median of $RUNS)"
echo
# The last column: what RC4 adds over the same transport in plaintext, in
# passes of the RC4 loop over each byte (1.00: every byte decrypted once).
echo "| arch | client | instructions per MiB | min-max of the runs | / rill-tcp | over rill-tcp, per MiB | RC4 passes |"
echo "|---|---|---:|---|---:|---:|---:|"
for arch in $ARCHS; do
    base=$(per_run "$arch" rill-tcp | median)
    utp=$(per_run "$arch" rill-utp | median)
    rc4=$(rc4_of "$arch")
    for c in $CLIENTS; do
        m=$(per_run "$arch" "$c" | median)
        range=$(per_run "$arch" "$c" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }')
        awk -v a="$arch" -v c="$c" -v m="$m" -v r="$range" -v b="$base" -v u="$utp" -v k="${rc4:-0}" '
            BEGIN {
                d = m - b
                plain = (c == "rill-utp-require" ? u : b)
                printf "| %s | %s | %d | %s | %s | %s | %s |\n", a, c, m, r,
                    (b > 0 ? sprintf("%.2f", m / b) : "-"), (c == "rill-tcp" ? "-" : sprintf("%d", d)),
                    (c ~ /require$/ && k > 0 && plain != "nan" ? sprintf("%.2f", (m - plain) / k) : "-")
            }'
    done
done
echo
echo "SHA-1 used by the downloads (from their debug logs):"
sort "$WORK/sha1.txt" | uniq -c | sed 's/^/    /'
echo
echo "Counts (arch client MiB run instructions):"
sed 's/^/    /' "$RESULTS"
echo
QEMUS=$(for arch in $ARCHS; do arch_info "$arch"; "$QEMU" --version | head -1; done | sort -u | paste -sd, | sed 's/,/, /g')
echo "Versions: $("$RILL_BIN" --version 2>/dev/null | head -1), $(rustc --version), $QEMUS."
