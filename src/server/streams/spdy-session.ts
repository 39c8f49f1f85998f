// The server end of a SPDY/3.1 connection, as spdystream runs it for the kubelet: the client opens
// streams (odd ids) with SYN_STREAM, the server answers each with an empty SYN_REPLY and then both sides
// send DATA and half-close with FIN; RST_STREAM aborts one stream, GOAWAY the connection, PINGs are
// echoed. The transport is anything that carries the byte stream: an upgraded socket (`Upgrade: SPDY/3.1`)
// or, since kubectl 1.31, the binary messages of a WebSocket (`SPDY/3.1+portforward.k8s.io`), whose
// message boundaries mean nothing.
//
// Frames are handled strictly in arrival order (header blocks decompress asynchronously, and a stream's
// DATA must not overtake its SYN_STREAM); frames we send leave in the order they were queued, because the
// peer decompresses our header blocks in arrival order too.
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import {
  encodeData,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameParser,
  GOAWAY_STATUS,
  HeaderDeflater,
  HeaderInflater,
  RST_STATUS,
  SpdyProtocolError,
  type Frame,
  type SpdyHeaders,
} from './spdy.ts';

/** Where the session's bytes go. `write`'s callback fires once the bytes are handed to the network. */
export interface SpdyTransport {
  write(frame: Buffer, done: (err?: Error | null) => void): void;
  /** Stop or restart delivering incoming bytes (back-pressure from a slow stream reader). */
  pause(): void;
  resume(): void;
  close(): void;
}

/** DATA frames we send carry at most this much (spdystream reads any size; small frames interleave). */
const MAX_DATA_CHUNK = 32 * 1024;

export interface SpdySessionEvents {
  stream: [SpdyStream];
  close: [Error | undefined];
}

export class SpdyServerSession extends EventEmitter<SpdySessionEvents> {
  private readonly transport: SpdyTransport;
  private readonly parser = new FrameParser();
  private readonly inflater = new HeaderInflater();
  private readonly deflater = new HeaderDeflater();
  private readonly streams = new Map<number, SpdyStream>();
  /** Incoming frames wait here for the ones before them. */
  private inbound: Promise<void> = Promise.resolve();
  /** Outgoing frames that need compression hold back the ones queued after them. */
  private outbound: Promise<void> = Promise.resolve();
  private pendingOut = 0;
  private lastStreamId = 0;
  private readonly fullStreams = new Set<SpdyStream>();
  private closed = false;

  constructor(transport: SpdyTransport) {
    super();
    this.transport = transport;
  }

  /** Feed bytes read from the transport. */
  receive(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.parser.push(chunk);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    for (const f of frames) {
      this.inbound = this.inbound.then(() => this.handle(f)).catch((err) => this.fail(err as Error));
    }
  }

  /** The transport ended or failed: every stream is gone. */
  transportClosed(err?: Error): void {
    this.shutdown(err);
  }

  /** Sends GOAWAY and closes the transport once it is written (the server is going away). */
  goAway(status: number = GOAWAY_STATUS.ok): void {
    if (this.closed) return;
    this.send(encodeGoAway(this.lastStreamId, status), () => this.transport.close());
  }

  get openStreams(): number {
    return this.streams.size;
  }

