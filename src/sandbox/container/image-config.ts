// The image configuration a container tier image carries beside its root filesystem.
//
// Convention: SandboxSpec.image is the path of a prepared root filesystem directory (the image layer
// unpacks or mounts it); its image configuration is the JSON file `image-config.json` in the parent
// directory of that rootfs:
//
//   <dir>/rootfs/              SandboxSpec.image
//   <dir>/image-config.json    ContainerImageConfig
//
// Accepted forms of the file (the image layer may write whichever is handy):
//   1. this module's own form:   { "entrypoint": [...], "cmd": [...], "env": ["K=V"] | {"K": "V"},
//                                  "workingDir": "/", "user": "uid[:gid]" | "name[:group]",
//                                  "stopSignal": "SIGTERM", "digest": "sha256:..." }
//   2. an OCI image config blob: { "config": { "Entrypoint", "Cmd", "Env", "WorkingDir", "User",
//                                  "StopSignal" }, ... }  (what a registry serves as the config)
//   3. the inner OCI object alone: { "Entrypoint", "Cmd", ... }
// A missing file means an empty config (the pod must then give the command). Every field is optional.
// `digest` is the image's manifest digest; when SandboxSpec.imageDigest is set it must equal it.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';

export interface ContainerImageConfig {
  entrypoint: string[];
  cmd: string[];
  /** In image order; the pod's env is applied over it. */
  env: Record<string, string>;
  workingDir?: string;
  /** "uid", "uid:gid", "name", "name:group" (resolved against the rootfs /etc/passwd and /etc/group). */
  user?: string;
  /** Signal name for a graceful stop (default SIGTERM). */
  stopSignal?: string;
  /** sha256:<hex> of the image manifest, when the image layer knows it. */
  digest?: string;
}

const strings = z.array(z.string()).nullish();
const envField = z.union([z.array(z.string()), z.record(z.string(), z.string())]).nullish();
const ownForm = z.object({
  entrypoint: strings,
  cmd: strings,
  env: envField,
  workingDir: z.string().nullish(),
  user: z.string().nullish(),
  stopSignal: z.string().nullish(),
  digest: z.string().nullish(),
});
const ociForm = z.object({
  Entrypoint: strings,
  Cmd: strings,
  Env: z.array(z.string()).nullish(),
  WorkingDir: z.string().nullish(),
  User: z.string().nullish(),
  StopSignal: z.string().nullish(),
});

export const IMAGE_CONFIG_FILE = 'image-config.json';

export function imageConfigPath(rootfs: string): string {
  return join(dirname(rootfs.replace(/\/+$/, '')), IMAGE_CONFIG_FILE);
}

/** Reads `<rootfs>/../image-config.json`; an empty config when there is none. Throws on a bad file. */
export function readImageConfig(rootfs: string): ContainerImageConfig {
  const path = imageConfigPath(rootfs);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entrypoint: [], cmd: [], env: {} };
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not JSON (${(err as Error).message})`);
  }
  return parseImageConfig(json, path);
}

export function parseImageConfig(json: unknown, source = 'image config'): ContainerImageConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${source}: expected a JSON object`);
  }
  const obj = json as Record<string, unknown>;
  const inner = typeof obj.config === 'object' && obj.config !== null ? obj.config : obj;
  const isOci = ['Entrypoint', 'Cmd', 'Env', 'WorkingDir', 'User', 'StopSignal'].some(
    (k) => k in (inner as object),
  );
  if (isOci) {
    const r = ociForm.safeParse(inner);
    if (!r.success) throw new Error(`${source}: ${describeIssue(r.error)}`);
    return clean({
      entrypoint: r.data.Entrypoint ?? [],
      cmd: r.data.Cmd ?? [],
      env: envRecord(r.data.Env ?? [], source),
      workingDir: r.data.WorkingDir ?? undefined,
      user: r.data.User ?? undefined,
      stopSignal: r.data.StopSignal ?? undefined,
      digest: typeof obj.digest === 'string' ? obj.digest : undefined,
    });
  }
  const r = ownForm.safeParse(obj);
  if (!r.success) throw new Error(`${source}: ${describeIssue(r.error)}`);
  return clean({
    entrypoint: r.data.entrypoint ?? [],
    cmd: r.data.cmd ?? [],
    env: Array.isArray(r.data.env) ? envRecord(r.data.env, source) : { ...(r.data.env ?? {}) },
    workingDir: r.data.workingDir ?? undefined,
    user: r.data.user ?? undefined,
    stopSignal: r.data.stopSignal ?? undefined,
    digest: r.data.digest ?? undefined,
  });
}

/**
 * The argv a container runs, with Kubernetes' rules: `command` replaces the image's Entrypoint (and
 * then the image's Cmd is dropped), `args` replaces its Cmd:
 *
 *   command  args   -> argv
 *   -        -      -> [...entrypoint, ...cmd]
 *   -        A      -> [...entrypoint, ...A]
 *   C        -      -> [...C]
 *   C        A      -> [...C, ...A]
 *
 * The agent passes the result as SandboxSpec.args; an empty SandboxSpec.args makes the driver use
 * [...entrypoint, ...cmd] itself.
 */
export function containerArgs(image: ContainerImageConfig, command?: string[], args?: string[]): string[] {
  if (command && command.length > 0) return [...command, ...(args ?? [])];
  return [...image.entrypoint, ...(args ?? image.cmd)];
}

function envRecord(list: string[], source: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`${source}: env entry "${kv}" is not KEY=VALUE`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

function clean(c: ContainerImageConfig): ContainerImageConfig {
  for (const k of Object.keys(c) as Array<keyof ContainerImageConfig>) {
    if (c[k] === undefined || c[k] === '') delete c[k];
  }
  return c;
}

function describeIssue(err: z.ZodError): string {
  const i = err.issues[0];
  return `${i.path.join('.') || '(root)'}: ${i.message}`;
}
