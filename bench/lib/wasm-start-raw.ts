// The two lower layers of the wasm pod start benchmark (bench/wasm-start.ts):
//   rawWasiStart — the baseline: node:wasi on this thread, module compiled once, per iteration
//                  new WASI + instantiate + start, output to /dev/null. What any Node host pays.
//   driverStart  — Strata's wasm driver alone: start() → wait() → destroy() per sandbox, through the
//                  worker pool, log ring and module cache, without the control plane.
// Each returns per-iteration milliseconds.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Driver, SandboxSpec } from '../../src/sandbox/driver.ts';

type WasmApi = {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => object;
};
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export async function rawWasiStart(wasmPath: string, n: number): Promise<number[]> {
  // Loaded here, not at the top: importing node:wasi prints an ExperimentalWarning, which a run
  // that only measures the driver should not show.
  const { WASI } = await import('node:wasi');
  const module = new Wasm.Module(readFileSync(wasmPath));
  const devNull = openSync('/dev/null', 'r+');
  const samples: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const wasi = new WASI({
        version: 'preview1',
        args: [basename(wasmPath)],
        env: {},
        returnOnExit: true,
        stdin: devNull,
        stdout: devNull,
        stderr: devNull,
      });
      const instance = new Wasm.Instance(module, wasi.getImportObject());
      wasi.start(instance);
      samples.push(performance.now() - t0);
    }
  } finally {
    closeSync(devNull);
  }
  return samples;
}

export async function driverStart(driver: Driver, wasmPath: string, n: number): Promise<number[]> {
  const samples: number[] = [];
  const runId = `${process.pid}-${Date.now()}`;
  for (let i = 0; i < n; i++) {
    const spec: SandboxSpec = {
      id: `bench-${runId}-${i}`,
      podUid: `bench-${i}`,
      podName: `bench-${i}`,
      namespace: 'default',
      containerName: 'main',
      image: wasmPath,
      args: [basename(wasmPath)],
      env: {},
      mounts: [],
      limits: {},
      log: { write: () => {} },
    };
    const t0 = performance.now();
    await driver.start(spec);
    const result = await driver.wait(spec.id);
    samples.push(performance.now() - t0);
    await driver.destroy(spec.id);
    if (result.reason !== 'Completed')
      throw new Error(`benchmark guest failed: ${result.reason} ${result.message ?? ''}`);
  }
  return samples;
}
