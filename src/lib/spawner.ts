// Runs host tools from a small helper process instead of this one. Node's child_process forks the calling
// process (libuv's uv_spawn), copying its page tables while the event loop waits: measured here, 6 ms per
// spawn at 50 MB of RSS, 15 ms at 250 MB and 28 ms at 650 MB (page-table work is dearer still in a
// paravirtualised guest). An agent at a few hundred MB that runs ip, iptables, runc and mount for every
// pod start and stop lost a fifth of its main thread's CPU to spawn() alone in a profile of
// scale-from-zero rounds, blocking the API server, controllers and gateway that share its event loop.
// The helper (spawner-process.ts) is forked once; each command goes to it over the IPC channel and its
// output comes back, so the fork cost is the helper's (~6 ms, on its own thread of execution).
//
// What a command sees is what execFile gives it: the argument vector, no shell, the helper's environment
// (the parent's at the time it was forked), the working directory asked for, stdin written and closed
// when there is input. STRATA_SPAWNER=inline runs commands in this process instead.
import { execFile, fork, spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/** One command, as the helper takes it. */
export interface SpawnRequest {
  id: number;
  file: string;
  args: string[];
  input?: string;
  cwd?: string;
  timeoutMs: number;
  maxBuffer: number;
  /**
   * A daemon's handshake instead of its output: the command gets a pipe as fd 3 and these variables
   * added to its environment, runs in a session of its own, and the reply is the first line it writes
   * there (in `stdout`, with what it printed on stderr so far), sent at once — the command is not waited
   * for. conmon reports the container's pid this way (_OCI_SYNCPIPE) and then outlives its caller.
   */
  handshake?: { env: Record<string, string> };
}

/** What came of it: its output, and on failure its exit code (null when it did not exit normally). */
export interface SpawnReply {
  id: number;
  ok: boolean;
  stdout: string;
  stderr: string;
  code: number | null;
  /** The failure as execFile describes it (non-zero exit, signal, timeout, spawn error). */
  message?: string;
  /** A spawn error's code, e.g. ENOENT when the tool is missing. */
  errno?: string;
}

const HELPER = new URL('./spawner-process.ts', import.meta.url);

interface Pending {
  request: SpawnRequest;
  resolve: (r: SpawnReply) => void;
  reject: (err: Error) => void;
}

class Spawner {
  private helper?: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  exec(req: Omit<SpawnRequest, 'id'>): Promise<SpawnReply> {
    if (process.env.STRATA_SPAWNER === 'inline') return runHere(req);
    let helper: ChildProcess;
    try {
      helper = this.ensureHelper();
    } catch {
      return runHere(req); // no helper to be had (fork refused): the old way
    }
    const request: SpawnRequest = { ...req, id: this.nextId++ };
    return new Promise<SpawnReply>((resolve, reject) => {
      this.pending.set(request.id, { request, resolve, reject });
      // While a command runs, the channel keeps this process alive (as the child would have).
      if (this.pending.size === 1) helper.channel?.ref();
      helper.send(request, (err) => {
        if (err) this.settle(request.id, (p) => p.reject(err));
      });
    });
  }

  private ensureHelper(): ChildProcess {
    if (this.helper?.connected) return this.helper;
    const helper = fork(HELPER, [], {
      // Not the parent's flags (a profiler, inspector or loader of the parent's is not the helper's).
      execArgv: ['--disable-warning=ExperimentalWarning'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
    });
    helper.on('message', (reply: SpawnReply) => this.settle(reply.id, (p) => p.resolve(reply)));
    helper.on('exit', (code, signal) => {
      if (this.helper === helper) this.helper = undefined;
      // What it was running may or may not have happened: say so rather than run it again.
      for (const id of [...this.pending.keys()])
        this.settle(id, (p) =>
          p.reject(
            new Error(
              `${p.request.file} ${p.request.args.join(' ')}: the command runner exited (${signal ?? `code ${code}`}) before it answered`,
            ),
          ),
        );
    });
    helper.on('error', () => {}); // a failed send is reported to its caller; exit follows a crash
    helper.unref();
    helper.channel?.unref();
    this.helper = helper;
    return helper;
  }

  private settle(id: number, how: (p: Pending) => void): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.helper?.channel?.unref();
    how(p);
  }
}

/**
 * Runs the command from this process: what the helper does for each request, and the way when there is
 * no helper (STRATA_SPAWNER=inline, or no fork to be had).
 */
export function runHere(req: Omit<SpawnRequest, 'id'>): Promise<SpawnReply> {
  if (req.handshake) return handshakeHere(req, req.handshake.env);
  return new Promise((resolve) => {
    const child = execFile(
      req.file,
      req.args,
      {
        timeout: req.timeoutMs,
        maxBuffer: req.maxBuffer,
        encoding: 'utf8',
        ...(req.cwd !== undefined ? { cwd: req.cwd } : {}),
      },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: unknown }) | null;
        resolve({
          id: 0, // the helper answers with the request's
          ok: !e,
          stdout,
          stderr,
          code: typeof e?.code === 'number' ? e.code : null,
          ...(e ? { message: e.message } : {}),
          ...(typeof e?.code === 'string' ? { errno: e.code } : {}),
        });
      },
    );
    child.stdin?.on('error', () => {});
    if (req.input !== undefined) child.stdin?.end(req.input);
  });
}

/** SpawnRequest.handshake: the first line the command writes on fd 3. */
function handshakeHere(req: Omit<SpawnRequest, 'id'>, env: Record<string, string>): Promise<SpawnReply> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(req.file, req.args, {
        stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...env },
        ...(req.cwd !== undefined ? { cwd: req.cwd } : {}),
        // Its own session: a signal to this process group must not reach the daemon.
        detached: true,
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      resolve({ id: 0, ok: false, stdout: '', stderr: '', code: null, message: e.message, errno: e.code });
      return;
    }
    const pipe = child.stdio[3] as Readable;
    let line = '';
    let stderr = '';
    let settled = false;
    const done = (ok: boolean, message?: string, errno?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // The daemon keeps its end (and may write to it later): drop ours, and do not wait for it.
      pipe.destroy();
      child.stderr!.destroy();
      child.unref();
      resolve({
        id: 0,
        ok,
        stdout: line,
        stderr,
        code: null,
        ...(message ? { message } : {}),
        ...(errno ? { errno } : {}),
      });
    };
    const timer = setTimeout(
      () => done(false, `${req.file} did not report on its handshake pipe within ${req.timeoutMs} ms`),
      req.timeoutMs,
    );
    child.on('error', (err: NodeJS.ErrnoException) => done(false, err.message, err.code));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    pipe.on('data', (d: Buffer) => {
      line += d.toString();
      const nl = line.indexOf('\n');
      if (nl < 0) return;
      line = line.slice(0, nl);
      done(true);
    });
    // A message without its newline still counts when the pipe ends after it.
    pipe.on('end', () => done(line.length > 0, line ? undefined : `${req.file} exited without reporting`));
    pipe.on('error', (err) => done(false, `${req.file} handshake pipe: ${err.message}`));
  });
}

const spawner = new Spawner();

/** Runs `file` with `args` through the helper process; resolves with what it printed, whatever its exit. */
export function spawnCommand(req: Omit<SpawnRequest, 'id'>): Promise<SpawnReply> {
  return spawner.exec(req);
}
