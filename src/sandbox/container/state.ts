// What the driver persists per sandbox, in `<bundle>/state.json`: everything recover() needs to
// re-adopt the container after an agent restart. The SandboxHandle the agent stores carries a copy; the
// file is authoritative (it is updated after the handle was returned, e.g. with the stop cause).

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerStdio } from './options.ts';
import type { RuntimeName } from './runtime.ts';

export interface SandboxState {
  version: 1;
  id: string;
  podUid: string;
  bundle: string;
  runtime: RuntimeName;
  runtimeRoot: string;
  /** cgroupsPath parent (e.g. "strata") and the full path (/strata/<id>). */
  cgroupParent: string;
  cgroupsPath: string;
  logPath: string;
  /** conmon's pid (0 until it reported), the container init's pid. */
  conmonPid: number;
  pid: number;
  stopSignal: string;
  memoryLimitBytes?: number;
  /** ISO time of `runtime start`. */
  startedAt?: string;
  /** Epoch ms after which the deadline stops the container. */
  deadlineAt?: number;
  deadlineSeconds?: number;
  stopCause?: 'stop' | 'deadline';
  /** The container's open stdin and terminal, when it has them (attach() needs to know after a restart). */
  stdio?: ContainerStdio;
}

export function statePath(bundle: string): string {
  return join(bundle, 'state.json');
}

export function writeState(s: SandboxState): void {
  const path = statePath(s.bundle);
  writeFileSync(`${path}.tmp`, JSON.stringify(s, null, 2) + '\n');
  renameSync(`${path}.tmp`, path);
}

export function readState(bundle: string): SandboxState | undefined {
  try {
    const s = JSON.parse(readFileSync(statePath(bundle), 'utf8')) as SandboxState;
    return s.version === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}
