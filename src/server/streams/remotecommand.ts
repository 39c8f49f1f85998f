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
//
// The agent side (AgentSide) is usually connected before the client's upgrade is accepted, so that a
// refusal is an HTTP error. A terminal session may instead connect once the client sent its first size
// (kubectl sends it right away): the command then starts in a terminal of the right size rather than
// 80x24 resized a moment later, which a program that reads the size once would miss.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { SpdyServerSession, SpdyStream } from './spdy-session.ts';
import { encodeFrame, FRAME, FrameDecoder } from '../../api/exec-frames.ts';
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
  type TerminalSize,
} from './channel.ts';

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** Opens the agent's side; `size` is the client's first terminal size when the session waited for it. */
export type AgentConnector = (size?: TerminalSize) => Promise<{ socket: Duplex; head: Buffer }>;

export interface SessionOptions extends StreamOptions {
  /** The command, for the message of a non-zero exit (empty for attach). */
  command: string[];
  /** Connect to the agent only once the client's first terminal size is known (or after a moment). */
  waitForSize?: boolean;
}

export interface BridgeOptions extends SessionOptions {
  protocol: ChannelProtocol;
}

/** How long a terminal session waits for the client's first size before starting without it. */
export const FIRST_SIZE_WAIT_MS = 1000;

/** SPDY remotecommand protocols, newest first; v5 over SPDY behaves as v4 (the apiserver answers v4). */
export const SPDY_EXEC_PROTOCOLS = ['v4.channel.k8s.io'] as const;

/** How long the client has to open the streams its options call for (the kubelet's default). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;

/** Output waiting in the WebSocket past this pauses the agent connection. */
const WS_HIGH_WATER = 1024 * 1024;
/** Input queued for an agent that is not connected yet, past this the client is paused. */
const QUEUE_HIGH_WATER = 1024 * 1024;

interface ClientSide {
  /** False: the client is backed up, call AgentSide.resume() once it drained. */
  stdout(data: Buffer): boolean;
  stderr(data: Buffer): boolean;
  finish(status: StreamStatus): void;
}

/** The agent's connection: started now or at the first terminal size; frames queue until it is there. */
class AgentSide {
  private readonly connector: AgentConnector;
  private readonly client: ClientSide;
  private readonly command: string[];
  private socket: Duplex | undefined;
  private queue: Buffer[] = [];
  private queued = 0;
  private started = false;
  private ended = false;
  private readonly drainWaiters: Array<() => void> = [];
  private sizeTimer: NodeJS.Timeout | undefined;

  constructor(connector: AgentConnector, client: ClientSide, o: SessionOptions) {
    this.connector = connector;
    this.client = client;
    this.command = o.command;
    if (o.waitForSize && o.tty) this.sizeTimer = setTimeout(() => this.start(), FIRST_SIZE_WAIT_MS);
    else this.start();
  }

  /** False: hold the client's input until whenDrained(). */
  stdin(data: Buffer): boolean {
    return data.length === 0 ? true : this.send(encodeFrame(FRAME.stdin, data));
  }

  stdinEnd(): void {
    this.send(encodeFrame(FRAME.stdin));
  }

  resize(size: TerminalSize): void {
    if (!this.started) this.start(size);
    else this.send(encodeFrame(FRAME.resize, JSON.stringify(size)));
  }

  whenDrained(fn: () => void): void {
    if (this.socket) this.socket.once('drain', fn);
    else this.drainWaiters.push(fn);
  }

  pause(): void {
    this.socket?.pause();
  }

  resume(): void {
    this.socket?.resume();
  }

  close(): void {
    this.ended = true;
    clearTimeout(this.sizeTimer);
    this.socket?.destroy();
  }

  private send(frame: Buffer): boolean {
    if (this.ended) return true;
    if (this.socket) return this.socket.write(frame);
    this.queue.push(frame);
    this.queued += frame.length;
    return this.queued < QUEUE_HIGH_WATER;
  }

  private start(size?: TerminalSize): void {
    if (this.started || this.ended) return;
    this.started = true;
    clearTimeout(this.sizeTimer);
    this.connector(size).then(
      ({ socket, head }) => {
        if (this.ended) {
          socket.destroy();
          return;
        }
        this.socket = socket;
        for (const frame of this.queue) socket.write(frame);
        this.queue = [];
        for (const fn of this.drainWaiters.splice(0)) fn();
        this.read(socket, head);
      },
      (err: Error) => this.client.finish(errorStatus(err.message)),
    );
  }

  private read(socket: Duplex, head: Buffer): void {
    const decoder = new FrameDecoder();
    const onData = (chunk: Buffer): void => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        this.client.finish(errorStatus(`the node agent sent a malformed stream: ${(err as Error).message}`));
        return;
      }
      for (const f of frames) {
        if (f.type === FRAME.stdout) {
          if (!this.client.stdout(f.payload)) socket.pause();
        } else if (f.type === FRAME.stderr) {
          if (!this.client.stderr(f.payload)) socket.pause();
        } else if (f.type === FRAME.exit) {
          this.client.finish(exitStatus(exitCodeOf(f.payload), this.command));
        } else if (f.type === FRAME.error) {
          this.client.finish(errorStatus(f.payload.toString('utf8')));
        }
      }
    };
    if (head.length) onData(head);
    socket.on('data', onData);
    socket.on('error', () => undefined);
    socket.on('close', () =>
      this.client.finish(errorStatus('the connection to the node agent closed before the command ended')),
    );
  }
}

