#!/usr/bin/env bash
# bench/crypto.sh — the cost of MSE/PE: rill downloading with
# `--encryption require` (RC4 both ways) against `--encryption off`
# (plain BitTorrent), with aria2c requiring RC4 in the same run.
#
# Same swarm as bench/download.sh (1 GiB by default, seeded by aria2c and
# transmission-daemon through opentracker on loopback; both seeders accept
# encrypted and plain peers), same checks (every download compared byte for
# byte with the source) and the same table, with the ratios against
# `rill-off`. Runs are interleaved: require, off, aria2-crypto, require, ...
#
# Usage: bench/crypto.sh   (from the repository root; every BENCH_* knob of
# bench/download.sh works, e.g. BENCH_RUNS=5, BENCH_SIZE_MB=256, and
# BENCH_CLIENTS="rill-require rill-off aria2-crypto rqbit" adds rqbit, which
# has no encryption).
#
# Not for CI: it moves gigabytes and wants a quiet machine.

set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BENCH_CLIENTS=${BENCH_CLIENTS:-"rill-require rill-off aria2-crypto"}
export BENCH_BASE=${BENCH_BASE:-rill-off}
export BENCH_NET=${BENCH_NET:-127.78.0}
exec "$ROOT/bench/download.sh" "$@"
