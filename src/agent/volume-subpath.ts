// subPath and subPathExpr of a volume mount: the part of a volume a container sees, resolved inside the
// volume and never outside it. subPathExpr expands $(VAR) from the container's environment (Kubernetes'
// expansion rules: an unknown variable stays as written, `$$` is a literal `$`); the result must stay a
// relative path without '..'. The directory is made when missing (as the kubelet does), and a symlink
// in the volume that points out of it is refused — a pod could otherwise mount any node path.
import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { SandboxError } from '../sandbox/driver.ts';

/** `$(NAME)` → env[NAME]; `$$(NAME)` → `$(NAME)`; anything else as written (k8s.io/kubernetes third_party/forked/golang/expansion). */
export function expandSubPathExpr(expr: string, env: Record<string, string>): string {
  return expr.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name?: string) => {
    if (whole === '$$') return '$';
    return name !== undefined && Object.hasOwn(env, name) ? env[name] : whole;
  });
}

function refuse(volume: string, why: string): SandboxError {
  return new SandboxError('CreateContainerConfigError', `volumeMount ${volume}: ${why}`);
}

/**
 * The host path of `sub` inside the volume directory `dir`: made (as a directory) when missing; refused
 * when it is absolute, climbs out with '..', or resolves through a symlink to outside the volume.
 */
export function resolveSubPath(volume: string, dir: string, sub: string): string {
  if (sub.startsWith('/')) throw refuse(volume, `subPath "${sub}" must be a relative path`);
  if (sub.split('/').includes('..')) throw refuse(volume, `subPath "${sub}" must not contain '..'`);
  const root = realpathSync(dir);
  const target = join(root, sub);
  let exists = true;
  try {
    lstatSync(target);
  } catch {
    exists = false;
  }
  if (!exists) {
    // Made one component at a time so that no existing component can be a symlink that leads out.
    let at = root;
    for (const part of sub.split('/').filter(Boolean)) {
      at = join(at, part);
      try {
        lstatSync(at);
      } catch {
        mkdirSync(at, { mode: 0o755 });
      }
      const real = realpathSync(at);
      if (real !== root && !real.startsWith(root + sep))
        throw refuse(volume, `subPath "${sub}" leads out of the volume (through ${relative(root, at)})`);
    }
  }
  const real = realpathSync(target);
  if (real !== root && !real.startsWith(root + sep))
    throw refuse(volume, `subPath "${sub}" leads out of the volume`);
  return real;
}
