// The Strata init of a microVM guest (PID 1, run by the kernel from the initramfs as /init) and the
// per-sandbox configuration it reads.
//
// The init is busybox sh (busybox-static is in the initramfs): it loads the virtio modules, waits for
// the rootfs disk and the virtio-serial ports, mounts the image's disk as /newroot, and runs the workload
// chrooted there with the OCI config applied (env, working directory, hostname), its stdout and stderr
// on their own virtio-serial ports (files on the host: nothing of the workload's output goes through the
// agent), stdin from /dev/null. It forwards signals that arrive on the `strata.signal` port, waits for the
// workload, kills what is left, writes `exit <code>` on the `strata.exit` port and powers off (QEMU runs
// with -no-reboot, so the VM's reboot is QEMU's exit). Stage times (guest uptime) go to the serial
// console as `strata-init: t=<s> <stage>`: they say where boot time goes.
//
// The configuration is a shell fragment in a small cpio appended to the cached initramfs (one per
// sandbox); every value in it is single-quoted (shellQuote), so nothing of the pod is ever evaluated.

/** virtio-serial port names, shared by the QEMU command line and the init. */
export const PORTS = {
  stdout: 'strata.stdout',
  stderr: 'strata.stderr',
  exit: 'strata.exit',
  signal: 'strata.signal',
  /** The exec helper's multiplexed sessions (guest/vmexec.c, exec-channel.ts). */
  exec: 'strata.exec',
} as const;

/** virtio-blk serial of the image's root disk; volume disks are `v0`, `v1`, … (volumes.ts). */
export const ROOT_SERIAL = 'root';

/** Applets the init calls, linked to /bin/busybox in the initramfs. */
export const INIT_APPLETS = [
  'sh',
  'mount',
  'umount',
  'insmod',
  'hostname',
  'chroot',
  'env',
  'sync',
  'reboot',
  'cat',
  'sleep',
  'mkdir',
  'kill',
  'ls',
  'nsenter',
  'ip',
  'touch',
  'rm',
  // Live volumes (live-volumes.ts): copied into a tmpfs, files rewritten from the control port.
  'cp',
  'mv',
  'chown',
  'chmod',
  'base64',
];

export const INIT_SCRIPT = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "strata-init: $*" > /dev/ttyS0; }
stage() { read -r up _ < /proc/uptime; say "t=$up $*"; }
EXIT_PORT=/dev/null
finish() {
  echo "$1" > "$EXIT_PORT"
  sync
  reboot -f
}
die() { say "$*"; finish "error $*"; }
stage kernel-done
for m in $(cat /strata/modules); do insmod "/lib/modules/$m.ko" || say "insmod $m failed"; done
stage modules
. /strata/config
# Devices and virtio-serial ports appear asynchronously after the modules load.
port() {
  for p in /sys/class/virtio-ports/*; do
    [ -e "$p/name" ] && [ "$(cat "$p/name")" = "$1" ] && { echo "/dev/\${p##*/}"; return 0; }
  done
  return 1
}
# Block devices by their virtio serial (the order of virtio-mmio devices is not the command line's).
blockdev() {
  for d in /sys/block/vd*; do
    [ "$(cat "$d/serial" 2> /dev/null)" = "$1" ] && { echo "/dev/\${d##*/}"; return 0; }
  done
  return 1
}
devices_ready() {
  EXIT_PORT=$(port ${PORTS.exit}) && OUT_PORT=$(port ${PORTS.stdout}) && ERR_PORT=$(port ${PORTS.stderr}) &&
    SIG_PORT=$(port ${PORTS.signal}) && EXEC_PORT=$(port ${PORTS.exec}) || return 1
  for p in "$EXIT_PORT" "$OUT_PORT" "$ERR_PORT" "$SIG_PORT" "$EXEC_PORT"; do [ -e "$p" ] || return 1; done
  for s in ${ROOT_SERIAL} $STRATA_DISKS; do dev=$(blockdev "$s") && [ -b "$dev" ] || return 1; done
  [ -z "$STRATA_IP" ] || [ -e /sys/class/net/eth0 ] || return 1
}
i=0
until devices_ready; do
  i=$((i + 1))
  [ $i -gt 1000 ] && { EXIT_PORT=\${EXIT_PORT:-/dev/null}; die "virtio devices did not appear: $(ls /sys/class/virtio-ports /sys/block /sys/class/net)"; }
  sleep 0.01
