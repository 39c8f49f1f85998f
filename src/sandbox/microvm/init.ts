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
} as const;

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
i=0
while :; do
  EXIT_PORT=$(port ${PORTS.exit}) && OUT_PORT=$(port ${PORTS.stdout}) && ERR_PORT=$(port ${PORTS.stderr}) &&
    SIG_PORT=$(port ${PORTS.signal}) && [ -e "$EXIT_PORT" ] && [ -e "$OUT_PORT" ] && [ -e "$ERR_PORT" ] &&
    [ -e "$SIG_PORT" ] && [ -b /dev/vda ] && break
  i=$((i + 1))
  [ $i -gt 1000 ] && { EXIT_PORT=/dev/null; die "virtio devices did not appear: $(ls /sys/class/virtio-ports /dev)"; }
  sleep 0.01
done
stage devices
mkdir -p /newroot
mount -t ext4 /dev/vda /newroot || die "cannot mount the root filesystem disk"
for d in proc sys dev .strata; do mkdir -p "/newroot/$d"; done
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
# The workload's working directory is entered by the initramfs' busybox, bound read-only at /.strata.
mount --bind /bin /newroot/.strata
mount -o remount,bind,ro /newroot/.strata
hostname "$STRATA_HOSTNAME"
stage rootfs
strata_workload < /dev/null > "$OUT_PORT" 2> "$ERR_PORT" &
child=$!
stage workload-started
# The signal port stays open: the host's data reaches an open port only. While no host end is
# connected a read returns at once (EOF): then the loop waits a second.
(
  exec 3< "$SIG_PORT"
  while :; do
    if read -r sig <&3 && [ -n "$sig" ]; then kill "-$sig" "$child" 2> /dev/null; else sleep 1; fi
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
  return [
    `STRATA_HOSTNAME=${shellQuote(c.hostname)}`,
    'strata_workload() {',
    `  exec env -i ${envWords.join(' ')} chroot /newroot /.strata/sh -c ${shellQuote(cd)} strata-init ${shellQuote(c.workingDir || '/')} ${setIds}${c.argv.map(shellQuote).join(' ')}`,
    '}',
    '',
  ].join('\n');
}
