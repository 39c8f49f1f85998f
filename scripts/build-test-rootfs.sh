#!/usr/bin/env bash
# Builds the test root filesystem for the container tier from Debian's busybox-static, without the
# internet:
#   build/rootfs/busybox/rootfs/             /bin/busybox, one symlink per applet, /etc/passwd (root,
#                                            nobody), /etc/group, the scripts of test/fixtures/rootfs/
#                                            in /usr/local/bin, minimal directories
#   build/rootfs/busybox/image-config.json   the image config beside it (see
#                                            src/sandbox/container/image-config.ts for the format)
# The container driver takes `build/rootfs/busybox/rootfs` as SandboxSpec.image.
# Idempotent: rebuilt only when busybox, a fixture script or this script is newer than the stamp.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build/rootfs/busybox"
fixtures="$root/test/fixtures/rootfs"
stamp="$out/.built"
busybox=/bin/busybox

die() {
  echo "build-test-rootfs: $*" >&2
  exit 1
}

[[ -x "$busybox" ]] || die "$busybox not found (apt-get install busybox-static)"
# A dynamically linked busybox would need the host's libc inside the rootfs.
if command -v ldd >/dev/null && ldd "$busybox" >/dev/null 2>&1; then
  die "$busybox is dynamically linked (install busybox-static, not busybox)"
fi

if [[ -f "$stamp" ]]; then
  stale=0
  for f in "$busybox" "${BASH_SOURCE[0]}" "$fixtures"/*.sh; do
    [[ "$f" -nt "$stamp" ]] && stale=1
  done
  [[ "$stale" == 0 ]] && exit 0
fi

# Build beside the old tree and swap, so a failed build never leaves a half-made rootfs behind.
tmp="$(mktemp -d "$root/build/.rootfs-busybox.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
rfs="$tmp/rootfs"
mkdir -p "$rfs"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,proc,sys,dev,tmp,root,home,run,var/tmp,var/www}
chmod 1777 "$rfs/tmp" "$rfs/var/tmp"
chmod 700 "$rfs/root"
install -m 0755 "$busybox" "$rfs/bin/busybox"
# One symlink per applet at the path busybox itself names (bin/sh, usr/bin/wget, ...).
"$busybox" --list-full | while read -r applet; do
  [[ "$applet" == bin/busybox ]] && continue
  ln -sf /bin/busybox "$rfs/$applet"
done
cat >"$rfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$rfs/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
# Mount points the container tier binds per pod; present so a read-only rootfs needs no changes.
: >"$rfs/etc/hosts"
: >"$rfs/etc/hostname"
: >"$rfs/etc/resolv.conf"
for script in "$fixtures"/*.sh; do
  install -m 0755 "$script" "$rfs/usr/local/bin/$(basename "$script" .sh)"
done
cat >"$tmp/image-config.json" <<'CONFIG'
{
  "cmd": ["sh"],
  "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  "workingDir": "/",
  "stopSignal": "SIGTERM"
}
CONFIG
touch "$tmp/.built"

mkdir -p "$(dirname "$out")"
if [[ -d "$out" ]]; then
  old="$(mktemp -d "$root/build/.rootfs-old.XXXXXX")"
  mv "$out" "$old/"
  mv "$tmp" "$out"
  rm -rf "$old"
else
  mv "$tmp" "$out"
fi
trap - EXIT
echo "build-test-rootfs: built $out"
