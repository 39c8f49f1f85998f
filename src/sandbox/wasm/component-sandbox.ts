// The agent side of WASI 0.2 components on the wasm tier. A pod whose image is a component (not a
// core module: module-check.ts `isComponentBinary`) is transpiled once per digest (component-
// transpile.ts), its core modules memory-capped (memory-cap.ts) and compiled once per digest and cap,
// and run on a worker thread of its own (component-worker.ts):
// - wasi:cli/command: runs `wasi:cli/run` once; exit code, logs, stop and deadline as preview-1 guests;
// - wasi:http/proxy: an HTTP workload on the pod's ports (the same node listeners WAGI handlers use,
//   HttpHandlerHost). Each request sees a fresh instance: by default one instance per thread whose
//   state is put back after every request (component-reset.ts), or (`instancePerRequest`) a new
//   instance per request from a pool made ahead.
// A stop ends the thread (terminate): a component guest has no host call at which to unwind cleanly,
// and the thread holds this pod only.
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import {
  SandboxError,
  type ExitResult,
  type HttpHandlerHost,
  type HttpHandlerRequest,
  type HttpHandlerResponse,
  type SandboxHandle,
  type SandboxSpec,
  type SandboxStats,
} from '../driver.ts';
import type { ComponentWorkerData, FromComponentWorker } from './component-protocol.ts';
import { ComponentCache, type TranspiledComponent } from './component-transpile.ts';
import { describeExit, KILLED_EXIT_CODE } from './exit-result.ts';
import { applyMemoryCap } from './memory-cap.ts';
import { exposeState } from './component-reset.ts';
import { WasmFormatError } from './leb128.ts';
import { isComponentBinary } from './module-check.ts';
import { prepareMounts } from './mounts.ts';
import type { ModuleSource, ResolvedModule } from './module-source.ts';
import { Wasm, type WasmModule } from './webassembly.ts';

const WORKER_URL = new URL('./component-worker.ts', import.meta.url);
/** wasi:http, instance per request: instances kept ready per pod. */
export const DEFAULT_INSTANCE_POOL = 8;
/** wasi:http, reset between requests: an instance is replaced after this many requests. */
export const DEFAULT_MAX_REQUESTS_PER_INSTANCE = 1000;

/** How a wasi:http pod's requests get a fresh instance (the pod's annotation chooses; component-sandbox). */
export type WasiHttpInstances = 'reset' | 'per-request';

export interface ComponentSandboxesOptions {
  cacheDir: string;
  source: ModuleSource;
  /** The node's HTTP listeners for pods (absent: this node serves no wasm HTTP workloads). */
  handlerHost?: () => HttpHandlerHost;
  poolSize?: number;
  maxRequestsPerInstance?: number;
  /** wasi:http (instances reset between requests): most threads per pod (default 2, or fewer cores). */
  threadsPerPod?: number;
}

/**
 * The pod annotation that gives each wasi:http request a new instance (`per-request`) instead of the
 * default instance reset between requests (`reset`). Both isolate requests from each other; they
 * differ in cost and in what a guest can observe (an instance's clock and random state, host
 * resources it leaked: docs/wasi-components.md).
 */
export const WASI_HTTP_INSTANCES_ANNOTATION = 'strata.dev/wasi-http-instances';

/** The tier options a component pod's spec carries (SandboxSpec.options, beside WasmOptions). */
export interface ComponentOptions {
  wasiHttpInstances?: WasiHttpInstances;
}

/** The pod's choice from its annotations (the wasm driver's tierOptions); a bad value fails the start. */
export function componentOptions(annotations: Record<string, string> | undefined): ComponentOptions {
  const value = annotations?.[WASI_HTTP_INSTANCES_ANNOTATION];
  if (value === undefined) return {};
  if (value !== 'reset' && value !== 'per-request')
    throw new SandboxError(
      'CreateContainerError',
      `annotation ${WASI_HTTP_INSTANCES_ANNOTATION}: "${value}" is not one of reset, per-request`,
    );
  return { wasiHttpInstances: value };
}

interface CompiledCores {
  modules: Record<string, WasmModule>;
  /** Whether every core module exports its state (component-reset.ts), so instances can be reset. */
  stateExposed: boolean;
}

interface Running {
  spec: SandboxSpec;
  /** The first of `workers` (a command has only it). */
  worker: Worker;
  /** wasi:http: the pod's threads, and the requests each has been sent and not yet answered. */
  workers: Worker[];
  inFlight: number[];
  component: TranspiledComponent;
  startedAt: Date;
  exited: Promise<ExitResult>;
  result?: ExitResult;
  finish: (r: Omit<ExitResult, 'startedAt' | 'finishedAt'>) => void;
  stopCause?: 'stop' | 'deadline';
  requests: Map<number, (r: HttpHandlerResponse) => void>;
  closeListeners?: () => Promise<void>;
  timers: NodeJS.Timeout[];
}

