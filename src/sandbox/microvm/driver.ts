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
// Not yet: exec, the pod network (tap on the node bridge), volumes, QEMU in a cgroup and jailed. The
// capabilities say so, and the agent refuses what is absent.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chainIds, type ImageStore } from '../../image/index.ts';
import { podHostname } from '../../net/etc-files.ts';
import { which } from '../../net/command.ts';
import { containerArgs } from '../container/index.ts';
import { prepareContainerImage } from '../container/image-artifact.ts';
import { resolveUser } from '../container/user.ts';
import {
  SandboxError,
  type ArtifactDriver,
  type Capabilities,
  type ContainerRequest,
  type ExitResult,
  type Fingerprint,
  type LogSink,
  type PreparedArtifact,
  type SandboxHandle,
  type SandboxStats,
  type TierOptionsDriver,
} from '../driver.ts';
import { detectCgroups, type CgroupLayout } from '../container/cgroups.ts';
import { kvmCanary, resolveAccel, type AccelSetting } from './accel.ts';
import { createVmCgroup, inCgroup, qemuMemoryLimit, removeVmCgroup } from './cgroup.ts';
import { DiskCache, createOverlay } from './disk.ts';
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
}

interface Sandbox {
  state: MicrovmState;
  tails: FileTail[];
  exited: Promise<ExitResult>;
  resolveExit: (r: ExitResult) => void;
  result?: ExitResult;
  stopCause?: 'stop' | 'deadline';
  poll?: NodeJS.Timeout;
  deadlineTimer?: NodeJS.Timeout;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}$/;
const MiB = 1024 * 1024;
const DEFAULT_KERNEL_DIR = fileURLToPath(new URL('../../../build/microvm/kernel', import.meta.url));
/** Guests smaller than this do not boot the cloud kernel with the init's needs. */
const MIN_MEMORY_MIB = 64;

export class MicrovmDriver implements ArtifactDriver<MicrovmOptions>, TierOptionsDriver<MicrovmOptions> {
  readonly name = 'microvm';
  readonly capabilities: Capabilities = {
    exec: false,
    survivesAgentRestart: true,
    gracefulStop: true,
    stats: true,
    // The guest's memory is the VM's: a workload cannot use more.
    memoryLimit: true,
    interactiveExec: false,
    podNetwork: false,
    artifacts: true,
    tierOptions: true,
  };

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
    mkdirSync(join(this.stateDir, 'sandboxes'), { recursive: true });
    this.disks = new DiskCache(join(this.stateDir, 'disks'));
    this.cgroupParent = opts.cgroupParent === false ? undefined : (opts.cgroupParent ?? 'strata-microvm');
    this.cgroups = this.cgroupParent ? detectCgroups() : undefined;
  }

  /** Kernel, initramfs, accelerator: made ready once per driver (the canary may take its timeout). */
  private bootAssets() {
    this.boot ??= (async () => {
      const kernel = loadGuestKernel(this.kernelDir);
      const cache = join(this.stateDir, 'boot');
      mkdirSync(cache, { recursive: true });
      const initramfs = baseInitramfs(kernel, cache, this.busybox);
      const tscKhz = hostTscKhz();
      // The canary's verdict is per host boot: kept on the run directory (tmpfs), shared by every agent.
      mkdirSync(this.runDir, { recursive: true });
      const { accel, detail } = await resolveAccel(
        this.accelSetting,
        join(this.runDir, 'kvm-canary.json'),
        () => kvmCanary(this.qemu!, kernel.vmlinux, initramfs, tscKhz),
      );
      return { kernel, initramfs, accel, accelDetail: detail, tscKhz };
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
      attributes['microvm.network'] = 'none (not yet)';
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

  /** The prepared image's settings, and the pod's hostname when it sets one. */
  tierOptions(
    { podSpec }: ContainerRequest,
    artifact: PreparedArtifact<MicrovmOptions> | undefined,
  ): MicrovmOptions {
    return { ...artifact?.options, ...(podSpec?.hostname ? { hostname: podSpec.hostname } : {}) };
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
    if (spec.mounts.length > 0) throw configError('volumes are not supported by the microvm tier yet');
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
    let config: string;
    try {
      config = guestConfigScript({
        hostname: podHostname(spec.options?.hostname ?? spec.podName),
        argv,
        env: { ...(user && user.uid !== 0 ? { HOME: user.home } : {}), ...image.env, ...spec.env },
        user,
        workingDir: spec.workingDir ?? image.workingDir ?? '/',
      });
    } catch (err) {
      throw configError((err as Error).message);
    }
    let boot;
    try {
      boot = await this.bootAssets();
    } catch (err) {
      throw new SandboxError('CreateContainerError', `microvm boot assets: ${(err as Error).message}`);
    }

    mkdirSync(dir, { recursive: true });
    const sockets = join(this.runDir, createHash('sha256').update(dir).digest('hex').slice(0, 16));
    mkdirSync(sockets, { recursive: true });
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
    };
    let memoryMiB = 0;
    try {
      copyFileSync(boot.initramfs, layout.initrd);
      appendFileSync(layout.initrd, configArchive(config));
      await createOverlay(resolve(spec.image), layout.disk);
      memoryMiB = Math.max(
        MIN_MEMORY_MIB,
        Math.floor((spec.limits.memoryBytes ?? this.defaultMemoryBytes) / MiB),
      );
      const vcpus = Math.max(1, Math.ceil(spec.limits.cpu ?? 1));
      const argv = [
        this.qemu!,
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
    };
    if (spec.limits.deadlineSeconds !== undefined) {
      state.deadlineSeconds = spec.limits.deadlineSeconds;
      state.deadlineAt = Date.now() + spec.limits.deadlineSeconds * 1000;
    }
    writeState(dir, state);
    this.track(state, spec.log);
    return { id: spec.id, driver: this.name, state: { dir } };
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
      return { cpuNanos: ticks * 1e7, memoryBytes: rss ? Number(rss[1]) * 1024 : 0, timestamp: new Date() };
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
    this.track(state, log);
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

  private track(state: MicrovmState, log: LogSink): Sandbox {
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
