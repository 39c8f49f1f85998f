// The OCI runtime command line (runc or crun): create runs under conmon (conmon.ts); start, kill,
// delete, state and exec run from here. Strata keeps its own state root (/run/strata/<runtime> by
// default, on tmpfs: no container survives a reboot, and no stale state does either), so its
// containers never mix with podman's or Docker's.
//
// crun 1.8 refuses hybrid cgroups ("cgroups in hybrid mode not supported, drop all controllers from
// cgroupv2"). Its create then runs through a wrapper that enters a private mount namespace and
// unmounts the v2 hierarchy there, so crun sees a v1 host; the host's mounts are untouched. Other verbs
// need no wrapper.

import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, run, which } from '../../lib/command.ts';
import type { CgroupLayout } from './cgroups.ts';

export type RuntimeName = 'runc' | 'crun';

export interface ContainerState {
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  pid: number;
}

export class OciRuntime {
  readonly name: RuntimeName;
  /** Absolute path of the binary; undefined when it is not installed. */
  readonly bin: string | undefined;
  readonly root: string;
  private readonly wrapperDir: string;
  private readonly layout: CgroupLayout;
  private wrapper: string | undefined;

  constructor(opts: { name: RuntimeName; root: string; wrapperDir: string; layout: CgroupLayout }) {
    this.name = opts.name;
    this.bin = which(opts.name);
    this.root = opts.root;
    this.wrapperDir = opts.wrapperDir;
    this.layout = opts.layout;
  }

  /** Whether create needs the private-mount-namespace wrapper (crun on a hybrid host). */
  get needsHybridWorkaround(): boolean {
    return this.name === 'crun' && this.layout.mode === 'hybrid';
  }

  /** What conmon should run as the runtime for `create`. */
  createCommand(): string {
    if (!this.bin) throw new Error(`${this.name} not found in PATH`);
    if (!this.needsHybridWorkaround) return this.bin;
    if (this.wrapper) return this.wrapper;
    const unshare = which('unshare');
    if (!unshare) throw new Error('crun on a hybrid cgroup host needs unshare (util-linux)');
    mkdirSync(this.wrapperDir, { recursive: true });
    const path = join(this.wrapperDir, 'crun-hybrid');
    const unified = this.layout.unified!;
    // Both paths are embedded in a shell script: accept plain paths only.
    for (const p of [unshare, this.bin, unified]) {
      if (!/^[\w/.+-]+$/.test(p)) throw new Error(`unexpected characters in path "${p}"`);
    }
    writeFileSync(
      path,
      [
        '#!/bin/sh',
        '# Written by Strata: crun 1.8 refuses hybrid cgroups; hide the v2 hierarchy in a private mount',
        '# namespace (unshare -m makes propagation private) so that crun sees a v1-only host.',
        `exec ${unshare} -m /bin/sh -c 'umount ${unified} 2>/dev/null; exec "$0" "$@"' ${this.bin} "$@"`,
        '',
      ].join('\n'),
    );
    chmodSync(path, 0o755);
    this.wrapper = path;
    return path;
  }

  /** Global arguments every call passes (before the verb). */
  globalArgs(): string[] {
    return ['--root', this.root];
  }

  async version(): Promise<string> {
    const out = await this.cmd(['--version']);
    const m = /(?:runc|crun) version (\S+)/.exec(out);
    return m ? m[1] : out.split('\n')[0].trim();
  }

  /**
   * Starts a created container. For runc, what `runc start` does is done here directly — open the
   * container's exec.fifo for reading, read the byte its init writes, remove the fifo (libcontainer's
   * exec(), unchanged since runc 1.0) — which saves starting a Go process (10-15 ms, a third of a
   * /bin/true run). Without the fifo where runc keeps it, `runc start` runs instead. `initPid` guards
   * against an init that died after create: the blocked open is then released and start fails.
   */
  async start(id: string, initPid?: number): Promise<void> {
    const fifo = join(this.root, id, 'exec.fifo');
    if (this.name === 'runc' && initPid && existsSync(fifo)) {
      await startThroughFifo(fifo, initPid);
      return;
    }
    await this.cmd([...this.globalArgs(), 'start', id]);
  }

