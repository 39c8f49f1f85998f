// SPDY/3.1 framing, the part kubectl port-forward (and its SPDY fallback for exec) needs: the server side of
// github.com/moby/spdystream as k8s.io/apimachinery's httpstream/spdy uses it. No maintained npm library
// serves SPDY, so this is a small framer:
//
//   control frame   |1| version(15)=3 | type(16) |  flags(8) | length(24) | payload
//   data frame      |0| stream id(31)            |  flags(8) | length(24) | data
//
// SYN_STREAM / SYN_REPLY / HEADERS carry a name/value header block compressed with zlib against the
// SPDY/3 dictionary, in ONE compression context per connection and direction (each block ends with a
// Z_SYNC_FLUSH, and the next block continues the same stream): HeaderInflater and HeaderDeflater keep
// those contexts. spdystream neither sends nor honours flow control (WINDOW_UPDATE is read and ignored),
// and neither do we.
import zlib from 'node:zlib';

export const SPDY_VERSION = 3;

export const FRAME = {
  synStream: 1,
  synReply: 2,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goAway: 7,
  headers: 8,
  windowUpdate: 9,
} as const;

/** FLAG_FIN on data and control frames; UNIDIRECTIONAL only on SYN_STREAM. */
export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

export const RST_STATUS = {
  protocolError: 1,
  invalidStream: 2,
  refusedStream: 3,
  unsupportedVersion: 4,
  cancel: 5,
  internalError: 6,
  flowControlError: 7,
  streamInUse: 8,
  streamAlreadyClosed: 9,
  frameTooLarge: 11,
} as const;

export const GOAWAY_STATUS = { ok: 0, protocolError: 1, internalError: 2 } as const;

/** The largest payload a frame's 24-bit length field can describe. */
export const MAX_FRAME_LENGTH = 0xffffff;

/**
 * The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): length-prefixed header names and
 * values, then a run of common status codes, dates and media types. Both ends preset it in zlib; a wrong
 * byte shows up as "invalid dictionary" on the other side.
 */
export const SPDY_DICTIONARY: Buffer = (() => {
  const words = [
    'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding',
    'accept-language', 'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection',
    'content-base', 'content-encoding', 'content-language', 'content-length', 'content-location',
    'content-md5', 'content-range', 'content-type', 'date', 'etag', 'expect', 'expires', 'from', 'host',
    'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified',
    'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
    'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via',
    'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url',
    'public', 'set-cookie', 'keep-alive', 'origin',
  ]; // prettier-ignore
  const tail =
    '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
    '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
    '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
    'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
    'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
    'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';
  const parts: Buffer[] = [];
  for (const w of words) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(w.length);
    parts.push(len, Buffer.from(w, 'latin1'));
  }
  parts.push(Buffer.from(tail, 'latin1'));
  return Buffer.concat(parts);
})();

export type Frame =
  | { type: 'data'; streamId: number; flags: number; data: Buffer }
  | {
      type: 'synStream';
      streamId: number;
      associatedTo: number;
      priority: number;
      flags: number;
      headerBlock: Buffer;
    }
  | { type: 'synReply'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'headers'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'rstStream'; streamId: number; status: number }
  | { type: 'settings'; flags: number; entries: Array<{ flags: number; id: number; value: number }> }
  | { type: 'ping'; id: number }
  | { type: 'goAway'; lastGoodStreamId: number; status: number }
  | { type: 'windowUpdate'; streamId: number; delta: number }
  /** A control frame type SPDY/3 does not define: the spec says ignore it. */
  | { type: 'unknown'; frameType: number; flags: number };

export class SpdyProtocolError extends Error {
  constructor(message: string) {
    super(`spdy: ${message}`);
    this.name = 'SpdyProtocolError';
  }
}

const STREAM_ID_MASK = 0x7fffffff;

/** Cuts a byte stream (the chunks a socket or WebSocket delivers) into frames. */
export class FrameParser {
  private buf: Buffer = Buffer.alloc(0);
  private readonly maxLength: number;

  /** maxLength bounds what one frame may make us buffer (default: the 24-bit maximum). */
  constructor(maxLength = MAX_FRAME_LENGTH) {
    this.maxLength = maxLength;
  }

  /** The frames this chunk completes; throws SpdyProtocolError on a malformed frame. */
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    while (this.buf.length >= 8) {
      const length = this.buf.readUInt32BE(4) & 0xffffff;
      if (length > this.maxLength) throw new SpdyProtocolError(`frame of ${length} bytes is too large`);
      if (this.buf.length < 8 + length) break;
      out.push(parseFrame(this.buf.subarray(0, 8 + length)));
      this.buf = this.buf.subarray(8 + length);
    }
    return out;
  }
}

