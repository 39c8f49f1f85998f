import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatRecords, nowRfc3339Nano, parseRecord } from './log-format.ts';
import { LogRenderer, readRecords, type FollowOptions } from './log-reader.ts';
import { isLogOpen, RotatingLog } from './logs.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'strata-logs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function collect(path: string, o: Partial<FollowOptions> = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const r of readRecords(path, {
    follow: false,
    isOpen: () => false,
    stopped: () => false,
    ...o,
  })) {
    out.push(`${r.stream}:${r.partial ? 'P' : 'F'}:${r.content.toString()}`);
  }
  return out;
}

describe('CRI log records', () => {
  it('a chunk becomes a record per line, the unterminated rest a partial record', () => {
    const b = formatRecords('stderr', Buffer.from('one\ntwo\nthr'), '2026-01-02T03:04:05.123456789Z');
    expect(b.toString()).toBe(
      '2026-01-02T03:04:05.123456789Z stderr F one\n' +
        '2026-01-02T03:04:05.123456789Z stderr F two\n' +
        '2026-01-02T03:04:05.123456789Z stderr P thr\n',
    );
    expect(formatRecords('stdout', Buffer.from('\n'), 'T').toString()).toBe('T stdout F \n');
  });

  it('parses records byte-exactly; a line of an older raw log comes back whole', () => {
    const r = parseRecord(Buffer.from('2026-01-02T03:04:05.123456789Z stdout P  two spaces '));
    expect(r).toMatchObject({ stream: 'stdout', partial: true, time: '2026-01-02T03:04:05.123456789Z' });
    expect(r.content.toString()).toBe(' two spaces ');
    expect(r.ms).toBe(Date.parse('2026-01-02T03:04:05.123Z'));
    const empty = parseRecord(Buffer.from('2026-01-02T03:04:05.1Z stdout F'));
    expect(empty.content.length).toBe(0);
    const raw = parseRecord(Buffer.from('hello world from before'));
    expect(raw).toMatchObject({ stream: 'stdout', partial: false, time: '' });
    expect(raw.content.toString()).toBe('hello world from before');
  });

  it('times have nanosecond digits and increase', () => {
    const a = nowRfc3339Nano();
    expect(a).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(nowRfc3339Nano() >= a).toBe(true);
  });
});

describe('reading a container log', () => {
  it('RotatingLog writes records that read back with their streams, lines joined over chunks', async () => {
    const path = join(dir, '0.log');
    const log = new RotatingLog(path);
    log.write('stdout', Buffer.from('hel'));
    log.write('stdout', Buffer.from('lo\nworld\n'));
    log.write('stderr', Buffer.from('oops\n'));
    log.close();
    expect(readFileSync(path, 'utf8').split('\n').length).toBe(5);
    expect(await collect(path)).toEqual(['stdout:P:hel', 'stdout:F:lo', 'stdout:F:world', 'stderr:F:oops']);
  });

  it('tailLines counts whole lines (partial records belong to their line)', async () => {
    const path = join(dir, 't.log');
    const t = '2026-01-01T00:00:00.000000000Z';
    writeFileSync(
      path,
      [`${t} stdout F a`, `${t} stdout P b1`, `${t} stdout F b2`, `${t} stdout F c`, ''].join('\n'),
    );
    expect(await collect(path, { tailLines: 2 })).toEqual(['stdout:P:b1', 'stdout:F:b2', 'stdout:F:c']);
    expect(await collect(path, { tailLines: 0 })).toEqual([]);
    expect((await collect(path, { tailLines: 10 })).length).toBe(4);
  });

  it('follows until the run ends, then stops; attach starts at the end', async () => {
    const path = join(dir, '1.log');
    const log = new RotatingLog(path);
    log.write('stdout', Buffer.from('before\n'));
    const seen: string[] = [];
    const reading = (async () => {
      for await (const r of readRecords(path, {
        follow: true,
        fromEnd: true,
        isOpen: () => isLogOpen(path),
        stopped: () => false,
        pollMs: 10,
      })) {
        seen.push(r.content.toString());
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    log.write('stdout', Buffer.from('after\n'));
    await new Promise((r) => setTimeout(r, 50));
    log.write('stderr', Buffer.from('last\n'));
    log.close();
    await reading;
    expect(seen).toEqual(['after', 'last']);
  });

  it('a line still being written waits for its newline', async () => {
    const path = join(dir, 'w.log');
    writeFileSync(path, '2026-01-01T00:00:00Z stdout F done\n2026-01-01T00:00:00Z stdout F half');
    expect(await collect(path)).toEqual(['stdout:F:done']);
    appendFileSync(path, '\n');
    expect(await collect(path)).toEqual(['stdout:F:done', 'stdout:F:half']);
  });
});

describe('rendering for kubectl logs', () => {
  const rec = (time: string, content: string, partial = false) =>
    parseRecord(Buffer.from(`${time} stdout ${partial ? 'P' : 'F'} ${content}`));

  it('timestamps prefix each line once; sinceTime drops older records; limitBytes cuts the output', () => {
    const lines = [
      rec('2026-01-01T00:00:01.000000001Z', 'old'),
      rec('2026-01-01T00:00:05.000000002Z', 'new-', true),
      rec('2026-01-01T00:00:06.000000003Z', 'line'),
      rec('2026-01-01T00:00:07.000000004Z', 'next'),
    ];
    const ts = new LogRenderer({ timestamps: true, sinceMs: Date.parse('2026-01-01T00:00:02Z') });
    expect(Buffer.concat(lines.map((l) => ts.render(l))).toString()).toBe(
      '2026-01-01T00:00:05.000000002Z new-line\n2026-01-01T00:00:07.000000004Z next\n',
    );
    const limited = new LogRenderer({ timestamps: false, limitBytes: 6 });
    expect(Buffer.concat(lines.map((l) => limited.render(l))).toString()).toBe('old\nne');
    expect(limited.full).toBe(true);
  });
});
