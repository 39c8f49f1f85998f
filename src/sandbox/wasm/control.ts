// The shared control block between the agent thread and one sandbox worker, for all its guests.
//
// A guest runs inside its worker, which the agent cannot interrupt with a message while a guest
// computes. Everything the agent must reach at any time goes through this SharedArrayBuffer instead:
// one log ring for the worker (records carry the guest's id, see log-ring.ts), and one slot per guest
// with its stop word and the figures stats() reads (memory size, CPU time).

/** Worker-wide Int32 word indexes. */
export const RING_WRITE = 1; // bytes ever written to the log ring (wraps at 2^32)
export const RING_READ = 2; // bytes ever drained from it
export const RING_KICK = 3; // 1 while a 'drain' message is in flight

export const RING_OFFSET = 64;
/** Log ring capacity; a power of two so that positions can wrap at 2^32. */
export const RING_BYTES = 256 * 1024;

/** Per-guest slots follow the ring. Int32 word indexes within a slot: */
export const STOP = 0; // see StopLevel
export const MEMORY_PAGES = 1; // guest linear memory in 64 KiB pages, refreshed at every host call
/** Float64 indexes within a slot: */
export const CPU_USED_US_F64 = 1; // thread CPU time (µs) the guest used in the spans it has finished
export const CPU_SINCE_US_F64 = 2; // thread CPU time (µs) when the guest was last switched in; -1 = not running
export const SLOT_BYTES = 32;
const SLOTS_OFFSET = RING_OFFSET + RING_BYTES;

/** What the agent asked of a guest, in the STOP word. */
export const StopLevel = {
  RUN: 0,
  /** End at the next host call (reported SIGTERM, 143). */
  STOP: 1,
  /** End at the next host call or preemption point, wherever the guest is (SIGKILL, 137). */
  KILL: 2,
} as const;

export function createControl(slots: number): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS_OFFSET + slots * SLOT_BYTES);
}

export interface SlotViews {
  words: Int32Array;
  f64: Float64Array;
}

export function slotViews(sab: SharedArrayBuffer, slot: number): SlotViews {
  const at = SLOTS_OFFSET + slot * SLOT_BYTES;
  return { words: new Int32Array(sab, at, SLOT_BYTES / 4), f64: new Float64Array(sab, at, SLOT_BYTES / 8) };
}

/** Clears a slot before the next guest gets it. */
export function resetSlot(v: SlotViews): void {
  v.words.fill(0);
  v.f64[CPU_SINCE_US_F64] = -1;
}
