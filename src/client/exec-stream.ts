// The wire format of `strata exec -i/-t`: an HTTP/1.1 Upgrade to `strata-exec.v1`, CLI → API server →
// node agent, then frames in both directions over the upgraded connection:
//   1 byte type, 4 bytes big-endian payload length, payload.
// Types: stdin (client → agent; an empty payload is EOF), stdout and stderr (agent → client), resize
// ({cols, rows} JSON, client → agent), exit ({exitCode} JSON, agent → client, last frame) and error (a
// message, agent or server → client, last frame). The API server passes the bytes through unchanged to
// `strata exec`, and translates them for kubectl (src/server/streams/remotecommand.ts). `pods/attach` uses
// the same frames between the server and the agent.
//
// Port-forward between the server and the agent is an Upgrade to strata-portforward.v1 per forwarded
// connection, after which the connection carries the raw bytes to and from the pod's port.
import { STATUS_CODES, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';

export const EXEC_PROTOCOL = 'strata-exec.v1';
export const PORT_FORWARD_UPGRADE = 'strata-portforward.v1';

export const FRAME = { stdin: 0, stdout: 1, stderr: 2, resize: 3, exit: 4, error: 5 } as const;

/** Frames larger than this are a protocol error (the sender splits its data in smaller chunks). */
export const MAX_FRAME = 16 * 1024 * 1024;

export interface Frame {
  type: number;
  payload: Buffer;
}

export function encodeFrame(type: number, payload: Uint8Array | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(5);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

/** Reassembles frames from the chunks a socket delivers. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  /** Returns the frames completed by this chunk; throws on a frame over MAX_FRAME. */
  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (len > MAX_FRAME) throw new Error(`exec stream: frame of ${len} bytes is too large`);
      if (this.buf.length < 5 + len) break;
      out.push({ type: this.buf[0], payload: this.buf.subarray(5, 5 + len) });
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }
}

/** The upgrade was answered with an ordinary HTTP response (an error Status, usually). */
export class UpgradeRefusedError extends Error {
  readonly statusCode: number;
  readonly body: string;
  constructor(statusCode: number, body: string) {
    let message = body || `HTTP ${statusCode}`;
    try {
      message = JSON.parse(body).message ?? message;
    } catch {
      // not a Status object: keep the text
    }
    super(message);
    this.name = 'UpgradeRefusedError';
    this.statusCode = statusCode;
    this.body = body;
  }
}

/** Opens an upgraded (101) connection; head is whatever the peer sent after its 101 answer. */
export function openUpgrade(
  url: URL,
  headers: Record<string, string>,
  method = 'POST',
  /** TLS options (ca, cert, key, rejectUnauthorized) for an https: URL. */
  tls: object = {},
): Promise<{ socket: Duplex; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, {
      ...tls,
      method,
      headers: { ...headers, connection: 'Upgrade', upgrade: EXEC_PROTOCOL },
    });
    req.on('upgrade', (res: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (res.headers.upgrade?.toLowerCase() !== EXEC_PROTOCOL) {
        socket.destroy();
        reject(new Error(`exec stream: the peer switched to ${res.headers.upgrade ?? 'nothing'}`));
        return;
      }
      resolve({ socket, head });
    });
    req.on('response', (res: IncomingMessage) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () =>
        reject(new UpgradeRefusedError(res.statusCode ?? 500, Buffer.concat(parts).toString())),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes the 101 answer on a socket taken over from an HTTP server's 'upgrade' event. */
export function acceptUpgrade(socket: Duplex, protocol: string = EXEC_PROTOCOL): void {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n\r\n`);
}

/** Answers an upgrade request with an ordinary JSON response and closes the socket. */
export function refuseUpgrade(socket: Duplex, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}
