// The microvm tier: a pod's OCI image booted as a QEMU microVM (`-M microvm`, no firmware): the guest
// kernel (kernel.ts), a cached initramfs with the Strata init plus a per-sandbox config (initramfs.ts,
// init.ts), the image as a cached ext4 disk under a per-sandbox qcow2 overlay (disk.ts). KVM when a
// canary boot proves it usable, TCG otherwise (accel.ts).
//
// QEMU runs daemonized with a pidfile and a QMP socket: it needs nothing of the agent, so VMs outlive
// an agent restart and recover() re-adopts them. The guest's stdout/stderr and exit report are
// virtio-serial ports backed by files in the sandbox's directory (log-tail.ts copies them into the log
// sink); stop() sends SIGTERM through the guest's signal port, then QMP `quit`, then SIGKILL.
//
// exec goes through the guest's exec helper on its own port (exec-channel.ts, guest/vmexec.c); the pod
// network is the container tier's with a tap in the pod's namespace (network.ts); volumes are disks
// (volumes.ts).

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { PassThrough } from 'node:stream';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chainIds, type ImageStore } from '../../image/index.ts';
import {
  podHostname,
  type PodAttachment,
  type PodEtcFilesMaker,
  type PodNetworkHost,
} from '../pod-network.ts';
import { which } from '../../lib/command.ts';
import { containerArgs } from '../container/index.ts';
import { prepareContainerImage } from '../container/image-artifact.ts';
import { resolveUser } from '../container/user.ts';
import {
  SandboxError,
  type ArtifactDriver,
  type Capabilities,
  type ContainerRequest,
  type ExecResult,
  type ExitResult,
  type Fingerprint,
  type HostPortMapping,
  type InteractiveExec,
  type InteractiveExecDriver,
  type InteractiveOptions,
  type LogSink,
  type PodNetworkDriver,
  type PreparedArtifact,
  type SandboxHandle,
  type SandboxStats,
  type TierOptionsDriver,
} from '../driver.ts';
import { detectCgroups, netDevOf, readStats, type CgroupLayout } from '../container/cgroups.ts';
import { kvmCanary, resolveAccel, type AccelSetting } from './accel.ts';
import { createVmCgroup, inCgroup, qemuMemoryLimit, removeVmCgroup } from './cgroup.ts';
import { DiskCache, createOverlay } from './disk.ts';
import { ExecChannel } from './exec-channel.ts';
import { vmexecBinary } from './exec-helper.ts';
import { emptyJail, ensureVmmUser, jailArgs, namespacePrefix, VMM_USER } from './jail.ts';
import { attachTap, detachTap } from './network.ts';
import { volumeDisks } from './volumes.ts';
import { type LiveVolume, type LiveVolumeWatch, watchLiveVolumes } from './live-volumes.ts';
import { consoleSummary, describeGuestExit, oomKillLine } from './exit-result.ts';
import { guestConfigScript } from './init.ts';
import { baseInitramfs, configArchive } from './initramfs.ts';
import { loadGuestKernel, type GuestKernel } from './kernel.ts';
import { FileTail } from './log-tail.ts';
import type { MicrovmOptions, MicrovmSandboxSpec } from './options.ts';
import { hostTscKhz, qemuArgs, qmp, sendLine, type Accel, type VmLayout } from './qemu.ts';
import { readState, writeState, type MicrovmState } from './state.ts';

export interface MicrovmDriverOptions {
  /** Sandboxes' directories, image disks, initramfs and canary caches. Persistent: recover() reads it. */
  stateDir: string;
  /** The node's image store (prepareArtifact); without it, start() takes a disk image path. */
  images?: ImageStore;
  /** A kernel unpacked with `dpkg -x` (default: build/microvm/kernel, fetched by scripts/setup.sh). */
  kernelDir?: string;
  /** 'auto' (default): KVM when the canary boots, else TCG. */
  accel?: AccelSetting;
  /** Sockets (short paths: unix sockets are limited to 107 bytes). Default /run/strata/microvm. */
  runDir?: string;
  qemuBinary?: string;
  /** Guest memory without a limit (default 256 MiB). */
  defaultMemoryBytes?: number;
  /** TCG translation cache per VM (default 64 MiB). */
  tbSizeMiB?: number;
  busybox?: string;
  /** QEMU's cgroups go to /<cgroupParent>/<id> (default "strata-microvm"); false: none. */
  cgroupParent?: string | false;
  /** The node's pod network (the container tier's): VMs join it through a tap; without it, no network. */
  network?: PodNetworkHost;
  /** Makes each pod's /etc/hosts and /etc/resolv.conf (the node's, as the container tier's). */
  etcFiles: PodEtcFilesMaker;
  /** QEMU drops to this user in an empty chroot once the VM is set up (jail.ts); false: stays root. */
  vmmUser?: string | false;
}

