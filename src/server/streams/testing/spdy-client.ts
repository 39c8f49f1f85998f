// A SPDY client for tests, written against the framer: opens streams, sends data, and records every
// frame the server sends, with helpers to wait for and read them.
import { encodeData, encodeSynStream, FLAG_FIN, FrameParser, HeaderDeflater, type Frame } from '../spdy.ts';

/** A SPDY client over any byte transport. */
export class SpdyTestClient {
  private readonly parser = new FrameParser();
  private readonly deflater = new HeaderDeflater();
  private nextId = 1;
  private requestId = 0;
  readonly frames: Frame[] = [];
  private waiters: Array<() => void> = [];
  private readonly write: (b: Buffer) => void;

  constructor(write: (b: Buffer) => void) {
    this.write = write;
  }

  receive(chunk: Buffer): void {
    this.frames.push(...this.parser.push(chunk));
    for (const w of this.waiters.splice(0)) w();
  }

  async open(headers: Record<string, string>, fin = false): Promise<number> {
    const id = this.nextId;
    this.nextId += 2;
    this.write(encodeSynStream(id, await this.deflater.deflate(headers), { flags: fin ? FLAG_FIN : 0 }));
    return id;
  }

  /** Opens an error/data pair for one forwarded connection, as client-go does. */
  async pair(port: number): Promise<{ error: number; data: number }> {
    const rid = String(this.requestId++);
    const error = await this.open({ streamtype: 'error', port: String(port), requestid: rid });
    this.write(encodeData(error, Buffer.alloc(0), true));
    const data = await this.open({ streamtype: 'data', port: String(port), requestid: rid });
    return { error, data };
  }

  send(streamId: number, data: string, fin = false): void {
    this.write(encodeData(streamId, Buffer.from(data), fin));
  }

  async until(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ok()) {
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify(this.frames)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  /** Everything received on a stream so far, and whether it was finished. */
  stream(id: number): { data: string; fin: boolean; replied: boolean; reset: boolean } {
    const mine = this.frames.filter((f) => 'streamId' in f && f.streamId === id);
    return {
      data: mine.map((f) => (f.type === 'data' ? f.data.toString() : '')).join(''),
      fin: mine.some((f) => f.type === 'data' && f.flags & FLAG_FIN),
      replied: mine.some((f) => f.type === 'synReply'),
      reset: mine.some((f) => f.type === 'rstStream'),
    };
  }

  close(): void {
    this.deflater.close();
  }
}
