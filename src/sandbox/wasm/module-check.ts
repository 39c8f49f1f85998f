// Checks that a compiled module is something the wasm tier can run: a WASI preview1 command that
// imports nothing else. Done once per compile, so a bad module fails start() with a clear reason
// instead of a LinkError inside a worker.

import { SandboxError } from '../driver.ts';
import { PREVIEW1_FUNCTIONS, WASI_MODULE } from './wasi-abi.ts';
import { Wasm, type WasmModule } from './webassembly.ts';

/**
 * A WebAssembly component (component model, layer 1): `\0asm`, version 0x0d, layer 1. These are not
 * core modules; the tier runs them through component-sandbox.ts instead of this check.
 */
export function isComponentBinary(head: Uint8Array): boolean {
  const preamble = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
  return head.length >= 8 && preamble.every((b, i) => head[i] === b);
}

export function checkRunnable(module: WasmModule): void {
  for (const imp of Wasm.Module.imports(module)) {
    if (imp.module !== WASI_MODULE || imp.kind !== 'function' || !PREVIEW1_FUNCTIONS.has(imp.name)) {
      throw new SandboxError(
        'CreateContainerError',
        `the module imports ${imp.kind} ${imp.module}.${imp.name}, which the wasm tier does not provide ` +
          `(it provides the ${WASI_MODULE} functions only)`,
      );
    }
  }
  const exports = new Map(Wasm.Module.exports(module).map((e) => [e.name, e.kind]));
  if (exports.get('_start') !== 'function') {
    const hint = exports.has('_initialize') ? ' (it is a WASI reactor; the wasm tier runs commands)' : '';
    throw new SandboxError('CreateContainerError', `the module exports no _start function${hint}`);
  }
  if (exports.get('memory') !== 'memory') {
    throw new SandboxError(
      'CreateContainerError',
      'the module exports no memory named "memory", which WASI needs',
    );
  }
}
