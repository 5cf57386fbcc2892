#!/usr/bin/env bash
# Requests/s on 64 KiB ranges (the C range driver, 20 connections x 10 streams, 8 s) for
# READ_MODE=async (the default), async with libuv's io_uring (UV_USE_IO_URING=1) and
# READ_MODE=auto, in alternating rounds so the shared machine's drift hits all three alike.
#
#   bash bench/experiments/read-modes.sh [rounds=3]
#
# Loopback only; one server at a time on a free port; a 64 MiB random file in a temp folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
node_bin="$root/node_modules/.bin/node"
driver="$root/bench/driver/.build/range-driver"
[ -x "$driver" ] || bash "$root/bench/driver/build.sh"
rounds=${1:-3}
work=$(mktemp -d /tmp/read-modes-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/media" "$work/data"
head -c 67108864 /dev/urandom > "$work/media/bench.bin"
port=$((20000 + RANDOM % 20000))

run() {
  local name=$1; shift
  env "$@" PORT=$port HOST=127.0.0.1 MEDIA_ROOT="$work/media" DATA_DIR="$work/data" LOG_LEVEL=warn MEDIA_PROBE=off \
    "$node_bin" "$root/server/start.js" > /dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -sk "https://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
  local rate
  rate=$("$driver" --url "https://127.0.0.1:$port/media/bench.bin" --file-bytes 67108864 --range-bytes 65536 \
    --connections 20 --streams 10 --duration-ms 8000 2> /dev/null | grep -o '"requestsPerSec":[0-9.]*' | cut -d: -f2)
  kill -TERM "$pid"; wait "$pid" 2> /dev/null || true
  echo "$name $rate"
}

for _ in $(seq "$rounds"); do
  run async READ_MODE=async
  run io_uring READ_MODE=async UV_USE_IO_URING=1
  run auto READ_MODE=auto
done
