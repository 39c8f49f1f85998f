// `strata exec -i/-t POD -- CMD`: an upgraded connection to the pod's exec subresource, framed as
// src/client/exec-stream.ts describes. With -t and a terminal on stdin, the local terminal is put in raw
// mode (the remote terminal does the echo and line editing) and restored at the end.
import type { Client } from '../client/client.ts';
import { encodeFrame, FRAME, FrameDecoder } from '../client/exec-stream.ts';

export interface InteractiveExecOptions {
  container?: string;
  command: string[];
  stdin: boolean;
  tty: boolean;
}

/** Runs the command; resolves with its exit code. */
export async function execInteractive(
  client: Client,
  path: string,
  o: InteractiveExecOptions,
): Promise<number> {
  const q = new URLSearchParams();
  if (o.container) q.set('container', o.container);
  for (const c of o.command) q.append('command', c);
  q.set('stdin', String(o.stdin));
  q.set('tty', String(o.tty));
  const out = process.stdout;
  if (o.tty && out.isTTY) {
    q.set('cols', String(out.columns));
    q.set('rows', String(out.rows));
  }
  const { socket, head } = await client.upgrade(path, q);

  const input = process.stdin;
  const raw = o.tty && o.stdin && input.isTTY;
  const onResize = (): void => {
    socket.write(encodeFrame(FRAME.resize, JSON.stringify({ cols: out.columns, rows: out.rows })));
  };
  const onInput = (d: Buffer): void => {
    if (d.length) socket.write(encodeFrame(FRAME.stdin, d));
  };
  const onInputEnd = (): void => {
    if (!socket.destroyed) socket.write(encodeFrame(FRAME.stdin));
  };
  if (raw) input.setRawMode(true);
  if (o.tty && out.isTTY) out.on('resize', onResize);
  if (o.stdin) {
    input.on('data', onInput);
    input.on('end', onInputEnd);
    input.resume();
  }
  const restore = (): void => {
    if (raw) input.setRawMode(false);
    out.off('resize', onResize);
    input.off('data', onInput);
    input.off('end', onInputEnd);
    input.pause();
  };

  try {
    return await new Promise<number>((resolve, reject) => {
      let done = false;
      const decoder = new FrameDecoder();
      const onData = (chunk: Buffer): void => {
        let frames;
        try {
          frames = decoder.push(chunk);
        } catch (err) {
          socket.destroy();
          reject(err);
          return;
        }
        for (const f of frames) {
          if (f.type === FRAME.stdout) out.write(f.payload);
          else if (f.type === FRAME.stderr) process.stderr.write(f.payload);
          else if (f.type === FRAME.exit) {
            done = true;
            let code = 1;
            try {
              code = Number(JSON.parse(f.payload.toString()).exitCode);
            } catch {
              // keep 1
            }
            resolve(Number.isInteger(code) ? code : 1);
          } else if (f.type === FRAME.error) {
            done = true;
            reject(new Error(f.payload.toString()));
          }
        }
      };
      if (head.length) onData(head);
      socket.on('data', onData);
      socket.on('error', (err) => {
        if (!done) reject(new Error(`exec stream: ${err.message}`));
      });
      socket.on('close', () => {
        if (!done) reject(new Error('exec stream: the connection closed before the command exited'));
      });
    });
  } finally {
    restore();
    socket.destroy();
  }
}
