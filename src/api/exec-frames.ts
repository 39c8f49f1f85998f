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
//
// The CLI, the API server and the agent all speak it, so it lives with the API contract; the HTTP
// upgrade helpers are in src/client/exec-stream.ts.

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
