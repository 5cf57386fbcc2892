#!/usr/bin/env bash
# Builds bench/driver/range-driver.c (the C range driver of benchmarks (a) and (b)) into
# bench/driver/.build/range-driver, against libnghttp2 and OpenSSL (libssl, libcrypto), and
# prints the binary's path. Skips the build when the binary is newer than the source and this
# script. Needs a C compiler and the headers: on Debian, `bash bench/install-peers.sh`
# installs gcc, pkg-config, libnghttp2-dev and libssl-dev.
#
#   bash bench/driver/build.sh            # prints .../bench/driver/.build/range-driver
#   CC=clang bash bench/driver/build.sh
#
# Exit status: 0 built (or up to date), 3 when the compiler or a library's headers are
# missing (the message says which and how to install it), 1 when compiling failed otherwise.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$here/range-driver.c
out_dir=$here/.build
bin=$out_dir/range-driver
cc=${CC:-cc}

if [[ -x $bin && $bin -nt $src && $bin -nt ${BASH_SOURCE[0]} ]]; then
  echo "$bin"
  exit 0
fi

hint="on Debian: bash bench/install-peers.sh (or apt-get install gcc pkg-config libnghttp2-dev libssl-dev)"
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "range-driver build: no C compiler ($cc); $hint" >&2
  exit 3
fi

# Flags from pkg-config when it knows the libraries, else the plain library names.
cflags=()
libs=(-lnghttp2 -lssl -lcrypto)
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libnghttp2 openssl 2>/dev/null; then
  read -r -a cflags <<<"$(pkg-config --cflags libnghttp2 openssl)"
  read -r -a libs <<<"$(pkg-config --libs libnghttp2 openssl)"
fi

# Tell a missing header apart from a real compile error.
for header in nghttp2/nghttp2.h openssl/ssl.h; do
  if ! printf '#include <%s>\n' "$header" | "$cc" "${cflags[@]}" -E -x c - >/dev/null 2>&1; then
    echo "range-driver build: <$header> not found; $hint" >&2
    exit 3
  fi
done

mkdir -p "$out_dir"
tmp=$(mktemp "$out_dir/range-driver.XXXXXX")
trap 'rm -f "$tmp"' EXIT
if ! "$cc" -O2 -std=gnu11 -Wall -Wextra -o "$tmp" "$src" "${cflags[@]}" "${libs[@]}"; then
  echo "range-driver build: compiling $src failed" >&2
  exit 1
fi
chmod 755 "$tmp"
mv -f "$tmp" "$bin" # atomic: a concurrent build or run never sees half a binary
trap - EXIT
echo "$bin"