/** Runs a session on a WebSocket until either side goes away. */
export function bridgeChannels(ws: WebSocket, connect: AgentConnector, o: BridgeOptions): void {
  const t = traits(o.protocol);
  let finished = false;
  let queued = 0;
  const backedUp = (): boolean => queued > WS_HIGH_WATER;

  const send = (channel: number, data: Uint8Array): boolean => {
    if (ws.readyState !== ws.OPEN) return true;
    queued += data.length;
    ws.send(encodeMessage(t, channel, data), { binary: !t.base64 }, () => {
      queued -= data.length;
      if (queued <= WS_HIGH_WATER / 2) agent.resume();
    });
    return !backedUp();
  };

  const agent = new AgentSide(
    connect,
    {
      stdout: (d) => (o.stdout ? send(CHANNEL.stdout, d) : true),
      stderr: (d) => (o.stderr ? send(CHANNEL.stderr, d) : true),
      finish: (status) => {
        if (finished) return;
        finished = true;
        const payload = errorChannelPayload(t, status);
        if (payload) send(CHANNEL.error, payload);
        // 1000 tells client-go the streams ended normally (any other close is an error on every stream).
        if (ws.readyState === ws.OPEN) ws.close(1000);
        agent.close();
      },
    },
    o,
  );

  // The kubelet's "connection established" signal: an empty message on the lowest writable channel.
  send(o.stdout ? CHANNEL.stdout : o.stderr ? CHANNEL.stderr : CHANNEL.error, Buffer.alloc(0));

  const resize = new ResizeDecoder();
  ws.on('message', (raw, isBinary) => {
    const message = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as ArrayBuffer);
    const m = decodeMessage(t, message, isBinary);
    if (!m || m.kind === 'invalid' || finished) return;
    if (m.kind === 'close') {
      if (m.channel === CHANNEL.stdin && o.stdin) agent.stdinEnd();
      return;
    }
    if (m.channel === CHANNEL.stdin && o.stdin) {
      if (!agent.stdin(m.data)) {
        ws.pause();
        agent.whenDrained(() => ws.resume());
      }
    } else if (m.channel === CHANNEL.resize && o.tty) {
      for (const size of resize.push(m.data)) agent.resize(size);
    }
  });
  ws.on('close', () => {
    finished = true;
    agent.close();
  });
  ws.on('error', () => agent.close());
}

/** Runs a session on a SPDY connection until either side goes away. */
export function bridgeSpdy(
  session: SpdyServerSession,
  connect: AgentConnector,
  o: SessionOptions & { timeoutMs?: number },
): void {
  const expected = new Set<string>(['error']);
  if (o.stdin) expected.add('stdin');
  if (o.stdout) expected.add('stdout');
  if (o.stderr && !o.tty) expected.add('stderr');
  if (o.tty) expected.add('resize');
  const streams = new Map<string, SpdyStream>();
  let finished = false;
  let agent: AgentSide | undefined;

  const finish = (status: StreamStatus): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    const error = streams.get('error');
    if (error && !error.writableEnded) error.end(Buffer.from(JSON.stringify(status)));
    for (const [type, s] of streams) if (type !== 'error' && !s.writableEnded) s.end();
    session.goAway();
    agent?.close();
  };
  const timer = setTimeout(
    () => finish(errorStatus('timed out waiting for client to create streams')),
    o.timeoutMs ?? STREAM_CREATION_TIMEOUT_MS,
  );
  session.on('close', () => {
    finished = true;
    clearTimeout(timer);
    agent?.close();
  });

  const forward = (s: SpdyStream | undefined, data: Buffer): boolean => {
    if (!s || s.writableEnded) return true;
    if (s.write(data)) return true;
    s.once('drain', () => agent?.resume());
    return false;
  };

  // The agent starts once every stream is there: nothing it says can be lost before.
  const start = (): void => {
    clearTimeout(timer);
    const a = new AgentSide(
      connect,
      {
        stdout: (d) => forward(streams.get('stdout'), d),
        stderr: (d) => forward(streams.get('stderr'), d),
        finish,
      },
      o,
    );
    agent = a;
    const stdin = streams.get('stdin');
    stdin?.on('data', (d: Buffer) => {
      if (!a.stdin(d)) {
        stdin.pause();
        a.whenDrained(() => stdin.resume());
      }
    });
    // The client's FIN on stdin is EOF for the command.
    stdin?.on('end', () => {
      if (!finished) a.stdinEnd();
    });
    const resize = new ResizeDecoder();
    streams.get('resize')?.on('data', (d: Buffer) => {
      for (const size of resize.push(d)) a.resize(size);
    });
    // The client writes nothing on the error stream; let its FIN through.
    streams.get('error')?.resume();
  };

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
}

function exitCodeOf(payload: Buffer): number {
  try {
    const code = Number(JSON.parse(payload.toString('utf8')).exitCode);
    return Number.isInteger(code) && code >= 0 && code <= 255 ? code : 1;
  } catch {
    return 1;
  }
}
