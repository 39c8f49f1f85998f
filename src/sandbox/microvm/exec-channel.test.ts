// The exec channel's framing against a guest end on a real unix socket: sessions multiplexed on one
// connection, frames split across reads, exits after output, and a closed connection ending sessions.
// (The real guest helper is exercised in pod.test.ts.)
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../wasm/test-support.ts';
import { ExecChannel, openPayload } from './exec-channel.ts';

function frame(type: string, ch: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.write(type, 0, 'latin1');
  h.writeUInt32BE(ch, 1);
  h.writeUInt32BE(payload.length, 5);
  return Buffer.concat([h, payload]);
}

describe('ExecChannel', () => {
  const tmp = tempDir('strata-mvm-exec-');
  let server: Server | undefined;
  afterAll(() => {
    server?.close();
    tmp.remove();
  });

  it('encodes the open frame and refuses what the guest could not run', () => {
    const p = openPayload(['sh', '-c', 'x'], { tty: true, stdin: true, cols: 100, rows: 30 });
    expect(p[0]).toBe(3);
    expect(p.readUInt16BE(1)).toBe(100);
    expect(p.readUInt16BE(3)).toBe(30);
    expect(p.subarray(5).toString()).toBe('sh\0-c\0x\0');
    expect(() => openPayload([], { tty: false, stdin: false })).toThrow(/empty/);
    expect(() => openPayload(['a\0b'], { tty: false, stdin: false })).toThrow(/NUL/);
  });

  it('multiplexes sessions over one connection and ends them when it closes', async () => {
    const path = join(tmp.path, 'exec.sock');
    const opened: Array<{ ch: number; argv: string[] }> = [];
    let guest!: Socket;
    server = createServer((s) => {
      guest = s;
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 9 && buf.length >= 9 + buf.readUInt32BE(5)) {
          const len = buf.readUInt32BE(5);
          const type = String.fromCharCode(buf[0]);
          const ch = buf.readUInt32BE(1);
          const payload = buf.subarray(9, 9 + len);
          buf = buf.subarray(9 + len);
          if (type === 'O')
            opened.push({ ch, argv: payload.subarray(5).toString().split('\0').slice(0, -1) });
          if (type === 'I') s.write(frame('o', ch, Buffer.from(payload.toString().toUpperCase())));
          if (type === 'C') {
            // Output, then the exit, in one write split across two reads by the reader.
            const all = Buffer.concat([
              frame('e', ch, Buffer.from('bye')),
              frame('x', ch, Buffer.from([0, 0, 0, 4])),
            ]);
            s.write(all.subarray(0, 5));
            setTimeout(() => s.write(all.subarray(5)), 20);
          }
        }
      });
    });
    await new Promise<void>((r) => server!.listen(path, r));
    const channel = new ExecChannel(path);
    const out: string[] = [];
    const err: string[] = [];
    const a = await channel.open(
      ['cat'],
      { tty: false, stdin: true },
      {
        stdout: (c) => out.push(c.toString()),
        stderr: (c) => err.push(c.toString()),
      },
    );
    const b = await channel.open(
      ['sleep', '9'],
      { tty: false, stdin: false },
      { stdout: () => {}, stderr: () => {} },
    );
    a.write(Buffer.from('hello'));
    a.end();
    expect(await a.exited).toBe(4);
    expect(out.join('')).toBe('HELLO');
    expect(err.join('')).toBe('bye');
    expect(opened.map((o) => o.argv)).toEqual([['cat'], ['sleep', '9']]);
    expect(new Set(opened.map((o) => o.ch)).size).toBe(2);
    // The VM goes away: a session still running ends with 255.
    guest.destroy();
    expect(await b.exited).toBe(255);
    channel.close();
  });
});
