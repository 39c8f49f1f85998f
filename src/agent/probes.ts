// Container probes, as the kubelet runs them: startup, liveness and readiness, each an `httpGet`,
// `tcpSocket` or `exec` check repeated every periodSeconds (after initialDelaySeconds since the
// container started), bounded by timeoutSeconds, and turned into a result only after successThreshold
// successes or failureThreshold failures in a row.
//
// - startup: until it succeeds, liveness and readiness are not run and the container is not `started`;
//   failureThreshold failures kill the container (restarted per restartPolicy, with back-off).
// - liveness: failureThreshold failures kill the container ("Liveness probe failed: …").
// - readiness: drives the container's `ready` (and so the pod's Ready condition); it starts not ready and
//   keeps probing for the container's whole life. A container without a readiness probe is ready once
//   started.
//
// Where a probe connects: `host` when the probe names one, else the pod's IP, else 127.0.0.1. WASI
// preview1 guests (the wasm tier) cannot listen on sockets, so for wasm pods (and host-network pods) an
// httpGet/tcpSocket probe reaches 127.0.0.1:port on the node: whatever serves there on the pod's behalf.
// `exec` needs a driver with `capabilities.exec`; elsewhere the probe fails with a message saying so.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

export type ProbeKind = 'startup' | 'liveness' | 'readiness';

/** A probe as declared on a container (schema defaults applied by the API; repeated here for safety). */
export interface ProbeSpec {
  httpGet?: {
    path?: string;
    port: number | string;
    host?: string;
    scheme?: 'HTTP' | 'HTTPS';
    httpHeaders?: Array<{ name: string; value: string }>;
  };
  tcpSocket?: { port: number | string; host?: string };
  exec?: { command: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface ProbeOutcome {
  ok: boolean;
  /** Why it failed (or what answered), in the kubelet's words where it has them. */
  message: string;
}

/** Where and how a container's probes run. */
export interface ProbeTarget {
  /** Default host for httpGet/tcpSocket. */
  host: string;
  /** The container's declared ports, for named probe ports. */
  ports: Array<{ name?: string; containerPort: number }>;
  /** Runs a command in the container; undefined when its tier cannot exec. */
  exec?: (command: string[]) => Promise<{ exitCode: number; stdout: Uint8Array; stderr: Uint8Array }>;
  /** Names the tier in messages ("runtime class \"wasm\" cannot exec"). */
  runtimeClass: string;
}

const USER_AGENT = 'strata-probe/0.1';
/** Like the kubelet, read at most this much of a response body (for the failure message). */
const MAX_BODY_BYTES = 10 * 1024;

export function resolvePort(port: number | string, ports: ProbeTarget['ports']): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const found = ports.find((p) => p.name === port);
  if (!found) throw new Error(`port "${port}" is not one of the container's named ports`);
  return found.containerPort;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => void, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what}: timeout after ${ms / 1000}s`));
    }, ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

function netError(err: any): string {
  const code = err?.code as string | undefined;
  if (code === 'ECONNREFUSED') return 'connect: connection refused';
  if (code === 'ECONNRESET') return 'connection reset by peer';
  if (code === 'EHOSTUNREACH') return 'connect: no route to host';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `lookup failed: ${err.hostname ?? ''}`.trim();
  return err?.message ?? String(err);
}

export async function httpGetProbe(
  spec: NonNullable<ProbeSpec['httpGet']>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  let port: number;
  try {
    port = resolvePort(spec.port, target.ports);
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
  const host = spec.host || target.host;
  const scheme = spec.scheme === 'HTTPS' ? 'https' : 'http';
  let path = spec.path ?? '/';
  if (!path.startsWith('/')) path = `/${path}`;
  const url = `${scheme}://${hostPort(host, port)}${path}`;
  const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: '*/*' };
  for (const h of spec.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
  const request = scheme === 'https' ? httpsRequest : httpRequest;
  let req: ReturnType<typeof httpRequest> | undefined;
  const attempt = new Promise<ProbeOutcome>((resolve) => {
    req = request(url, {
      method: 'GET',
      headers,
      // The kubelet does not verify probe certificates either: a probe checks liveness, not identity.
      ...(scheme === 'https' ? { rejectUnauthorized: false } : {}),
      agent: false,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_BODY_BYTES) chunks.push(c.subarray(0, MAX_BODY_BYTES - size));
        size += c.length;
      });
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        const body = Buffer.concat(chunks).toString('utf8').trim();
        if (code >= 200 && code < 400) resolve({ ok: true, message: `HTTP ${code}` });
        else
          resolve({
            ok: false,
            message: `HTTP probe failed with statuscode: ${code}${body ? ` (${body.slice(0, 200)})` : ''}`,
          });
      });
      res.on('error', (err) => resolve({ ok: false, message: `Get "${url}": ${netError(err)}` }));
    });
    req.on('error', (err) => resolve({ ok: false, message: `Get "${url}": ${netError(err)}` }));
    req.end();
  });
  try {
    return await withTimeout(attempt, timeoutMs, () => req?.destroy(), `Get "${url}"`);
  } catch (err) {
    return {
      ok: false,
      message: `${(err as Error).message} (context deadline exceeded while awaiting headers)`,
    };
  }
}

