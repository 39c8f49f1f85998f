// Shared by the microvm tier's tests: can this machine boot microVMs, and where the test kernel is.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { which } from '../../lib/command.ts';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const kernelDir = join(repoRoot, 'build/microvm/kernel');

/** Why microVMs cannot boot here, or undefined when they can (under TCG). */
export function microvmUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the microvm tier needs root';
  for (const [tool, pkg] of [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['qemu-img', 'qemu-utils'],
    ['mke2fs', 'e2fsprogs'],
  ]) {
    if (!which(tool)) return `${tool} not found (apt-get install ${pkg})`;
  }
  if (!existsSync('/bin/busybox')) return 'busybox-static not installed (apt-get install busybox-static)';
  if (!existsSync(join(kernelDir, 'boot'))) return `no guest kernel in ${kernelDir} (run scripts/setup.sh)`;
  return undefined;
}
