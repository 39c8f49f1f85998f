import { describe, expect, it } from 'vitest';
import { SyncLoop } from './sync-loop.ts';
import type { Log } from './log.ts';

const quiet: Log = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Log;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('SyncLoop', () => {
  it('coalesces a burst of changes into one sync', async () => {
    let syncs = 0;
    const loop = new SyncLoop({ sync: async () => ++syncs, log: quiet, name: 't', coalesceMs: 20 });
    for (let i = 0; i < 50; i++) loop.schedule();
    await until(() => syncs === 1, 'the sync');
    await sleep(60);
    expect(syncs).toBe(1);
    await loop.stop();
  });

  it('never overlaps syncs, and a change during a sync makes one more', async () => {
    let running = 0;
    let maxRunning = 0;
    let syncs = 0;
    let release!: () => void;
    const loop = new SyncLoop({
      sync: async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        if (syncs === 0) await new Promise<void>((r) => (release = r));
        syncs++;
        running--;
      },
      log: quiet,
      name: 't',
      coalesceMs: 1,
    });
    loop.schedule();
    await until(() => running === 1, 'the first sync to begin');
    loop.schedule();
    loop.schedule();
    release();
    await until(() => syncs === 2, 'the follow-up sync');
    expect(maxRunning).toBe(1);
    await loop.stop();
  });

  it('retries a failed sync with backoff until it succeeds, and reports only successes', async () => {
    let attempts = 0;
    const reports: number[] = [];
    const loop = new SyncLoop({
      sync: async () => {
        attempts++;
        if (attempts < 3) throw new Error('kernel busy');
        return attempts;
      },
      onSync: (r) => reports.push(r),
      log: quiet,
      name: 't',
      coalesceMs: 1,
      retryMs: 5,
    });
    loop.schedule();
    await until(() => reports.length === 1, 'a successful sync');
    expect(attempts).toBe(3);
    expect(reports).toEqual([3]);
    await loop.stop();
  });

  it('does nothing once stopped', async () => {
    let syncs = 0;
    const loop = new SyncLoop({ sync: async () => ++syncs, log: quiet, name: 't', coalesceMs: 5 });
    loop.schedule();
    await loop.stop();
    loop.schedule();
    await sleep(30);
    expect(syncs).toBe(0);
  });

  it('runs periodic full syncs, calling onFullSync before each', async () => {
    let full = 0;
    let syncs = 0;
    const loop = new SyncLoop({
      sync: async () => ++syncs,
      onFullSync: () => full++,
      log: quiet,
      name: 't',
      coalesceMs: 1,
      fullSyncIntervalMs: 10,
    });
    loop.startFullSyncs();
    await until(() => full >= 2 && syncs >= 2, 'two full syncs');
    await loop.stop();
  });
});
