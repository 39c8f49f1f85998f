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

import { mkdirSync, readFileSync } from 'node:fs';
import { spawnCommand } from '../../lib/spawner.ts';
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
  // Launched by the command runner's helper (src/lib/spawner.ts), not forked from this process: a fork of
  // the agent copies its page tables while its event loop waits (~15 ms at 250 MB), once per start.
  const reply = await spawnCommand({
    file: o.conmon,
    args,
    // conmon writes a file named `oom` in its working directory when the container is OOM-killed (podman
    // runs it in the container's own directory); left in the agent's, it litters wherever strata started.
    cwd: o.bundle,
    // fd 3 is the sync pipe; the helper answers with its first message and leaves conmon running, in a
    // session of its own (a Ctrl-C or a signal to the agent's process group must not reach it).
    handshake: { env: { _OCI_SYNCPIPE: '3' } },
    timeoutMs: o.timeoutMs ?? 60_000,
    maxBuffer: 1024 * 1024,
  });
  if (!reply.ok) {
    const why = runtimeMessage(reply.stderr) || reply.message || 'no message';
    throw new ConmonError(
      reply.message?.includes('did not report') ? reply.message : `conmon exited without reporting: ${why}`,
    );
  }
  let msg: { data?: unknown; message?: unknown };
  try {
    msg = JSON.parse(reply.stdout) as { data?: unknown; message?: unknown };
  } catch {
    throw new ConmonError(`conmon sent an unreadable message: ${reply.stdout}`);
  }
  if (typeof msg.data !== 'number' || msg.data <= 0) {
    throw new ConmonError(
      runtimeMessage(String(msg.message ?? '')) || `conmon reported ${JSON.stringify(msg)}`,
    );
  }
  const conmonPid = Number(readFileSync(o.conmonPidFile, 'utf8').trim());
  return { pid: msg.data, conmonPid };
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
