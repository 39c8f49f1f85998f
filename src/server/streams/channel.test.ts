import { describe, expect, it } from 'vitest';
import {
  chooseChannelProtocol,
  decodeMessage,
  encodeMessage,
  errorChannelPayload,
  exitStatus,
  ResizeDecoder,
  traits,
  V1,
  V1_BASE64,
  V4,
  V5,
} from './channel.ts';

describe('channel protocol negotiation', () => {
  it('answers v5 when kubectl offers it, the newest offered otherwise', () => {
    expect(chooseChannelProtocol(['v5.channel.k8s.io'])).toBe(V5);
    expect(chooseChannelProtocol(['channel.k8s.io', 'v4.channel.k8s.io'])).toBe(V4);
    expect(chooseChannelProtocol(['base64.channel.k8s.io'])).toBe(V1_BASE64);
    expect(chooseChannelProtocol([])).toBe(V1);
    expect(chooseChannelProtocol(['v6.channel.k8s.io'])).toBeUndefined();
  });
});

describe('channel messages', () => {
  it('binary: one channel byte, then the bytes unchanged', () => {
    const m = encodeMessage(traits(V5), 1, Buffer.from([0, 255, 10]));
    expect(m).toEqual(Buffer.from([1, 0, 255, 10]));
    expect(decodeMessage(traits(V5), Buffer.from([0, 102, 111, 111, 10]), true)).toEqual({
      kind: 'data',
      channel: 0,
      data: Buffer.from('foo\n'),
    });
  });

  it('base64: the channel as a digit and the data in base64 (wsstream example bytes)', () => {
    // From wsstream's doc: "foo\n" on stdin is "0Zm9vCg==", "\n" on stdout is "1Cg==".
    expect(encodeMessage(traits(V1_BASE64), 1, Buffer.from('\n'))).toBe('1Cg==');
    expect(decodeMessage(traits(V1_BASE64), Buffer.from('0Zm9vCg=='), false)).toEqual({
      kind: 'data',
      channel: 0,
      data: Buffer.from('foo\n'),
    });
    expect(decodeMessage(traits(V1_BASE64), Buffer.from('0Zm9v!!'), false)?.kind).toBe('invalid');
  });

  it('v5 reads [255, n] as the close of channel n; v4 reads it as data on channel 255', () => {
    expect(decodeMessage(traits(V5), Buffer.from([255, 0]), true)).toEqual({ kind: 'close', channel: 0 });
    expect(decodeMessage(traits(V5), Buffer.from([255, 0, 1]), true)?.kind).toBe('invalid');
    expect(decodeMessage(traits(V4), Buffer.from([255, 0]), true)).toEqual({
      kind: 'data',
      channel: 255,
      data: Buffer.from([0]),
    });
  });

  it('ignores empty messages and refuses text on a binary protocol', () => {
    expect(decodeMessage(traits(V5), Buffer.alloc(0), true)).toBeUndefined();
    expect(decodeMessage(traits(V5), Buffer.from('0abc'), false)?.kind).toBe('invalid');
  });
});

describe('resize channel', () => {
  it("reads client-go's documents whole, split, or several per message; skips bad sizes", () => {
    const d = new ResizeDecoder();
    expect(d.push(Buffer.from('{"Width":120,"Height":40}\n'))).toEqual([{ cols: 120, rows: 40 }]);
    expect(d.push(Buffer.from('{"Width":80,'))).toEqual([]);
    expect(d.push(Buffer.from('"Height":24}\n{"Width":0,"Height":5}{"Width":1,"Height":2}'))).toEqual([
      { cols: 80, rows: 24 },
      { cols: 1, rows: 2 },
    ]);
    expect(d.push(Buffer.from('{nonsense}'))).toEqual([]);
  });
});

describe('error channel', () => {
  it('exit 0 is Success; other codes NonZeroExitCode with an ExitCode cause (what kubectl parses)', () => {
    expect(exitStatus(0)).toEqual({ metadata: {}, status: 'Success' });
    const s = exitStatus(3, ['sh', '-c', 'exit 3']);
    expect(s.status).toBe('Failure');
    expect(s.reason).toBe('NonZeroExitCode');
    expect(s.details?.causes).toEqual([{ reason: 'ExitCode', message: '3' }]);
    expect(JSON.parse(errorChannelPayload(traits(V5), s)!.toString())).toEqual(s);
  });

  it('before v4: only failures, as their message', () => {
    expect(errorChannelPayload(traits(V1), exitStatus(0))).toBeUndefined();
    expect(errorChannelPayload(traits(V1), exitStatus(2))!.toString()).toMatch(/exit code 2$/);
  });
});
