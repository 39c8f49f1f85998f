// The client side of `strata exec -i/-t`'s upgrade (the frames are in src/api/exec-frames.ts, re-exported
// here): opening the upgraded connection, and the 101 / error answers a server writes on one.
import { STATUS_CODES, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';

export {
  EXEC_PROTOCOL,
  PORT_FORWARD_UPGRADE,
  FRAME,
  MAX_FRAME,
  encodeFrame,
  FrameDecoder,
  type Frame,
} from '../api/exec-frames.ts';
import { EXEC_PROTOCOL } from '../api/exec-frames.ts';

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