export class ComponentSandboxes {
  readonly cache: ComponentCache;
  private readonly source: ModuleSource;
  private readonly handlerHost?: () => HttpHandlerHost;
  private readonly poolSize: number;
  private readonly maxRequestsPerInstance: number;
  private readonly threadsPerPod: number;
  /** sha256 → whether it is a component (read once per content). */
  private readonly kinds = new Map<string, boolean>();
  private readonly compiled = new Map<string, Promise<CompiledCores>>();
  private readonly running = new Map<string, Running>();
  private requestSeq = 0;

  constructor(opts: ComponentSandboxesOptions) {
    this.cache = new ComponentCache(opts.cacheDir);
    this.source = opts.source;
    this.handlerHost = opts.handlerHost;
    this.poolSize = opts.poolSize ?? DEFAULT_INSTANCE_POOL;
    this.maxRequestsPerInstance = opts.maxRequestsPerInstance ?? DEFAULT_MAX_REQUESTS_PER_INSTANCE;
    this.threadsPerPod = Math.max(1, opts.threadsPerPod ?? Math.min(2, availableParallelism()));
  }

  has(id: string): boolean {
    return this.running.has(id);
  }

  /** The spec's image, when it is a component (undefined: a core module, for the tier's own path). */
  async match(spec: SandboxSpec): Promise<ResolvedModule | undefined> {
    const resolved = await this.source.resolve(spec.image, spec.imageDigest);
    let kind = this.kinds.get(resolved.sha256);
    if (kind === undefined) {
      const head = new Uint8Array(8);
      if (resolved.bytes) head.set(resolved.bytes.subarray(0, 8));
      else {
        const f = await open(resolved.path, 'r');
        try {
          await f.read(head, 0, 8, 0);
        } finally {
          await f.close();
        }
      }
      kind = isComponentBinary(head);
      this.kinds.set(resolved.sha256, kind);
    }
    return kind ? resolved : undefined;
  }

