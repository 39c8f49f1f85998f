import { describe, expect, it } from 'vitest';
import { createControl, RING_BYTES } from './control.ts';
import { LogRingReader, LogRingWriter, MAX_RECORD, type StreamName } from './log-ring.ts';

function setup() {
  const sab = createControl(4);
  let kicks = 0;
  const writer = new LogRingWriter(sab, () => kicks++);
  const reader = new LogRingReader(sab);
  const got: Array<[number, StreamName, string]> = [];
  const drain = () => reader.drain((g, s, c) => got.push([g, s, Buffer.from(c).toString()]));
  return { writer, reader, got, drain, kicks: () => kicks };
}
const enc = (s: string) => new TextEncoder().encode(s);

describe('log ring', () => {
  it('delivers writes in order, merging consecutive writes of one guest and stream', () => {
    const r = setup();
    r.writer.write(7, 'stdout', enc('a'));
    r.writer.write(7, 'stdout', enc('b'));
    r.writer.write(7, 'stderr', enc('E'));
    r.writer.write(9, 'stderr', enc('F'));
    r.writer.write(7, 'stdout', enc('c'));
    expect(r.drain()).toBe(5);
    expect(r.got).toEqual([
      [7, 'stdout', 'ab'],
      [7, 'stderr', 'E'],
      [9, 'stderr', 'F'],
      [7, 'stdout', 'c'],
    ]);
    expect(r.drain()).toBe(0);
  });

  it('wraps around the end of the ring many times without corrupting records', () => {
    const r = setup();
    let expected = '';
    let received = '';
    for (let i = 0; i < 2000; i++) {
      const line = `line ${i} ${'x'.repeat(i % 997)}\n`;
      expected += line;
      expect(r.writer.write(1, 'stdout', enc(line))).toBeUndefined();
      if (i % 7 === 0) r.reader.drain((_g, _s, c) => (received += Buffer.from(c).toString()));
    }
    r.reader.drain((_g, _s, c) => (received += Buffer.from(c).toString()));
    expect(received).toBe(expected);
  });

  it('splits writes larger than a record', () => {
    const r = setup();
    const big = new Uint8Array(MAX_RECORD * 2 + 10).fill(65);
    let total = 0;
    r.writer.write(1, 'stderr', big.subarray(0, MAX_RECORD + 5));
    total += r.reader.drain(() => {});
    r.writer.write(1, 'stderr', big.subarray(MAX_RECORD + 5));
    total += r.reader.drain(() => {});
    expect(total).toBe(big.length);
  });

  it('asks for a drain once it is half full, once per drain', () => {
    const r = setup();
    const chunk = new Uint8Array(RING_BYTES / 8);
    for (let i = 0; i < 5; i++) r.writer.write(1, 'stdout', chunk);
    expect(r.kicks()).toBe(1);
    r.drain();
    for (let i = 0; i < 5; i++) r.writer.write(1, 'stdout', chunk);
    expect(r.kicks()).toBe(2);
  });

  it('a full ring makes the writer wait (a promise) until the reader drains, and the abort check can end the wait', async () => {
    const r = setup();
    const chunk = new Uint8Array(MAX_RECORD - 8).fill(66);
    for (let i = 0; i < 3; i++) expect(r.writer.write(1, 'stdout', chunk)).toBeUndefined();
    const rest = enc('the rest');
    const waiting = r.writer.write(2, 'stdout', Uint8Array.of(...chunk, ...rest));
    expect(waiting).toBeInstanceOf(Promise);
    let done = false;
    void waiting!.then(() => (done = true));
    await new Promise((res) => setTimeout(res, 20));
    expect(done).toBe(false);
    r.drain();
    await waiting;
    r.drain();
    const second = r.got
      .filter(([g]) => g === 2)
      .map(([, , t]) => t)
      .join('');
    expect(second.length).toBe(chunk.length + rest.length);
    expect(second.endsWith('the rest')).toBe(true);

    for (let i = 0; i < 4; i++) await r.writer.write(1, 'stdout', chunk);
    const aborted = r.writer.write(1, 'stdout', chunk, () => {
      throw new Error('stopped');
    });
    await expect(aborted).rejects.toThrow('stopped');
    // What was already published is intact.
    expect(r.reader.drain(() => {})).toBe(4 * chunk.length);
  });
});