/** Parses exactly one complete frame (header and payload). */
export function parseFrame(b: Buffer): Frame {
  const first = b.readUInt32BE(0);
  const flags = b[4];
  const p = b.subarray(8);
  if ((first & 0x80000000) === 0) {
    const streamId = first & STREAM_ID_MASK;
    if (streamId === 0) throw new SpdyProtocolError('data frame on stream 0');
    return { type: 'data', streamId, flags, data: p };
  }
  const version = (first >>> 16) & 0x7fff;
  if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported version ${version}`);
  const frameType = first & 0xffff;
  const need = (n: number, what: string): void => {
    if (p.length < n) throw new SpdyProtocolError(`${what} frame of ${p.length} bytes is too short`);
  };
  switch (frameType) {
    case FRAME.synStream: {
      need(10, 'SYN_STREAM');
      const streamId = p.readUInt32BE(0) & STREAM_ID_MASK;
      if (streamId === 0) throw new SpdyProtocolError('SYN_STREAM for stream 0');
      return {
        type: 'synStream',
        streamId,
        associatedTo: p.readUInt32BE(4) & STREAM_ID_MASK,
        priority: p[8] >> 5,
        flags,
        headerBlock: p.subarray(10),
      };
    }
    case FRAME.synReply:
    case FRAME.headers: {
      need(4, frameType === FRAME.synReply ? 'SYN_REPLY' : 'HEADERS');
      const streamId = p.readUInt32BE(0) & STREAM_ID_MASK;
      return {
        type: frameType === FRAME.synReply ? 'synReply' : 'headers',
        streamId,
        flags,
        headerBlock: p.subarray(4),
      };
    }
    case FRAME.rstStream:
      need(8, 'RST_STREAM');
      return { type: 'rstStream', streamId: p.readUInt32BE(0) & STREAM_ID_MASK, status: p.readUInt32BE(4) };
    case FRAME.settings: {
      need(4, 'SETTINGS');
      const n = p.readUInt32BE(0);
      if (p.length !== 4 + 8 * n)
        throw new SpdyProtocolError(`SETTINGS with ${n} entries in ${p.length} bytes`);
      const entries = [];
      for (let i = 0; i < n; i++) {
        const idFlags = p.readUInt32BE(4 + 8 * i);
        entries.push({ flags: idFlags >>> 24, id: idFlags & 0xffffff, value: p.readUInt32BE(8 + 8 * i) });
      }
      return { type: 'settings', flags, entries };
    }
    case FRAME.ping:
      need(4, 'PING');
      return { type: 'ping', id: p.readUInt32BE(0) };
    case FRAME.goAway:
      need(4, 'GOAWAY');
      // SPDY/2 GOAWAY had no status; accept a short one.
      return {
        type: 'goAway',
        lastGoodStreamId: p.readUInt32BE(0) & STREAM_ID_MASK,
        status: p.length >= 8 ? p.readUInt32BE(4) : 0,
      };
    case FRAME.windowUpdate:
      need(8, 'WINDOW_UPDATE');
      return {
        type: 'windowUpdate',
        streamId: p.readUInt32BE(0) & STREAM_ID_MASK,
        delta: p.readUInt32BE(4) & STREAM_ID_MASK,
      };
    default:
      return { type: 'unknown', frameType, flags };
  }
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_LENGTH) throw new SpdyProtocolError('control frame too large');
  const h = Buffer.alloc(8);
  h.writeUInt32BE((0x8000 | SPDY_VERSION) * 0x10000 + type, 0);
  h.writeUInt32BE(flags * 0x1000000 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

export function encodeData(streamId: number, data: Uint8Array, fin = false): Buffer {
  if (data.length > MAX_FRAME_LENGTH) throw new SpdyProtocolError('data frame too large');
  const out = Buffer.allocUnsafe(8 + data.length);
  out.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  out.writeUInt32BE((fin ? FLAG_FIN : 0) * 0x1000000 + data.length, 4);
  out.set(data, 8);
  return out;
}

/** A SYN_STREAM; headerBlock is already compressed (HeaderDeflater). */
export function encodeSynStream(
  streamId: number,
  headerBlock: Buffer,
  opts: { flags?: number; associatedTo?: number; priority?: number } = {},
): Buffer {
  const p = Buffer.alloc(10);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE((opts.associatedTo ?? 0) & STREAM_ID_MASK, 4);
  p[8] = ((opts.priority ?? 0) & 7) << 5;
  return controlFrame(FRAME.synStream, opts.flags ?? 0, Buffer.concat([p, headerBlock]));
}

/** A SYN_REPLY; headerBlock is already compressed (HeaderDeflater). */
export function encodeSynReply(streamId: number, headerBlock: Buffer, fin = false): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  return controlFrame(FRAME.synReply, fin ? FLAG_FIN : 0, Buffer.concat([p, headerBlock]));
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE(status, 4);
  return controlFrame(FRAME.rstStream, 0, p);
}

export function encodePing(id: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(id >>> 0, 0);
  return controlFrame(FRAME.ping, 0, p);
}

export function encodeGoAway(lastGoodStreamId: number, status: number = GOAWAY_STATUS.ok): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastGoodStreamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE(status, 4);
  return controlFrame(FRAME.goAway, 0, p);
}

export function encodeSettings(entries: Array<{ flags?: number; id: number; value: number }>): Buffer {
  const p = Buffer.alloc(4 + 8 * entries.length);
  p.writeUInt32BE(entries.length, 0);
  entries.forEach((e, i) => {
    p.writeUInt32BE((e.flags ?? 0) * 0x1000000 + (e.id & 0xffffff), 4 + 8 * i);
    p.writeUInt32BE(e.value >>> 0, 8 + 8 * i);
  });
  return controlFrame(FRAME.settings, 0, p);
}

export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE(delta & STREAM_ID_MASK, 4);
  return controlFrame(FRAME.windowUpdate, 0, p);
}

/** Header names (lowercase, as SPDY requires) to their values (several values are NUL-joined). */
export type SpdyHeaders = Map<string, string[]>;

/** The uncompressed name/value block: count, then (length, name, length, NUL-joined values) each. */
export function encodeHeaderBlock(headers: Record<string, string | string[]> | SpdyHeaders): Buffer {
  const entries = headers instanceof Map ? [...headers] : Object.entries(headers);
  const parts: Buffer[] = [];
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  parts.push(u32(entries.length));
  for (const [name, value] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from((Array.isArray(value) ? value : [value]).join('\0'), 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(b: Buffer): SpdyHeaders {
  const fail = (): never => {
    throw new SpdyProtocolError('truncated header block');
  };
  let o = 0;
  const u32 = (): number => {
    if (o + 4 > b.length) fail();
    const n = b.readUInt32BE(o);
    o += 4;
    return n;
  };
  const bytes = (n: number): Buffer => {
    if (o + n > b.length) fail();
    const s = b.subarray(o, o + n);
    o += n;
    return s;
  };
  const count = u32();
  const out: SpdyHeaders = new Map();
  for (let i = 0; i < count; i++) {
    const name = bytes(u32()).toString('utf8').toLowerCase();
    const values = bytes(u32()).toString('utf8').split('\0');
    if (out.has(name)) throw new SpdyProtocolError(`header ${name} appears twice`);
    out.set(name, values);
  }
  return out;
}

/**
 * A persistent zlib context (one per connection and direction). Blocks are processed strictly in order:
 * each is written and then flushed with Z_SYNC_FLUSH, which makes everything it produced readable.
 */
class ZlibContext {
  private readonly z: zlib.Inflate | zlib.Deflate;
  private queue: Promise<unknown> = Promise.resolve();
  private failed: Error | undefined;

  constructor(z: zlib.Inflate | zlib.Deflate) {
    this.z = z;
    // Errors are reported to the pending call; without a listener they would be thrown.
    this.z.on('error', (err) => (this.failed ??= err));
  }

  process(input: Buffer): Promise<Buffer> {
    const run = (): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        if (this.failed) return reject(this.failed);
        const onError = (err: Error): void => reject(err);
        this.z.once('error', onError);
        this.z.write(input);
        this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          this.z.off('error', onError);
          if (this.failed) return reject(this.failed);
          const parts: Buffer[] = [];
          for (let c = this.z.read(); c !== null; c = this.z.read()) parts.push(c as Buffer);
          resolve(Buffer.concat(parts));
        });
      });
    const p = this.queue.then(run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.z.destroy();
  }
}

// Paused-mode reads after each flush: the readable side must hold a whole block without back-pressure.
const ZLIB_BUFFER = { readableHighWaterMark: MAX_FRAME_LENGTH + 1 };

/** Decompresses the header blocks a peer sends (SYN_STREAM, SYN_REPLY, HEADERS), in arrival order. */
export class HeaderInflater {
  private readonly ctx = new ZlibContext(zlib.createInflate({ dictionary: SPDY_DICTIONARY, ...ZLIB_BUFFER }));

  async inflate(compressed: Buffer): Promise<SpdyHeaders> {
    let raw: Buffer;
    try {
      raw = await this.ctx.process(compressed);
    } catch (err) {
      throw new SpdyProtocolError(`header block does not decompress: ${(err as Error).message}`);
    }
    return decodeHeaderBlock(raw);
  }

  close(): void {
    this.ctx.close();
  }
}

/** Compresses the header blocks we send, in sending order. */
export class HeaderDeflater {
  private readonly ctx = new ZlibContext(zlib.createDeflate({ dictionary: SPDY_DICTIONARY, ...ZLIB_BUFFER }));

  deflate(headers: Record<string, string | string[]> | SpdyHeaders): Promise<Buffer> {
    return this.ctx.process(encodeHeaderBlock(headers));
  }

  close(): void {
    this.ctx.close();
  }
}