  private async handle(f: Frame): Promise<void> {
    if (this.closed) return;
    switch (f.type) {
      case 'synStream': {
        // Decompress even a refused stream's headers: the shared zlib context must see every block.
        const headers = await this.inflater.inflate(f.headerBlock);
        if (f.streamId % 2 === 0 || f.streamId <= this.lastStreamId) {
          this.send(encodeRstStream(f.streamId, RST_STATUS.protocolError));
          return;
        }
        this.lastStreamId = f.streamId;
        const stream = new SpdyStream(this, f.streamId, headers);
        this.streams.set(f.streamId, stream);
        if (f.flags & FLAG_FIN) stream.remoteFinished();
        if (f.flags & FLAG_UNIDIRECTIONAL) stream.localFinished();
        this.emit('stream', stream);
        return;
      }
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (!s) {
          this.send(encodeRstStream(f.streamId, RST_STATUS.invalidStream));
          return;
        }
        if (f.data.length) s.remoteData(f.data);
        if (f.flags & FLAG_FIN) s.remoteFinished();
        return;
      }
      case 'rstStream':
        this.streams.get(f.streamId)?.remoteReset(f.status);
        return;
      case 'synReply':
      case 'headers':
        // Replies are for streams we open (none); HEADERS add nothing the handlers read. Their blocks still
        // go through the inflater to keep its context in step.
        await this.inflater.inflate(f.headerBlock);
        return;
      case 'ping':
        // Odd ids are the client's: echo them. Even ones would answer pings we never send.
        if (f.id % 2 === 1) this.send(encodePing(f.id));
        return;
      case 'goAway':
        // No new streams will come; the open ones finish, then the client closes the transport.
        return;
      case 'settings':
      case 'windowUpdate':
      case 'unknown':
        return;
    }
  }

  /** Queues a frame; `done` fires once the transport took it. */
  send(frame: Buffer | (() => Promise<Buffer>), done?: (err?: Error | null) => void): void {
    if (this.closed) {
      done?.(new Error('spdy: the connection is closed'));
      return;
    }
    const write = (b: Buffer): void => this.transport.write(b, (err) => done?.(err));
    if (Buffer.isBuffer(frame) && this.pendingOut === 0) {
      write(frame);
      return;
    }
    this.pendingOut++;
    this.outbound = this.outbound
      .then(async () => {
        const b = Buffer.isBuffer(frame) ? frame : await frame();
        if (!this.closed) write(b);
        else done?.(new Error('spdy: the connection is closed'));
      })
      .catch((err) => this.fail(err as Error))
      .finally(() => this.pendingOut--);
  }

  reply(streamId: number, headers: Record<string, string> = {}): void {
    this.send(async () => encodeSynReply(streamId, await this.deflater.deflate(headers)));
  }

  sendData(streamId: number, data: Buffer, fin: boolean, done: (err?: Error | null) => void): void {
    if (data.length <= MAX_DATA_CHUNK) {
      this.send(encodeData(streamId, data, fin), done);
      return;
    }
    for (let o = 0; o < data.length; o += MAX_DATA_CHUNK) {
      const last = o + MAX_DATA_CHUNK >= data.length;
      this.send(
        encodeData(streamId, data.subarray(o, o + MAX_DATA_CHUNK), fin && last),
        last ? done : undefined,
      );
    }
  }

  reset(streamId: number, status: number): void {
    this.send(encodeRstStream(streamId, status));
  }

  forget(stream: SpdyStream): void {
    this.streams.delete(stream.id);
    this.readable(stream);
  }

  /** A stream's reader fell behind: hold the whole connection until it catches up (as TCP would). */
  congested(stream: SpdyStream): void {
    this.fullStreams.add(stream);
    if (this.fullStreams.size === 1) this.transport.pause();
  }

  readable(stream: SpdyStream): void {
    if (this.fullStreams.delete(stream) && this.fullStreams.size === 0) this.transport.resume();
  }

  private fail(err: Error): void {
    if (this.closed) return;
    const status =
      err instanceof SpdyProtocolError ? GOAWAY_STATUS.protocolError : GOAWAY_STATUS.internalError;
    // Best effort: tell the peer why, then drop everything.
    this.transport.write(encodeGoAway(this.lastStreamId, status), () => undefined);
    this.shutdown(err);
    this.transport.close();
  }

  private shutdown(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) s.destroy();
    this.streams.clear();
    this.inflater.close();
    this.deflater.close();
    this.emit('close', err);
  }
}

/**
 * One SPDY stream as a Duplex: reads are the peer's DATA (ending at its FIN), writes become our DATA,
 * end() sends our FIN, destroy() before both sides finished sends RST_STREAM (CANCEL).
 */
export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: SpdyHeaders;
  private readonly session: SpdyServerSession;
  private replied = false;
  private localDone = false;
  private remoteDone = false;
  private wasReset = false;

  constructor(session: SpdyServerSession, id: number, headers: SpdyHeaders) {
    super({ allowHalfOpen: true });
    this.session = session;
    this.id = id;
    this.headers = headers;
  }

  /** The first value of a header (names are lowercase in SPDY). */
  header(name: string): string | undefined {
    return this.headers.get(name.toLowerCase())?.[0];
  }

  /** Accepts the stream: an empty SYN_REPLY, as spdystream sends. Writes wait for it. */
  accept(): void {
    if (this.replied || this.wasReset) return;
    this.replied = true;
    this.session.reply(this.id);
  }

  /** Refuses the stream with RST_STREAM. */
  refuse(status: number = RST_STATUS.refusedStream): void {
    this.wasReset = true;
    this.session.reset(this.id, status);
    this.localDone = this.remoteDone = true;
    this.session.forget(this);
    this.destroy();
  }

  remoteData(data: Buffer): void {
    if (this.remoteDone) return;
    if (!this.push(data)) this.session.congested(this);
  }

  remoteFinished(): void {
    if (this.remoteDone) return;
    this.remoteDone = true;
    this.push(null);
    this.settle();
  }

  localFinished(): void {
    this.localDone = true;
    this.settle();
  }

  remoteReset(_status: number): void {
    this.wasReset = true;
    this.localDone = this.remoteDone = true;
    this.session.forget(this);
    this.destroy();
  }

  override _read(): void {
    this.session.readable(this);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.localDone) return done(new Error(`spdy stream ${this.id}: write after FIN`));
    this.accept();
    this.session.sendData(this.id, chunk, false, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    if (this.localDone) return done();
    this.accept();
    this.localDone = true;
    this.session.sendData(this.id, Buffer.alloc(0), true, (err) => {
      this.settle();
      done(err);
    });
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void): void {
    if (!this.wasReset && !(this.localDone && this.remoteDone)) {
      this.wasReset = true;
      this.session.reset(this.id, RST_STATUS.cancel);
    }
    this.session.forget(this);
    done(err);
  }

  private settle(): void {
    if (this.localDone && this.remoteDone) this.session.forget(this);
  }
}