/** Each of stdout and stderr of a non-interactive exec is cut at this size (as the container tier's). */
const EXEC_OUTPUT_CAP = 16 * 1024 * 1024;

interface Sandbox {
  state: MicrovmState;
  tails: FileTail[];
  exited: Promise<ExitResult>;
  resolveExit: (r: ExitResult) => void;
  result?: ExitResult;
  stopCause?: 'stop' | 'deadline';
  poll?: NodeJS.Timeout;
  deadlineTimer?: NodeJS.Timeout;
  exec?: ExecChannel;
  /** Sends what the node rewrites in the pod's small read-only volumes (the token) to the guest. */
  live?: LiveVolumeWatch;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}$/;
const MiB = 1024 * 1024;
const DEFAULT_KERNEL_DIR = fileURLToPath(new URL('../../../build/microvm/kernel', import.meta.url));
/** Guests smaller than this do not boot the cloud kernel with the init's needs. */
const MIN_MEMORY_MIB = 64;

export class MicrovmDriver
  implements
    ArtifactDriver<MicrovmOptions>,
    TierOptionsDriver<MicrovmOptions>,
    InteractiveExecDriver<MicrovmOptions>,
    PodNetworkDriver<MicrovmOptions>
{
  readonly name = 'microvm';
  readonly capabilities: Capabilities;
  private readonly network: PodNetworkHost | undefined;
  private readonly vmmUser: string | undefined;
  private readonly etcFiles: PodEtcFilesMaker;

  private readonly stateDir: string;
  private readonly runDir: string;
  private readonly kernelDir: string;
  private readonly qemu: string | undefined;
  private readonly images: ImageStore | undefined;
  private readonly accelSetting: AccelSetting;
  private readonly defaultMemoryBytes: number;
  private readonly tbSizeMiB: number;
  private readonly busybox: string | undefined;
  private readonly disks: DiskCache;
  private readonly cgroupParent: string | undefined;
  private readonly cgroups: CgroupLayout | undefined;
  private readonly sandboxes = new Map<string, Sandbox>();
  private boot?: Promise<{
    kernel: GuestKernel;
    initramfs: string;
    accel: Accel;
    accelDetail: string;
    tscKhz: number;
    jail?: string;
  }>;
  private closed = false;

  constructor(opts: MicrovmDriverOptions) {
    this.stateDir = resolve(opts.stateDir);
    this.runDir = resolve(opts.runDir ?? '/run/strata/microvm');
    this.kernelDir = resolve(opts.kernelDir ?? process.env.STRATA_MICROVM_KERNEL_DIR ?? DEFAULT_KERNEL_DIR);
    this.qemu = opts.qemuBinary ?? which('qemu-system-x86_64');
    this.images = opts.images;
    this.accelSetting = opts.accel ?? 'auto';
    if (!['auto', 'kvm', 'tcg'].includes(this.accelSetting)) {
      throw new Error(`microvm accel "${this.accelSetting}": expected auto, kvm or tcg`);
    }
    this.defaultMemoryBytes = opts.defaultMemoryBytes ?? 256 * MiB;
    this.tbSizeMiB = opts.tbSizeMiB ?? 64;
    this.busybox = opts.busybox;
    // Root's only: sandboxes hold the pods' secrets (read-only volume disks) and their data.
    mkdirSync(join(this.stateDir, 'sandboxes'), { recursive: true, mode: 0o700 });
    this.disks = new DiskCache(join(this.stateDir, 'disks'));
    this.cgroupParent = opts.cgroupParent === false ? undefined : (opts.cgroupParent ?? 'strata-microvm');
    this.cgroups = this.cgroupParent ? detectCgroups() : undefined;
    this.network = opts.network;
    this.vmmUser = opts.vmmUser === false ? undefined : (opts.vmmUser ?? VMM_USER);
    this.etcFiles = opts.etcFiles;
    this.capabilities = {
      exec: true,
      survivesAgentRestart: true,
      gracefulStop: true,
      stats: true,
      // The guest's memory is the VM's: a workload cannot use more.
      memoryLimit: true,
      interactiveExec: true,
      podNetwork: this.network !== undefined,
      artifacts: true,
      tierOptions: true,
      // A local persistent volume's ext4 image becomes a virtio-blk disk (volumes.ts).
      blockVolumes: true,
    };
  }

  /** Kernel, initramfs, accelerator: made ready once per driver (the canary may take its timeout). */
  private bootAssets() {
    this.boot ??= (async () => {
      const kernel = loadGuestKernel(this.kernelDir);
      const cache = join(this.stateDir, 'boot');
      mkdirSync(cache, { recursive: true });
      // The exec helper is built once per host boot for every agent (run directory: tmpfs).
      const initramfs = baseInitramfs(
        kernel,
        cache,
        this.busybox,
        vmexecBinary(join(this.runDir, 'helpers')),
      );
      const tscKhz = hostTscKhz();
      // The canary's verdict is per host boot: kept on the run directory (tmpfs), shared by every agent.
      mkdirSync(this.runDir, { recursive: true });
      const { accel, detail } = await resolveAccel(
        this.accelSetting,
        join(this.runDir, 'kvm-canary.json'),
        () => kvmCanary(this.qemu!, kernel.vmlinux, initramfs, tscKhz),
      );
      // The unprivileged user QEMU becomes (made once, when missing) and its empty chroot.
      const jail = this.vmmUser ? (ensureVmmUser(this.vmmUser), emptyJail(this.runDir)) : undefined;
      return { kernel, initramfs, accel, accelDetail: detail, tscKhz, ...(jail ? { jail } : {}) };
    })();
    this.boot.catch(() => (this.boot = undefined));
    return this.boot;
  }

  async fingerprint(): Promise<Fingerprint> {
    const attributes: Record<string, string> = {};
    const unhealthy = (reason: string): Fingerprint => ({
      runtimeClass: 'microvm',
      healthy: false,
      reason,
      attributes,
    });
    if (process.getuid?.() !== 0)
      return unhealthy('the microvm tier needs root (image disks are built from root-owned snapshots)');
    if (!this.qemu)
      return unhealthy('qemu-system-x86_64 not found in PATH (apt-get install qemu-system-x86)');
    if (!which('qemu-img')) return unhealthy('qemu-img not found in PATH (apt-get install qemu-utils)');
    if (!which('mke2fs')) return unhealthy('mke2fs not found in PATH (apt-get install e2fsprogs)');
    try {
      const b = await this.bootAssets();
      attributes['microvm.accel'] = b.accel;
      attributes['microvm.accelDetail'] = b.accelDetail;
      attributes['microvm.kernel'] = b.kernel.release;
      attributes['microvm.machine'] = 'microvm';
      attributes['microvm.vmm'] = this.vmmUser
        ? `user ${this.vmmUser}, chroot, own mount+ipc namespaces, seccomp`
        : 'root, seccomp';
      attributes['microvm.network'] = this.network
        ? `tap in the pod namespace (bridge ${this.network.bridge} ${this.network.subnet})`
        : 'none';
    } catch (err) {
      return unhealthy((err as Error).message);
    }
    return { runtimeClass: 'microvm', healthy: true, attributes };
  }

  // --- the image (ArtifactDriver, TierOptionsDriver) ---------------------------------------------

  /** The image's ext4 disk (cached per top layer chain id), argv by Kubernetes' command/args rules. */
  async prepareArtifact({
    sandboxId,
    container,
    podSpec,
    registryCredentials,
  }: ContainerRequest): Promise<PreparedArtifact<MicrovmOptions>> {
    const store = this.images;
    if (!store) throw new SandboxError('CreateContainerError', 'this node has no image store');
    // Pulls when the policy says so and unpacks the layers (shared with the container tier's snapshots).
    const snapshot = await prepareContainerImage(
      store,
      container.image,
      container.imagePullPolicy,
      `microvm-${sandboxId}`,
      registryCredentials,
    );
    try {
      const resolved = await store.resolve(container.image);
      const chain = chainIds(resolved.config?.rootfs.diff_ids ?? []).at(-1);
      const key = chain ? chain.replace(/^sha256:/, '') : 'empty';
      const disk = await this.disks.get(key, async () => ({
        rootfs: snapshot.rootfs,
        release: async () => {},
      }));
      let user;
      try {
        // The container's securityContext wins over the pod's, field by field (as in Kubernetes).
        const sc = container.securityContext;
        const podSc = podSpec?.securityContext;
        const u = resolveUser(snapshot.rootfs, snapshot.imageConfig.user, {
          runAsUser: sc?.runAsUser ?? podSc?.runAsUser,
          runAsGroup: sc?.runAsGroup ?? podSc?.runAsGroup,
        });
        user = { uid: u.uid, gid: u.gid, home: u.home };
      } catch (err) {
        throw configError(`${container.image}: user: ${(err as Error).message}`);
      }
      return {
        image: disk,
        args: containerArgs(snapshot.imageConfig, container.command, container.args),
        options: { imageConfig: snapshot.imageConfig, user },
        imageID: snapshot.imageID,
      };
    } catch (err) {
      if (err instanceof SandboxError) throw err;
      throw new SandboxError(
        'CreateContainerError',
        `${container.image}: image disk: ${(err as Error).message}`,
      );
    } finally {
      await snapshot.release();
    }
  }

  /** The image disk is shared by every sandbox of the image: nothing of a sandbox to release. */
  async releaseArtifact(): Promise<void> {}

  /** The prepared image's settings, and the pod's hostname, hostAliases and DNS settings. */
  tierOptions(
    { podSpec }: ContainerRequest,
    artifact: PreparedArtifact<MicrovmOptions> | undefined,
  ): MicrovmOptions {
    return {
      ...artifact?.options,
      ...(podSpec?.hostname ? { hostname: podSpec.hostname } : {}),
      ...(podSpec?.hostAliases?.length
        ? { hostAliases: podSpec.hostAliases.map((a) => ({ ip: a.ip, hostnames: a.hostnames ?? [] })) }
        : {}),
      ...(podSpec?.dnsConfig || podSpec?.dnsPolicy
        ? { dns: { policy: podSpec.dnsPolicy, config: podSpec.dnsConfig } }
        : {}),
    };
  }

  // --- the pod network (PodNetworkDriver) ------------------------------------------------------

  /** hostPorts are the pod network's DNAT rules to the pod IP, which the VM holds (network.ts). */
  async publishHostPorts(podUid: string, ports: HostPortMapping[]): Promise<void> {
    if (!this.network) return;
    for (const p of ports) await this.network.publish(podUid, p);
  }

  /** The pod is gone: its network (the tap goes with its namespace) and its writable volume disks. */
  async releasePod(podUid: string): Promise<void> {
    for (const sb of this.sandboxes.values()) if (sb.state.podUid === podUid) return;
    rmSync(this.podVolumesDir(podUid), { recursive: true, force: true });
    await this.network?.teardown(podUid);
  }

  /** After a crash: networks of pods that are gone (taps with them), and their volume disks. */
  async reconcilePods(livePodUids: string[]): Promise<void> {
    const live = new Set(livePodUids);
    const dir = join(this.stateDir, 'pod-volumes');
    if (existsSync(dir)) {
      for (const uid of readdirSync(dir))
        if (!live.has(uid)) rmSync(join(dir, uid), { recursive: true, force: true });
    }
    await this.network?.reconcile(livePodUids);
  }

  // --- exec (Driver.exec, InteractiveExecDriver) ---------------------------------------------------

  /** Runs cmd in the guest, in the workload's root, as its user, with its env; output collected. */
  async exec(id: string, cmd: string[]): Promise<ExecResult> {
    const channel = this.execChannel(id);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const collect = (into: Buffer[]) => {
      let size = 0;
      return (chunk: Buffer) => {
        if (size >= EXEC_OUTPUT_CAP) return;
        into.push(chunk.subarray(0, EXEC_OUTPUT_CAP - size));
        size += chunk.length;
      };
    };
    const session = await channel.open(
      cmd,
      { tty: false, stdin: false },
      { stdout: collect(out), stderr: collect(err) },
    );
    const exitCode = await session.exited;
    return { exitCode, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
  }

  /** `strata exec -i/-t` in the guest: streamed stdio, a terminal in the guest with tty. */
  async execInteractive(id: string, cmd: string[], opts: InteractiveOptions): Promise<InteractiveExec> {
    const channel = this.execChannel(id);
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const session = await channel.open(
      cmd,
      { tty: opts.tty, stdin: true, cols: opts.cols, rows: opts.rows },
      { stdout: (c) => stdout.write(c), stderr: (c) => stderr.write(c) },
    );
    const exited = session.exited.then((code) => {
      stdout.end();
      stderr.end();
      return code;
    });
    let stdin: PassThrough | null = null;
    if (opts.stdio === 'pipe') {
      stdin = new PassThrough();
      stdin.on('data', (d: Buffer) => session.write(d));
      stdin.on('end', () => session.end());
    } else {
      // A CLI in a terminal: the agent's own stdio.
      const onData = (d: Buffer) => session.write(d);
      process.stdin.on('data', onData);
      process.stdin.once('end', () => session.end());
      stdout.pipe(process.stdout, { end: false });
      stderr.pipe(process.stderr, { end: false });
      void exited.then(() => process.stdin.off('data', onData));
    }
    return {
      stdin,
      stdout: opts.stdio === 'pipe' ? stdout : null,
      stderr: opts.stdio === 'pipe' && !opts.tty ? stderr : null,
      pid: undefined,
      exited,
      kill: (signal = 'SIGKILL') => session.kill(signal),
      resize: async (cols, rows) => session.resize(cols, rows),
    };
  }

  private execChannel(id: string): ExecChannel {
    const sb = this.sandboxes.get(id);
    if (!sb) throw notFound(id);
    if (sb.result) throw new SandboxError('NotRunning', `microvm sandbox ${id} has exited`);
    const socket = sb.state.layout.execSocket;
    if (!socket)
      throw new SandboxError('NotSupported', `microvm sandbox ${id} was started without an exec port`);
    sb.exec ??= new ExecChannel(socket);
    return sb.exec;
  }

  // --- lifecycle -------------------------------------------------------------------------------

  async start(spec: MicrovmSandboxSpec): Promise<SandboxHandle> {
    if (this.closed) throw new SandboxError('CreateContainerError', 'the microvm driver is shut down');
    if (!ID_RE.test(spec.id)) {
      throw new SandboxError(
        'CreateContainerError',
        `sandbox id "${spec.id}": expected [A-Za-z0-9_.+-], up to 201 characters`,
      );
    }
    const dir = this.sandboxDir(spec.id);
    if (this.sandboxes.has(spec.id) || existsSync(dir)) {
      throw new SandboxError('CreateContainerError', `sandbox ${spec.id} already exists (destroy it first)`);
    }
    if (spec.stdin && spec.stdin.length > 0)
      throw configError('stdin bytes are not supported by the microvm tier');
    for (const other of this.sandboxes.values()) {
      if (other.state.podUid === spec.podUid && !other.result) {
        // One VM holds the pod's address and its writable volumes; containers of a pod side by side
        // would need one shared VM (not yet).
        throw configError(
          `pod ${spec.podName} already runs a microVM (${other.state.id}): the microvm tier runs one container of a pod at a time`,
        );
      }
    }
    if (!existsSync(spec.image)) {
      throw new SandboxError(
        'ErrImagePull',
        `disk image ${spec.image} not found (the microvm tier takes a prepared image disk)`,
      );
    }
    const image = spec.options?.imageConfig ?? { entrypoint: [], cmd: [], env: {} };
    const user = spec.options?.user;
    if (!user && image.user && !/^(0|root)(:(0|root))?$/.test(image.user)) {
      throw configError(
        `image user "${image.user}" was not resolved (prepareArtifact resolves it against the image)`,
      );
    }
    const argv = spec.args.length > 0 ? spec.args : [...image.entrypoint, ...image.cmd];
    const hostname = podHostname(spec.options?.hostname ?? spec.podName);
    const guestConfig = {
      hostname,
      argv,
      env: { ...(user && user.uid !== 0 ? { HOME: user.home } : {}), ...image.env, ...spec.env },
      user,
      workingDir: spec.workingDir ?? image.workingDir ?? '/',
    };
    try {
      guestConfigScript(guestConfig); // refuses bad input before anything is made
    } catch (err) {
      throw configError((err as Error).message);
    }
    let boot;
    try {
      boot = await this.bootAssets();
    } catch (err) {
      throw new SandboxError('CreateContainerError', `microvm boot assets: ${(err as Error).message}`);
    }

    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const sockets = join(this.runDir, createHash('sha256').update(dir).digest('hex').slice(0, 16));
    // Root's only: whoever can connect to these sockets controls the VM (exec, signals, QMP).
    mkdirSync(sockets, { recursive: true, mode: 0o700 });
    const layout: VmLayout = {
      vmlinux: boot.kernel.vmlinux,
      initrd: join(dir, 'initrd.cpio'),
      disk: join(dir, 'overlay.qcow2'),
      stdout: join(dir, 'stdout'),
      stderr: join(dir, 'stderr'),
      exit: join(dir, 'exit'),
      console: join(dir, 'console'),
      signalSocket: join(sockets, 'signal.sock'),
      qmpSocket: join(sockets, 'qmp.sock'),
      pidfile: join(dir, 'qemu.pid'),
      execSocket: join(sockets, 'exec.sock'),
    };
    let memoryMiB = 0;
    let attachment: PodAttachment | undefined;
    let netnsPath: string | undefined;
    let liveVolumes: LiveVolume[] = [];
    try {
      const volumes = await volumeDisks(spec.mounts, dir, this.podVolumesDir(spec.podUid)).catch(
        (err: Error) => {
          throw configError(err.message);
        },
      );
      layout.volumes = volumes.disks;
      liveVolumes = volumes.live;
      let network;
      if (this.network) {
        try {
          attachment = await this.network.setup(spec.podUid);
          network = await attachTap(attachment);
        } catch (err) {
          throw new SandboxError('CreateContainerError', `pod network: ${(err as Error).message}`);
        }
        netnsPath = network.netnsPath;
        layout.net = { tap: network.tap, mac: network.mac };
      }
      const options = spec.options ?? {};
      const files = this.etcFiles({
        namespace: spec.namespace,
        hostname,
        ip: attachment?.ip,
        hostAliases: options.hostAliases,
        dns: options.dns,
      });
      const etc = { hosts: files.hosts, hostname: `${hostname}\n`, 'resolv.conf': files.resolvConf };
      const config = guestConfigScript({
        ...guestConfig,
        volumes: volumes.guest,
        ...(network ? { network } : {}),
      });
      copyFileSync(boot.initramfs, layout.initrd);
      appendFileSync(layout.initrd, configArchive(config, etc));
      await createOverlay(resolve(spec.image), layout.disk);
      memoryMiB = Math.max(
        MIN_MEMORY_MIB,
        Math.floor((spec.limits.memoryBytes ?? this.defaultMemoryBytes) / MiB),
      );
      const vcpus = Math.max(1, Math.ceil(spec.limits.cpu ?? 1));
      const argv = [
        // In the pod's network namespace: QEMU opens the pod's tap and sees no host interface.
        ...namespacePrefix(netnsPath),
        this.qemu!,
        ...(boot.jail && this.vmmUser ? jailArgs(boot.jail, this.vmmUser) : []),
        ...qemuArgs(layout, {
          accel: boot.accel,
          memoryMiB,
          vcpus,
          tbSizeMiB: this.tbSizeMiB,
          tscKhz: boot.tscKhz,
        }),
      ];
      if (this.cgroups && this.cgroupParent) {
        let procs: string[];
        try {
          procs = createVmCgroup(this.cgroups, this.cgroupParent, spec.id, {
            memoryBytes: qemuMemoryLimit(memoryMiB, this.tbSizeMiB),
            cpus: spec.limits.cpu ?? vcpus,
          });
        } catch (err) {
          throw new SandboxError('CreateContainerError', `QEMU's cgroup: ${(err as Error).message}`);
        }
        await launch(inCgroup(procs, argv));
      } else {
        await launch(argv);
      }
    } catch (err) {
      if (netnsPath) await detachTap(netnsPath);
      await this.cleanUp(dir, layout);
      throw err instanceof SandboxError
        ? err
        : new SandboxError('CreateContainerError', `QEMU: ${(err as Error).message}`);
    }
    const state: MicrovmState = {
      version: 1,
      id: spec.id,
      podUid: spec.podUid,
      dir,
      layout,
      pid: Number(readFileSync(layout.pidfile, 'utf8').trim()),
      startedAt: new Date().toISOString(),
      memoryMiB,
      ...(attachment ? { podIP: attachment.ip, netnsPath } : {}),
      ...(liveVolumes.length ? { liveVolumes } : {}),
    };
    if (spec.limits.deadlineSeconds !== undefined) {
      state.deadlineSeconds = spec.limits.deadlineSeconds;
      state.deadlineAt = Date.now() + spec.limits.deadlineSeconds * 1000;
    }
    writeState(dir, state);
    this.track(state, spec.log);
    return {
      id: spec.id,
      driver: this.name,
      ...(attachment ? { podIP: attachment.ip } : {}),
      state: { dir },
    };
  }

  async wait(id: string): Promise<ExitResult> {
    const sb = this.sandboxes.get(id);
    if (!sb) throw notFound(id);
    return sb.exited;
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (!sb || sb.result) return;
    await this.requestStop(sb, 'stop', graceSeconds);
  }

  async destroy(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    const state = sb?.state ?? readState(this.sandboxDir(id));
    if (sb && !sb.result) await this.requestStop(sb, 'stop', 0);
    else if (!sb && state && qemuAlive(state)) process.kill(state.pid, 'SIGKILL');
    if (sb) {
      this.untrack(sb);
      this.sandboxes.delete(id);
    }
    // The tap goes now (the pod's namespace, with eth0 and the address, stays until releasePod).
    if (state?.netnsPath) await detachTap(state.netnsPath);
    if (state) await this.cleanUp(state.dir, state.layout);
    else rmSync(this.sandboxDir(id), { recursive: true, force: true });
  }

  /** QEMU's own CPU time and resident memory (guest memory it touched, plus QEMU's overhead). */
  async stats(id: string): Promise<SandboxStats> {
    const sb = this.sandboxes.get(id);
    if (!sb) throw notFound(id);
    try {
      const stat = readFileSync(`/proc/${sb.state.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${sb.state.pid}/status`, 'utf8'));
      const base = {
        cpuNanos: ticks * 1e7,
        memoryBytes: rss ? Number(rss[1]) * 1024 : 0,
        timestamp: new Date(),
      };
      // The pod's eth0 only: tc mirrors every packet between it and the tap, which would count twice.
      const net = sb.state.netnsPath ? netDevOf(sb.state.pid, 'eth0') : undefined;
      const withNet = { ...base, ...(net ? { networkRxBytes: net.rx, networkTxBytes: net.tx } : {}) };
      if (!this.cgroups || !this.cgroupParent) return withNet;
      // QEMU's own cgroup: its CFS throttling (the VM's CPU limit), memory and limit as the kernel counts them.
      const cg = readStats(this.cgroups, join('/', this.cgroupParent, id));
      return {
        ...withNet,
        cpuNanos: cg.cpuNanos || base.cpuNanos,
        memoryRssBytes: cg.memoryRssBytes || base.memoryBytes,
        cpuCfsPeriods: cg.cpuCfsPeriods,
        cpuCfsThrottledPeriods: cg.cpuCfsThrottledPeriods,
        cpuCfsThrottledNanos: cg.cpuCfsThrottledNanos,
        ...(cg.memoryLimitBytes !== undefined ? { memoryLimitBytes: cg.memoryLimitBytes } : {}),
        fsReadBytes: cg.ioReadBytes,
        fsWriteBytes: cg.ioWriteBytes,
        ...(cg.pressureStallMicros ? { pressureStallMicros: cg.pressureStallMicros } : {}),
      };
    } catch {
      return { cpuNanos: 0, memoryBytes: 0, timestamp: new Date() };
    }
  }

  async recover(handle: SandboxHandle, log: LogSink): Promise<boolean> {
    if (handle.driver !== this.name || !ID_RE.test(handle.id)) return false;
    if (this.sandboxes.has(handle.id)) return true;
    const state = readState(this.sandboxDir(handle.id));
    if (!state || state.id !== handle.id) return false;
    // A VM that ended while the agent was away still reports: its exit file and logs are on disk.
    // Re-adopted: what the node rewrote meanwhile is unknown to the guest, so every live file goes again.
    this.track(state, log, true);
    return true;
  }

  async shutdown(): Promise<void> {
    // VMs keep running under nobody: QEMU is daemonized; the agent re-adopts them with recover().
    this.closed = true;
    for (const sb of this.sandboxes.values()) this.untrack(sb);
    this.sandboxes.clear();
  }

  // --- supervision -----------------------------------------------------------------------------

  private sandboxDir(id: string): string {
    return join(this.stateDir, 'sandboxes', id);
  }

  /** The pod's writable volume disks (emptyDir), kept across its sandboxes until the pod goes. */
  private podVolumesDir(podUid: string): string {
    if (!ID_RE.test(podUid)) throw configError(`pod uid "${podUid}": expected [A-Za-z0-9_.+-]`);
    return join(this.stateDir, 'pod-volumes', podUid);
  }

  private track(state: MicrovmState, log: LogSink, resendLive = false): Sandbox {
    let resolveExit!: (r: ExitResult) => void;
    const exited = new Promise<ExitResult>((r) => (resolveExit = r));
    const sb: Sandbox = {
      state,
      exited,
      resolveExit,
      tails: [
        new FileTail(state.layout.stdout, 'stdout', log, join(state.dir, 'stdout.offset')),
        new FileTail(state.layout.stderr, 'stderr', log, join(state.dir, 'stderr.offset')),
      ],
    };
    this.sandboxes.set(state.id, sb);
    for (const t of sb.tails) t.start();
    if (state.liveVolumes?.length)
      sb.live = watchLiveVolumes(state.liveVolumes, (line) => sendLine(state.layout.signalSocket, line), {
        resendAll: resendLive,
      });
    // QEMU is not our child (daemonized): its end is noticed by polling its pid.
    sb.poll = setInterval(() => {
      if (!qemuAlive(state)) this.finish(sb);
    }, 100);
    // Not unref'd: a pending wait() keeps the process alive; shutdown() and destroy() clear it.
    if (state.deadlineAt !== undefined) {
      sb.deadlineTimer = setTimeout(
        () => void this.requestStop(sb, 'deadline', 0).catch(() => {}),
        Math.max(0, state.deadlineAt - Date.now()),
      );
      sb.deadlineTimer.unref();
    }
    return sb;
  }

  private untrack(sb: Sandbox): void {
    if (sb.poll) clearInterval(sb.poll);
    if (sb.deadlineTimer) clearTimeout(sb.deadlineTimer);
    sb.exec?.close();
    sb.live?.close();
    for (const t of sb.tails) t.close();
  }

  private finish(sb: Sandbox): void {
    if (sb.result) return;
    this.untrack(sb);
    const read = (p: string): string => (existsSync(p) ? readFileSync(p, 'utf8') : '');
    const consoleText = read(sb.state.layout.console);
    sb.result = {
      ...describeGuestExit({
        report: read(sb.state.layout.exit),
        stopCause: sb.stopCause,
        deadlineSeconds: sb.state.deadlineSeconds,
        consoleTail: consoleSummary(consoleText),
        oomKill: oomKillLine(consoleText),
        memoryMiB: sb.state.memoryMiB,
      }),
      startedAt: new Date(sb.state.startedAt),
      finishedAt: new Date(),
    };
    sb.resolveExit(sb.result);
  }

  /** SIGTERM through the guest's signal port, then QMP quit after the grace period, then SIGKILL. */
  private async requestStop(sb: Sandbox, cause: 'stop' | 'deadline', graceSeconds: number): Promise<void> {
    sb.stopCause ??= cause;
    const { layout } = sb.state;
    const within = (ms: number) =>
      Promise.race([
        sb.exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref()),
      ]);
    if (graceSeconds > 0) {
      await sendLine(layout.signalSocket, 'TERM').catch(() => {});
      if (await within(graceSeconds * 1000)) return;
    }
    await qmp(layout.qmpSocket, 'quit').catch(() => {});
    if (await within(2000)) return;
    if (qemuAlive(sb.state)) process.kill(sb.state.pid, 'SIGKILL');
    await within(2000);
    this.finish(sb);
  }

  private async cleanUp(dir: string, layout: VmLayout): Promise<void> {
    if (this.cgroups && this.cgroupParent) {
      // An exited QEMU stays in its cgroup until its parent reaps it: retry a busy cgroup briefly.
      for (let i = 0; i < 40; i++) {
        if (removeVmCgroup(this.cgroups, this.cgroupParent, basename(dir)).length === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(layout.qmpSocket, '..'), { recursive: true, force: true });
  }
}

/** QEMU with `-daemonize` returns once the VM is set up (or failed): its own status says which. */
function launch(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${stderr.toString().trim() || err.message}`));
      else resolve();
    });
  });
}

/** Is the QEMU of `state` still running (not gone, not a zombie, and still that sandbox's QEMU)? */
function qemuAlive(state: MicrovmState): boolean {
  try {
    const stat = readFileSync(`/proc/${state.pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return false;
    return readFileSync(`/proc/${state.pid}/cmdline`, 'utf8').includes(state.layout.pidfile);
  } catch {
    return false;
  }
}

function configError(message: string): SandboxError {
  return new SandboxError('CreateContainerError', message);
}

function notFound(id: string): SandboxError {
  return new SandboxError('NotFound', `no microvm sandbox ${id}`);
}
