// Container logs share a bounded set of descriptors: more logs than the cache holds all keep every line,
// in order, through timer flushes, readers' flushes, rotation and close — and the process never holds
// more than the cache's descriptors for them (counted by the kernel, /proc/self/fd).
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogFdCache, logFds } from './log-fds.ts';
import { FLUSH_MS, flushLogSync, RotatingLog } from './logs.ts';

let dir: string;
let savedCapacity: number;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'strata-logfds-'));
  savedCapacity = logFds.capacity;
});
afterEach(() => {
  logFds.capacity = savedCapacity;
  rmSync(dir, { recursive: true, force: true });
});

/** Descriptors of this process open on files under `under`, as the kernel sees them. */
function fdsUnder(under: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(under)) n++;
    } catch {
      // closed while listing
    }
  }
  return n;
}

const lineText = (record: string) => record.split(' ').slice(3).join(' ');
const lines = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean) : []);
const tick = () => new Promise((r) => setTimeout(r, FLUSH_MS * 1.5));

describe('log descriptors (a bounded cache shared by every log)', () => {
  it('40 logs over a cache of 4 keep every line in order and hold at most 4 descriptors', async () => {
    logFds.capacity = 4;
    const logs = Array.from({ length: 40 }, (_, i) => new RotatingLog(join(dir, `c${i}`, '0.log')));
    expect(fdsUnder(dir)).toBeLessThanOrEqual(4);
    for (let round = 0; round < 6; round++) {
      for (const [i, log] of logs.entries()) log.write('stdout', Buffer.from(`log ${i} line ${round}\n`));
      if (round === 2) flushLogSync(logs[7].path); // a reader's flush between timer flushes
      await tick();
    }
    await tick();
    // Idle now: only the cache's descriptors are open (no write in flight pins one more).
    expect(fdsUnder(dir)).toBeLessThanOrEqual(4);
    for (const [i, log] of logs.entries()) {
      expect(lines(log.path).map(lineText)).toEqual(
        Array.from({ length: 6 }, (_, r) => `log ${i} line ${r}`),
      );
      expect(log.lastError).toBeUndefined();
    }
    for (const log of logs) log.close();
    expect(fdsUnder(dir)).toBe(0);
  });

  it('with no cache at all (open per flush) nothing is lost and nothing stays open', async () => {
    logFds.capacity = 0;
    const logs = Array.from({ length: 10 }, (_, i) => new RotatingLog(join(dir, `z${i}.log`)));
    expect(fdsUnder(dir)).toBe(0);
    for (let round = 0; round < 3; round++) {
      for (const [i, log] of logs.entries()) log.write('stderr', Buffer.from(`z ${i} ${round}\n`));
      await tick();
    }
    await tick();
    expect(fdsUnder(dir)).toBe(0);
    for (const log of logs) log.close();
    for (const [i, log] of logs.entries())
      expect(lines(log.path).map(lineText)).toEqual([0, 1, 2].map((r) => `z ${i} ${r}`));
  });

  it('rotation with evicted descriptors keeps every line once, across .log.1 and .log', async () => {
    logFds.capacity = 2;
    const logs = Array.from({ length: 6 }, (_, i) => new RotatingLog(join(dir, `r${i}.log`), 2_000));
    for (let round = 0; round < 60; round++) {
      for (const [i, log] of logs.entries())
        log.write('stdout', Buffer.from(`r${i} ${round} ${'x'.repeat(20)}\n`));
      if (round % 7 === 0) await tick();
    }
    for (const log of logs) log.close();
    expect(fdsUnder(dir)).toBe(0);
    for (const [i, log] of logs.entries()) {
      const all = [...lines(`${log.path}.1`), ...lines(log.path)].map(lineText);
      // One rotated file is kept: the tail of the stream, contiguous and in order, ending with the last line.
      const rounds = all.map((l) => Number(l.split(' ')[1]));
      expect(rounds.at(-1)).toBe(59);
      expect(rounds).toEqual(Array.from({ length: rounds.length }, (_, k) => 60 - rounds.length + k));
      expect(all.every((l) => l.startsWith(`r${i} `))).toBe(true);
    }
  });

  it('a descriptor lent to a write is not closed by eviction; it closes at its release', () => {
    const cache = new LogFdCache(1);
    const a = join(dir, 'a.log');
    const b = join(dir, 'b.log');
    const leaseA = cache.acquireSync(a);
    const leaseB = cache.acquireSync(b); // past the capacity, but a is pinned: both stay open
    expect(fdsUnder(dir)).toBe(2);
    leaseA.release(); // a is idle and least recently used: closed
    expect(fdsUnder(dir)).toBe(1);
    cache.forget(b); // b's file is rotated away while pinned: closed at its release, not before
    expect(fdsUnder(dir)).toBe(1);
    leaseB.release();
    leaseB.release(); // a second release is ignored
    expect(fdsUnder(dir)).toBe(0);
    expect(cache.openCount).toBe(0);
  });

  it('a hit reuses the open descriptor; a miss opens the file again', async () => {
    const cache = new LogFdCache(1);
    const a = join(dir, 'a.log');
    const first = cache.acquireSync(a);
    first.release();
    const again = await new Promise<{ fd: number; release(): void }>((res, rej) =>
      cache.acquire(a, (err, l) => (err ? rej(err) : res(l!))),
    );
    expect(again.fd).toBe(first.fd);
    again.release();
    expect(cache.opens).toBe(1);
    cache.acquireSync(join(dir, 'b.log')).release(); // evicts a
    cache.acquireSync(a).release();
    expect(cache.opens).toBe(3);
    cache.clear();
    expect(fdsUnder(dir)).toBe(0);
  });
});
