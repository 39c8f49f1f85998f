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
