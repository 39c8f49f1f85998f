// Port-forward over a WebSocket channel protocol (v4.channel.k8s.io, binary or base64), the older
// WebSocket form that client libraries such as @kubernetes/client-node speak (the kubelet's
// cri/streaming/portforward/websocket.go). The ports come in the `ports` query; the i-th port gets
// channel 2i for data and 2i+1 for errors, and the server first writes the port number (2 bytes, little
// endian) on both. One connection to the pod per port for the whole session; the session ends when every
// port's connection has.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { decodeMessage, encodeMessage, traits, V4, V4_BASE64, V1, type ChannelProtocol } from './channel.ts';

/** The channel protocols port-forward serves over a plain WebSocket ('' = none offered: binary). */
export const PORT_FORWARD_CHANNEL_PROTOCOLS = [V4, V4_BASE64] as const;

export interface ChannelPortForwardOptions {
  protocol: ChannelProtocol | '';
  ports: number[];
  /** Opens a byte stream to the pod's port; rejects with a message the user will read. */
  dial: (port: number) => Promise<Duplex>;
  /** Names the pod in error messages. */
  pod: string;
}

export function servePortForwardChannels(ws: WebSocket, o: ChannelPortForwardOptions): void {
  const t = traits(o.protocol || V1);
  const conns: Array<Duplex | undefined> = [];
  // What the client sends before its port's connection is up waits here.
  const early: Buffer[][] = o.ports.map(() => []);
  let open = o.ports.length;
  const send = (channel: number, data: Uint8Array): void => {
    if (ws.readyState === ws.OPEN) ws.send(encodeMessage(t, channel, data), { binary: !t.base64 });
  };
  const done = (): void => {
    if (--open === 0 && ws.readyState === ws.OPEN) ws.close(1000);
  };
  o.ports.forEach((port, i) => {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16LE(port);
    send(2 * i, prefix);
    send(2 * i + 1, prefix);
    o.dial(port).then(
      (conn) => {
        if (ws.readyState !== ws.OPEN) {
          conn.destroy();
          return;
        }
        conns[i] = conn;
        for (const d of early[i].splice(0)) conn.write(d);
        conn.on('data', (d: Buffer) => send(2 * i, d));
        conn.on('error', (err) => send(2 * i + 1, Buffer.from(failure(port, o.pod, err.message))));
        conn.on('close', done);
      },
      (err: Error) => {
        send(2 * i + 1, Buffer.from(failure(port, o.pod, err.message)));
        done();
      },
    );
  });
  ws.on('message', (raw, isBinary) => {
    const message = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as ArrayBuffer);
    const m = decodeMessage(t, message, isBinary);
    if (!m || m.kind !== 'data' || m.channel % 2 !== 0 || m.channel / 2 >= o.ports.length) return;
    const conn = conns[m.channel / 2];
    if (conn) conn.write(m.data);
    else early[m.channel / 2].push(m.data);
  });
  ws.on('close', () => {
    for (const c of conns) c?.destroy();
  });
}

function failure(port: number, pod: string, message: string): string {
  return `error forwarding port ${port} to pod ${pod}: ${message}`;
}
