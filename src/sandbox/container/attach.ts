// Attaching to a running container's own stdio through conmon (`kubectl attach -i`, `kubectl run -it`).
//
// conmon (started with --stdin, see conmon.ts) listens on `<bundle>/attach`, a SOCK_SEQPACKET unix
// socket, as CRI-O and podman use it: every packet a client sends is written to the container's stdin
// (or its terminal); every chunk of output comes back as one packet whose first byte names the stream
// (2 stdout, 3 stderr; with a terminal everything is stdout). A client that shuts its sending side
// down, or goes away, ends its stdin: with stdinOnce (no --leave-stdin-open) conmon then closes the
// container's stdin, and the program reads EOF. Terminal resizes are lines `1 <rows> <cols>` written to
// the control fifo `<bundle>/ctl`.
//
// Node cannot open a SOCK_SEQPACKET socket, so a small relay in Perl does (perl-base is Essential in
// Debian, always installed): it runs in the bundle directory (the socket's path may be longer than a
// sockaddr_un holds), connects, says so with an empty type-0 frame, then copies its stdin to the socket
// as packets and each packet from the socket to its stdout as a frame [type u8][length u32be][bytes].
// conmon writes to attached clients with blocking writes, so the relay always reads: a slow client slows
// the container's output down (as it would under CRI-O) but nothing is lost or reordered.

import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { SandboxError, type AttachedStdio } from '../driver.ts';

const RELAY = String.raw`
use strict; use warnings; use Socket; use IO::Select;
binmode STDIN; binmode STDOUT;
socket(my $s, PF_UNIX, SOCK_SEQPACKET, 0) or die "socket: $!\n";
connect($s, pack_sockaddr_un("attach")) or die "connect to conmon's attach socket: $!\n";
sub out { my $b = shift; my $o = 0; while ($o < length $b) { my $w = syswrite(STDOUT, $b, length($b) - $o, $o); defined $w or exit 0; $o += $w } }
out(pack("CN", 0, 0));
my $sel = IO::Select->new($s, \*STDIN);
for (;;) {
  for my $fh ($sel->can_read) {
    if (fileno($fh) == fileno($s)) {
      my $n = sysread($s, my $buf, 65536);
      exit 0 unless $n;
      out(pack("CN", ord(substr($buf, 0, 1)), $n - 1) . substr($buf, 1));
    } else {
      my $n = sysread(STDIN, my $buf, 8192);
      if (!$n) { shutdown($s, 1); $sel->remove(\*STDIN); next }
      defined send($s, $buf, 0) or exit 0;
    }
  }
}
`;

const STDOUT_PIPE = 2;
const STDERR_PIPE = 3;
const HEADER = 5;

export interface ConmonAttachOptions {
  /** The container's bundle directory (conmon's -b): holds `attach` and `ctl`. */
  bundle: string;
  /** The container runs on a terminal: one output stream, resizes apply. */
  tty: boolean;
  /** Pass the client's input to the container's stdin (else the relay's input is closed at once). */
  stdin: boolean;
  cols?: number;
  rows?: number;
}

/** Connects to conmon's attach socket; resolves once connected. */
export async function attachConmon(o: ConmonAttachOptions): Promise<AttachedStdio> {
  const relay = spawn('perl', ['-e', RELAY], { cwd: o.bundle, stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout = new PassThrough();
  const stderr = o.tty ? null : new PassThrough();
  let stderrText = '';
  relay.stderr!.on('data', (d: Buffer) => (stderrText += d.toString()));
  relay.stdin!.on('error', () => {}); // EPIPE once the relay is gone
  const closed = new Promise<void>((resolve) =>
    relay.on('close', () => {
      stdout.end();
      stderr?.end();
      resolve();
    }),
  );

  const connected = new Promise<void>((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    let ready = false;
    relay.stdout!.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= HEADER) {
        const len = buf.readUInt32BE(1);
        if (buf.length < HEADER + len) break;
        const type = buf[0];
        const payload = buf.subarray(HEADER, HEADER + len);
        buf = buf.subarray(HEADER + len);
        if (type === 0) {
          ready = true;
          resolve();
        } else if (type === STDERR_PIPE && stderr) {
          if (!stderr.write(payload)) pauseUntilDrained(relay.stdout!, stderr);
        } else if (type === STDOUT_PIPE || type === STDERR_PIPE) {
          if (!stdout.write(payload)) pauseUntilDrained(relay.stdout!, stdout);
        }
      }
    });
    relay.on('error', (err) => reject(new SandboxError('AttachError', `attach relay: ${err.message}`)));
    relay.on('close', () => {
      if (!ready) {
        reject(
          new SandboxError('AttachError', stderrText.trim() || 'the attach relay exited before connecting'),
        );
      }
    });
  });
  await connected;
  if (!o.stdin) relay.stdin!.end();

  const resize = async (cols: number, rows: number): Promise<void> => {
    if (o.tty) resizeTerminal(o.bundle, cols, rows);
  };
  if (o.tty && o.cols && o.rows) await resize(o.cols, o.rows);
  return {
    stdin: o.stdin ? relay.stdin! : null,
    stdout,
    stderr,
    resize,
    close: () => {
      if (relay.exitCode === null && relay.signalCode === null) relay.kill('SIGTERM');
    },
    closed,
  };
}

function pauseUntilDrained(source: NodeJS.ReadableStream, target: PassThrough): void {
  source.pause();
  target.once('drain', () => source.resume());
}

/**
 * Asks conmon to resize the container's terminal. Non-blocking: with conmon gone (no reader on the
 * fifo) the open fails instead of waiting forever; a lost resize is harmless.
 */
export function resizeTerminal(bundle: string, cols: number, rows: number): void {
  // conmon takes sizes up to 1000 and ignores the line otherwise.
  const clamp = (n: number): number => Math.max(1, Math.min(1000, Math.floor(n)));
  let fd: number | undefined;
  try {
    fd = openSync(join(bundle, 'ctl'), constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(fd, `1 ${clamp(rows)} ${clamp(cols)}\n`);
  } catch {
    // conmon has exited: nothing to resize.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
