import { describe, expect, it } from 'vitest';
import {
  decodeHeaderBlock,
  encodeData,
  encodeGoAway,
  encodeHeaderBlock,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeSynReply,
  encodeSynStream,
  encodeWindowUpdate,
  FLAG_FIN,
  FrameParser,
  HeaderDeflater,
  HeaderInflater,
  parseFrame,
  SPDY_DICTIONARY,
  SpdyProtocolError,
  type Frame,
} from './spdy.ts';

// What kubectl v1.32.4 sent through `kubectl port-forward pod/x 18081:80 18082:81` (WebSocket tunnel),
// captured as the concatenated binary messages: three forwarded connections (requests 0 and 1 to port
// 80 with "hello" and "again", request 2 to port 81 with "x"), then GOAWAY when it exited.
const KUBECTL_PORT_FORWARD = Buffer.from(
  '800300010000003d0000000100000000000078f9e3c6a7c202253a48f95b044aab4c16060c0c0c9c4590d8ca04a562460370' +
    '3a2c294a4dcc851635aca9a08800000000ffff0000000101000000800300010000001600000003000000000000224b2ba894' +
    '4a04000000ffff000000030000000568656c6c6f000000030100000080030001000000180000000500000000000082eac461' +
    '283e030d01000000ffff0000000501000000800300010000001700000007000000000000c2aa1566285e9d00000000ffff00' +
    '00000700000005616761696e000000070100000080030001000000170000000900000000000022d652430cad4600000000ff' +
    'ff000000090100000080030001000000150000000b00000000000022d2522c3a01000000ffff0000000b0000000178000000' +
    '0b0100000080030007000000080000000000000000',
  'hex',
);

// The SYN_REPLY our server sent for stream 1 in that session (kubectl accepted it).
const OUR_FIRST_SYN_REPLY = Buffer.from('80030002000000130000000178bbe3c6a7c262000200000000ffff', 'hex');

function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

/** Feeds the bytes in uneven pieces, as WebSocket messages and TCP segments arrive. */
function parseInPieces(bytes: Buffer): Frame[] {
  const p = new FrameParser();
  const out: Frame[] = [];
  const sizes = [1, 3, 4, 7, 2, 13, 64];
  for (let o = 0, i = 0; o < bytes.length; i++) {
    const n = sizes[i % sizes.length];
    out.push(...p.push(bytes.subarray(o, o + n)));
    o += n;
  }
  return out;
}

describe('SPDY/3 frames captured from kubectl port-forward', () => {
  it('parse into the streams of three forwarded connections and a GOAWAY', () => {
    const frames = parseInPieces(KUBECTL_PORT_FORWARD);
    expect(frames.map((f) => `${f.type}:${'streamId' in f ? f.streamId : ''}`)).toEqual([
      'synStream:1',
      'data:1',
      'synStream:3',
      'data:3',
      'data:3',
      'synStream:5',
      'data:5',
      'synStream:7',
      'data:7',
      'data:7',
      'synStream:9',
      'data:9',
      'synStream:11',
      'data:11',
      'data:11',
      'goAway:',
    ]);
    const hello = frames[3] as Extract<Frame, { type: 'data' }>;
    expect(hello.data.toString()).toBe('hello');
    expect(hello.flags).toBe(0);
    // kubectl closes its side of the error stream at once: an empty DATA with FIN.
    expect(frames[1]).toMatchObject({ type: 'data', flags: FLAG_FIN, data: Buffer.alloc(0) });
    expect(frames.at(-1)).toEqual({ type: 'goAway', lastGoodStreamId: 0, status: 0 });
  });

  it('header blocks decompress in one shared context, with the SPDY/3 dictionary', async () => {
    const syns = parseInPieces(KUBECTL_PORT_FORWARD).filter((f) => f.type === 'synStream');
    // The first block's zlib header names the dictionary by its Adler-32: ours must be byte-identical.
    const first = syns[0].headerBlock;
    expect(first[1] & 0x20).toBe(0x20); // FDICT
    expect(first.readUInt32BE(2)).toBe(adler32(SPDY_DICTIONARY));
    const inflater = new HeaderInflater();
    const headers = [];
    for (const s of syns) headers.push(Object.fromEntries(await inflater.inflate(s.headerBlock)));
    inflater.close();
    expect(headers).toEqual([
      { streamtype: ['error'], port: ['80'], requestid: ['0'] },
      { streamtype: ['data'], port: ['80'], requestid: ['0'] },
      { streamtype: ['error'], port: ['80'], requestid: ['1'] },
      { streamtype: ['data'], port: ['80'], requestid: ['1'] },
      { streamtype: ['error'], port: ['81'], requestid: ['2'] },
      { streamtype: ['data'], port: ['81'], requestid: ['2'] },
    ]);
  });

  it('a later block cannot be read without the context of the earlier ones', async () => {
    const syns = parseInPieces(KUBECTL_PORT_FORWARD).filter((f) => f.type === 'synStream');
    const fresh = new HeaderInflater();
    await expect(fresh.inflate(syns[1].headerBlock)).rejects.toBeInstanceOf(SpdyProtocolError);
    fresh.close();
  });

  it('our SYN_REPLY is an empty header block in the same encoding', async () => {
    const f = parseFrame(OUR_FIRST_SYN_REPLY);
    expect(f).toMatchObject({ type: 'synReply', streamId: 1, flags: 0 });
    const inflater = new HeaderInflater();
    expect((await inflater.inflate((f as Extract<Frame, { type: 'synReply' }>).headerBlock)).size).toBe(0);
    inflater.close();
    const deflater = new HeaderDeflater();
    expect(encodeSynReply(1, await deflater.deflate({}))).toEqual(OUR_FIRST_SYN_REPLY);
    deflater.close();
  });
});

