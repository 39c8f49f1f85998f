#!/usr/bin/env bash
# Builds the OCI test images from Debian's busybox-static, with no download:
#   build/images/busybox   /bin/busybox + a symlink per applet, /etc/passwd, /tmp; Cmd /bin/sh
#   build/images/true      the same layer; Cmd /bin/true (the start-to-exit benchmark image)
#   build/images/httpd     + a layer with /var/www/index.html; busybox httpd on port 8080
#   build/images/layered   + a layer adding /data files, + a layer deleting one (whiteout) and
#                          replacing a directory's contents (opaque whiteout)
# Each is an OCI image layout tagged "latest" (skopeo: oci:build/images/busybox:latest).
# Reproducible (same digests on every machine with the same busybox) and idempotent: nothing is rebuilt
# while busybox and these scripts are unchanged. Needs busybox-static (apt-get install busybox-static).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build/images"
lib="$root/test/fixtures/images/oci-lib.sh"
# busybox-static installs /bin/busybox; the dynamically linked `busybox` package would not run in an
# empty rootfs, so insist on the static one.
busybox="${BUSYBOX:-/bin/busybox}"

die() {
  echo "build-test-images: $*" >&2
  exit 1
}
[[ -x "$busybox" ]] || die "$busybox not found (apt-get install busybox-static)"
if command -v file >/dev/null 2>&1 && ! file -L "$busybox" | grep -q 'statically linked'; then
  die "$busybox is not statically linked (apt-get install busybox-static)"
fi

stamp="$(cat "$busybox" "$lib" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"
up_to_date() { [[ -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp" ]]; }
if up_to_date; then
  echo "build-test-images: up to date ($out)"
  exit 0
fi
# Test files run in parallel and each may call this script: one builds, the others wait and reuse.
mkdir -p "$root/build"
exec 9>"$root/build/.images.lock"
flock 9
if up_to_date; then
  echo "build-test-images: up to date ($out)"
  exit 0
fi

# shellcheck source=../test/fixtures/images/oci-lib.sh
source "$lib"

# Build beside the destination, then swap it in: an interrupted run never leaves a half layout.
work="$(mktemp -d "$root/build/.images.XXXXXX")"
trap 'rm -rf "$work"' EXIT
stage="$work/images"
mkdir -p "$stage"

# Layer 1: busybox with every applet, a minimal /etc and a world-writable /tmp.
base="$work/rootfs-base"
mkdir -p "$base/bin" "$base/etc" "$base/tmp" "$base/root" "$base/var/www"
cp "$busybox" "$base/bin/busybox"
chmod 0755 "$base/bin/busybox"
for applet in $("$busybox" --list); do
  [[ "$applet" == busybox ]] || ln -sf busybox "$base/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$base/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$base/etc/group"
chmod 1777 "$base/tmp"
chmod 0700 "$base/root"

env_path='"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'

image_with_base() {
  LAYERS=()
  DIFF_IDS=()
  oci_layer "$1" "$base"
}

image_with_base "$stage/busybox"
oci_image "$stage/busybox" latest "{$env_path,\"Cmd\":[\"/bin/sh\"]}" >/dev/null

image_with_base "$stage/true"
oci_image "$stage/true" latest "{$env_path,\"Cmd\":[\"/bin/true\"]}" >/dev/null

www="$work/rootfs-www"
mkdir -p "$www/var/www"
printf 'hello from strata httpd\n' >"$www/var/www/index.html"
image_with_base "$stage/httpd"
oci_layer "$stage/httpd" "$www"
oci_image "$stage/httpd" latest \
  "{$env_path,\"Cmd\":[\"/bin/httpd\",\"-f\",\"-v\",\"-p\",\"8080\",\"-h\",\"/var/www\"],\"ExposedPorts\":{\"8080/tcp\":{}}}" >/dev/null

add="$work/rootfs-add"
mkdir -p "$add/data/dir"
printf 'kept\n' >"$add/data/keep"
printf 'deleted by the next layer\n' >"$add/data/gone"
printf 'hidden by the opaque whiteout\n' >"$add/data/dir/old"
del="$work/rootfs-del"
mkdir -p "$del/data/dir"
: >"$del/data/.wh.gone"
: >"$del/data/dir/.wh..wh..opq"
printf 'new\n' >"$del/data/dir/new"
image_with_base "$stage/layered"
oci_layer "$stage/layered" "$add"
oci_layer "$stage/layered" "$del"
oci_image "$stage/layered" latest "{$env_path,\"Cmd\":[\"/bin/sh\"]}" >/dev/null

echo "$stamp" >"$stage/.stamp"
rm -rf "$out.old"
[[ -d "$out" ]] && mv "$out" "$out.old"
mv "$stage" "$out"
rm -rf "$out.old"
echo "build-test-images: built busybox, true, httpd, layered ($out)"
