// Shared by the container tier's tests: can this machine run real containers, the busybox test rootfs,
// specs, and checks that nothing of a sandbox is left behind.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { which } from '../../lib/command.ts';
import type { SandboxSpec } from '../driver.ts';
import { captureLog } from '../wasm/test-support.ts';
import { cgroupDirs, cgroupProblem, detectCgroups } from './cgroups.ts';
import type { ContainerSandboxSpec } from './options.ts';
import type { RuntimeName } from './runtime.ts';

export { captureLog, eventually, sleep, tempDir, type CapturedLog } from '../wasm/test-support.ts';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const busyboxRootfs = join(repoRoot, 'build/rootfs/busybox/rootfs');

/** Why real containers cannot run here (with `runtime`), or undefined when they can. */
export function containersUnavailable(runtime: RuntimeName = 'runc'): string | undefined {
  if (process.getuid?.() !== 0) return 'containers need root';
  for (const tool of [runtime, 'conmon', 'catatonit']) {
    if (!which(tool)) return `${tool} not found (apt-get install ${tool})`;
  }
  if (!existsSync('/bin/busybox')) return 'busybox-static not installed (apt-get install busybox-static)';
  const problem = cgroupProblem(detectCgroups(), 'strata-probe');
  if (problem) return problem;
  return undefined;
}

/** Builds build/rootfs/busybox (idempotent, skips an up-to-date tree). */
export function buildTestRootfs(): void {
  execFileSync('bash', [join(repoRoot, 'scripts/build-test-rootfs.sh')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

let seq = 0;

/** A spec running `args` in the busybox rootfs. */
export function containerSpec(over: Partial<ContainerSandboxSpec> = {}): ContainerSandboxSpec {
  const id = over.id ?? `ct-${process.pid}-${++seq}`;
  return {
    id,
    podUid: `uid-${id}`,
    podName: `pod-${id}`,
    namespace: 'default',
    containerName: 'main',
    image: busyboxRootfs,
    args: ['true'],
    env: {},
    mounts: [],
    limits: {},
    log: captureLog(),
    ...over,
  };
}

/** What is left of a sandbox on this machine: cgroup directories and the runtime's state. */
export function leftovers(
  spec: SandboxSpec,
  cgroupParent: string,
  runtime: RuntimeName,
  runtimeRoot: string,
): string[] {
  const out: string[] = [];
  for (const dir of cgroupDirs(detectCgroups(), `/${cgroupParent}/${spec.id}`))
    if (existsSync(dir)) out.push(dir);
  if (existsSync(join(runtimeRoot, spec.id))) out.push(join(runtimeRoot, spec.id));
  try {
    execFileSync(which(runtime)!, ['--root', runtimeRoot, 'state', spec.id], { stdio: 'pipe' });
    out.push(`${runtime} state ${spec.id}`);
  } catch {
    // gone, as it should be
  }
  return out;
}

/** Cgroup directories of the parent in every hierarchy (gone once its last container is destroyed). */
export function parentCgroups(cgroupParent: string): string[] {
  return cgroupDirs(detectCgroups(), `/${cgroupParent}`).filter((d) => existsSync(d));
}
