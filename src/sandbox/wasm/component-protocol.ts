// Messages between component-sandbox.ts (agent thread) and component-worker.ts (one per pod).
import type { ComponentWorld } from './component-transpile.ts';
import type { WasmModule } from './webassembly.ts';

export interface ComponentWorkerData {
  world: ComponentWorld;
  /** The transpiled glue, as a script (component-transpile.ts). */
  glue: string;
  /** Compiled core modules (memory-capped) by the names the glue asks for. */
  cores: Record<string, WasmModule>;
  args: string[];
  env: Record<string, string>;
  /** The pod's volume mounts (checked by mounts.ts), preopened at their guest paths. */
  mounts: Array<{ guestPath: string; hostPath: string; readOnly: boolean }>;
  /**
   * wasi:http: `reset` serves every request on one instance whose state is put back after each
   * (component-reset.ts; its core modules export their state); `per-request` a fresh instance each,
   * from a pool of `poolSize` made ahead.
   */
  instances: 'reset' | 'per-request';
  poolSize: number;
  /** `reset`: an instance is replaced after this many requests (host-side bookkeeping grows). */
  maxRequestsPerInstance: number;
}

export interface ComponentRequest {
  type: 'request';
  id: number;
  method: string;
  /** Absolute URL (http://host:port/path?query). */
  url: string;
  headers: Array<[string, string]>;
  body: Uint8Array;
}

export type ToComponentWorker = ComponentRequest | { type: 'count' };

export type FromComponentWorker =
  | { type: 'running' }
  | { type: 'start-failed'; message: string }
  | { type: 'log'; stream: 'stdout' | 'stderr'; chunk: Uint8Array }
  | { type: 'exit'; code: number; trap?: string; error?: string }
  | {
      type: 'response';
      id: number;
      status: number;
      headers: Array<[string, string]>;
      body: Uint8Array;
      error?: string;
    }
  | { type: 'count'; instances: number; requests: number };
