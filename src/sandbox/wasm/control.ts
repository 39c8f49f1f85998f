// The shared control block between the agent thread and one sandbox worker.
//
// A guest runs synchronously inside its worker, so the worker cannot read messages while the guest
// runs. Everything the agent must reach during a run goes through this SharedArrayBuffer instead:
// the stop word (Atomics.notify wakes a guest sleeping in poll_oneoff), the log ring (see log-ring.ts)
// and the figures stats() reads (memory size, CPU baseline).

/** Int32 word indexes. */
export const STOP = 0; // 0 = run, 1 = stop requested
export const RING_WRITE = 1; // bytes ever written to the log ring (wraps at 2^32)
export const RING_READ = 2; // bytes ever drained from it
export const RING_KICK = 3; // 1 while a 'drain' message is in flight
export const MEMORY_PAGES = 4; // guest linear memory in 64 KiB pages, refreshed at every host call

/** Float64 slot (byte offset 32): the worker thread's CPU time (µs) when the current run began. */
export const CPU_BASELINE_F64 = 4;

export const RING_OFFSET = 64;
/** Log ring capacity; a power of two so that positions can wrap at 2^32. */
export const RING_BYTES = 256 * 1024;

export function createControl(): SharedArrayBuffer {
  return new SharedArrayBuffer(RING_OFFSET + RING_BYTES);
}

/** Clears a control block before it is handed to the worker for the next run. */
export function resetControl(sab: SharedArrayBuffer): void {
  // The header is all words and the CPU slot; zero bytes read as 0 in both views.
  new Int32Array(sab, 0, RING_OFFSET / 4).fill(0);
}
