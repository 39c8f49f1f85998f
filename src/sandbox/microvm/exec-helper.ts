// The guest's exec helper (guest/vmexec.c): compiled once per source into a static binary that the base
// initramfs carries as /bin/strata-vmexec. Busybox has neither a multiplexing server nor a terminal
// allocator (`script`), and the guest has no vsock: a ~300-line C program over one virtio-serial port
// does both. It is built here rather than shipped as a binary so that the repository holds only source;
// the node needs gcc and a static libc (Debian: gcc, libc6-dev), which setup installs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { which } from '../../lib/command.ts';

export const VMEXEC_SOURCE = fileURLToPath(new URL('./guest/vmexec.c', import.meta.url));

/** The helper's binary in `cacheDir` (built on first use); throws saying what is missing. */
export function vmexecBinary(cacheDir: string, source = VMEXEC_SOURCE): string {
  const text = readFileSync(source);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const out = join(cacheDir, `strata-vmexec-${hash}`);
  if (existsSync(out)) return out;
  const cc = which('gcc') ?? which('cc');
  if (!cc)
    throw new Error(
      'gcc not found: the guest exec helper is built from source (apt-get install gcc libc6-dev)',
    );
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    execFileSync(cc, ['-static', '-Os', '-s', '-Wall', '-o', tmp, source], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`building the guest exec helper failed: ${stderr || (err as Error).message}`);
  }
  renameSync(tmp, out);
  return out;
}