export async function tcpSocketProbe(
  spec: NonNullable<ProbeSpec['tcpSocket']>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  let port: number;
  try {
    port = resolvePort(spec.port, target.ports);
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
  const host = spec.host || target.host;
  const addr = hostPort(host, port);
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const t = setTimeout(() => {
      sock.destroy();
      resolve({ ok: false, message: `dial tcp ${addr}: i/o timeout after ${timeoutMs / 1000}s` });
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(t);
      sock.destroy();
      resolve({ ok: true, message: `connected to ${addr}` });
    });
    sock.once('error', (err) => {
      clearTimeout(t);
      sock.destroy();
      resolve({ ok: false, message: `dial tcp ${addr}: ${netError(err)}` });
    });
  });
}

export async function execProbe(
  spec: NonNullable<ProbeSpec['exec']>,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  if (!target.exec) {
    return {
      ok: false,
      message: `exec probes are not supported: runtime class "${target.runtimeClass}" cannot run commands in a container`,
    };
  }
  try {
    const r = await withTimeout(target.exec(spec.command), timeoutMs, () => {}, 'command');
    const out = Buffer.concat([Buffer.from(r.stdout), Buffer.from(r.stderr)])
      .toString('utf8')
      .trim();
    if (r.exitCode === 0) return { ok: true, message: out };
    return {
      ok: false,
      message: out ? out.slice(0, 1024) : `command ${JSON.stringify(spec.command)} exited with ${r.exitCode}`,
    };
  } catch (err) {
    const m = (err as Error).message;
    return {
      ok: false,
      message: /timeout after/.test(m)
        ? `command ${JSON.stringify(spec.command)} timed out after ${timeoutMs / 1000}s`
        : m,
    };
  }
}

/** Runs one probe once. */
export function runProbe(probe: ProbeSpec, target: ProbeTarget): Promise<ProbeOutcome> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) return httpGetProbe(probe.httpGet, target, timeoutMs);
  if (probe.tcpSocket) return tcpSocketProbe(probe.tcpSocket, target, timeoutMs);
  if (probe.exec) return execProbe(probe.exec, target, timeoutMs);
  return Promise.resolve({ ok: false, message: 'probe has no handler (httpGet, tcpSocket or exec)' });
}

const LABEL: Record<ProbeKind, string> = {
  startup: 'Startup',
  liveness: 'Liveness',
  readiness: 'Readiness',
};

export interface ProberCallbacks {
  /** `ready` or `started` changed: report status. */
  onChange(): void;
  /** One probe attempt failed (the kubelet records a Warning `Unhealthy` event for each). */
  onProbeFailure(kind: ProbeKind, message: string): void;
  /** A startup or liveness probe reached its failure threshold: the container must be restarted. */
  onFailed(kind: 'startup' | 'liveness', message: string): void;
}

export interface ProberOptions {
  container: {
    startupProbe?: ProbeSpec;
    livenessProbe?: ProbeSpec;
    readinessProbe?: ProbeSpec;
  };
  target: ProbeTarget;
  /** When the container started (initialDelaySeconds counts from here). */
  startedAtMs: number;
  callbacks: ProberCallbacks;
  /** For tests: run one probe. Default runProbe. */
  run?: (probe: ProbeSpec, target: ProbeTarget) => Promise<ProbeOutcome>;
  /**
   * Until the container is first ready, a failed httpGet/tcpSocket readiness attempt is retried after
   * this many ms instead of periodSeconds, for the first FAST_READINESS_WINDOW_MS after the start (the
   * pod annotation FAST_READINESS_ANNOTATION asks for it). Knative's queue-proxy probes a cold instance
   * the same way (every 25 ms): a request held at zero waits for the moment the server listens, not
   * for the next period. The quick attempts' failures are reported at most once per periodSeconds.
   */
  fastFirstReadinessMs?: number;
}

/** A pod annotation ("true"): its containers' first readiness is probed quickly (serving revisions set it). */
export const FAST_READINESS_ANNOTATION = 'strata.dev/fast-first-readiness';
/** The retry interval it asks for. */
export const FAST_READINESS_INTERVAL_MS = 5;
/** How long after a start the quick attempts go on; then the declared period again. */
export const FAST_READINESS_WINDOW_MS = 10_000;

/** One probe's loop and its consecutive-result bookkeeping (the kubelet's prober worker). */
class ProbeLoop {
  readonly kind: ProbeKind;
  private readonly spec: ProbeSpec;
  private readonly owner: ContainerProber;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private last?: boolean;
  private run = 0;
  private lastFailureReportMs = -Infinity;

  constructor(kind: ProbeKind, spec: ProbeSpec, owner: ContainerProber) {
    this.kind = kind;
    this.spec = spec;
    this.owner = owner;
  }