  async start(
    spec: SandboxSpec,
    resolved: ResolvedModule,
    httpPorts: number[] | undefined,
  ): Promise<SandboxHandle> {
    const wanted = (spec.options as ComponentOptions | undefined)?.wasiHttpInstances ?? 'reset';
    if (this.running.has(spec.id))
      throw new SandboxError('CreateContainerError', `sandbox ${spec.id} already exists`);
    // Refuses volumes holding symlinks that point outside, as for preview-1 guests.
    const mounts = await prepareMounts(spec.mounts);
    const component = await this.cache.get(resolved.sha256, () => this.source.load(resolved));
    if (component.world === 'http' && !httpPorts?.length)
      throw new SandboxError(
        'CreateContainerError',
        'ports: the component is a wasi:http/proxy handler; declare the containerPort it serves and annotate the pod strata.dev/wasm-http: wasi-http',
      );
    if (component.world === 'command' && httpPorts?.length)
      throw new SandboxError(
        'CreateContainerError',
        'the component is a wasi:cli/command, not a wasi:http handler: remove the strata.dev/wasm-http annotation',
      );
    const cores = await this.coresOf(component, spec.limits.memoryBytes);
    const instances: WasiHttpInstances = cores.stateExposed ? wanted : 'per-request';
    if (component.world === 'http' && wanted === 'reset' && !cores.stateExposed)
      spec.log.write(
        'stderr',
        new TextEncoder().encode(
          "strata: this component's instances cannot be reset between requests; each request gets a new instance\n",
        ),
      );
    const data: ComponentWorkerData = {
      world: component.world,
      glue: component.glue,
      cores: cores.modules,
      args: spec.args.length ? spec.args : ['component.wasm'],
      env: spec.env,
      mounts: mounts.map((m) => ({ guestPath: m.guestPath, hostPath: m.hostPath, readOnly: m.readOnly })),
      instances,
      poolSize: this.poolSize,
      maxRequestsPerInstance: this.maxRequestsPerInstance,
    };
    // A wasi:http pod whose instance is reset between requests serves them on as many threads as its
    // CPU limit allows (up to the node's `threadsPerPod`): one instance runs one request at a time.
    const threads =
      component.world === 'http' && instances === 'reset'
        ? Math.max(1, Math.min(this.threadsPerPod, Math.ceil(spec.limits.cpu ?? this.threadsPerPod)))
        : 1;
    const workers = Array.from(
      { length: threads },
      (_, i) =>
        new Worker(WORKER_URL, {
          name: `component ${spec.id}${threads > 1 ? ` #${i}` : ''}`,
          workerData: data,
          env: {},
          resourceLimits: { maxOldGenerationSizeMb: 512, maxYoungGenerationSizeMb: 32 },
        }),
    );
    const worker = workers[0];
    const startedAt = new Date();
    let finish!: Running['finish'];
    const exited = new Promise<ExitResult>((resolve) => {
      finish = (r) => {
        if (run.result) return;
        run.result = { ...r, startedAt, finishedAt: new Date() };
        for (const t of run.timers) clearTimeout(t);
        for (const answer of run.requests.values()) answer(text(503, 'the handler stopped'));
        run.requests.clear();
        for (const w of workers) void w.terminate();
        resolve(run.result);
      };
    });
    const run: Running = {
      spec,
      worker,
      workers,
      inFlight: workers.map(() => 0),
      component,
      startedAt,
      exited,
      finish,
      requests: new Map(),
      timers: [],
    };
    this.running.set(spec.id, run);

    const startedOne = (w: Worker, index: number) =>
      new Promise<void>((resolve, reject) => {
        w.on('message', (m: FromComponentWorker) => {
          if (m.type === 'log') spec.log.write(m.stream, m.chunk);
          else if (m.type === 'running') resolve();
          else if (m.type === 'start-failed') reject(new SandboxError('CreateContainerError', m.message));
          else if (m.type === 'exit') {
            const outcome = m.trap
              ? ({ kind: 'trap', message: m.trap } as const)
              : m.error
                ? ({ kind: 'error', message: m.error } as const)
                : ({ kind: 'exit', code: m.code } as const);
            finish(describeExit({ outcome, memoryBytes: 0, memories: [] }));
          } else if (m.type === 'response') {
            const answer = run.requests.get(m.id);
            run.requests.delete(m.id);
            run.inFlight[index]--;
            if (m.error)
              spec.log.write('stderr', new TextEncoder().encode(`wasi:http handler: ${m.error}\n`));
            answer?.(m.error ? text(500, `the handler failed: ${m.error}`) : m);
          }
        });
        w.on('error', (err) => {
          reject(new SandboxError('CreateContainerError', `component worker failed: ${err.message}`));
          finish(
            describeExit({
              outcome: { kind: 'worker-failed', message: err.message },
              memoryBytes: 0,
              memories: [],
            }),
          );
        });
        w.on('exit', () => {
          reject(
            new SandboxError('CreateContainerError', 'the component worker ended before the component ran'),
          );
          finish({
            exitCode: KILLED_EXIT_CODE,
            reason: run.stopCause === 'deadline' ? 'DeadlineExceeded' : 'Killed',
            signal: 'SIGKILL',
          });
        });
      });
    try {
      await Promise.all(workers.map(startedOne));
    } catch (err) {
      this.running.delete(spec.id);
      for (const w of workers) void w.terminate();
      throw err;
    }
    if (spec.limits.deadlineSeconds !== undefined) {
      const t = setTimeout(() => void this.end(run, 'deadline', 0), spec.limits.deadlineSeconds * 1000);
      t.unref();
      run.timers.push(t);
    }
    let podIP: string | undefined;
    if (component.world === 'http') {
      if (!this.handlerHost) {
        await this.destroy(spec.id);
        throw new SandboxError(
          'CreateContainerError',
          'this node serves no wasm HTTP workloads (it has no pod network)',
        );
      }
      try {
        const served = await this.handlerHost().serve(spec.podUid, httpPorts!, (req) =>
          this.handle(run, req),
        );
        run.closeListeners = served.close;
        podIP = served.ip;
      } catch (err) {
        await this.destroy(spec.id);
        throw new SandboxError(
          'CreateContainerError',
          `serving the handler's ports: ${(err as Error).message}`,
        );
      }
    }
    return {
      id: spec.id,
      driver: 'wasm',
      ...(podIP ? { podIP } : {}),
      state: {
        mode: component.world === 'http' ? 'wasi-http' : 'wasi-command',
        ...(component.world === 'http' ? { instances, threads: workers.length } : {}),
        component: component.sha256,
        startedAt: startedAt.toISOString(),
      },
    };
  }

  /** One request, answered by a pooled instance of the pod's component. */
  handle(run: Running, req: HttpHandlerRequest): Promise<HttpHandlerResponse> {
    if (run.result) return Promise.resolve(text(503, 'the handler is stopping'));
    const id = ++this.requestSeq;
    // To the thread with the fewest requests waiting: each runs one request at a time.
    let to = 0;
    for (let i = 1; i < run.workers.length; i++) if (run.inFlight[i] < run.inFlight[to]) to = i;
    run.inFlight[to]++;
    return new Promise((resolve) => {
      run.requests.set(id, resolve);
      const host = req.headers.host ?? `${req.localAddress}:${req.localPort}`;
      run.workers[to].postMessage({
        type: 'request',
        id,
        method: req.method,
        url: `http://${host}${req.url}`,
        headers: Object.entries(req.headers),
        body: req.body,
      });
    });
  }