  /** Sends a signal to the container's init (`all`: to every process of the container). */
  async kill(id: string, signal: string, all = false): Promise<void> {
    try {
      await this.cmd([...this.globalArgs(), 'kill', ...(all ? ['--all'] : []), id, signal]);
    } catch (err) {
      if (isGone(err)) return; // exited meanwhile: nothing to signal
      throw err;
    }
  }

  async delete(id: string): Promise<void> {
    try {
      await this.cmd([...this.globalArgs(), 'delete', '--force', id]);
    } catch (err) {
      if (isGone(err, true)) return;
      throw err;
    }
  }

  /** The runtime's view of the container; undefined when it does not know it. */
  async state(id: string): Promise<ContainerState | undefined> {
    try {
      const s = JSON.parse(await this.cmd([...this.globalArgs(), 'state', id])) as ContainerState;
      return { status: s.status, pid: s.pid };
    } catch (err) {
      if (isGone(err, true)) return undefined;
      throw err;
    }
  }

  /** argv (binary first) of `exec` into the container. */
  execArgv(id: string, cmd: string[], tty: boolean): string[] {
    if (!this.bin) throw new Error(`${this.name} not found in PATH`);
    return [this.bin, ...this.globalArgs(), 'exec', ...(tty ? ['--tty'] : []), id, ...cmd];
  }

  private async cmd(args: string[]): Promise<string> {
    if (!this.bin) throw new Error(`${this.name} not found in PATH`);
    try {
      return await run(this.bin, args);
    } catch (err) {
      if (err instanceof CommandError) throw new RuntimeError(this.name, args, err.stderr);
      throw err;
    }
  }
}

async function startThroughFifo(fifo: string, initPid: number): Promise<void> {
  // The open blocks until the init opens the other end (it is waiting there): a threadpool thread
  // waits, not the event loop.
  const opening = open(fifo, 'r');
  const guard = setInterval(() => {
    if (processAlive(initPid)) return;
    try {
      // Become the writer ourselves so that the pending open returns (and reads nothing).
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // no reader yet, or the fifo is gone
    }
  }, 100);
  try {
    const fh = await opening;
    try {
      const data = await fh.readFile();
      if (data.length === 0) throw new RuntimeError('runc', ['start'], 'container process is already dead');
    } finally {
      await fh.close();
    }
  } finally {
    clearInterval(guard);
  }
  await rm(fifo, { force: true });
}

/**
 * A live process. Not kill(pid, 0): a zombie passes that, and conmon's double fork leaves zombies
 * until an init reaps them (on this machine's init, seconds later).
 */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export class RuntimeError extends Error {
  readonly stderr: string;
  constructor(runtime: string, args: string[], stderr: string) {
    const verb = args.find((a) => !a.startsWith('-') && !a.startsWith('/')) ?? '';
    super(`${runtime} ${verb}: ${runtimeMessage(stderr)}`);
    this.name = 'RuntimeError';
    this.stderr = stderr;
  }
}

/** The message of a runc/crun error line: runc logs logrus lines (`time=... level=error msg="..."`). */
export function runtimeMessage(stderr: string): string {
  const msgs: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"/.exec(line);
    if (m) msgs.push(m[1].replace(/\\(.)/g, '$1'));
  }
  if (msgs.length > 0) return msgs.join('; ');
  return (
    stderr
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^crun: /, ''))
      .join('; ') || 'failed'
  );
}

function isGone(err: unknown, orStopped = false): boolean {
  const text = err instanceof RuntimeError ? err.stderr : String(err);
  if (/does not exist|not found|no such file/i.test(text)) return true;
  return !orStopped
    ? /not running|process already finished|container not running|is stopped|No such process/i.test(text)
    : /is stopped/i.test(text);
}
