import { describe, expect, it } from 'vitest';
import { createControl, RING_BYTES } from './control.ts';
import { LogRingReader, LogRingWriter, MAX_RECORD, type StreamName } from './log-ring.ts';

function setup() {
  const sab = createControl();
  let kicks = 0;
  const writer = new LogRingWriter(
    sab,
    () => kicks++,
    () => {},
  );
  const reader = new LogRingReader(sab);
  const got: Array<[StreamName, string]> = [];
  const drain = () => reader.drain((s, c) => got.push([s, Buffer.from(c).toString()]));
  return { writer, reader, got, drain, kicks: () => kicks };
}
const enc = (s: string) => new TextEncoder().encode(s);

describe('log ring', () => {
  it('delivers writes in order, merging consecutive writes of one stream', () => {
    const r = setup();
    r.writer.write('stdout', enc('a'));
    r.writer.write('stdout', enc('b'));
    r.writer.write('stderr', enc('E'));
    r.writer.write('stdout', enc('c'));
    expect(r.drain()).toBe(4);
    expect(r.got).toEqual([
      ['stdout', 'ab'],
      ['stderr', 'E'],
      ['stdout', 'c'],
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
      r.writer.write('stdout', enc(line));
      if (i % 7 === 0) r.reader.drain((_s, c) => (received += Buffer.from(c).toString()));
    }
    r.reader.drain((_s, c) => (received += Buffer.from(c).toString()));
    expect(received).toBe(expected);
  });

  it('splits writes larger than a record', () => {
    const r = setup();
    const big = new Uint8Array(MAX_RECORD * 2 + 10).fill(65);
    let total = 0;
    r.writer.write('stderr', big.subarray(0, MAX_RECORD + 5));
    total += r.reader.drain(() => {});
    r.writer.write('stderr', big.subarray(MAX_RECORD + 5));
    total += r.reader.drain(() => {});
    expect(total).toBe(big.length);
  });

  it('asks for a drain once it is half full, once per drain', () => {
    const r = setup();
    const chunk = new Uint8Array(RING_BYTES / 8);
    for (let i = 0; i < 5; i++) r.writer.write('stdout', chunk);
    expect(r.kicks()).toBe(1);
    r.drain();
    for (let i = 0; i < 5; i++) r.writer.write('stdout', chunk);
    expect(r.kicks()).toBe(2);
  });

  it('a full ring makes the writer wait, and the abort check can end the wait', () => {
    const sab = createControl();
    let checks = 0;
    const writer = new LogRingWriter(
      sab,
      () => {},
      () => {
        if (++checks > 1) throw new Error('stopped');
      },
    );
    const chunk = new Uint8Array(MAX_RECORD);
    for (let i = 0; i < 3; i++) writer.write('stdout', chunk);
    expect(() => writer.write('stdout', chunk)).toThrow('stopped');
    // What was already published is intact.
    expect(new LogRingReader(sab).drain(() => {})).toBe(3 * MAX_RECORD);
  });
});
