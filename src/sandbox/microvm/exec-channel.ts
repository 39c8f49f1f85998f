// The host side of a microVM's exec port: one unix socket per VM (QEMU's end of the `strata.exec`
// virtio-serial port), carrying framed sessions multiplexed by channel number (protocol in
// guest/vmexec.c). One connection per VM, opened on first use and shared by every exec and probe; when
// it closes (the VM ended), its sessions end with exit code 255 and the next exec connects again.
import { createConnection, type Socket } from 'node:net';
import { constants } from 'node:os';

export interface SessionOptions {
  tty: boolean;
  /** The command reads stdin from the host (otherwise /dev/null). */
  stdin: boolean;
  cols?: number;
  rows?: number;
}

export interface SessionHandlers {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
}

export interface ExecSession {
  /** The command's exit code (128+N when signal N ended it; 255 when the VM went away). */
  exited: Promise<number>;
  write(data: Buffer): void;
  /** End of input: the command's stdin closes (with a terminal: an end-of-file character). */
  end(): void;
  kill(signal: NodeJS.Signals): void;
  resize(cols: number, rows: number): void;
}

const HEADER = 9;
const MAX_CHUNK = 32 * 1024;

function frame(type: string, ch: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(HEADER);
  h.write(type, 0, 'latin1');
  h.writeUInt32BE(ch, 1);
  h.writeUInt32BE(payload.length, 5);
  return Buffer.concat([h, payload]);
}

/** The payload of an open frame: flags, terminal size, argv as NUL-ended strings. */
export function openPayload(argv: string[], o: SessionOptions): Buffer {
  if (argv.length === 0 || !argv[0]) throw new Error('exec: empty command');
  if (argv.length > 255) throw new Error('exec: at most 255 arguments');
  for (const a of argv) if (a.includes('\0')) throw new Error('exec: an argument contains a NUL byte');
  const head = Buffer.alloc(5);
  head[0] = (o.tty ? 1 : 0) | (o.stdin ? 2 : 0);
  head.writeUInt16BE(clampSize(o.cols ?? 80), 1);
  head.writeUInt16BE(clampSize(o.rows ?? 24), 3);
  return Buffer.concat([head, ...argv.map((a) => Buffer.from(`${a}\0`))]);
}

function clampSize(n: number): number {
  return Math.max(1, Math.min(65535, Math.floor(n) || 1));
}

interface Live {
  handlers: SessionHandlers;
  resolve(code: number): void;
}

export class ExecChannel {
  private socket?: Socket;
  private connecting?: Promise<Socket>;
  private buf: Buffer = Buffer.alloc(0);
  private nextCh = 1;
  private readonly live = new Map<number, Live>();
  private readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async open(argv: string[], o: SessionOptions, handlers: SessionHandlers): Promise<ExecSession> {
    const payload = openPayload(argv, o);
    const socket = await this.connect();
    const ch = this.nextCh++;
    if (this.nextCh > 0x7fffffff) this.nextCh = 1;
    let resolve!: (code: number) => void;
    const exited = new Promise<number>((r) => (resolve = r));
    this.live.set(ch, { handlers, resolve });
    socket.write(frame('O', ch, payload));
    const send = (type: string, p?: Buffer): void => {
      if (this.live.has(ch) && this.socket === socket && !socket.destroyed) socket.write(frame(type, ch, p));
    };
    return {
      exited,
      write: (data) => {
        for (let i = 0; i < data.length; i += MAX_CHUNK) send('I', data.subarray(i, i + MAX_CHUNK));
      },
      end: () => send('C'),
      kill: (signal) => {
        const n = constants.signals[signal];
        if (n) send('K', Buffer.from([n]));
      },
      resize: (cols, rows) => {
        const p = Buffer.alloc(4);
        p.writeUInt16BE(clampSize(cols), 0);
        p.writeUInt16BE(clampSize(rows), 2);
        send('R', p);
      },
    };
  }

  close(): void {
    this.socket?.destroy();
  }

  private connect(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const s = createConnection(this.path);
      s.once('error', (err) => {
        this.connecting = undefined;
        reject(new Error(`the VM's exec port (${this.path}): ${err.message}`));
      });
      s.once('connect', () => {
        this.connecting = undefined;
        this.socket = s;
        this.buf = Buffer.alloc(0);
        s.removeAllListeners('error');
        s.on('error', () => {});
        s.on('data', (d: Buffer) => this.onData(d));
        s.on('close', () => {
          if (this.socket === s) this.socket = undefined;
          // The VM (or QEMU's end) went away: nobody will report these sessions' exits.
          for (const l of this.live.values()) l.resolve(255);
          this.live.clear();
        });
        resolve(s);
      });
    });
    return this.connecting;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let off = 0;
    while (this.buf.length - off >= HEADER) {
      const type = String.fromCharCode(this.buf[off]);
      const ch = this.buf.readUInt32BE(off + 1);
      const len = this.buf.readUInt32BE(off + 5);
      if (this.buf.length - off < HEADER + len) break;
      const payload = this.buf.subarray(off + HEADER, off + HEADER + len);
      off += HEADER + len;
      const l = this.live.get(ch);
      if (!l) continue;
      if (type === 'o') l.handlers.stdout(Buffer.from(payload));
      else if (type === 'e') l.handlers.stderr(Buffer.from(payload));
      else if (type === 'x' && len >= 4) {
        this.live.delete(ch);
        l.resolve(payload.readInt32BE(0));
      }
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
  }
}
