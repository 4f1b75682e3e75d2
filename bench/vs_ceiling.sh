#!/usr/bin/env bash
# The reference load test: Carette's durable seat requests against a hyper + SQLite
# group-commit ceiling program, interleaved rounds in one run (see ../shared/bench).
# Builds the release binary first, installs wrk (and the aiosmtpd sink for `sink`) when
# missing, then prints each round's req/s, p50/p99 and the ratio to the ceiling.
#
# usage: bench/vs_ceiling.sh [conns=32] [rounds=3] [smtp: none|sink]
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${CARETTE_SHARED:-../shared}/bench/vs_ceiling.sh"
[ -x "$shared" ] || [ -f "$shared" ] || { echo "missing $shared (the shared benchmark folder)"; exit 2; }
need=(wrk bc curl)
[ "${3:-none}" = sink ] && need+=(python3-aiosmtpd)
for pkg in "${need[@]}"; do
  case $pkg in
    python3-aiosmtpd) /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null && continue ;;
    *) command -v "$pkg" >/dev/null && continue ;;
  esac
  apt-get install -y -qq "$pkg" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$pkg"; }
done
cargo build --release --quiet
bash "$shared" "${1:-32}" "${2:-3}" "${3:-none}"
