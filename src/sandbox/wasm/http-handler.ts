// A wasm HTTP handler: a pod whose wasm container declares ports is served, not run. Its sandbox is
// resident — the module compiled once, no instance — and each request runs one fresh instance of the
// module through the driver, WAGI-style (wagi.ts): isolation between requests is total, and an idle
// handler costs no instance at all (what scale-to-zero functions build on). Output to stderr goes to the
// pod's log; stdout is the response.
import {
  SandboxError,
  type ExitResult,
  type HttpHandlerRequest,
  type HttpHandlerResponse,
} from '../driver.ts';
import type { SandboxHandle, SandboxSpec, SandboxStats } from '../driver.ts';
import { parseWagiResponse, wagiArgs, wagiEnvironment } from './wagi.ts';

/** The driver operations a handler runs its per-request instances with. */
export interface GuestRunner {
  start(spec: SandboxSpec): Promise<SandboxHandle>;
  wait(id: string): Promise<ExitResult>;
  stats(id: string): Promise<SandboxStats>;
  destroy(id: string): Promise<void>;
}

export interface HttpHandlerOptions {
  /** A request's instance is ended after this long and the client answered 504 (default 60 s). */
  requestTimeoutSeconds?: number;
  /** Most response bytes a request's instance may write to stdout (default 64 MiB). */
  maxResponseBytes?: number;
}

const DEFAULT_TIMEOUT_SECONDS = 60;
const DEFAULT_MAX_RESPONSE = 64 * 1024 * 1024;

function text(status: number, message: string): HttpHandlerResponse {
  return {
    status,
    headers: [['Content-Type', 'text/plain; charset=utf-8']],
    body: new TextEncoder().encode(`${message}\n`),
  };
}

export class WasmHttpHandler {
  readonly spec: SandboxSpec;
  readonly startedAt = new Date();
  readonly exited: Promise<ExitResult>;
  /** Requests answered, and those being answered now. */
  served = 0;
  private readonly runner: GuestRunner;
  private readonly timeoutSeconds: number;
  private readonly maxResponseBytes: number;
  private readonly inFlight = new Set<string>();
  private resolveExit!: (r: ExitResult) => void;
  private result?: ExitResult;
  private closeListeners: () => Promise<void> = async () => {};
  private cpuNanos = 0;
  private seq = 0;

  constructor(spec: SandboxSpec, runner: GuestRunner, opts: HttpHandlerOptions = {}) {
    this.spec = spec;
    this.runner = runner;
    this.timeoutSeconds = opts.requestTimeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  /** The node's listeners for this handler; closed when it stops. */
  listening(close: () => Promise<void>): void {
    this.closeListeners = close;
  }

  get stopped(): boolean {
    return this.result !== undefined;
  }

  get requestsInFlight(): number {
    return this.inFlight.size;
  }

  /** Answers one request with a fresh instance of the module. */
  readonly handle = async (req: HttpHandlerRequest): Promise<HttpHandlerResponse> => {
    if (this.result) return text(503, 'the handler is stopping');
    const id = `${this.spec.id}~${++this.seq}`;
    const scriptName = this.spec.args[0] ?? 'handler.wasm';
    const stdout: Uint8Array[] = [];
    let stdoutBytes = 0;
    let overflow = false;
    const deadline = Math.min(this.spec.limits.deadlineSeconds ?? Infinity, this.timeoutSeconds);
    this.inFlight.add(id);
    try {
      try {
        await this.runner.start({
          ...this.spec,
          id,
          options: undefined,
          args: wagiArgs(req.url, scriptName),
          env: {
            ...this.spec.env,
            ...wagiEnvironment(req, { scriptName, serverName: `${req.localAddress}:${req.localPort}` }),
          },
          stdin: req.body,
          limits: { ...this.spec.limits, deadlineSeconds: deadline },
          log: {
            write: (stream, chunk) => {
              if (stream === 'stderr') return this.spec.log.write('stderr', chunk);
              stdoutBytes += chunk.length;
              if (stdoutBytes > this.maxResponseBytes) overflow = true;
              else stdout.push(chunk);
            },
          },
        });
      } catch (err) {
        // Capacity (every instance of the node in use) or a module that no longer loads.
        const status = err instanceof SandboxError && /in use/.test(err.message) ? 503 : 502;
        return text(status, `the handler could not start: ${(err as Error).message}`);
      }
      const exit = await this.runner.wait(id);
      this.cpuNanos += await this.runner
        .stats(id)
        .then((s) => s.cpuNanos)
        .catch(() => 0);
      if (exit.reason === 'DeadlineExceeded')
        return text(504, `the handler did not answer within ${deadline} s`);
      if (overflow) return text(502, `the handler's response is larger than ${this.maxResponseBytes} bytes`);
      try {
        return parseWagiResponse(Buffer.concat(stdout));
      } catch (err) {
        const how = exit.exitCode === 0 ? '' : ` (it exited with ${exit.exitCode}: ${exit.reason})`;
        return text(500, `the handler's output is not a WAGI response${how}: ${(err as Error).message}`);
      }
    } finally {
      this.served++;
      await this.runner.destroy(id).catch(() => undefined);
      this.inFlight.delete(id);
    }
  };

  /**
   * Stops taking requests, lets those in flight finish for up to `graceSeconds`, then ends them. The
   * handler exits 0 (Completed): it has no process of its own to fail.
   */
  async stop(graceSeconds: number): Promise<void> {
    if (this.result) return this.exited.then(() => undefined);
    const closing = this.closeListeners();
    const deadline = Date.now() + graceSeconds * 1000;
    while (this.inFlight.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await Promise.all([...this.inFlight].map((id) => this.runner.destroy(id).catch(() => undefined)));
    // A client holding a keep-alive connection open does not hold the stop up.
    await Promise.race([closing, new Promise((r) => setTimeout(r, 1000).unref())]);
    this.result = { exitCode: 0, reason: 'Completed', startedAt: this.startedAt, finishedAt: new Date() };
    this.resolveExit(this.result);
  }

  stats(): SandboxStats {
    return { cpuNanos: this.cpuNanos, memoryBytes: 0, timestamp: new Date() };
  }
}
