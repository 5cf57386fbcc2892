#!/usr/bin/env bash
# User-space instructions per 64 KiB range, counted by valgrind's callgrind: a figure that does
# not move with the machine's load, unlike requests/s on a shared 2-core box. Each peer runs
# twice under callgrind, idle and under the C range driver (4 connections x 8 streams, random
# 64 KiB ranges of a 64 MiB file); (loaded - idle) / requests is what one request costs, kernel
# work (file reads, TCP) not included. Then the top functions of the loaded run.
#
#   bash bench/experiments/instructions-per-request.sh [ours|ours-async|ours-sync|floor|nginx ...] [--seconds N]
#
# ours runs with its default READ_MODE (auto); ours-async and ours-sync with READ_MODE=async, sync.
#
# Needs valgrind, openssl, curl, the C driver (bench/driver/build.sh) and, for nginx, nginx.
# Under callgrind a server runs ~50x slower: 60 s gives ~2,500 requests for ours.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
node_bin=$(find "$root/node_modules/node" -path '*/bin/node' -type f -size +10M | head -n 1)
driver="$root/bench/driver/.build/range-driver"
seconds=60
peers=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    *) peers+=("$1"); shift ;;
  esac
done
[ ${#peers[@]} -gt 0 ] || peers=(ours floor nginx)
for tool in valgrind callgrind_annotate openssl curl; do
  command -v "$tool" > /dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
[ -x "$driver" ] || bash "$root/bench/driver/build.sh"
[ -n "$node_bin" ] || { echo "no Node binary under node_modules/node: npm ci" >&2; exit 1; }

work=$(mktemp -d /tmp/instructions-XXXXXX)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
mkdir -p "$work/media" "$work/nginx"
head -c 67108864 /dev/urandom > "$work/media/bench.bin"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2> /dev/null
port=$((20000 + RANDOM % 20000))

# A peer's environment and command line (peer_env, peer_cmd), served at
# https://127.0.0.1:$port/media/bench.bin. The environment goes to valgrind itself: valgrind
# stops counting at an exec, so the server must be its direct child, not env's.
peer_env=()
peer_cmd=()
command_of() {
  peer_env=(MEDIA_ROOT="$work/media" PORT="$port" HOST=127.0.0.1 TLS_CERT="$work/cert.pem" TLS_KEY="$work/key.pem")
  case $1 in
    ours|ours-async|ours-sync)
      local mode=auto; [ "$1" = ours-async ] && mode=async; [ "$1" = ours-sync ] && mode=sync
      peer_env+=(LOG_LEVEL=warn DATA_DIR="$work" DRAIN_TIMEOUT_MS=100 MEDIA_PROBE=off READ_MODE=$mode)
      peer_cmd=("$node_bin" "$root/server/main.ts") ;;
    floor)
      peer_cmd=("$node_bin" "$root/bench/peers/node-floor-server.ts") ;;
    nginx)
      cat > "$work/nginx/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1;
$( [ "$(id -u)" = 0 ] && echo 'user root;' )
pid $work/nginx/nginx.pid; error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  default_type application/octet-stream; access_log off; sendfile on; tcp_nopush on;
  keepalive_requests 100000; http2_max_concurrent_streams 128;
  client_body_temp_path $work/nginx/cb; proxy_temp_path $work/nginx/p; fastcgi_temp_path $work/nginx/f;
  uwsgi_temp_path $work/nginx/u; scgi_temp_path $work/nginx/s;
  server {
    listen 127.0.0.1:$port ssl http2;
    ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
    location /media/ { alias $work/media/; }
  }
}
EOF
      peer_cmd=(nginx -c "$work/nginx/nginx.conf") ;;
    *) echo "unknown peer $1 (ours, ours-async, ours-sync, floor, nginx)" >&2; exit 2 ;;
  esac
}

# Runs a peer under callgrind, loads it for $2 seconds (0: idle), stops it; prints "Ir requests".
measure() {
  local peer=$1 secs=$2 out="$work/$1-$2.callgrind"
  command_of "$peer"
  env "${peer_env[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" "${peer_cmd[@]}" > "$work/$peer-$secs.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 180); do
    curl -sk -o /dev/null -H 'range: bytes=0-0' "https://127.0.0.1:$port/media/bench.bin" && break
    sleep 1
  done
  local requests=0
  if [ "$secs" -gt 0 ]; then
    requests=$("$driver" --url "https://127.0.0.1:$port/media/bench.bin" --file-bytes 67108864 --range-bytes 65536 \
      --connections 4 --streams 8 --duration-ms $((secs * 1000)) --warmup-ms 0 2> /dev/null |
      "$node_bin" -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{const r=JSON.parse(s);console.log(r.failed>0?-1:r.succeeded+r.inFlightAtEnd)})')
  fi
  kill -TERM "$pid" 2> /dev/null || true
  sleep 5
  kill -INT "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  echo "$(grep -a '^summary:' "$out" | awk '{print $2}') $requests"
}

for peer in "${peers[@]}"; do
  read -r idle _ < <(measure "$peer" 0)
  read -r loaded requests < <(measure "$peer" "$seconds")
  if [ "$requests" -le 0 ]; then echo "$peer: no clean requests" >&2; continue; fi
  echo "== $peer: $(( (loaded - idle) / requests )) instructions per request ($requests requests; idle run $idle, loaded run $loaded)"
  callgrind_annotate "$work/$peer-$seconds.callgrind" 2> /dev/null | grep -E '^ *[0-9,]+ \(' | sed -n '2,13p' | cut -c1-150
done
