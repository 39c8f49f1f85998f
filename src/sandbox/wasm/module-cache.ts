// Compiled modules, keyed by content hash and memory cap, so the second pod of a module starts
// without compiling it again. A WebAssembly.Module can be posted to any worker, which shares the
// compiled code instead of recompiling it.

import { SandboxError } from '../driver.ts';
import { WasmFormatError } from './leb128.ts';
import { applyMemoryCap, type MemoryInfo } from './memory-cap.ts';
import { checkRunnable } from './module-check.ts';
import { Wasm, type WasmModule } from './webassembly.ts';

export interface CompiledModule {
  /** Cache key: `<sha256>/<cap pages or "unlimited">`; workers cache modules by it too. */
  key: string;
  module: WasmModule;
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
   * The compiled module for content `sha256` under memory cap `capBytes`. `load` supplies the bytes
   * on a miss. Concurrent starts of one module share a single compile.
   */
  async get(
    sha256: string,
    capBytes: number | undefined,
    load: () => Promise<Uint8Array>,
  ): Promise<CompiledModule> {
    const key = `${sha256}/${capBytes === undefined ? 'unlimited' : Math.floor(capBytes / 65536)}`;
    const hit = this.entries.get(key);
    if (hit) {
      // Refresh its place in the least-recently-used order.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.compile(key, capBytes, load).finally(() => this.inflight.delete(key));
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
  ): Promise<CompiledModule> {
    const bytes = await load();
    let capped;
    try {
      capped = applyMemoryCap(bytes, capBytes);
    } catch (err) {
      if (err instanceof WasmFormatError) throw new SandboxError('CreateContainerError', err.message);
      throw err;
    }
    let module: WasmModule;
    try {
      this.compiles++;
      module = await Wasm.compile(capped.bytes);
    } catch (err) {
      throw new SandboxError('CreateContainerError', `invalid WebAssembly module: ${(err as Error).message}`);
    }
    checkRunnable(module);
    const entry: CompiledModule = { key, module, memories: capped.memories, capPages: capped.capPages };
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, entry);
    return entry;
  }
}
