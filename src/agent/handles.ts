// Sandbox handles on disk, for tiers whose sandboxes outlive the agent (capabilities.survivesAgentRestart):
// <podDir>/sandboxes/<container>.json holds the driver's handle, the run's restart count and start time,
// so a restarted agent re-adopts a running sandbox (driver.recover) instead of starting a second one, and
// stops the sandboxes of pods that were deleted while it was away.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxHandle } from '../sandbox/driver.ts';

export interface SavedSandbox {
  handle: SandboxHandle;
  restartCount: number;
  startedAt: string;
}

function dirOf(podDir: string): string {
  return join(podDir, 'sandboxes');
}

export function saveHandle(podDir: string, container: string, saved: SavedSandbox): void {
  const dir = dirOf(podDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${container}.json`);
  // Write then rename: a crash never leaves a half-written handle behind.
  writeFileSync(`${file}.tmp`, JSON.stringify(saved), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export function readHandle(podDir: string, container: string): SavedSandbox | undefined {
  const file = join(dirOf(podDir), `${container}.json`);
  if (!existsSync(file)) return undefined;
  try {
    const v = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof v?.handle?.id !== 'string' || typeof v?.handle?.driver !== 'string') return undefined;
    return { handle: v.handle, restartCount: Number(v.restartCount) || 0, startedAt: String(v.startedAt) };
  } catch {
    return undefined;
  }
}

export function forgetHandle(podDir: string, container: string): void {
  rmSync(join(dirOf(podDir), `${container}.json`), { force: true });
}

/** Every handle saved under a pod directory. */
export function savedHandles(podDir: string): SavedSandbox[] {
  const dir = dirOf(podDir);
  if (!existsSync(dir)) return [];
  const out: SavedSandbox[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    const h = readHandle(podDir, f.slice(0, -'.json'.length));
    if (h) out.push(h);
  }
  return out;
}
