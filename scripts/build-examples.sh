#!/usr/bin/env bash
# Compiles every C workload to a WASI preview1 module:
#   examples/wasm/*.c        -> build/wasm/<name>.wasm
#   test/fixtures/wasm/*.c   -> build/wasm/fixtures/<name>.wasm
# Idempotent: an output newer than its source (and than this script) is left alone.
# Needs Debian's clang-14, lld-14 (wasm-ld), wasi-libc and libclang-rt-14-dev-wasm32.
# Override the compiler with CC=... (any clang with a wasm32-wasi sysroot).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build/wasm"
script="$root/scripts/build-examples.sh"

die() {
  echo "build-examples: $*" >&2
  exit 1
}

cc="${CC:-}"
if [[ -z "$cc" ]]; then
  for candidate in clang-14 clang; do
    if command -v "$candidate" >/dev/null 2>&1; then
      cc="$candidate"
      break
    fi
  done
fi
[[ -n "$cc" ]] || die "clang-14 not found in PATH (apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)"
command -v "$cc" >/dev/null 2>&1 || die "compiler '$cc' (from CC) not found in PATH"

# clang drives wasm-ld itself; name the missing piece instead of letting clang fail obscurely.
if ! command -v wasm-ld >/dev/null 2>&1 && ! command -v wasm-ld-14 >/dev/null 2>&1; then
  die "wasm-ld not found in PATH (apt-get install lld-14)"
fi
if [[ -z "${CC:-}" && ! -f /usr/lib/wasm32-wasi/libc.a ]]; then
  die "wasi-libc not found (/usr/lib/wasm32-wasi/libc.a missing; apt-get install wasi-libc)"
fi
if [[ -z "${CC:-}" ]] && ! compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a" >/dev/null; then
  die "libclang_rt.builtins-wasm32.a not found (apt-get install libclang-rt-14-dev-wasm32)"
fi

# wasm-ld's default 64 KiB stack overflows silently into static data: give every module 1 MiB.
cflags=(--target=wasm32-wasi -O2 -Wall -Werror -Wl,-z,stack-size=1048576 -Wl,--strip-debug)

built=0
skipped=0
compile() {
  local src="$1" dst="$2"
  if [[ -f "$dst" && "$dst" -nt "$src" && "$dst" -nt "$script" ]]; then
    skipped=$((skipped + 1))
    return
  fi
  mkdir -p "$(dirname "$dst")"
  # Build to a private temporary name, then rename: an interrupted build never leaves a truncated
  # module behind, and concurrent builds (parallel test files) never interleave their writes.
  local tmp="$dst.tmp.$$"
  if ! "$cc" "${cflags[@]}" -o "$tmp" "$src"; then
    rm -f "$tmp"
    die "failed to compile $src"
  fi
  mv -f "$tmp" "$dst"
  built=$((built + 1))
}

shopt -s nullglob
for src in "$root"/examples/wasm/*.c; do
  compile "$src" "$out/$(basename "${src%.c}").wasm"
done
for src in "$root"/test/fixtures/wasm/*.c; do
  compile "$src" "$out/fixtures/$(basename "${src%.c}").wasm"
done
echo "build-examples: $built built, $skipped up to date ($out)"
# The WASI conformance battery's programs (build/wasm/conformance/), same toolchain.
bash "$root/test/wasi-conformance/build.sh"
