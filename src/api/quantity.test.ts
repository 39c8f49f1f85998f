import { describe, expect, it } from 'vitest';
import { formatCpu, formatMemory, parseCpu, parseMemory, parseQuantity } from './quantity.ts';

describe('parseCpu', () => {
  it.each([
    ['500m', 500],
    ['2', 2000],
    ['0.5', 500],
    ['0.1', 100], // exact decimal arithmetic, not 100.00000000000001 → 101
    ['1.5', 1500],
    ['100u', NaN],
    [2, 2000],
    [0.25, 250],
    ['1k', 1_000_000],
    ['1e3', 1_000_000],
    ['0.0001', 1], // rounds up to the millicore, like Kubernetes' MilliValue
    ['.5', 500],
    ['+1', 1000],
  ] as const)('%s → %s', (q, milli) => {
    if (Number.isNaN(milli)) expect(() => parseCpu(q)).toThrow(/invalid cpu quantity "100u"/);
    else expect(parseCpu(q)).toBe(milli);
  });

  it('rejects garbage and negatives with a clear message', () => {
    expect(() => parseCpu('')).toThrow(/invalid cpu quantity "": must be a number/);
    expect(() => parseCpu('abc')).toThrow(/invalid cpu quantity "abc"/);
    expect(() => parseCpu('1 m')).toThrow(/invalid cpu/);
    expect(() => parseCpu('-1')).toThrow(/must not be negative/);
    expect(() => parseCpu(Number.NaN)).toThrow(/invalid cpu quantity/);
    expect(() => parseCpu('1e999')).toThrow(/exponent out of range/);
  });
});

describe('parseMemory', () => {
  it.each([
    ['64Mi', 64 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['1G', 1e9],
    ['128974848', 128974848],
    ['129e6', 129e6],
    ['129E6', 129e6],
    ['123k', 123000],
    ['123Ki', 123 * 1024],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['1E', NaN], // 1e18 bytes is exact, but > Number.MAX_SAFE_INTEGER
    [1024, 1024],
    ['0', 0],
  ] as const)('%s → %s', (q, bytes) => {
    if (Number.isNaN(bytes)) expect(() => parseMemory(q)).toThrow(/too large/);
    else expect(parseMemory(q)).toBe(bytes);
  });

  it('rejects unknown suffixes', () => {
    expect(() => parseMemory('64MB')).toThrow(/invalid memory quantity "64MB"/);
    expect(() => parseMemory('1e')).toThrow(/invalid memory quantity/);
    expect(() => parseMemory('Mi')).toThrow(/invalid memory quantity/);
  });

  it('parses counts', () => {
    expect(parseQuantity('110')).toBe(110);
  });
});

describe('format', () => {
  it('formats cpu canonically', () => {
    expect(formatCpu(2000)).toBe('2');
    expect(formatCpu(500)).toBe('500m');
    expect(formatCpu(1500)).toBe('1500m');
    expect(formatCpu(0)).toBe('0');
  });

  it('formats memory with the largest exact suffix', () => {
    expect(formatMemory(64 * 2 ** 20)).toBe('64Mi');
    expect(formatMemory(2 ** 30)).toBe('1Gi');
    expect(formatMemory(128974848)).toBe('123Mi');
    expect(formatMemory(1e9)).toBe('1G');
    expect(formatMemory(1023)).toBe('1023');
    expect(formatMemory(0)).toBe('0');
  });

  it('round-trips', () => {
    for (const q of ['64Mi', '1Gi', '1G', '123k', '1023']) expect(formatMemory(parseMemory(q))).toBe(q);
    for (const q of ['2', '500m', '1500m']) expect(formatCpu(parseCpu(q))).toBe(q);
  });
});
