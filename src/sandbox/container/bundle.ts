// SandboxSpec → OCI runtime bundle (config.json). Pure: every input, including the resolved user and
// the paths of the per-pod files, is passed in, so the whole policy is visible (and tested) here.
//
//   process   argv: SandboxSpec.args, or the image's [...entrypoint, ...cmd] when args is empty, behind
//             catatonit (`/dev/.strata-init -- argv...`) unless disabled or argv[0] is an init;
//             env: PATH (default), HOSTNAME, HOME, then the image's env, then the pod's (last wins);
//             cwd: workingDir ?? image workingDir ?? "/"; user: see user.ts; terminal: the pod's `tty`
//             (conmon holds the terminal, TERM=xterm unless set);
//             capabilities: security.ts; noNewPrivileges unless allowPrivilegeEscalation;
//             RLIMIT_NOFILE: Docker's 1048576, or the agent's hard limit if lower (the runtime sets
//             rlimits after dropping CAP_SYS_RESOURCE: it cannot raise them)
//   mounts    /proc, /dev (tmpfs), /dev/pts, /dev/shm, /dev/mqueue, /sys (read-only), /sys/fs/cgroup
//             (read-only, the container's own through the cgroup namespace), volumes (rbind, ro when
//             readOnly), /etc/hosts, /etc/hostname, /etc/resolv.conf (per-sandbox files)
//   linux     namespaces pid, ipc, uts, mount, cgroup, network (the pod's netns path when the pod has
//             networking, else a new one with only lo); cgroupsPath /<parent>/<id>; memory limit with
//             swap = limit (no swap); cpu shares from the request, quota/period from the limit; pids
//             limit; devices: deny all (the runtime adds the standard ones); masked and read-only paths;
//             seccomp (seccomp.ts); sysctls opening ICMP echo sockets and ports < 1024 to the pod

import { readFileSync } from 'node:fs';
import { basename, isAbsolute, posix } from 'node:path';
import { SandboxError, type SandboxSpec } from '../driver.ts';
import type { ContainerImageConfig } from './image-config.ts';
import type { OciMount, OciSpec } from './oci-spec.ts';
import type { ContainerOptions } from './options.ts';
import { defaultSeccompProfile } from './seccomp.ts';
import { capabilitySet, MASKED_PATHS, READONLY_PATHS } from './security.ts';
import type { ResolvedUser } from './user.ts';