done
stage devices
mkdir -p /newroot
mount -t ext4 "$(blockdev ${ROOT_SERIAL})" /newroot || die "cannot mount the root filesystem disk"
for d in proc sys dev .strata; do mkdir -p "/newroot/$d"; done
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
# The workload's working directory is entered by the initramfs' busybox, bound read-only at /.strata.
mount --bind /bin /newroot/.strata
mount -o remount,bind,ro /newroot/.strata
hostname "$STRATA_HOSTNAME"
# /etc/hosts, /etc/hostname and /etc/resolv.conf as the pod's (bound over the image's, as runtimes do).
for f in hosts hostname resolv.conf; do
  [ -e "/strata/etc/$f" ] || continue
  mkdir -p /newroot/etc
  [ -L "/newroot/etc/$f" ] && rm -f "/newroot/etc/$f"
  [ -e "/newroot/etc/$f" ] || touch "/newroot/etc/$f"
  mount --bind "/strata/etc/$f" "/newroot/etc/$f" && mount -o remount,bind,ro "/newroot/etc/$f"
done
# A volume: its disk mounted under /strata/vol, then bound where the pod wants it (a file or a directory).
vol() {
  dev=$(blockdev "$1") || die "volume disk $1 did not appear"
  mkdir -p "/strata/vol/$1"
  if [ "$3" = ro ]; then opts=ro,noload; else opts=rw; fi
  mount -t ext4 -o "$opts" "$dev" "/strata/vol/$1" || die "cannot mount the disk of volume $2"
  src="/strata/vol/$1"
  [ -n "$4" ] && src="$src/$4"
  t="/newroot$2"
  if [ -d "$src" ]; then mkdir -p "$t"; else mkdir -p "\${t%/*}"; [ -e "$t" ] || touch "$t"; fi
  mount --bind "$src" "$t" || die "cannot mount volume $2"
  [ "$3" = ro ] && mount -o remount,bind,ro "$t"
}
# A live volume (a small read-only directory the node keeps current, e.g. the service-account token):
# its disk copied into a tmpfs, bound read-only where the pod wants it; livefile rewrites its files.
livevol() {
  dev=$(blockdev "$1") || die "volume disk $1 did not appear"
  mkdir -p "/strata/disk/$1" "/strata/vol/$1" /strata/live
  mount -t ext4 -o ro,noload "$dev" "/strata/disk/$1" || die "cannot mount the disk of volume $2"
  mount -t tmpfs -o mode=0755 "live-$1" "/strata/vol/$1" || die "cannot make the tmpfs of volume $2"
  cp -a "/strata/disk/$1/." "/strata/vol/$1/" || die "cannot copy the disk of volume $2"
  umount "/strata/disk/$1"
  rm -rf "/strata/vol/$1/lost+found"
  touch "/strata/live/$1"
  t="/newroot$2"
  mkdir -p "$t"
  mount --bind "/strata/vol/$1" "$t" || die "cannot mount volume $2"
  mount -o remount,bind,ro "$t"
}
# 'file SERIAL MODE UID GID NAME64 DATA64' from the control port: a new file, then a rename over the old.
livefile() {
  case "$1" in v[0-9] | v[0-9][0-9] | v[0-9][0-9][0-9]) ;; *) return 0 ;; esac
  [ -e "/strata/live/$1" ] || return 0
  name=$(echo "$5" | base64 -d 2> /dev/null) || return 0
  case "$name" in '' | . | .. | */*) return 0 ;; esac
  new="/strata/vol/$1/.strata-new"
  if echo "$6" | base64 -d > "$new" 2> /dev/null && chown "$3:$4" "$new" && chmod "$2" "$new" &&
    mv -f "$new" "/strata/vol/$1/$name"; then
    say "live volume $1: $name updated"
  else
    rm -f "$new"
    say "live volume $1: cannot update $name"
  fi
}
strata_volumes
ip link set lo up
if [ -n "$STRATA_IP" ]; then
  ip link set eth0 mtu "$STRATA_MTU" 2> /dev/null
  ip addr add "$STRATA_IP" dev eth0 && ip link set eth0 up && ip route add default via "$STRATA_GATEWAY" ||
    die "cannot configure the pod network ($STRATA_IP via $STRATA_GATEWAY)"
fi
# exec sessions (strata exec, kubectl exec, exec probes): served on their own port, in the workload's root.
strata_vmexec "$EXEC_PORT" < /dev/null > /dev/null 2> /dev/ttyS0 &
stage rootfs
strata_workload < /dev/null > "$OUT_PORT" 2> "$ERR_PORT" &
child=$!
stage workload-started
# The signal port stays open: the host's data reaches an open port only. While no host end is
# connected a read returns at once (EOF): then the loop waits a second. It also carries live volumes'
# file updates ('file …' lines).
(
  exec 3< "$SIG_PORT"
  while :; do
    if read -r sig a b c d e f <&3 && [ -n "$sig" ]; then
      if [ "$sig" = file ]; then livefile "$a" "$b" "$c" "$d" "$e" "$f"; else kill "-$sig" "$child" 2> /dev/null; fi
    else sleep 1; fi
  done
) &
forwarder=$!
wait "$child"
code=$?
stage "workload-exited code=$code"
kill -KILL "$forwarder" 2> /dev/null
kill -KILL -1 2> /dev/null
finish "exit $code"
`;

/** The KVM canary's init (accel.ts): proves the guest reached userspace, then powers off. */
export const CANARY_SCRIPT = `#!/bin/sh
/bin/mount -t devtmpfs devtmpfs /dev
echo strata-canary-ok > /dev/ttyS0
/bin/reboot -f
`;

