// The container tier: Linux containers run by an OCI runtime (runc by default, crun where it works)
// under conmon, with namespaces, cgroups, a reduced capability set and a seccomp profile.
//
// start(): rootfs + image config (image-config.ts) + user (user.ts) → config.json (bundle.ts) in
// `<stateDir>/containers/<id>/`; conmon runs the runtime's create (conmon.ts), the driver runs start.
// From then on conmon holds the container: its output goes to a k8s-file log that the driver tails
// into the SandboxSpec's log sink (cri-log.ts), its exit status to `<runDir>/exits/<id>`
// (exit-watch.ts). Neither needs the agent, so containers outlive it and recover() re-adopts them.
// Statistics and the OOM verdict come from the container's cgroup (cgroups.ts), for v1 and v2 hosts.
//
// Besides the Driver contract it implements every optional part (see ../driver.ts): interactive exec
// (exec.ts), the pod network (a PodNetwork from src/net: start() returns the pod IP, hostPorts are
// kernel DNAT rules), artifacts (image-artifact.ts: a snapshot of an image from the node's image store)
// and typed options (options.ts: the pod's securityContext and cpu request, the image's config), and
// attach (attach.ts: conmon holds the stdin, and terminal, of a pod container with `stdin`/`tty`).

import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCpu } from '../../api/index.ts';
import type { ImageStore } from '../../image/index.ts';
import {
  SandboxError,
  type ArtifactDriver,
  type AttachDriver,
  type AttachedStdio,
  type AttachOptions,
  type Capabilities,
  type ContainerRequest,
  type ExecResult,
  type ExitResult,
  type Fingerprint,
  type HostPortMapping,
  type InteractiveExecDriver,
  type LogSink,
  type PodNetworkDriver,
  type PreparedArtifact,
  type SandboxHandle,
  type SandboxStats,
  type TierOptionsDriver,
} from '../driver.ts';
import { run, which } from '../../lib/command.ts';
import {
  podHostname,
  type PodAttachment,
  type PodEtcFilesMaker,
  type PodNetworkHost,
} from '../pod-network.ts';
import { buildRuntimeSpec, configError, containerArgv, INIT_PATH, nofileLimit, wantsInit } from './bundle.ts';
import { findExecutable } from './executable.ts';
import type { OciSpec } from './oci-spec.ts';
import {
  cgroupProblem,
  detectCgroups,
  oomKills,
  readStats,
  cgroupNetwork,
  removeCgroup,
  type CgroupLayout,
  type CgroupStats,
} from './cgroups.ts';
import { attachConmon } from './attach.ts';
import { conmonAlive, launchConmon } from './conmon.ts';
import { CriLogTail } from './cri-log.ts';
import { execCapture, execInteractive, type InteractiveExec, type InteractiveOptions } from './exec.ts';
import { describeExit } from './exit-result.ts';
import { ExitWatcher, type ExitStatus } from './exit-watch.ts';
import { containerArgs, readImageConfig, type ContainerImageConfig } from './image-config.ts';
import { prepareContainerImage } from './image-artifact.ts';
import { containerOptions, type ContainerOptions, type ContainerSandboxSpec } from './options.ts';
import { OciRuntime, type RuntimeName } from './runtime.ts';
import { RootfsSpares } from './rootfs-spares.ts';
import { readState, writeState, type SandboxState } from './state.ts';
import { resolveUser } from './user.ts';

export interface ContainerDriverOptions {
  /** Bundles, logs, exit files. Keep it on persistent storage: recover() reads it after a restart. */
  stateDir: string;
  /** Default runc. */
  runtime?: RuntimeName;
  /** Containers' cgroups go to /<cgroupParent>/<id> in every hierarchy (default "strata"). */
  cgroupParent?: string;
  /** Pod networking; without it each container gets a network namespace with only loopback. */
  network?: PodNetworkHost;
  /**
   * Makes each pod's /etc/hosts and /etc/resolv.conf (the node's: src/net/pod-etc-files.ts, which puts
   * pods on the network with dnsPolicy ClusterFirst on the node's cluster DNS).
   */
  etcFiles: PodEtcFilesMaker;
  /** The node's image store, where prepareArtifact() finds (or pulls) images; without it, none. */
  images?: ImageStore;
  /**
   * Per-boot state on tmpfs (default /run/strata): the runtime's state root (`<runDir>/<runtime>`),
   * pid files and exit files. Never on a disk: runc writes its pid file with O_SYNC and conmon syncs
   * its files, which costs a journal commit per start on ext4; and none of it outlives a reboot,
   * exactly like the containers it describes.
   */
  runDir?: string;
  /** The runtime's state root (default `<runDir>/<runtime>`). */
  runtimeRoot?: string;
  /** The init put in front of the workload (default: catatonit from PATH; false: none). */
  initBinary?: string | false;
  /** conmon rotates a container's log file past this size (default 64 MiB). */
  logSizeMaxBytes?: number;
  /**
   * Spare root filesystems made ahead, one per recently started image (rootfs-spares.ts): at most this
   * many (default 8; 0: none). Only with `images`.
   */
  spareRootfs?: number;
  /** Where a spare that could not be made or claimed is reported (the start goes on without it). */
  onSpareError?: (image: string, err: Error) => void;
}