describe('SPDY/3 framer', () => {
  it('compresses and decompresses a sequence of header blocks', async () => {
    const d = new HeaderDeflater();
    const i = new HeaderInflater();
    for (let n = 0; n < 50; n++) {
      const h = { streamtype: 'data', port: String(n), requestid: String(n), multi: ['a', 'b'] };
      const back = await i.inflate(await d.deflate(h));
      expect(Object.fromEntries(back)).toEqual({
        streamtype: ['data'],
        port: [String(n)],
        requestid: [String(n)],
        multi: ['a', 'b'],
      });
    }
    d.close();
    i.close();
  });

  it('writes frames that read back the same', () => {
    const block = encodeHeaderBlock({ a: '1' });
    const frames = [
      encodeData(5, Buffer.from('payload'), true),
      encodeSynStream(7, block, { flags: FLAG_FIN, priority: 3 }),
      encodeSynReply(7, block, true),
      encodeRstStream(9, 5),
      encodePing(3),
      encodeGoAway(11, 2),
      encodeSettings([{ id: 7, value: 65536, flags: 1 }]),
      encodeWindowUpdate(3, 1024),
    ];
    expect(new FrameParser().push(Buffer.concat(frames))).toEqual([
      { type: 'data', streamId: 5, flags: FLAG_FIN, data: Buffer.from('payload') },
      { type: 'synStream', streamId: 7, associatedTo: 0, priority: 3, flags: FLAG_FIN, headerBlock: block },
      { type: 'synReply', streamId: 7, flags: FLAG_FIN, headerBlock: block },
      { type: 'rstStream', streamId: 9, status: 5 },
      { type: 'ping', id: 3 },
      { type: 'goAway', lastGoodStreamId: 11, status: 2 },
      { type: 'settings', flags: 0, entries: [{ id: 7, value: 65536, flags: 1 }] },
      { type: 'windowUpdate', streamId: 3, delta: 1024 },
    ]);
    expect(Object.fromEntries(decodeHeaderBlock(block))).toEqual({ a: ['1'] });
  });

  it('refuses another version, oversized frames, data on stream 0 and truncated header blocks', () => {
    const v2 = encodePing(1);
    v2.writeUInt16BE(0x8002, 0);
    expect(() => new FrameParser().push(v2)).toThrow(/unsupported version 2/);
    const big = Buffer.alloc(8);
    big.writeUInt32BE(1, 0);
    big.writeUInt32BE(2048, 4);
    expect(() => new FrameParser(1024).push(big)).toThrow(/too large/);
    const zero = encodeData(1, Buffer.from('x'));
    zero.writeUInt32BE(0, 0);
    expect(() => parseFrame(zero)).toThrow(/stream 0/);
    expect(() => decodeHeaderBlock(Buffer.from([0, 0, 0, 1, 0, 0, 0, 9, 97]))).toThrow(SpdyProtocolError);
  });

  it('ignores control frame types it does not know', () => {
    const f = encodePing(1);
    f.writeUInt16BE(0x00ff, 2);
    expect(parseFrame(f)).toEqual({ type: 'unknown', frameType: 0xff, flags: 0 });
  });
});