/** A shell word that the shell reads back as exactly `s` (single quotes, ' as '\\''). */
export function shellQuote(s: string): string {
  if (s.includes('\0')) throw new Error('a NUL byte cannot be passed to the guest');
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

export interface GuestConfig {
  hostname: string;
  /** argv of the workload (after Kubernetes' command/args rules); argv[0] is looked up in PATH. */
  argv: string[];
  env: Record<string, string>;
  workingDir: string;
  /** Run as this uid/gid (supplementary groups cleared); default root. */
  user?: { uid: number; gid: number };
  /** The pod's address on eth0 (the pod network), absent without one. */
  network?: { ip: string; prefixLength: number; gateway: string; mtu: number };
  /** Volume disks (virtio-blk serials, see volumes.ts) and where each goes in the workload's root. */
  volumes?: GuestVolume[];
}

export interface GuestVolume {
  serial: string;
  /** Absolute path in the workload's root. */
  target: string;
  readOnly: boolean;
  /** The volume is this one file of the disk (a file mounted on a file), not the disk's root. */
  file?: string;
  /** Served from a tmpfs the host keeps current (live-volumes.ts); read-only directories only. */
  live?: boolean;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The /strata/config fragment: the hostname and a `strata_workload` function that runs the workload. */
export function guestConfigScript(c: GuestConfig): string {
  if (c.argv.length === 0)
    throw new Error('no command to run: the image has no entrypoint or cmd and the pod gives no command');
  const env: Record<string, string> = { PATH: DEFAULT_PATH, HOME: '/root', HOSTNAME: c.hostname, ...c.env };
  for (const k of Object.keys(env)) {
    if (!k || k.includes('=')) throw new Error(`environment variable name "${k}" is not valid`);
  }
  const envWords = Object.entries(env).map(([k, v]) => shellQuote(`${k}=${v}`));
  // The working directory is made and entered as root (as runtimes do), then the ids change: busybox's
  // nsenter without namespaces is a setgid/setuid/exec (and clears supplementary groups).
  const cd = `mkdir -p "$1" 2>/dev/null; cd "$1" || exit 127; shift; exec "$@"`;
  const u = c.user;
  if (u && !(Number.isInteger(u.uid) && u.uid >= 0 && Number.isInteger(u.gid) && u.gid >= 0)) {
    throw new Error(`user ${u.uid}:${u.gid}: expected non-negative integers`);
  }
  const setIds = u && (u.uid !== 0 || u.gid !== 0) ? `/.strata/nsenter -F -S ${u.uid} -G ${u.gid} -- ` : '';
  const n = c.network;
  if (n) {
    const ipv4 = /^\d{1,3}(\.\d{1,3}){3}$/;
    if (!ipv4.test(n.ip) || !ipv4.test(n.gateway))
      throw new Error(`pod address ${n.ip} via ${n.gateway}: IPv4 expected`);
  }
  const volumes = c.volumes ?? [];
  for (const v of volumes) {
    if (!/^v\d+$/.test(v.serial)) throw new Error(`volume disk serial "${v.serial}": v<N> expected`);
    if (!v.target.startsWith('/')) throw new Error(`volume mount path "${v.target}" must be absolute`);
  }
  return [
    `STRATA_HOSTNAME=${shellQuote(c.hostname)}`,
    'strata_workload() {',
    `  exec env -i ${envWords.join(' ')} chroot /newroot /.strata/sh -c ${shellQuote(cd)} strata-init ${shellQuote(c.workingDir || '/')} ${setIds}${c.argv.map(shellQuote).join(' ')}`,
    '}',
    'strata_vmexec() {',
    `  exec env -i ${envWords.join(' ')} /bin/strata-vmexec "$1" /newroot ${shellQuote(c.workingDir || '/')} ${u?.uid ?? 0} ${u?.gid ?? 0}`,
    '}',
    `STRATA_IP=${n ? shellQuote(`${n.ip}/${n.prefixLength}`) : "''"}`,
    `STRATA_GATEWAY=${n ? shellQuote(n.gateway) : "''"}`,
    `STRATA_MTU=${n ? Math.floor(n.mtu) : 1500}`,
    `STRATA_DISKS=${shellQuote(volumes.map((v) => v.serial).join(' '))}`,
    'strata_volumes() {',
    ...volumes.map((v) =>
      v.live && v.readOnly && !v.file
        ? `  livevol ${v.serial} ${shellQuote(v.target)}`
        : `  vol ${v.serial} ${shellQuote(v.target)} ${v.readOnly ? 'ro' : 'rw'}${v.file ? ` ${shellQuote(v.file)}` : ''}`,
    ),
    '  :',
    '}',
    '',
  ].join('\n');
}