/** SandboxStats plus what cgroups tell about a container. */
export interface ContainerStats extends SandboxStats, Omit<CgroupStats, 'cpuNanos' | keyof SandboxStats> {}

interface Sandbox {
  state: SandboxState;
  runtime: OciRuntime;
  tail: CriLogTail;
  exited: Promise<ExitResult>;
  resolveExit: (r: ExitResult) => void;
  result?: ExitResult;
  deadlineTimer?: NodeJS.Timeout;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,200}$/;
const DEFAULT_LOG_SIZE_MAX = 64 * 1024 * 1024;

export class ContainerDriver
  implements
    InteractiveExecDriver<ContainerOptions>,
    PodNetworkDriver<ContainerOptions>,
    ArtifactDriver<ContainerOptions>,
    TierOptionsDriver<ContainerOptions>,
    AttachDriver<ContainerOptions>
{
  readonly name = 'container';
  readonly capabilities: Capabilities;

  private readonly stateDir: string;
  private readonly runtime: OciRuntime;
  private readonly runtimeName: RuntimeName;
  private readonly cgroupParent: string;
  private readonly network: PodNetworkHost | undefined;
  private readonly etcFiles: PodEtcFilesMaker;
  private readonly images: ImageStore | undefined;
  private readonly spares: RootfsSpares | undefined;
  private readonly initBinary: string | undefined;
  private readonly logSizeMax: number;
  private readonly layout: CgroupLayout;
  private readonly nofile = nofileLimit();
  private readonly exits: ExitWatcher;
  private readonly exitDir: string;
  private readonly pidDir: string;
  private readonly sandboxes = new Map<string, Sandbox>();
  private readonly starting = new Map<string, Promise<SandboxHandle>>();
  private readonly runtimes = new Map<string, OciRuntime>();
  private closed = false;

  constructor(opts: ContainerDriverOptions) {
    this.stateDir = resolve(opts.stateDir);
    this.runtimeName = opts.runtime ?? 'runc';
    this.cgroupParent = (opts.cgroupParent ?? 'strata').replace(/^\/+|\/+$/g, '');
    if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(this.cgroupParent)) {
      throw new Error(`cgroupParent "${opts.cgroupParent}": expected path components of [A-Za-z0-9_.-]`);
    }
    this.network = opts.network;
    this.etcFiles = opts.etcFiles;
    this.images = opts.images;
    this.spares =
      opts.images && opts.spareRootfs !== 0
        ? new RootfsSpares(opts.images, { max: opts.spareRootfs, onError: opts.onSpareError })
        : undefined;
    this.capabilities = {
      exec: true,
      survivesAgentRestart: true,
      gracefulStop: true,
      stats: true,
      memoryLimit: true,
      interactiveExec: true,
      // Without a PodNetwork a container has loopback only: no pod IP, no hostPorts.
      podNetwork: this.network !== undefined,
      artifacts: true,
      tierOptions: true,
      attach: true,
    };
    this.initBinary = opts.initBinary === false ? undefined : (opts.initBinary ?? locate('catatonit'));
    this.logSizeMax = opts.logSizeMaxBytes ?? DEFAULT_LOG_SIZE_MAX;
    this.layout = detectCgroups();
    const runDir = resolve(opts.runDir ?? '/run/strata');
    this.runtime = this.runtimeFor(this.runtimeName, opts.runtimeRoot ?? join(runDir, this.runtimeName));
    this.exitDir = join(runDir, 'exits');
    this.pidDir = join(runDir, 'pids');
    mkdirSync(join(this.stateDir, 'containers'), { recursive: true });
    mkdirSync(this.exitDir, { recursive: true });
    mkdirSync(this.pidDir, { recursive: true });
    this.exits = new ExitWatcher(this.exitDir);
  }

  async fingerprint(): Promise<Fingerprint> {
    const attributes: Record<string, string> = {
      'container.runtime': this.runtimeName,
      'container.cgroupMode': this.layout.mode,
      'container.cgroupDriver': 'cgroupfs',
      'container.cgroupParent': `/${this.cgroupParent}`,
      'container.init': this.initBinary ? 'catatonit' : 'none',
      'container.seccomp': 'default deny-list',
      'container.network': this.network
        ? `bridge ${this.network.bridge} ${this.network.subnet}`
        : 'none (loopback only)',
    };
    const unhealthy = (reason: string): Fingerprint => ({
      runtimeClass: 'container',
      healthy: false,
      reason,
      attributes,
    });
    if (process.getuid?.() !== 0)
      return unhealthy('the container tier needs root (rootless containers are not supported)');
    if (!this.runtime.bin) return unhealthy(`${this.runtimeName} not found in PATH`);
    try {
      attributes['container.runtimeVersion'] = await this.runtime.version();
      const full = await run(this.runtime.bin, ['--version']);
      if (!/libseccomp|\+SECCOMP/.test(full))
        return unhealthy(`${this.runtimeName} was built without seccomp`);
    } catch (err) {
      return unhealthy(`${this.runtimeName} --version failed: ${(err as Error).message}`);
    }
    const conmon = locate('conmon');
    if (!conmon) return unhealthy('conmon not found in PATH');
    try {
      const v = /conmon version (\S+)/.exec(await run(conmon, ['--version']));
      attributes['container.conmonVersion'] = v ? v[1] : 'unknown';
    } catch (err) {
      return unhealthy(`conmon --version failed: ${(err as Error).message}`);
    }
    if (this.runtime.needsHybridWorkaround) {
      if (!which('unshare')) return unhealthy('crun on hybrid cgroups needs unshare (util-linux)');
      attributes['container.crunHybridWorkaround'] = 'create in a private mount namespace without cgroup2';
    }
    const problem = cgroupProblem(this.layout, this.cgroupParent);
    if (problem) return unhealthy(`cgroups are not usable: ${problem}`);
    return { runtimeClass: 'container', healthy: true, attributes };
  }

  async start(spec: ContainerSandboxSpec): Promise<SandboxHandle> {
    if (this.closed) throw new SandboxError('CreateContainerError', 'the container driver is shut down');
    if (!ID_RE.test(spec.id)) {
      throw new SandboxError(
        'CreateContainerError',
        `sandbox id "${spec.id}": expected [A-Za-z0-9_.+-], up to 201 characters`,
      );
    }
    if (this.sandboxes.has(spec.id) || this.starting.has(spec.id)) {
      throw new SandboxError('CreateContainerError', `sandbox ${spec.id} already exists`);
    }
    const starting = this.launch(spec);
    this.starting.set(spec.id, starting);
    try {
      return await starting;
    } finally {
      this.starting.delete(spec.id);
    }
  }

  async wait(id: string): Promise<ExitResult> {
    const sb = await this.find(id);
    if (!sb) throw notFound(id);
    return sb.exited;
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    const sb = await this.find(id);
    if (!sb || sb.result) return;
    await this.requestStop(sb, 'stop', graceSeconds);
  }

  async destroy(id: string): Promise<void> {
    const sb = await this.find(id);
    if (sb && !sb.result) {
      try {
        await this.requestStop(sb, 'stop', 0);
      } catch {
        // The runtime refused the kill: delete --force kills it; then conmon reports the exit.
        await sb.runtime.delete(id).catch(() => {});
        await Promise.race([sb.exited, new Promise((r) => setTimeout(r, 2000).unref())]);
        if (!sb.result) this.finish(sb, this.exits.read(id));
      }
    }
    if (sb) {
      if (sb.deadlineTimer) clearTimeout(sb.deadlineTimer);
      this.exits.unwatch(id);
      sb.tail.close();
      this.sandboxes.delete(id);
      await this.cleanUp(sb.state, sb.runtime);
      return;
    }
    // Not adopted by this instance (an agent restart without recover): clean up from the disk state.
    const state = readState(this.bundleDir(id));
    if (state) await this.cleanUp(state, this.runtimeFor(state.runtime, state.runtimeRoot));
  }

  async stats(id: string): Promise<ContainerStats> {
    const sb = await this.find(id);
    if (!sb) throw notFound(id);
    const s = readStats(this.layout, sb.state.cgroupsPath);
    const net = cgroupNetwork(this.layout, sb.state.cgroupsPath);
    return {
      ...s,
      memoryBytes: s.memoryWorkingSetBytes,
      fsReadBytes: s.ioReadBytes,
      fsWriteBytes: s.ioWriteBytes,
      ...(net ? { networkRxBytes: net.rx, networkTxBytes: net.tx } : {}),
      timestamp: new Date(),
    };
  }

  async exec(id: string, cmd: string[]): Promise<ExecResult> {
    const sb = await this.runningSandbox(id, cmd);
    return execCapture(sb.runtime.execArgv(id, cmd, false));
  }

  /**
   * `strata exec -it`: the runtime's exec with streamed stdio (see exec.ts for the shape). Resolve the
   * InteractiveExec's `exited` for the exit code; with `tty`, the runtime allocates the terminal.
   */
  async execInteractive(id: string, cmd: string[], opts: InteractiveOptions): Promise<InteractiveExec> {
    const sb = await this.runningSandbox(id, cmd);
    return execInteractive(sb.runtime.execArgv(id, cmd, opts.tty), opts);
  }

  /**
   * `kubectl attach`: a client on the container's own stdio, through conmon's attach socket (attach.ts).
   * Input needs a container started with an open stdin (the pod's `stdin: true`).
   */
  async attach(id: string, opts: AttachOptions): Promise<AttachedStdio> {
    const sb = await this.find(id);
    if (!sb) throw notFound(id);
    if (sb.result) throw new SandboxError('NotRunning', `container ${id} has exited`);
    const stdio = sb.state.stdio;
    if (opts.stdin && !stdio?.stdin) {
      throw new SandboxError(
        'NotSupported',
        "the container was started without an open stdin: set stdin: true on the pod's container to attach to it",
      );
    }
    return attachConmon({
      bundle: sb.state.bundle,
      tty: stdio?.tty === true,
      stdin: opts.stdin,
      cols: opts.cols,
      rows: opts.rows,
    });
  }

  async recover(handle: SandboxHandle, log: LogSink): Promise<boolean> {
    if (handle.driver !== this.name) return false;
    if (this.sandboxes.has(handle.id)) return true;
    if (!ID_RE.test(handle.id)) return false;
    // Always this driver's own bundle directory, whatever the handle says: recover() may delete it.
    const bundle = this.bundleDir(handle.id);
    const state = readState(bundle);
    if (!state || state.id !== handle.id || state.bundle !== bundle) return false;
    const runtime = this.runtimeFor(state.runtime, state.runtimeRoot);
    const exited = this.exits.read(state.id);
    if (!exited && !conmonAlive(state.conmonPid, state.id)) {
      // Nobody supervises it any more: its exit status and output cannot be collected. Kill it rather
      // than leave an unaccounted container behind; the agent starts a new one.
      await runtime.kill(state.id, 'KILL').catch(() => {});
      await this.cleanUp(state, runtime);
      return false;
    }
    const sb = this.track(state, runtime, log);
    sb.tail.start();
    this.watchExit(sb);
    this.armDeadline(sb);
    return true;
  }

  // --- the pod network (PodNetworkDriver) ------------------------------------------------------

  /** Publishes hostPorts as kernel DNAT rules on the node (see src/net/README.md). */
  async publishHostPorts(podUid: string, ports: HostPortMapping[]): Promise<void> {
    if (!this.network) return;
    for (const p of ports) await this.network.publish(podUid, p);
  }

  /** Tears the pod's network down, once no sandbox of the pod is left in this driver (pod deletion). */
  async releasePod(podUid: string): Promise<void> {
    if (!this.network) return;
    for (const sb of this.sandboxes.values()) if (sb.state.podUid === podUid) return;
    await this.network.teardown(podUid);
  }

  async reconcilePods(livePodUids: string[]): Promise<void> {
    await this.network?.reconcile(livePodUids);
  }

  // --- the image (ArtifactDriver, TierOptionsDriver) ---------------------------------------------

  /** The image's snapshot as the rootfs, argv by Kubernetes' command/args rules over entrypoint/cmd. */
  async prepareArtifact({
    sandboxId,
    container,
    registryCredentials,
  }: ContainerRequest): Promise<PreparedArtifact<ContainerOptions>> {
    if (!this.images) throw new SandboxError('CreateContainerError', 'this node has no image store');
    const img = await prepareContainerImage(
      this.images,
      container.image,
      container.imagePullPolicy,
      sandboxId,
      registryCredentials,
      this.spares,
    );
    return {
      image: img.rootfs,
      args: containerArgs(img.imageConfig, container.command, container.args),
      options: { imageConfig: img.imageConfig },
      imageID: img.imageID,
      release: img.release,
    };
  }

  /** A re-adopted sandbox's snapshot is named after the sandbox. */
  async releaseArtifact(sandboxId: string): Promise<void> {
    await this.images?.removeRootfs(sandboxId);
  }

  tierOptions(
    { container, podSpec }: ContainerRequest,
    artifact: PreparedArtifact<ContainerOptions> | undefined,
  ): ContainerOptions {
    const cpuRequest = container.resources?.requests?.cpu;
    const sysctls = podSpec?.securityContext?.sysctls;
    return {
      ...artifact?.options,
      ...(podSpec?.hostname ? { hostname: podSpec.hostname } : {}),
      ...(podSpec?.hostAliases?.length
        ? { hostAliases: podSpec.hostAliases.map((a) => ({ ip: a.ip, hostnames: a.hostnames ?? [] })) }
        : {}),
      ...(sysctls?.length ? { sysctls: Object.fromEntries(sysctls.map((s) => [s.name, s.value])) } : {}),
      // What the pod asks of its resolv.conf (ClusterFirst, the default, needs the node's cluster DNS).
      ...(podSpec?.dnsConfig || podSpec?.dnsPolicy
        ? { dns: { policy: podSpec.dnsPolicy, config: podSpec.dnsConfig } }
        : {}),
      terminationMessagePath: container.terminationMessagePath ?? '/dev/termination-log',
      ...(container.securityContext ? { securityContext: container.securityContext } : {}),
      ...(container.stdin || container.tty
        ? {
            stdio: {
              stdin: container.stdin === true,
              stdinOnce: container.stdinOnce === true,
              tty: container.tty === true,
            },
          }
        : {}),
      ...(cpuRequest !== undefined ? { cpuRequest: parseCpu(cpuRequest) / 1000 } : {}),
    };
  }

  /** The spare root filesystems ready now: manifest digest → image (rootfs-spares.ts). */
  spareRootfs(): Map<string, string> {
    return this.spares?.ready() ?? new Map();
  }

  async shutdown(): Promise<void> {
    // Containers keep running under conmon; the agent re-adopts them with recover().
    this.closed = true;
    await Promise.all([...this.starting.values()].map((p) => p.catch(() => undefined)));
    for (const sb of this.sandboxes.values()) {
      if (sb.deadlineTimer) clearTimeout(sb.deadlineTimer);
      sb.tail.close();
    }
    this.sandboxes.clear();
    this.exits.close();
    await this.spares?.close();
  }

  // --- start -----------------------------------------------------------------------------------

  private async launch(spec: ContainerSandboxSpec): Promise<SandboxHandle> {
    // Step durations of this start, returned in the handle's state.startSteps (the agent logs them).
    const steps: Record<string, number> = {};
    let last = performance.now();
    const mark = (step: string) => {
      const now = performance.now();
      steps[step] = now - last;
      last = now;
    };
    if (spec.stdin && spec.stdin.length > 0) {
      throw configError('stdin bytes are not supported by the container tier');
    }
    const deadline = spec.limits.deadlineSeconds;
    if (deadline !== undefined && !(Number.isFinite(deadline) && deadline >= 0)) {
      throw configError(`limits.deadlineSeconds: must be a non-negative number, got ${deadline}`);
    }
    const options = containerOptions(spec);
    const rootfs = resolve(spec.image);
    if (!isDirectory(rootfs)) {
      throw new SandboxError(
        'ErrImagePull',
        `root filesystem ${rootfs} not found (the container tier takes a prepared rootfs directory)`,
      );
    }
    let image: ContainerImageConfig;
    try {
      image = options.imageConfig ?? readImageConfig(rootfs);
    } catch (err) {
      throw configError(`image config: ${(err as Error).message}`);
    }
    if (spec.imageDigest && image.digest !== spec.imageDigest) {
      throw new SandboxError(
        'InvalidImageDigest',
        `image ${rootfs} is ${image.digest ?? 'of unknown digest'}, the pod asks for ${spec.imageDigest}`,
      );
    }
    let user;
    try {
      user = resolveUser(rootfs, image.user, options.securityContext);
    } catch (err) {
      throw configError((err as Error).message);
    }

    const bundle = this.bundleDir(spec.id);
    if (existsSync(bundle)) {
      throw new SandboxError(
        'CreateContainerError',
        `sandbox ${spec.id} already exists on disk (destroy it first)`,
      );
    }
    const state: SandboxState = {
      version: 1,
      id: spec.id,
      podUid: spec.podUid,
      bundle,
      runtime: this.runtimeName,
      runtimeRoot: this.runtime.root,
      cgroupParent: this.cgroupParent,
      cgroupsPath: `/${this.cgroupParent}/${spec.id}`,
      logPath: join(bundle, 'ctr.log'),
      conmonPid: 0,
      pid: 0,
      stopSignal: normalizeSignal(image.stopSignal),
      memoryLimitBytes: spec.limits.memoryBytes,
      ...(options.stdio?.stdin || options.stdio?.tty ? { stdio: options.stdio } : {}),
    };
    if (spec.limits.deadlineSeconds !== undefined) {
      state.deadlineSeconds = spec.limits.deadlineSeconds;
      state.deadlineAt = Date.now() + spec.limits.deadlineSeconds * 1000;
    }
    mkdirSync(bundle, { recursive: true });
    mark('checks');
    let sb: Sandbox | undefined;
    try {
      let attachment: PodAttachment | undefined;
      if (this.network) {
        try {
          attachment = await this.network.setup(spec.podUid);
        } catch (err) {
          throw new SandboxError('CreateContainerError', `pod network: ${(err as Error).message}`);
        }
      }
      mark('network');
      const hostname = podHostname(options.hostname ?? spec.podName);
      const etcFiles = {
        hosts: join(bundle, 'hosts'),
        hostname: join(bundle, 'hostname'),
        resolvConf: join(bundle, 'resolv.conf'),
      };
      const etc = this.etcFiles({
        namespace: spec.namespace,
        hostname,
        ip: attachment?.ip,
        hostAliases: options.hostAliases,
        dns: options.dns,
      });
      writeFileSync(etcFiles.hosts, etc.hosts);
      writeFileSync(etcFiles.hostname, `${hostname}\n`);
      writeFileSync(etcFiles.resolvConf, etc.resolvConf);
      // Writable by whatever user the container runs as: it is this sandbox's file only.
      const terminationLog = join(bundle, TERMINATION_LOG);
      if (options.terminationMessagePath) {
        writeFileSync(terminationLog, '');
        chmodSync(terminationLog, 0o666);
      }
      const oci = buildRuntimeSpec({
        spec,
        options,
        image,
        rootfs,
        user,
        cgroupsPath: state.cgroupsPath,
        hostname,
        netnsPath: attachment?.netnsPath,
        etcFiles,
        ...(options.terminationMessagePath ? { terminationLog } : {}),
        initBinary: this.initBinary,
        nofile: this.nofile,
      });
      checkCommand(rootfs, oci, spec);
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(oci, null, 1));
      writeState(state);
      mark('bundle');

      const { pid, conmonPid } = await launchConmon({
        conmon: locate('conmon') ?? 'conmon',
        runtimeCommand: this.runtime.createCommand(),
        runtimeArgs: this.runtime.globalArgs(),
        id: spec.id,
        bundle,
        pidFile: join(this.pidDir, `${spec.id}.pid`),
        conmonPidFile: join(this.pidDir, `${spec.id}.conmon.pid`),
        logPath: state.logPath,
        logSizeMax: this.logSizeMax,
        exitDir: this.exitDir,
        socketDir: join(bundle, 'sockets'),
        stdin: options.stdio?.stdin,
        leaveStdinOpen: options.stdio?.stdinOnce === false,
        terminal: options.stdio?.tty,
      }).catch((err: Error) => {
        throw new SandboxError('CreateContainerError', err.message);
      });
      state.pid = pid;
      state.conmonPid = conmonPid;
      sb = this.track(state, this.runtime, spec.log);
      sb.tail.start();
      this.watchExit(sb);
      state.startedAt = new Date().toISOString();
      writeState(state);
      mark('create');
      await this.runtime.start(spec.id, pid).catch((err: Error) => {
        throw new SandboxError('RunContainerError', err.message);
      });
      mark('start');
      this.armDeadline(sb);
      return {
        id: spec.id,
        driver: this.name,
        ...(attachment ? { podIP: attachment.ip } : {}),
        state: {
          bundle,
          runtime: state.runtime,
          conmonPid,
          pid,
          logPath: state.logPath,
          cgroupsPath: state.cgroupsPath,
          startedAt: state.startedAt,
          init: wantsInit(containerArgv(spec, image), options, this.initBinary),
          startSteps: steps,
        },
      };
    } catch (err) {
      if (sb) {
        this.exits.unwatch(spec.id);
        sb.tail.close();
        this.sandboxes.delete(spec.id);
      }
      await this.runtime.kill(spec.id, 'KILL').catch(() => {});
      await this.cleanUp(state, this.runtime).catch(() => {});
      throw err;
    }
  }

  // --- supervision -----------------------------------------------------------------------------

  private track(state: SandboxState, runtime: OciRuntime, log: LogSink): Sandbox {
    let resolveExit!: (r: ExitResult) => void;
    const exited = new Promise<ExitResult>((r) => (resolveExit = r));
    const sb: Sandbox = {
      state,
      runtime,
      tail: new CriLogTail({ path: state.logPath, posFile: join(state.bundle, 'log.pos'), sink: log }),
      exited,
      resolveExit,
    };
    this.sandboxes.set(state.id, sb);
    return sb;
  }

  private watchExit(sb: Sandbox): void {
    const id = sb.state.id;
    this.exits.watch(
      id,
      (status) => this.finish(sb, status),
      () => conmonAlive(sb.state.conmonPid, id),
      () => {
        // conmon died without an exit status (killed, OOM): the container cannot be supervised.
        void sb.runtime
          .kill(id, 'KILL')
          .catch(() => {})
          .then(() => this.finish(sb, undefined));
      },
    );
  }

  private finish(sb: Sandbox, status: ExitStatus | undefined): void {
    if (sb.result) return;
    if (sb.deadlineTimer) clearTimeout(sb.deadlineTimer);
    sb.tail.drain(); // everything conmon logged before reporting the exit
    const fresh = readState(sb.state.bundle);
    if (fresh?.stopCause) sb.state.stopCause = fresh.stopCause;
    const described = describeExit({
      exitCode: status?.exitCode,
      oomKills: oomKills(this.layout, sb.state.cgroupsPath),
      memoryLimitBytes: sb.state.memoryLimitBytes,
      stopCause: sb.state.stopCause,
      deadlineSeconds: sb.state.deadlineSeconds,
    });
    const finishedAt = status?.at ?? new Date();
    const startedAt = sb.state.startedAt ? new Date(sb.state.startedAt) : finishedAt;
    const written = terminationMessage(sb.state.bundle);
    sb.result = {
      ...described,
      ...(written ? { message: written } : {}),
      startedAt,
      finishedAt: finishedAt < startedAt ? startedAt : finishedAt,
    };
    sb.resolveExit(sb.result);
  }

  private armDeadline(sb: Sandbox): void {
    if (sb.state.deadlineAt === undefined || sb.result) return;
    const ms = Math.max(0, sb.state.deadlineAt - Date.now());
    sb.deadlineTimer = setTimeout(() => void this.requestStop(sb, 'deadline', 0).catch(() => {}), ms);
    sb.deadlineTimer.unref();
  }

  /** The stop signal, then SIGKILL once the grace period is over; resolves when the container exited. */
  private async requestStop(sb: Sandbox, cause: 'stop' | 'deadline', graceSeconds: number): Promise<void> {
    if (sb.result) return;
    if (!sb.state.stopCause) {
      sb.state.stopCause = cause;
      writeState(sb.state); // a recovered driver reports the stop the same way
    }
    await sb.runtime.kill(sb.state.id, sb.state.stopSignal);
    const graceMs = Math.max(0, graceSeconds * 1000);
    const timedOut = await Promise.race([
      sb.exited.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref()),
    ]);
    if (timedOut && !sb.result) await sb.runtime.kill(sb.state.id, 'KILL');
    await sb.exited;
  }

  // --- clean-up --------------------------------------------------------------------------------

  /** Deletes the runtime's state, the cgroups (and empty parents), the exit file and the bundle. */
  private async cleanUp(state: SandboxState, runtime: OciRuntime): Promise<void> {
    await runtime.delete(state.id);
    // conmon writes the exit file as its last act: let it finish, so that nothing it writes lands
    // after the files are gone.
    for (let i = 0; i < 200 && conmonAlive(state.conmonPid, state.id); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // The runtime removes the leaf cgroups as its processes are gone; retry briefly for the kernel to
    // finish tearing down the last of them (rmdir says EBUSY until then).
    for (let attempt = 0; ; attempt++) {
      // Not while another start is under way: the runtime creates the parent before the leaf, and an
      // rmdir in between would make that start fail.
      const othersStarting = [...this.starting.keys()].some((k) => k !== state.id);
      const busy = removeCgroup(this.layout, state.cgroupParent, state.id, !othersStarting);
      if (busy.length === 0) break;
      if (attempt >= 50) throw new SandboxError('DestroyError', `cgroups still busy: ${busy.join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    rmSync(join(this.exitDir, state.id), { force: true });
    rmSync(join(this.pidDir, `${state.id}.pid`), { force: true });
    rmSync(join(this.pidDir, `${state.id}.conmon.pid`), { force: true });
    rmSync(state.bundle, { recursive: true, force: true });
  }

  // --- helpers ---------------------------------------------------------------------------------

  /** The sandbox, once a start() in progress for it has settled (so a stop is never lost to a race). */
  private async find(id: string): Promise<Sandbox | undefined> {
    const starting = this.starting.get(id);
    if (starting) await starting.catch(() => undefined);
    return this.sandboxes.get(id);
  }

  private async runningSandbox(id: string, cmd: string[]): Promise<Sandbox> {
    const sb = await this.find(id);
    if (!sb) throw notFound(id);
    if (sb.result) throw new SandboxError('NotRunning', `container ${id} has exited`);
    if (cmd.length === 0) throw new SandboxError('ExecError', 'exec needs a command');
    return sb;
  }

  private runtimeFor(name: RuntimeName, root: string): OciRuntime {
    const key = `${name}:${root}`;
    let rt = this.runtimes.get(key);
    if (!rt) {
      rt = new OciRuntime({ name, root, wrapperDir: join(this.stateDir, 'bin'), layout: this.layout });
      this.runtimes.set(key, rt);
    }
    return rt;
  }

  private bundleDir(id: string): string {
    return join(this.stateDir, 'containers', id);
  }
}

/** With an init in front, the runtime cannot see a missing command: look for it (executable.ts). */
function checkCommand(rootfs: string, oci: OciSpec, spec: ContainerSandboxSpec): void {
  const args = oci.process.args;
  if (args[0] !== INIT_PATH) return;
  const argv0 = args[args.indexOf('--') + 1];
  const path = oci.process.env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '';
  const found = findExecutable(rootfs, argv0, {
    path,
    cwd: oci.process.cwd,
    mountPoints: spec.mounts.map((m) => m.guestPath),
  });
  if (found === 'missing') {
    throw new SandboxError(
      'CreateContainerError',
      argv0.includes('/')
        ? `exec: "${argv0}": no such file or directory in the image (or not executable)`
        : `exec: "${argv0}": executable file not found in $PATH (${path})`,
    );
  }
}

/** Where distributions put the helpers when not in PATH (Fedora: /usr/libexec/podman/conmon, ...). */
const LIBEXEC: Record<string, string[]> = {
  conmon: ['/usr/libexec/podman/conmon', '/usr/libexec/crio/conmon'],
  catatonit: ['/usr/libexec/catatonit/catatonit', '/usr/libexec/podman/catatonit'],
};

function locate(name: string): string | undefined {
  return which(name) ?? LIBEXEC[name]?.map((p) => which(p)).find(Boolean);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** "SIGTERM", "TERM", "15" → the name runc and crun accept ("SIGTERM"); default SIGTERM. */
export function normalizeSignal(sig: string | undefined): string {
  if (!sig) return 'SIGTERM';
  const up = sig.trim().toUpperCase();
  if (/^\d+$/.test(up)) return up;
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  if (!/^SIG[A-Z0-9+-]+$/.test(name)) throw configError(`stop signal "${sig}" is not a signal name`);
  return name;
}

function notFound(id: string): SandboxError {
  return new SandboxError('NotFound', `no container sandbox ${id}`);
}

/** The per-sandbox file bind-mounted at the container's terminationMessagePath. */
const TERMINATION_LOG = 'termination-log';
/** The kubelet reads at most this much of a termination message. */
const MAX_TERMINATION_MESSAGE = 4096;

/** What the container wrote to its termination message file (undefined when nothing). */
function terminationMessage(bundle: string): string | undefined {
  try {
    const buf = readFileSync(join(bundle, TERMINATION_LOG));
    const text = buf.subarray(0, MAX_TERMINATION_MESSAGE).toString('utf8');
    return text.length ? text : undefined;
  } catch {
    return undefined;
  }
}
