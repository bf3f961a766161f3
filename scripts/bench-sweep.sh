#!/usr/bin/env bash
# Measures throughput and p99 latency against offered load with `cairn bench`, then draws
# docs/bench-load.svg. Usage: scripts/bench-sweep.sh [seconds per point] [rates...]
# Each point runs against a fresh `cairn serve --spawn`ed on a temporary data directory.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true
rates=("$@")
if [ ${#rates[@]} -eq 0 ]; then
  rates=(2000 5000 10000 15000 20000 25000 30000 40000)
fi
cargo build --release -p cairn-cli
out=target/bench-sweep
mkdir -p "$out"
rm -f "$out"/*.json
for r in "${rates[@]}"; do
  echo "offered $r entries/s" >&2
  ./target/release/cairn bench --spawn --writers 256 --rate "$r" --duration "$secs" \
    --verify-one-in 10 --quiet --json > "$out/rate-$r.json" || true
done
echo "closed loop" >&2
./target/release/cairn bench --spawn --writers 256 --duration "$secs" --verify-one-in 10 \
  --quiet --json > "$out/closed.json" || true
python3 scripts/plot_bench.py "$out" docs/bench-load.svg
