// The buffered log writer: lines are queued and written off the main thread, yet none is lost — not on
// close, not on process exit, not to a reader — and rotation still keeps every line in order.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRecords } from './log-reader.ts';
import {
  containerLogDir,
  containerLogPath,
  FLUSH_MS,
  isLogOpen,
  pruneOldLogs,
  pruneOldLogsAsync,
  RotatingLog,
} from './logs.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'strata-rlog-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0);
const contents = (p: string) => readFileSync(p, 'utf8').split('\n').filter(Boolean);
const lineText = (record: string) => record.split(' ').slice(3).join(' ');

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, FLUSH_MS / 2));
  if (!ok()) throw new Error(`timed out waiting for ${what}`);
}

describe('RotatingLog (buffered)', () => {
  it('queues a chunk and writes it on the timer, not in write()', async () => {
    const path = join(dir, '0.log');
    const log = new RotatingLog(path);
    log.write('stdout', Buffer.from('queued\n'));
    expect(sizeOf(path)).toBe(0); // not written synchronously
    await until('the timer flush', () => sizeOf(path) > 0);
    expect(contents(path).map(lineText)).toEqual(['queued']);
    log.close();
  });

  it('close() writes every queued line before it returns and ends the stream', () => {
    const path = join(dir, '1.log');
    const log = new RotatingLog(path);
    for (let i = 0; i < 500; i++) log.write(i % 2 ? 'stderr' : 'stdout', Buffer.from(`line ${i}\n`));
    expect(isLogOpen(path)).toBe(true);
    log.close();
    expect(isLogOpen(path)).toBe(false);
    expect(contents(path).map(lineText)).toEqual(Array.from({ length: 500 }, (_, i) => `line ${i}`));
    log.write('stdout', Buffer.from('after close\n')); // ignored, like before
    expect(contents(path).length).toBe(500);
  });

  it('interleaved timer flushes and a close keep every line once, in order', async () => {
    const path = join(dir, '2.log');
    const log = new RotatingLog(path);
    let n = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 50; i++) log.write('stdout', Buffer.from(`l${n++}\n`));
      await new Promise((r) => setTimeout(r, round % 2 ? FLUSH_MS * 2 : 1));
    }
    log.close();
    await new Promise((r) => setTimeout(r, FLUSH_MS * 2)); // a write still in flight at close lands
    expect(contents(path).map(lineText)).toEqual(Array.from({ length: n }, (_, i) => `l${i}`));
  });

  it('a reader sees lines still queued (kubectl logs right after the container wrote them)', async () => {
    const path = join(dir, '3.log');
    const log = new RotatingLog(path);
    log.write('stdout', Buffer.from('just written\n'));
    const seen: string[] = [];
    for await (const r of readRecords(path, { follow: false, isOpen: () => true, stopped: () => false }))
      seen.push(r.content.toString());
    expect(seen).toEqual(['just written']);
    log.close();
  });

  it('rotation keeps one previous file and loses no line across flushes', async () => {
    const path = join(dir, '4.log');
    const log = new RotatingLog(path, 4096);
    let n = 0;
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 20; i++) log.write('stdout', Buffer.from(`row ${String(n++).padStart(5, '0')}\n`));
      await until('a flush', () => !log['pendingBytes']);
    }
    log.close();
    const current = contents(path).map(lineText);
    const previous = contents(`${path}.1`).map(lineText);
    expect(statSync(path).size).toBeLessThanOrEqual(4096);
    // The last rows are all there, in order, ending at the newest; the rotated file holds the ones before.
    const all = [...previous, ...current];
    const expected = Array.from({ length: n }, (_, i) => `row ${String(i).padStart(5, '0')}`);
    expect(all).toEqual(expected.slice(n - all.length));
    expect(current.at(-1)).toBe(expected.at(-1));
  });

  it('a guest that outruns the timer is written synchronously past the queue limit', () => {
    const path = join(dir, '5.log');
    const log = new RotatingLog(path);
    const big = Buffer.alloc(256 * 1024, 'x');
    for (let i = 0; i < 5; i++) log.write('stdout', big);
    expect(sizeOf(path)).toBeGreaterThanOrEqual(4 * 256 * 1024); // not all of it held in memory
    log.close();
  });

  it('open() makes the directory and appends after what an earlier run of the agent wrote', async () => {
    const path = join(dir, 'pods', 'uid', 'logs', 'c', '0.log');
    const first = await RotatingLog.open(path);
    first.write('stdout', Buffer.from('one\n'));
    first.close();
    const again = await RotatingLog.open(path); // a re-adopted sandbox's log
    again.write('stdout', Buffer.from('two\n'));
    again.close();
    expect(contents(path).map(lineText)).toEqual(['one', 'two']);
    expect(pruneOldLogs(join(dir, 'pods', 'uid'), 'c', 0)).toBeUndefined();
  });

  it('pruneOldLogsAsync keeps the current and the previous run only', async () => {
    const podDir = join(dir, 'pod');
    for (const n of [0, 1, 2, 3]) (await RotatingLog.open(containerLogPath(podDir, 'c', n))).close();
    await pruneOldLogsAsync(podDir, 'c', 3);
    expect(readdirSync(containerLogDir(podDir, 'c')).sort()).toEqual(['2.log', '3.log']);
    await pruneOldLogsAsync(join(dir, 'missing'), 'c', 3); // no directory yet: nothing to do
  });

  it('process exit writes what is queued (no close, no timer tick)', () => {
    const path = join(dir, '6.log');
    const script = `
      import { RotatingLog } from ${JSON.stringify(join(import.meta.dirname, 'logs.ts'))};
      const log = new RotatingLog(${JSON.stringify(path)});
      for (let i = 0; i < 1000; i++) log.write('stdout', Buffer.from('exit ' + i + '\\n'));
      process.exit(0);
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr.replace(/.*ExperimentalWarning.*\n?/g, '')).toBe('');
    expect(r.status).toBe(0);
    expect(contents(path).map(lineText)).toEqual(Array.from({ length: 1000 }, (_, i) => `exit ${i}`));
  });
});
