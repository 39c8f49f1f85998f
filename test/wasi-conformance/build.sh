#!/usr/bin/env bash
# Builds the WASI conformance battery: test/wasi-conformance/programs/*.c -> build/wasm/conformance/<name>.wasm
# (clang-14 --target=wasm32-wasi with Debian's wasi-libc; the same toolchain checks as build-examples.sh).
# Idempotent: an output newer than its source, the shared header and this script is left alone.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/build/wasm/conformance"
cc="${CC:-}"
if [[ -z "$cc" ]]; then
  for candidate in clang-14 clang; do
    if command -v "$candidate" >/dev/null 2>&1; then cc="$candidate" && break; fi
  done
fi
[[ -n "$cc" ]] || { echo "wasi-conformance: clang-14 not found" >&2; exit 1; }
cflags=(--target=wasm32-wasi -O2 -Wall -Werror -Wno-unused-function -Wl,-z,stack-size=1048576 -Wl,--strip-debug)
mkdir -p "$out"
built=0
for src in "$here"/programs/*.c; do
  dst="$out/$(basename "${src%.c}").wasm"
  if [[ -f "$dst" && "$dst" -nt "$src" && "$dst" -nt "$here/programs/conformance.h" && "$dst" -nt "$here/build.sh" ]]; then
    continue
  fi
  tmp="$dst.tmp.$$"
  "$cc" "${cflags[@]}" -o "$tmp" "$src" || { rm -f "$tmp"; echo "wasi-conformance: failed to compile $src" >&2; exit 1; }
  mv -f "$tmp" "$dst"
  built=$((built + 1))
done
echo "wasi-conformance: $built built ($out)"
