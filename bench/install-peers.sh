#!/usr/bin/env bash
# Installs the native peers of `npm run bench` from Debian: nginx, h2o, caddy, and h2load
# (nghttp2-client), plus what the C range driver (bench/driver/) is built with: gcc,
# pkg-config, libnghttp2-dev and libssl-dev; then builds the driver. Also haproxy and
# redis-server, which the scale-out test (test/integration/scale-out.test.ts) runs the same way.
# The bench starts each peer itself on a loopback port with a config of its
# own, so the packages' system services must not run: a policy-rc.d that refuses every start
# is in place while installing, and any nginx/h2o/caddy the packages started anyway (or that
# listens on 80/443) is stopped afterwards; haproxy and redis-server only when this run
# installed them (a Redis the machine already runs is someone's, and is left alone).
#
#   bash bench/install-peers.sh
set -euo pipefail

PACKAGES=(nginx h2o caddy nghttp2-client gcc pkg-config libnghttp2-dev libssl-dev haproxy redis-server)
# A file each package installs: present means installed.
FILES=(/usr/sbin/nginx /usr/bin/h2o /usr/bin/caddy /usr/bin/h2load /usr/bin/gcc /usr/bin/pkg-config
  /usr/include/nghttp2/nghttp2.h /usr/include/openssl/ssl.h /usr/sbin/haproxy /usr/bin/redis-server)

if [[ $(id -u) -ne 0 ]]; then
  SUDO=sudo
else
  SUDO=
fi

missing=()
for i in "${!PACKAGES[@]}"; do
  [[ -e ${FILES[$i]} ]] || missing+=("${PACKAGES[$i]}")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-peers: nginx, h2o, caddy, h2load, haproxy, redis-server and the range driver's build deps are already installed"
else
  export DEBIAN_FRONTEND=noninteractive
  # Keep maintainer scripts from starting services (invoke-rc.d asks policy-rc.d; 101 = no).
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    created_policy=1
  fi
  trap '[[ $created_policy -eq 1 ]] && $SUDO rm -f "$policy"' EXIT

  # apt-get update only when the package lists are missing or do not know a package yet.
  if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
    $SUDO apt-get update -qq
  fi
  echo "install-peers: installing ${missing[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
fi

# Whatever started anyway (a sysvinit script, a package without policy-rc.d support): stop it.
stoppable=(nginx h2o caddy)
for service in haproxy redis-server; do
  [[ " ${missing[*]:-} " == *" $service "* ]] && stoppable+=("$service")
done
for service in "${stoppable[@]}"; do
  if [[ -x /etc/init.d/$service ]] && pgrep -x "$service" >/dev/null 2>&1; then
    $SUDO /etc/init.d/"$service" stop >/dev/null 2>&1 || true
  fi
done
for service in "${stoppable[@]}"; do
  # Only daemons the packages started: their pid files live in /run (the bench's are in temp dirs).
  for pidfile in /run/$service.pid /var/run/$service.pid /run/$service/$service.pid /run/redis/$service.pid; do
    if [[ -r $pidfile ]]; then
      pid=$(cat "$pidfile")
      if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        echo "install-peers: stopping $service (pid $pid) started by the package"
        $SUDO kill -TERM "$pid" || true
      fi
    fi
  done
done
if command -v ss >/dev/null 2>&1; then
  busy=$(ss -Hltnp '( sport = :80 or sport = :443 )' 2>/dev/null || true)
  if [[ -n $busy ]]; then
    echo "install-peers: warning: something still listens on port 80 or 443:" >&2
    echo "$busy" >&2
  fi
fi

echo "install-peers: versions"
# The first line of each; sed reads every line, so no program dies of SIGPIPE (pipefail: exit 141).
/usr/sbin/nginx -v 2>&1 | sed 's/^/  /'
/usr/bin/h2o --version 2>&1 | sed -n '1s/^/  /p'
/usr/bin/caddy version 2>&1 | sed -n '1s/^/  caddy /p'
/usr/bin/h2load --version 2>&1 | sed -n '1s/^/  /p'
/usr/sbin/haproxy -v 2>&1 | sed -n '1s/^/  /p'
/usr/bin/redis-server --version 2>&1 | sed -n '1s/^/  /p'

# The C range driver: build it now, so a compile error shows here rather than mid-bench.
driver=$(bash "$(dirname "${BASH_SOURCE[0]}")/driver/build.sh")
"$driver" --version 2>&1 | sed 's/^/  /'
