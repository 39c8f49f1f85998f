// Compiled modules, keyed by content hash, memory cap and whether they carry preemption points (for a
// shared thread, preempt.ts), so the second pod of a module starts without compiling it again. A WebAssembly.Module can be posted to any worker, which shares the
// compiled code instead of recompiling it.

import { SandboxError } from '../driver.ts';
import { WasmFormatError } from './leb128.ts';
import { applyMemoryCap, type MemoryInfo } from './memory-cap.ts';
import { checkRunnable } from './module-check.ts';
import { addPreemptionPoints, PreemptRefused } from './preempt.ts';
import { Wasm, type WasmModule } from './webassembly.ts';

export interface CompiledModule {
  /** Cache key: `<sha256>/<cap pages or "unlimited">/<shared|own>`; workers cache modules by it too. */
  key: string;
  module: WasmModule;
  /** It has preemption points and may share a thread; otherwise it needs a thread of its own. */
  preemptible: boolean;
  /** Why it could not be given preemption points. */
  preemptRefusal?: string;
  memories: MemoryInfo[];
  /** The memory cap applied, in pages. */
  capPages?: number;
}

export class ModuleCache {
  /** How many times a module was compiled (tests and metrics: a cache hit does not count). */
  compiles = 0;
  private readonly maxEntries: number;
  private readonly entries = new Map<string, CompiledModule>();
  private readonly inflight = new Map<string, Promise<CompiledModule>>();

  constructor(maxEntries = 64) {
    this.maxEntries = maxEntries;
  }

  /**
   * The compiled module for content `sha256` under memory cap `capBytes`, with preemption points when
   * `shared` (unless the module cannot have them: see `preemptible`). `load` supplies the bytes on a
   * miss. Concurrent starts of one module share a single compile.
   */
  async get(
    sha256: string,
    capBytes: number | undefined,
    load: () => Promise<Uint8Array>,
    shared = true,
  ): Promise<CompiledModule> {
    const cap = capBytes === undefined ? 'unlimited' : Math.floor(capBytes / 65536);
    const key = `${sha256}/${cap}/${shared ? 'shared' : 'own'}`;
    const hit = this.entries.get(key);
    if (hit) {
      // Refresh its place in the least-recently-used order.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.compile(key, capBytes, load, shared).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  get size(): number {
    return this.entries.size;
  }

  private async compile(
    key: string,
    capBytes: number | undefined,
    load: () => Promise<Uint8Array>,
    shared: boolean,
  ): Promise<CompiledModule> {
    const bytes = await load();
    let capped;
    try {
      capped = applyMemoryCap(bytes, capBytes);
    } catch (err) {
      if (err instanceof WasmFormatError) throw new SandboxError('CreateContainerError', err.message);
      throw err;
    }
    let preemptible = false;
    let preemptRefusal: string | undefined;
    let module: WasmModule | undefined;
    this.compiles++;
    if (shared) {
      try {
        module = await Wasm.compile(addPreemptionPoints(capped.bytes));
        preemptible = true;
      } catch (err) {
        // It runs on a thread of its own instead (slower to start, but correct); a module that is
        // simply invalid fails below, with the compiler's message about the module as written.
        preemptRefusal = err instanceof PreemptRefused ? err.message : (err as Error).message;
      }
    }
    try {
      module ??= await Wasm.compile(capped.bytes);
    } catch (err) {
      throw new SandboxError('CreateContainerError', `invalid WebAssembly module: ${(err as Error).message}`);
    }
    checkRunnable(module);
    const entry: CompiledModule = {
      key,
      module,
      preemptible,
      preemptRefusal,
      memories: capped.memories,
      capPages: capped.capPages,
    };
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, entry);
    return entry;
  }
}