/** Where catatonit appears inside the container: on the /dev tmpfs, so nothing is written to the rootfs. */
export const INIT_PATH = '/dev/.strata-init';
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_PIDS_LIMIT = 1024;
export const CPU_PERIOD_US = 100_000;
export const MAX_NOFILE = 1048576;
const INIT_NAMES = new Set(['catatonit', 'tini', 'tini-static', 'dumb-init', 'docker-init', 'init']);
const RESERVED_MOUNTS = ['/', '/proc', '/sys', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue'];

export interface BundleInput {
  spec: SandboxSpec;
  options: ContainerOptions;
  image: ContainerImageConfig;
  /** Absolute path of the root filesystem. */
  rootfs: string;
  user: ResolvedUser;
  /** e.g. /strata/<id>. */
  cgroupsPath: string;
  hostname: string;
  /** The pod's network namespace; a new one (loopback only) when absent. */
  netnsPath?: string;
  /** Host paths of the per-sandbox files bind-mounted over /etc. */
  etcFiles: { hosts: string; hostname: string; resolvConf: string };
  /** Host file bind-mounted at options.terminationMessagePath. */
  terminationLog?: string;
  /** catatonit on the host; no init when absent. */
  initBinary?: string;
  /** RLIMIT_NOFILE (soft = hard); default 1048576. See nofileLimit(). */
  nofile?: number;
  arch?: string;
}

export function configError(message: string): SandboxError {
  return new SandboxError('CreateContainerConfigError', message);
}

/** The argv the container's main process runs (before the init is put in front). */
export function containerArgv(spec: SandboxSpec, image: ContainerImageConfig): string[] {
  const argv = spec.args.length > 0 ? spec.args : [...image.entrypoint, ...image.cmd];
  if (argv.length === 0) {
    throw configError('no command: the image has no entrypoint or cmd, and the pod gives no command');
  }
  return argv;
}

/** Whether catatonit goes in front of argv. */
export function wantsInit(argv: string[], options: ContainerOptions, initBinary?: string): boolean {
  if (!initBinary || options.init === false) return false;
  return !INIT_NAMES.has(basename(argv[0]));
}

export function buildRuntimeSpec(input: BundleInput): OciSpec {
  const { spec, options, image, user } = input;
  const sc = options.securityContext ?? {};
  if (sc.runAsNonRoot && user.uid === 0) {
    throw configError('container has runAsNonRoot and would run as root (uid 0)');
  }
  const argv = containerArgv(spec, image);
  const init = wantsInit(argv, options, input.initBinary);
  let caps: string[];
  try {
    caps = capabilitySet(sc);
  } catch (err) {
    throw configError((err as Error).message);
  }
  const cwd = spec.workingDir || image.workingDir || '/';
  if (!isAbsolute(cwd)) throw configError(`workingDir "${cwd}" must be an absolute path`);

  const mounts: OciMount[] = [
    ...baseMounts(options.shmSizeBytes),
    ...volumeMounts(spec),
    etcMount('/etc/hosts', input.etcFiles.hosts),
    etcMount('/etc/hostname', input.etcFiles.hostname),
    etcMount('/etc/resolv.conf', input.etcFiles.resolvConf),
    ...(input.terminationLog && options.terminationMessagePath
      ? [etcMount(options.terminationMessagePath, input.terminationLog)]
      : []),
  ];
  if (init) {
    mounts.push({
      destination: INIT_PATH,
      type: 'bind',
      source: input.initBinary!,
      options: ['bind', 'ro', 'nosuid', 'nodev'],
    });
  }

  return {
    ociVersion: '1.0.2',
    process: {
      // conmon -t receives the terminal's master from the runtime (its console socket) and holds it.
      terminal: options.stdio?.tty === true,
      user: {
        uid: user.uid,
        gid: user.gid,
        ...(user.additionalGids.length > 0 ? { additionalGids: user.additionalGids } : {}),
      },
      args: init ? [INIT_PATH, '--', ...argv] : argv,
      env: environment(input),
      cwd: posix.normalize(cwd),
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      rlimits: [
        { type: 'RLIMIT_NOFILE', hard: input.nofile ?? MAX_NOFILE, soft: input.nofile ?? MAX_NOFILE },
      ],
      noNewPrivileges: sc.allowPrivilegeEscalation !== true,
    },
    root: { path: input.rootfs, readonly: sc.readOnlyRootFilesystem === true },
    hostname: input.hostname,
    mounts,
    annotations: {
      'io.strata.pod.uid': spec.podUid,
      'io.strata.pod.name': spec.podName,
      'io.strata.pod.namespace': spec.namespace,
      'io.strata.container.name': spec.containerName,
      'io.strata.sandbox.id': spec.id,
    },
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'cgroup' },
        input.netnsPath ? { type: 'network', path: input.netnsPath } : { type: 'network' },
      ],
      cgroupsPath: input.cgroupsPath,
      resources: resources(spec, options),
      // Network-namespaced: they change the pod's namespace only. Ping without CAP_NET_RAW (ICMP
      // datagram sockets), and low ports without CAP_NET_BIND_SERVICE (Docker sets both).
      sysctl: {
        'net.ipv4.ping_group_range': '0 2147483647',
        'net.ipv4.ip_unprivileged_port_start': '0',
        ...options.sysctls,
      },
      ...(sc.seccompProfile?.type === 'Unconfined' ? {} : { seccomp: defaultSeccompProfile(input.arch) }),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}

