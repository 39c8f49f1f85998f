import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CriLogTail, parseCriRecord } from './cri-log.ts';
import { captureLog, tempDir } from './test-support.ts';

const tmp = tempDir('strata-crilog-');
afterAll(() => tmp.remove());

const rec = (stream: string, tag: string, text: string) =>
  `2026-01-01T00:00:00.000000001+00:00 ${stream} ${tag} ${text}\n`;

describe('CRI log records', () => {
  it('parses full and partial records byte-exactly', () => {
    expect(parseCriRecord(Buffer.from('2026-01-01T00:00:00Z stdout F hello world'))).toMatchObject({
      stream: 'stdout',
      partial: false,
      content: Buffer.from('hello world'),
    });
    expect(parseCriRecord(Buffer.from('t stderr P  two  spaces '))!.content.toString()).toBe(' two  spaces ');
    expect(parseCriRecord(Buffer.from('t stdout F'))!.content.length).toBe(0);
    const bin = Buffer.concat([Buffer.from('t stdout F '), Buffer.from([0xff, 0x00, 0xfe])]);
    expect([...parseCriRecord(bin)!.content]).toEqual([0xff, 0x00, 0xfe]);
    expect(parseCriRecord(Buffer.from('garbage'))).toBeUndefined();
    expect(parseCriRecord(Buffer.from('t stdin F x'))).toBeUndefined();
  });
});

describe('CriLogTail', () => {
  it('forwards records by stream, joins partial lines, and resumes from the persisted offset', () => {
    const path = join(tmp.path, 'a.log');
    const posFile = join(tmp.path, 'a.pos');
    writeFileSync(
      path,
      rec('stdout', 'F', 'one') +
        rec('stdout', 'P', 'par') +
        rec('stdout', 'F', 'tial') +
        rec('stderr', 'F', 'err'),
    );
    const log = captureLog();
    const tail = new CriLogTail({ path, posFile, sink: log });
    tail.drain();
    expect(log.stdout()).toBe('one\npartial\n');
    expect(log.stderr()).toBe('err\n');
    expect(log.chunks.map((c) => c.stream)).toEqual(['stdout', 'stderr']);
    // A record still being written (no newline yet) waits for its end.
    appendFileSync(path, '2026-01-01T00:00:00Z stdout F hal');
    tail.drain();
    expect(log.stdout()).toBe('one\npartial\n');
    tail.close();

    // "Agent restart": a new tail on the same files continues after what was forwarded.
    appendFileSync(path, 'f\n' + rec('stdout', 'F', 'two'));
    const log2 = captureLog();
    const tail2 = new CriLogTail({ path, posFile, sink: log2 });
    tail2.drain();
    expect(log2.stdout()).toBe('half\ntwo\n');
    expect(JSON.parse(readFileSync(posFile, 'utf8')).offset).toBe(readFileSync(path).length);
    tail2.close();
  });

  it('reads a rotated file to its end before following the new one', () => {
    const path = join(tmp.path, 'b.log');
    const log = captureLog();
    writeFileSync(path, rec('stdout', 'F', 'old-1'));
    const tail = new CriLogTail({ path, posFile: join(tmp.path, 'b.pos'), sink: log });
    tail.drain();
    appendFileSync(path, rec('stdout', 'F', 'old-2'));
    // conmon's rotation: a fresh file renamed over the path.
    writeFileSync(`${path}.new`, rec('stdout', 'F', 'new-1'));
    renameSync(`${path}.new`, path);
    tail.drain();
    expect(log.stdout()).toBe('old-1\nold-2\nnew-1\n');
    tail.close();
  });

  it('follows appends while started', async () => {
    const path = join(tmp.path, 'c.log');
    writeFileSync(path, '');
    const log = captureLog();
    const tail = new CriLogTail({ path, posFile: join(tmp.path, 'c.pos'), sink: log });
    tail.start();
    appendFileSync(path, rec('stdout', 'F', 'live'));
    for (let i = 0; i < 100 && !log.stdout(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(log.stdout()).toBe('live\n');
    tail.close();
  });
});