  start(): void {
    const delayMs = (this.spec.initialDelaySeconds ?? 0) * 1000 - (Date.now() - this.owner.startedAtMs);
    this.schedule(Math.max(0, delayMs));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const outcome = await this.owner.runOne(this.spec);
    if (this.stopped) return;
    if (outcome.ok === this.last) this.run++;
    else {
      this.last = outcome.ok;
      this.run = 1;
    }
    const periodMs = (this.spec.periodSeconds ?? 10) * 1000;
    const fastMs = this.fastRetryMs();
    if (!outcome.ok && (fastMs === undefined || Date.now() - this.lastFailureReportMs >= periodMs)) {
      this.lastFailureReportMs = Date.now();
      this.owner.callbacks.onProbeFailure(this.kind, outcome.message);
    }
    const threshold = outcome.ok ? (this.spec.successThreshold ?? 1) : (this.spec.failureThreshold ?? 3);
    if (this.run >= threshold) this.owner.settle(this.kind, outcome);
    this.schedule(this.fastRetryMs() ?? periodMs);
  }

  /** The quick interval while a readiness probe has not yet passed once (see fastFirstReadinessMs). */
  private fastRetryMs(): number | undefined {
    const ms = this.owner.fastFirstReadinessMs;
    if (ms === undefined || this.kind !== 'readiness' || this.owner.everReady) return undefined;
    if (!this.spec.httpGet && !this.spec.tcpSocket) return undefined; // an exec is a process start each
    if (Date.now() - this.owner.startedAtMs >= FAST_READINESS_WINDOW_MS) return undefined;
    return ms;
  }
}

/**
 * Probes one run of one container. Create it when the container starts and stop() it when the run
 * ends; read `started` and `ready` for the container status.
 */
export class ContainerProber {
  readonly startedAtMs: number;
  readonly callbacks: ProberCallbacks;
  private readonly opts: ProberOptions;
  private readonly loops = new Map<ProbeKind, ProbeLoop>();
  private started_: boolean;
  private ready_: boolean;
  private stopped = false;
  /** The container has been ready once in this run. */
  everReady = false;
  readonly fastFirstReadinessMs: number | undefined;

  constructor(opts: ProberOptions) {
    this.opts = opts;
    this.startedAtMs = opts.startedAtMs;
    this.callbacks = opts.callbacks;
    const c = opts.container;
    this.started_ = !c.startupProbe;
    this.ready_ = this.started_ && !c.readinessProbe;
    this.fastFirstReadinessMs = opts.fastFirstReadinessMs;
  }

  /** The container passed its startup probe (or has none). */
  get started(): boolean {
    return this.started_;
  }

  /** The container passes its readiness probe (or has none and has started). */
  get ready(): boolean {
    return this.ready_;
  }

  start(): void {
    const c = this.opts.container;
    if (c.startupProbe) this.startLoop('startup', c.startupProbe);
    else this.startMainLoops();
  }

  stop(): void {
    this.stopped = true;
    for (const l of this.loops.values()) l.stop();
    this.loops.clear();
  }

  /** @internal */
  runOne(spec: ProbeSpec): Promise<ProbeOutcome> {
    return (this.opts.run ?? runProbe)(spec, this.opts.target);
  }

  /** @internal A probe crossed its success or failure threshold. */
  settle(kind: ProbeKind, outcome: ProbeOutcome): void {
    if (this.stopped) return;
    switch (kind) {
      case 'startup':
        if (outcome.ok) {
          this.loops.get('startup')?.stop();
          this.loops.delete('startup');
          this.started_ = true;
          if (!this.opts.container.readinessProbe) this.ready_ = true;
          this.startMainLoops();
          this.callbacks.onChange();
        } else {
          this.stop();
          this.callbacks.onFailed('startup', `${LABEL.startup} probe failed: ${outcome.message}`);
        }
        return;
      case 'liveness':
        if (!outcome.ok) {
          this.stop();
          this.callbacks.onFailed('liveness', `${LABEL.liveness} probe failed: ${outcome.message}`);
        }
        return;
      case 'readiness':
        if (outcome.ok) this.everReady = true;
        if (outcome.ok !== this.ready_) {
          this.ready_ = outcome.ok;
          this.callbacks.onChange();
        }
        return;
    }
  }

  private startMainLoops(): void {
    const c = this.opts.container;
    if (c.livenessProbe) this.startLoop('liveness', c.livenessProbe);
    if (c.readinessProbe) this.startLoop('readiness', c.readinessProbe);
  }

  private startLoop(kind: ProbeKind, spec: ProbeSpec): void {
    if (this.stopped) return;
    const loop = new ProbeLoop(kind, spec, this);
    this.loops.set(kind, loop);
    loop.start();
  }
}

/** "Liveness probe failed: …" etc., the message an `Unhealthy` event carries. */
export function probeFailureMessage(kind: ProbeKind, message: string): string {
  return `${LABEL[kind]} probe failed: ${message}`;
}