function environment(input: BundleInput): string[] {
  const env: Record<string, string> = {
    PATH: DEFAULT_PATH,
    HOSTNAME: input.hostname,
    HOME: input.user.home,
    // What Docker and CRI-O give a container with a terminal.
    ...(input.options.stdio?.tty ? { TERM: 'xterm' } : {}),
    ...input.image.env,
    ...input.spec.env,
  };
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) {
      throw configError(`environment variable name "${k}" is not valid`);
    }
    out.push(`${k}=${v}`);
  }
  return out;
}

function resources(spec: SandboxSpec, options: ContainerOptions): OciSpec['linux']['resources'] {
  const r: OciSpec['linux']['resources'] = { devices: [{ allow: false, access: 'rwm' }] };
  const mem = spec.limits.memoryBytes;
  if (mem !== undefined) {
    if (!Number.isSafeInteger(mem) || mem < 4 * 1024 * 1024) {
      throw configError(`memory limit ${mem} bytes: at least 4 MiB is needed to start a container`);
    }
    // swap = limit: memory+swap may not exceed the memory limit, i.e. no swap (Kubernetes' behaviour).
    r.memory = { limit: mem, swap: mem };
  }
  const cpu: NonNullable<OciSpec['linux']['resources']['cpu']> = {};
  const limit = spec.limits.cpu;
  if (limit !== undefined) {
    if (!(limit > 0)) throw configError(`cpu limit ${limit}: must be positive`);
    cpu.period = CPU_PERIOD_US;
    cpu.quota = Math.max(1000, Math.round(limit * CPU_PERIOD_US)); // the kernel's minimum is 1 ms
  }
  const request = options.cpuRequest ?? limit;
  if (request !== undefined) {
    if (!(request > 0)) throw configError(`cpu request ${request}: must be positive`);
    cpu.shares = Math.min(262144, Math.max(2, Math.round(request * 1024)));
  }
  if (Object.keys(cpu).length > 0) r.cpu = cpu;
  const pids = options.pidsLimit ?? DEFAULT_PIDS_LIMIT;
  if (pids !== -1) {
    if (!Number.isInteger(pids) || pids < 1) throw configError(`pids limit ${pids}: must be ≥ 1, or -1`);
    r.pids = { limit: pids };
  }
  return r;
}

function baseMounts(shmSizeBytes = 64 * 1024 * 1024): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${Math.max(4096, Math.floor(shmSizeBytes))}`],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    },
  ];
}

function volumeMounts(spec: SandboxSpec): OciMount[] {
  return spec.mounts.map((m) => {
    const dest = m.guestPath;
    if (
      !isAbsolute(dest) ||
      posix.normalize(dest) !== dest.replace(/\/+$/, '') ||
      dest.split('/').includes('..')
    ) {
      throw configError(`volume mount path "${dest}" must be absolute and normalised`);
    }
    if (RESERVED_MOUNTS.includes(posix.normalize(dest))) {
      throw configError(`volume mount path "${dest}" is reserved`);
    }
    if (!isAbsolute(m.hostPath)) throw configError(`volume host path "${m.hostPath}" must be absolute`);
    return {
      destination: posix.normalize(dest),
      type: 'bind',
      source: m.hostPath,
      // rprivate: mounts made on the host later do not propagate into the container, nor back.
      options: ['rbind', m.readOnly ? 'ro' : 'rw', 'nosuid', 'nodev', 'rprivate'],
    };
  });
}

function etcMount(destination: string, source: string): OciMount {
  return { destination, type: 'bind', source, options: ['rbind', 'rprivate', 'nosuid', 'nodev', 'noexec'] };
}

/** The container's RLIMIT_NOFILE: 1048576, capped at this process's hard limit (inherited by the runtime). */
export function nofileLimit(limitsText?: string): number {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return MAX_NOFILE;
    }
  }
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(text);
  const hard = m && /^\d+$/.test(m[1]) ? Number(m[1]) : MAX_NOFILE;
  return Math.min(MAX_NOFILE, hard);
}
