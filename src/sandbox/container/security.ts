// The container tier's security defaults, and the securityContext (Kubernetes field names) that adjusts
// them per container.
//
// Capabilities: Docker's default set minus NET_RAW and MKNOD — what Kubernetes' "restricted" profile
// and most hardening guides drop first. NET_RAW allows crafting packets (ARP/ICMP spoofing on the pod
// network). A ping that uses ICMP datagram sockets (iputils) keeps working: net.ipv4.ping_group_range is
// opened in the pod's namespace; busybox's ping, raw sockets only, does not. MKNOD is useless behind the device cgroup, which only allows the standard
// devices. Root in a container has these 12 of the kernel's 41: no SYS_ADMIN (mount, namespaces),
// SYS_PTRACE, SYS_MODULE, NET_ADMIN, SYS_TIME, ...
//
// Masked paths (bind-mounted over with /dev/null or an empty read-only tmpfs) and read-only paths are
// runc's and Docker's defaults: kernel interfaces that leak host information or change host state.

export const DEFAULT_CAPABILITIES = [
  'CAP_AUDIT_WRITE',
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_NET_BIND_SERVICE',
  'CAP_SETFCAP',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETUID',
  'CAP_SYS_CHROOT',
] as const;

/** Every capability the kernel defines (as of Linux 5.9), for `add: [...]` validation and "ALL". */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;

export const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
];

export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Per-container security settings, with Kubernetes' names and meanings (a documented subset). */
export interface SecurityContext {
  /** Run as this uid instead of the image's User. */
  runAsUser?: number;
  runAsGroup?: number;
  /** Refuse to start when the resolved uid is 0. */
  runAsNonRoot?: boolean;
  /** Mount the rootfs read-only (volumes, /tmp-like mounts and /etc/hosts etc. stay writable). */
  readOnlyRootFilesystem?: boolean;
  /** Default false: noNewPrivileges is set, setuid binaries and file capabilities gain nothing. */
  allowPrivilegeEscalation?: boolean;
  /** Names with or without CAP_; `drop: ['ALL']` drops every default first. */
  capabilities?: { add?: string[]; drop?: string[] };
  supplementalGroups?: number[];
  /** RuntimeDefault (the default) applies seccomp.ts's profile; Unconfined applies none. */
  seccompProfile?: { type: 'RuntimeDefault' | 'Unconfined' };
}

/** The bounding/effective/permitted set for a container: defaults, minus drop, plus add. */
export function capabilitySet(sc: SecurityContext = {}): string[] {
  const norm = (c: string): string => {
    const up = c.toUpperCase();
    return up === 'ALL' ? 'ALL' : up.startsWith('CAP_') ? up : `CAP_${up}`;
  };
  const known = new Set<string>(ALL_CAPABILITIES);
  const add = (sc.capabilities?.add ?? []).map(norm);
  const drop = (sc.capabilities?.drop ?? []).map(norm);
  for (const c of [...add, ...drop]) {
    if (c !== 'ALL' && !known.has(c))
      throw new Error(`securityContext.capabilities: unknown capability "${c}"`);
  }
  let caps = new Set<string>(drop.includes('ALL') ? [] : DEFAULT_CAPABILITIES);
  for (const c of drop) caps.delete(c);
  if (add.includes('ALL')) caps = new Set(ALL_CAPABILITIES);
  else for (const c of add) caps.add(c);
  return [...caps].sort();
}
