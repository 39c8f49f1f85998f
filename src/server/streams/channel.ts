// The Kubernetes "channel" WebSocket subprotocols of exec and attach (k8s.io/apimachinery wsstream and
// client-go tools/remotecommand):
//
//   channel.k8s.io, v4.channel.k8s.io, v5.channel.k8s.io   binary messages: 1 channel byte, then the data
//   base64.channel.k8s.io, v4.base64.channel.k8s.io        text messages: the channel as an ASCII digit
//                                                           ('0' + n), then the data in base64
//
// Channels: 0 stdin (client → server), 1 stdout, 2 stderr, 3 error (server → client: the outcome, written
// once before the server closes), 4 resize (client → server: `{"Width":W,"Height":H}` JSON documents).
// From v4 on the error channel carries a metav1.Status: Success, or Failure with reason NonZeroExitCode and
// a cause {reason: "ExitCode", message: "<n>"} — that is how kubectl learns the exit code. Before v4 it
// carries a plain error message (nothing on success). v5 adds one message in either direction, [255, n]:
// "channel n is closed" — how a client says stdin reached EOF (a WebSocket cannot half-close).
//
// kubectl ≥ 1.30 offers only v5.channel.k8s.io and falls back to SPDY when the upgrade fails.

export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;

/** v5's "this channel is closed" marker, the first byte of a two-byte message [255, channel]. */
export const CLOSE_SIGNAL = 255;

export const V5 = 'v5.channel.k8s.io';
export const V4 = 'v4.channel.k8s.io';
export const V4_BASE64 = 'v4.base64.channel.k8s.io';
export const V1 = 'channel.k8s.io';
export const V1_BASE64 = 'base64.channel.k8s.io';

/** In the server's order of preference: newest first (the client's order does not matter, as in wsstream). */
export const CHANNEL_PROTOCOLS = [V5, V4, V4_BASE64, V1, V1_BASE64] as const;
export type ChannelProtocol = (typeof CHANNEL_PROTOCOLS)[number];

export interface ProtocolTraits {
  /** Text messages with base64 payloads instead of binary ones. */
  base64: boolean;
  /** The error channel carries a metav1.Status (v4+) rather than a bare message. */
  statusErrors: boolean;
  /** [255, n] closes channel n (v5). */
  closeSignal: boolean;
}

export function traits(protocol: ChannelProtocol): ProtocolTraits {
  return {
    base64: protocol === V4_BASE64 || protocol === V1_BASE64,
    statusErrors: protocol === V5 || protocol === V4 || protocol === V4_BASE64,
    closeSignal: protocol === V5,
  };
}

/**
 * The subprotocol to answer with, from those the client offered (Sec-WebSocket-Protocol), or undefined
 * when none is served. A client that offers nothing gets the binary v1 framing, as wsstream does.
 */
export function chooseChannelProtocol(offered: Iterable<string>): ChannelProtocol | undefined {
  const set = new Set(offered);
  if (set.size === 0) return V1;
  return CHANNEL_PROTOCOLS.find((p) => set.has(p));
}

/** One message to send on a channel: a Buffer for the binary protocols, a string for the base64 ones. */
export function encodeMessage(t: ProtocolTraits, channel: number, data: Uint8Array): Buffer | string {
  if (t.base64) return String.fromCharCode(0x30 + channel) + Buffer.from(data).toString('base64');
  const out = Buffer.allocUnsafe(data.length + 1);
  out[0] = channel;
  out.set(data, 1);
  return out;
}

export type Incoming =
  | { kind: 'data'; channel: number; data: Buffer }
  | { kind: 'close'; channel: number }
  | { kind: 'invalid'; reason: string };

/** Reads one message from the client. Empty messages are data of length 0 on no channel: ignore them. */
export function decodeMessage(t: ProtocolTraits, message: Buffer, isBinary: boolean): Incoming | undefined {
  if (message.length === 0) return undefined;
  if (t.base64) {
    if (isBinary) return { kind: 'invalid', reason: 'binary message on a base64 channel protocol' };
    const channel = message[0] - 0x30;
    const text = message.subarray(1).toString('latin1');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return { kind: 'invalid', reason: 'payload is not base64' };
    return { kind: 'data', channel, data: Buffer.from(text, 'base64') };
  }
  if (!isBinary) return { kind: 'invalid', reason: 'text message on a binary channel protocol' };
  if (message[0] === CLOSE_SIGNAL && t.closeSignal) {
    if (message.length !== 2) return { kind: 'invalid', reason: 'a close signal is exactly [255, channel]' };
    return { kind: 'close', channel: message[1] };
  }
  return { kind: 'data', channel: message[0], data: message.subarray(1) };
}

export interface TerminalSize {
  cols: number;
  rows: number;
}

/**
 * Reassembles the resize channel's JSON documents. client-go writes one `{"Width":W,"Height":H}\n` per
 * message; a document split over messages or several in one message are read the same way.
 */
export class ResizeDecoder {
  private pending = '';

  /** The sizes completed by this chunk; documents that are not a sane size are skipped. */
  push(data: Buffer): TerminalSize[] {
    this.pending += data.toString('utf8');
    const out: TerminalSize[] = [];
    for (;;) {
      const end = this.pending.indexOf('}');
      if (end < 0) break;
      const doc = this.pending.slice(0, end + 1);
      this.pending = this.pending.slice(end + 1);
      const size = parseSize(doc);
      if (size) out.push(size);
    }
    // A client sending garbage without braces must not grow this forever.
    if (this.pending.length > 1024) this.pending = '';
    return out;
  }
}

function parseSize(doc: string): TerminalSize | undefined {
  let v: unknown;
  try {
    v = JSON.parse(doc.trim());
  } catch {
    return undefined;
  }
  const { Width, Height } = (v ?? {}) as { Width?: unknown; Height?: unknown };
  const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0 && (n as number) <= 65535;
  return ok(Width) && ok(Height) ? { cols: Width, rows: Height } : undefined;
}

/** metav1.Status as remotecommand's error channel carries it (v4+). */
export interface StreamStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: Array<{ reason: string; message: string }> };
}

/** The outcome of a command: Success for 0, NonZeroExitCode with an ExitCode cause otherwise. */
export function exitStatus(exitCode: number, command: string[] = []): StreamStatus {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** A failure that is not the command's exit code (the runtime could not run it, the node went away). */
export function errorStatus(message: string): StreamStatus {
  return { metadata: {}, status: 'Failure', message, reason: 'InternalError' };
}

/**
 * What to write on the error channel for an outcome, or undefined for nothing. Before v4 only failures
 * are written, as their message (what the kubelet's v1 status writer does).
 */
export function errorChannelPayload(t: ProtocolTraits, status: StreamStatus): Buffer | undefined {
  if (t.statusErrors) return Buffer.from(JSON.stringify(status));
  if (status.status === 'Success') return undefined;
  return Buffer.from(status.message ?? 'error');
}
