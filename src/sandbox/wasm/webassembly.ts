// Typed access to the WebAssembly global. The project compiles with lib "es2024" only, and neither it
// nor @types/node declares WebAssembly, so we describe the few parts we use here instead of adding
// global declarations that would clash if the DOM lib is ever turned on.

/** A compiled module (opaque). It can be posted to workers, which share its compiled code. */
export interface WasmModule {
  readonly [Symbol.toStringTag]: string;
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(deltaPages: number): number;
}

export interface WasmGlobal {
  value: number;
}

export interface WasmTable {
  set(index: number, fn: unknown): void;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

export type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag';

export type ImportObject = Record<string, Record<string, unknown>>;

interface WasmApi {
  Module: {
    new (bytes: Uint8Array): WasmModule;
    imports(module: WasmModule): Array<{ module: string; name: string; kind: ExternKind }>;
    exports(module: WasmModule): Array<{ name: string; kind: ExternKind }>;
  };
  Instance: new (module: WasmModule, imports: ImportObject) => WasmInstance;
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  compile(bytes: Uint8Array): Promise<WasmModule>;
  RuntimeError: new (message?: string) => Error;
  CompileError: new (message?: string) => Error;
  LinkError: new (message?: string) => Error;
}

export const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/**
 * JavaScript Promise Integration (on by default in Node 24's V8 13.6): `Suspending` marks an import
 * that may return a promise, on which the calling wasm stack suspends; `promising` turns an export
 * into a function that returns a promise of its result.
 */
interface JspiApi {
  Suspending: new (fn: (...args: any[]) => unknown) => object;
  promising<A extends unknown[]>(fn: (...args: A) => unknown): (...args: A) => Promise<unknown>;
}

export const Jspi = (globalThis as unknown as { WebAssembly: JspiApi }).WebAssembly;

/** Whether this V8 has JSPI (without it, guests cannot share a thread). */
export function hasJspi(): boolean {
  const w = (globalThis as unknown as { WebAssembly?: Partial<JspiApi> }).WebAssembly;
  return typeof w?.Suspending === 'function' && typeof w?.promising === 'function';
}
