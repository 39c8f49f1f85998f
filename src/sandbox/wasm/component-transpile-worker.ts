// jco's transpile, on a thread of its own: it runs wasm-tools (itself wasm) synchronously for tens of
// seconds on a large component, which on the agent's main thread would stall the node (lease renewals,
// API traffic). component-transpile.ts starts one per transpile.
import { parentPort, workerData } from 'node:worker_threads';

const { transpile } = await import('@bytecodealliance/jco');
const { bytes } = workerData as { bytes: Uint8Array };
try {
  const out = await transpile(bytes, {
    name: 'component',
    instantiation: 'async',
    nodejsCompat: false,
    noTypescript: true,
  });
  parentPort!.postMessage({ ok: true, files: out.files, imports: out.imports, exports: out.exports });
} catch (err) {
  parentPort!.postMessage({ ok: false, message: (err as Error).message ?? String(err) });
}