  /** Instances a wasi:http pod has made and requests it has answered (tests, benchmarks). */
  async counts(id: string): Promise<{ instances: number; requests: number; threads: number }> {
    const run = this.get(id);
    const each = await Promise.all(
      run.workers.map(
        (w) =>
          new Promise<{ instances: number; requests: number }>((resolve) => {
            const onMessage = (m: FromComponentWorker) => {
              if (m.type !== 'count') return;
              w.off('message', onMessage);
              resolve({ instances: m.instances, requests: m.requests });
            };
            w.on('message', onMessage);
            w.postMessage({ type: 'count' });
          }),
      ),
    );
    return {
      instances: each.reduce((n, c) => n + c.instances, 0),
      requests: each.reduce((n, c) => n + c.requests, 0),
      threads: run.workers.length,
    };
  }

  /**
   * Core modules compiled once per component and memory cap, each rewritten to export its state
   * (component-reset.ts) when it can be; a module it cannot parse leaves the component per-request.
   */
  private coresOf(c: TranspiledComponent, capBytes: number | undefined): Promise<CompiledCores> {
    const key = `${c.sha256}/${capBytes ?? 'unlimited'}`;
    let p = this.compiled.get(key);
    if (!p) {
      p = (async () => {
        const capped: Record<string, Uint8Array> = {};
        for (const [name, bytes] of Object.entries(c.cores))
          capped[name] = applyMemoryCap(bytes, capBytes).bytes;
        let stateExposed = true;
        const exposed: Record<string, Uint8Array> = {};
        for (const [name, bytes] of Object.entries(capped)) {
          try {
            exposed[name] = exposeState(bytes);
          } catch (err) {
            if (!(err instanceof WasmFormatError)) throw err;
            stateExposed = false;
          }
        }
        const modules: Record<string, WasmModule> = {};
        for (const [name, bytes] of Object.entries(stateExposed ? exposed : capped)) {
          try {
            modules[name] = await Wasm.compile(bytes);
          } catch (err) {
            throw new SandboxError(
              'CreateContainerError',
              `the component's core module ${name}: ${(err as Error).message}`,
            );
          }
        }
        return { modules, stateExposed };
      })();
      p.catch(() => this.compiled.delete(key));
      this.compiled.set(key, p);
    }
    return p;
  }

  wait(id: string): Promise<ExitResult> {
    return this.get(id).exited;
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    const run = this.running.get(id);
    if (run) await this.end(run, 'stop', graceSeconds);
  }

  /** Ends it: an HTTP workload lets requests in flight finish within the grace period. */
  private async end(run: Running, cause: 'stop' | 'deadline', graceSeconds: number): Promise<void> {
    if (run.result) return;
    run.stopCause ??= cause;
    const closing = run.closeListeners?.();
    if (run.component.world === 'http') {
      const deadline = Date.now() + graceSeconds * 1000;
      while (run.requests.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (closing) await Promise.race([closing, new Promise((r) => setTimeout(r, 1000).unref())]);
      if (cause === 'stop') run.finish({ exitCode: 0, reason: 'Completed' });
    }
    const reason = cause === 'deadline' ? 'DeadlineExceeded' : 'Killed';
    run.finish({ exitCode: KILLED_EXIT_CODE, reason, signal: 'SIGKILL' });
    await run.exited;
  }

  async destroy(id: string): Promise<void> {
    const run = this.running.get(id);
    if (!run) return;
    await this.end(run, 'stop', 0);
    this.running.delete(id);
  }

  stats(id: string): SandboxStats {
    const run = this.get(id);
    const active = run.workers.reduce((n, w) => n + (w.performance?.eventLoopUtilization().active ?? 0), 0);
    const cpuNanos = Number(active) * 1e6;
    return { cpuNanos, memoryBytes: 0, timestamp: new Date() };
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.destroy(id)));
  }

  private get(id: string): Running {
    const run = this.running.get(id);
    if (!run) throw new SandboxError('NotFound', `no wasm sandbox ${id}`);
    return run;
  }
}

function text(status: number, message: string): HttpHandlerResponse {
  return {
    status,
    headers: [['Content-Type', 'text/plain; charset=utf-8']],
    body: new TextEncoder().encode(`${message}\n`),
  };
}
