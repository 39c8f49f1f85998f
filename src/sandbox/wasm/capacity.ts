// How many wasm sandboxes this agent process can hold at once, so that the node advertises (and
// enforces) a figure it can really reach.
//
// The ceiling is not threads any more (guests share them, see worker.ts) but V8's address space: every
// wasm memory reserves ~10 GiB of virtual address space (8 GiB plus guard regions, so that bounds checks
// are done by the MMU's trap handler), and a process has 128 TiB: ~12,900 live instances, measured here
// (docs/benchmarks.md, "Wasm density"). With `--disable-wasm-trap-handler` a memory reserves only its
// maximum, and the next limit is the kernel's vm.max_map_count (each idle instance costs ~2.9 maps,
// measured: its memory, its guest's JSPI stack and their neighbours' splits; at 65,530 maps V8 aborts
// the whole process — bench/wasm-density.ts held 15,000 and died near 21,000): a third of the map count,
// less what the process itself maps. Both are kept with a margin for the agent's own mappings.
// Past both, the process's open-file limit: a guest holds a descriptor per volume (fd-budget.ts).

import { readFileSync } from 'node:fs';
import { fdPodCeiling } from './fd-budget.ts';

/** Live instances per process with V8's guard regions (measured ~12,900; kept with a margin). */
export const GUARDED_INSTANCE_CEILING = 12_000;
/** Maps left for the agent itself (heap, code, libraries, threads). */
const MAP_RESERVE = 5_000;
/** Maps one live instance costs without guard regions (measured 2.9, rounded up). */
const MAPS_PER_INSTANCE = 3;

export function trapHandlerDisabled(): boolean {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return flags.some((f) => f === '--disable-wasm-trap-handler' || f === '--no-wasm-trap-handler');
}

function maxMapCount(): number {
  try {
    return Number.parseInt(readFileSync('/proc/sys/vm/max_map_count', 'utf8'), 10) || 65_530;
  } catch {
    return 65_530;
  }
}

/** Most wasm instances this process can keep alive at once. */
export function instanceCeiling(): number {
  if (!trapHandlerDisabled()) return GUARDED_INSTANCE_CEILING;
  return Math.max(1_000, Math.floor((maxMapCount() - MAP_RESERVE) / MAPS_PER_INSTANCE));
}

/** Most wasm pods this process can run at once: instances, and descriptors (one volume each). */
export function sandboxCeiling(): number {
  return Math.min(instanceCeiling(), fdPodCeiling());
}
