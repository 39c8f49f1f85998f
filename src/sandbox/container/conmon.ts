// Starts a container under conmon, the supervisor podman and CRI-O use. conmon runs the runtime's
// `create`, holds the container's stdio (writing it to a k8s-file log), waits for it, and writes its exit
// status to `<exit dir>/<id>`. It daemonizes (double fork), so the container and its supervisor outlive
// the agent: after a restart the agent finds the exit file and the log where conmon left them.
//
// With `stdin`, conmon keeps a pipe to the container's stdin open and feeds it from clients of its attach
// socket (`<bundle>/attach`, see attach.ts); with `terminal`, the runtime allocates a pseudo-terminal
// and hands its master to conmon, which logs what the terminal prints as stdout and resizes it on
// requests written to `<bundle>/ctl`. Without `leaveStdinOpen`, the first attached client to go away
// closes the container's stdin (Kubernetes' `stdinOnce`).
//
// The handshake: conmon reports the container's pid (or the runtime's error) as one JSON message
// `{"data": <pid or -1>, "message": "..."}` on the pipe named by _OCI_SYNCPIPE. It never closes that
// pipe, so we read exactly one message and then drop our end (conmon survives writing to it later).

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { processAlive, runtimeMessage } from './runtime.ts';

export interface ConmonOptions {
  conmon: string;
  /** What conmon runs as the runtime (runc, crun, or the crun hybrid wrapper). */
  runtimeCommand: string;
  /** Passed before the verb, e.g. ['--root', '/run/strata/runc']. */
  runtimeArgs: string[];
  id: string;
  bundle: string;
  pidFile: string;
  conmonPidFile: string;
  logPath: string;
  /** conmon rotates the log past this size (renames a fresh file over it); undefined = never. */
  logSizeMax?: number;
  exitDir: string;
  socketDir: string;
  /** Keep the container's stdin open for attach clients (default: /dev/null). */
  stdin?: boolean;
  /** Keep stdin open when an attach client goes away (Kubernetes' stdinOnce: false). */
  leaveStdinOpen?: boolean;
  /** Run the container on a pseudo-terminal (config.json must say `process.terminal: true`). */
  terminal?: boolean;
  timeoutMs?: number;
}

export class ConmonError extends Error {}

/** Launches conmon; resolves with the container's pid once it is created (not yet started). */
export async function launchConmon(o: ConmonOptions): Promise<{ pid: number; conmonPid: number }> {
  const args = [
    '--api-version',
    '1',
    '-c',
    o.id,
    '-u',
    o.id,
    '-n',
    o.id,
    '-r',
    o.runtimeCommand,
    '-b',
    o.bundle,
    '-p',
    o.pidFile,
    '-P',
    o.conmonPidFile,
    '-l',
    `k8s-file:${o.logPath}`,
    '--exit-dir',
    o.exitDir,
    '--socket-dir-path',
    o.socketDir,
    '--log-level',
    'error',
    ...(o.logSizeMax ? ['--log-size-max', String(o.logSizeMax)] : []),
    ...(o.stdin ? ['--stdin'] : []),
    ...(o.stdin && o.leaveStdinOpen ? ['--leave-stdin-open'] : []),
    ...(o.terminal ? ['--terminal'] : []),
    ...o.runtimeArgs.flatMap((a) => ['--runtime-arg', a]),
  ];
  mkdirSync(o.socketDir, { recursive: true }); // conmon fails silently when it is missing
  const child = spawn(o.conmon, args, {
    // fd 3 is the sync pipe; conmon's own complaints (bad arguments) come on stderr.
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, _OCI_SYNCPIPE: '3' },
    // conmon writes a file named `oom` in its working directory when the container is OOM-killed (podman
    // runs it in the container's own directory); left in the agent's, it litters wherever strata started.
    cwd: o.bundle,
    // Its own session: a Ctrl-C or a signal to the agent's process group must not reach it.
    detached: true,
  });
  const sync = child.stdio[3] as Readable;
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const msg = await readFirstMessage(sync, o.timeoutMs ?? 60_000, () => stderr);
    if (typeof msg.data !== 'number' || msg.data <= 0) {
      throw new ConmonError(
        runtimeMessage(String(msg.message ?? '')) || `conmon reported ${JSON.stringify(msg)}`,
      );
    }
    const conmonPid = Number(readFileSync(o.conmonPidFile, 'utf8').trim());
    return { pid: msg.data, conmonPid };
  } finally {
    sync.destroy();
    child.stderr!.destroy();
    child.unref();
  }
}

function readFirstMessage(
  stream: Readable,
  timeoutMs: number,
  stderr: () => string,
): Promise<{ data?: unknown; message?: unknown }> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (err?: Error, value?: { data?: unknown; message?: unknown }) => {
      clearTimeout(timer);
      stream.removeAllListeners('data');
      stream.removeAllListeners('end');
      stream.removeAllListeners('error');
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(
      () => done(new ConmonError(`conmon did not report within ${timeoutMs} ms`)),
      timeoutMs,
    );
    stream.on('data', (d: Buffer) => {
      buf += d.toString();
      // Messages are newline-terminated JSON objects.
      const nl = buf.indexOf('\n');
      const candidate = nl >= 0 ? buf.slice(0, nl) : buf;
      try {
        done(undefined, JSON.parse(candidate));
      } catch {
        if (nl >= 0) done(new ConmonError(`conmon sent an unreadable message: ${candidate}`));
      }
    });
    stream.on('end', () =>
      done(new ConmonError(`conmon exited without reporting: ${runtimeMessage(stderr()) || 'no message'}`)),
    );
    stream.on('error', (err) => done(new ConmonError(`conmon sync pipe: ${err.message}`)));
  });
}

/** Whether `pid` is a live (not zombie) conmon supervising container `id` — pids get reused. */
export function conmonAlive(pid: number, id: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv[0].endsWith('conmon') && argv.includes(id);
  } catch {
    return false;
  }
}
