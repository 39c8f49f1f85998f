// exec and attach for kubectl: the client's transport on one side, the node agent's upgraded
// strata-exec.v1 connection (src/client/exec-stream.ts frames) on the other. Two client transports:
//   bridgeChannels  a WebSocket speaking a channel protocol (channel.ts). The session ends the way
//                   client-go expects: the outcome as a Status on the error channel, then a normal
//                   WebSocket close (code 1000), which is what ends kubectl's stdout and stderr copies.
//   bridgeSpdy      SPDY (remotecommand v4, kubectl's fallback): the client opens one stream per
//                   `streamtype` (error, stdin, stdout, stderr, resize) and the server answers each; the
//                   Status goes on the error stream, then every stream gets its FIN and the connection a
//                   GOAWAY.
// Both keep each direction's back-pressure.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { SpdyServerSession, SpdyStream } from './spdy-session.ts';
import { encodeFrame, FRAME, FrameDecoder } from '../../client/exec-stream.ts';
import {
  CHANNEL,
  decodeMessage,
  encodeMessage,
  errorChannelPayload,
  errorStatus,
  exitStatus,
  ResizeDecoder,
  traits,
  type ChannelProtocol,
  type StreamStatus,
} from './channel.ts';

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface BridgeOptions extends StreamOptions {
  protocol: ChannelProtocol;
  /** The command, for the message of a non-zero exit (empty for attach). */
  command: string[];
}

/** Output waiting in the WebSocket past this pauses the agent connection. */
const WS_HIGH_WATER = 1024 * 1024;

/** Runs the session until either side goes away. */
export function bridgeChannels(ws: WebSocket, agent: Duplex, agentHead: Buffer, o: BridgeOptions): void {
  const t = traits(o.protocol);
  let finished = false;
  let queued = 0;

  const send = (channel: number, data: Uint8Array): void => {
    if (ws.readyState !== ws.OPEN) return;
    const msg = encodeMessage(t, channel, data);
    queued += data.length;
    if (queued > WS_HIGH_WATER) agent.pause();
    ws.send(msg, { binary: !t.base64 }, () => {
      queued -= data.length;
      if (queued <= WS_HIGH_WATER / 2 && agent.isPaused()) agent.resume();
    });
  };

  const finish = (status: StreamStatus): void => {
    if (finished) return;
    finished = true;
    const payload = errorChannelPayload(t, status);
    if (payload) send(CHANNEL.error, payload);
    // 1000 tells client-go the streams ended normally (any other close is an error on every stream).
    if (ws.readyState === ws.OPEN) ws.close(1000);
    agent.destroy();
  };

  // The kubelet's "connection established" signal: an empty message on the lowest writable channel.
  send(o.stdout ? CHANNEL.stdout : o.stderr ? CHANNEL.stderr : CHANNEL.error, Buffer.alloc(0));

  const resize = new ResizeDecoder();
  ws.on('message', (raw, isBinary) => {
    const message = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as ArrayBuffer);
    const m = decodeMessage(t, message, isBinary);
    if (!m || m.kind === 'invalid' || finished) return;
    if (m.kind === 'close') {
      if (m.channel === CHANNEL.stdin && o.stdin) agent.write(encodeFrame(FRAME.stdin));
      return;
    }
    if (m.channel === CHANNEL.stdin && o.stdin && m.data.length > 0) {
      // An empty stdin frame means EOF on the agent's side: only send data here.
      if (!agent.write(encodeFrame(FRAME.stdin, m.data))) {
        ws.pause();
        agent.once('drain', () => ws.resume());
      }
    } else if (m.channel === CHANNEL.resize && o.tty) {
      for (const size of resize.push(m.data)) agent.write(encodeFrame(FRAME.resize, JSON.stringify(size)));
    }
  });
  ws.on('close', () => {
    finished = true;
    agent.destroy();
  });
  ws.on('error', () => agent.destroy());

  const decoder = new FrameDecoder();
  const onAgentData = (chunk: Buffer): void => {
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      finish(errorStatus(`the node agent sent a malformed stream: ${(err as Error).message}`));
      return;
    }
    for (const f of frames) {
      if (f.type === FRAME.stdout && o.stdout) send(CHANNEL.stdout, f.payload);
      else if (f.type === FRAME.stderr && o.stderr) send(CHANNEL.stderr, f.payload);
      else if (f.type === FRAME.exit) finish(exitStatus(exitCodeOf(f.payload), o.command));
      else if (f.type === FRAME.error) finish(errorStatus(f.payload.toString('utf8')));
    }
  };
  if (agentHead.length) onAgentData(agentHead);
  agent.on('data', onAgentData);
  agent.on('error', () => undefined);
  agent.on('close', () =>
    finish(errorStatus('the connection to the node agent closed before the command ended')),
  );
}

