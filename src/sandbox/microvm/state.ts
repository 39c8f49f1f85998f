// What a microVM sandbox keeps on disk (`<stateDir>/sandboxes/<id>/state.json`) so that recover() can
// re-adopt its QEMU after an agent restart.
import type { LiveVolume } from './live-volumes.ts';
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { VmLayout } from './qemu.ts';

export interface MicrovmState {
  version: 1;
  id: string;
  podUid: string;
  dir: string;
  layout: VmLayout;
  pid: number;
  startedAt: string;
  /** The guest's memory. */
  memoryMiB: number;
  deadlineSeconds?: number;
  deadlineAt?: number;
  /** On the pod network: the pod's address and the namespace QEMU (and its tap) live in. */
  podIP?: string;
  netnsPath?: string;
  /** Read-only directory volumes the host keeps current in the guest (live-volumes.ts). */
  liveVolumes?: LiveVolume[];
}

export function writeState(dir: string, s: MicrovmState): void {
  const tmp = join(dir, 'state.json.tmp');
  writeFileSync(tmp, JSON.stringify(s, null, 2));
  renameSync(tmp, join(dir, 'state.json'));
}

export function readState(dir: string): MicrovmState | undefined {
  try {
    const s = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as MicrovmState;
    return s.version === 1 ? s : undefined;
  } catch {
    return undefined;
  }
}