function exitCodeOf(payload: Buffer): number {
  try {
    const code = Number(JSON.parse(payload.toString('utf8')).exitCode);
    return Number.isInteger(code) && code >= 0 && code <= 255 ? code : 1;
  } catch {
    return 1;
  }
}

/** SPDY remotecommand protocols, newest first; v5 over SPDY behaves as v4 (the apiserver answers v4). */
export const SPDY_EXEC_PROTOCOLS = ['v4.channel.k8s.io'] as const;

/** How long the client has to open the streams its options call for (the kubelet's default). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;

/** Runs an exec/attach session on a SPDY connection until either side goes away. */
export function bridgeSpdy(
  session: SpdyServerSession,
  agent: Duplex,
  agentHead: Buffer,
  o: StreamOptions & { command: string[]; timeoutMs?: number },
): void {
  // Nothing may be lost while the client is still opening its streams.
  agent.pause();
  const expected = new Set<string>(['error']);
  if (o.stdin) expected.add('stdin');
  if (o.stdout) expected.add('stdout');
  if (o.stderr && !o.tty) expected.add('stderr');
  if (o.tty) expected.add('resize');
  const streams = new Map<string, SpdyStream>();
  let finished = false;

  const finish = (status: StreamStatus): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    const error = streams.get('error');
    if (error && !error.writableEnded) error.end(Buffer.from(JSON.stringify(status)));
    for (const [type, s] of streams) if (type !== 'error' && !s.writableEnded) s.end();
    session.goAway();
    agent.destroy();
  };
  const timer = setTimeout(
    () => finish(errorStatus('timed out waiting for client to create streams')),
    o.timeoutMs ?? STREAM_CREATION_TIMEOUT_MS,
  );
  session.on('close', () => {
    finished = true;
    clearTimeout(timer);
    agent.destroy();
  });

  session.on('stream', (s) => {
    const type = s.header('streamtype') ?? '';
    if (finished || !expected.has(type) || streams.has(type)) {
      s.refuse();
      return;
    }
    s.accept();
    s.on('error', () => undefined);
    streams.set(type, s);
    if (streams.size === expected.size) start();
  });

  const start = (): void => {
    clearTimeout(timer);
    const stdin = streams.get('stdin');
    stdin?.on('data', (d: Buffer) => {
      if (d.length && !agent.write(encodeFrame(FRAME.stdin, d))) {
        stdin.pause();
        agent.once('drain', () => stdin.resume());
      }
    });
    // The client's FIN on stdin is EOF for the command.
    stdin?.on('end', () => {
      if (!finished) agent.write(encodeFrame(FRAME.stdin));
    });
    const resize = new ResizeDecoder();
    streams.get('resize')?.on('data', (d: Buffer) => {
      for (const size of resize.push(d)) agent.write(encodeFrame(FRAME.resize, JSON.stringify(size)));
    });
    // The client writes nothing on the error stream; let its FIN through.
    streams.get('error')?.resume();

    const forward = (s: SpdyStream | undefined, data: Buffer): void => {
      if (!s || s.writableEnded) return;
      if (!s.write(data)) {
        agent.pause();
        s.once('drain', () => agent.resume());
      }
    };
    const decoder = new FrameDecoder();
    const onAgentData = (chunk: Buffer): void => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        finish(errorStatus(`the node agent sent a malformed stream: ${(err as Error).message}`));
        return;
      }
      for (const f of frames) {
        if (f.type === FRAME.stdout) forward(streams.get('stdout'), f.payload);
        else if (f.type === FRAME.stderr) forward(streams.get('stderr'), f.payload);
        else if (f.type === FRAME.exit) finish(exitStatus(exitCodeOf(f.payload), o.command));
        else if (f.type === FRAME.error) finish(errorStatus(f.payload.toString('utf8')));
      }
    };
    if (agentHead.length) onAgentData(agentHead);
    agent.on('data', onAgentData);
    agent.on('close', () =>
      finish(errorStatus('the connection to the node agent closed before the command ended')),
    );
    agent.resume();
  };
  agent.on('error', () => undefined);
}
