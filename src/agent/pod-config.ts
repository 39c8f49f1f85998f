// Turns a pod's declared environment and volumes into what a sandbox gets: resolved env values
// (from literals, ConfigMaps, Secrets and the downward API) and host directories materialised for
// configMap, secret, emptyDir, downwardAPI and projected volumes, or checked for hostPath volumes.
// Missing references fail with CreateContainerConfigError, as in Kubernetes.
import {
  chmodSync,
  chownSync,
  closeSync,
  mkdirSync,
  openSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { kindFor } from '../api/index.ts';
import type { Client } from '../client/client.ts';
import { SandboxError, type VolumeMount } from '../sandbox/driver.ts';
import { serviceEnv } from '../net/services/service-env.ts';
import { downwardFiles, fieldValue, resourceValue, type DownwardContext } from './downward-api.ts';
import { claimMount } from './volumes/claim-volume.ts';
import { projectServiceAccountToken } from './volumes/projected-token.ts';
import { blockImageOf } from './volumes/local-volumes.ts';
import { expandSubPathExpr, resolveSubPath } from './volume-subpath.ts';

const configMapKind = kindFor('v1', 'ConfigMap')!;
const secretKind = kindFor('v1', 'Secret')!;
const serviceKind = kindFor('v1', 'Service')!;

/**
 * The Service variables of a pod (KUBERNETES_SERVICE_HOST/PORT always, Docker-link style ones of its
 * namespace's Services unless `enableServiceLinks: false`), read at container start. When the API cannot
 * be asked the container starts without them rather than not at all.
 */
export async function podServiceEnv(client: Client, pod: any): Promise<Record<string, string>> {
  const links = pod.spec?.enableServiceLinks !== false;
  try {
    const [own, api] = await Promise.all([
      links ? client.list(serviceKind, pod.metadata.namespace).then((l) => l.items) : Promise.resolve([]),
      client.find(serviceKind, 'default', 'kubernetes'),
    ]);
    return serviceEnv(api ? [...own, api] : own, pod.metadata.namespace, links);
  } catch {
    return {};
  }
}

function configError(message: string): SandboxError {
  return new SandboxError('CreateContainerConfigError', message);
}

/** Reads ConfigMaps and Secrets once per pod start. */
class RefCache {
  private readonly client: Client;
  private readonly namespace: string;
  private readonly cache = new Map<string, Promise<any | undefined>>();

  constructor(client: Client, namespace: string) {
    this.client = client;
    this.namespace = namespace;
  }

  configMap(name: string): Promise<any | undefined> {
    return this.fetch(`cm/${name}`, () => this.client.find(configMapKind, this.namespace, name));
  }

  secret(name: string): Promise<any | undefined> {
    return this.fetch(`secret/${name}`, () => this.client.find(secretKind, this.namespace, name));
  }

  private fetch(key: string, load: () => Promise<any>): Promise<any> {
    let p = this.cache.get(key);
    if (!p) this.cache.set(key, (p = load()));
    return p;
  }
}

/** Key → UTF-8 string contents of a ConfigMap (data + binaryData) or a Secret (base64 data). */
function entries(obj: any, isSecret: boolean): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (isSecret) {
    for (const [k, v] of Object.entries<string>(obj.data ?? {})) out.set(k, Buffer.from(v, 'base64'));
  } else {
    for (const [k, v] of Object.entries<string>(obj.data ?? {})) out.set(k, Buffer.from(v, 'utf8'));
    for (const [k, v] of Object.entries<string>(obj.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
  }
  return out;
}

export async function resolveEnv(
  client: Client,
  pod: any,
  container: any,
  podIP?: string,
  /** Variables defined first (the Service variables): the container's own override them. */
  base: Record<string, string> = {},
): Promise<Record<string, string>> {
  const refs = new RefCache(client, pod.metadata.namespace);
  const env: Record<string, string> = { ...base };
  for (const src of container.envFrom ?? []) {
    const isSecret = !!src.secretRef;
    const ref = src.secretRef ?? src.configMapRef;
    const obj = isSecret ? await refs.secret(ref.name) : await refs.configMap(ref.name);
    if (!obj) {
      if (ref.optional) continue;
      throw configError(`${isSecret ? 'secret' : 'configmap'} "${ref.name}" not found`);
    }
    for (const [k, v] of entries(obj, isSecret)) env[`${src.prefix ?? ''}${k}`] = v.toString('utf8');
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom === undefined) {
      env[e.name] = expand(e.value ?? '', env);
      continue;
    }
    if (e.valueFrom.fieldRef) {
      env[e.name] = fieldValue(e.valueFrom.fieldRef.fieldPath, { pod, podIP });
      continue;
    }
    if (e.valueFrom.resourceFieldRef) {
      env[e.name] = resourceValue(e.valueFrom.resourceFieldRef, pod, container.name);
      continue;
    }
    const isSecret = !!e.valueFrom.secretKeyRef;
    const ref = e.valueFrom.secretKeyRef ?? e.valueFrom.configMapKeyRef;
    const what = isSecret ? 'secret' : 'configmap';
    const obj = isSecret ? await refs.secret(ref.name) : await refs.configMap(ref.name);
    const value = obj ? entries(obj, isSecret).get(ref.key) : undefined;
    if (value === undefined) {
      if (ref.optional) continue;
      throw configError(
        obj
          ? `couldn't find key ${ref.key} in ${what} ${pod.metadata.namespace}/${ref.name}`
          : `${what} "${ref.name}" not found`,
      );
    }
    env[e.name] = value.toString('utf8');
  }
  return env;
}

/**
 * Kubernetes' `$(VAR)` references in env values, to variables defined before; `$$` escapes, an unknown
 * reference stays as written.
 */
function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name) =>
    m === '$$' ? '$' : name in env ? env[name] : m,
  );
}

/**
 * Registry credentials from the pod's imagePullSecrets: `kubernetes.io/dockerconfigjson` Secrets
 * (`.dockerconfigjson`: `{"auths": {host: {username, password} | {auth: base64(user:pass)}}}`) and the
 * older `.dockercfg` (the `auths` map itself). A missing or unreadable Secret is skipped, as the kubelet
 * does (the pull may still work anonymously); the first Secret naming a host wins.
 */
export async function pullCredentials(
  client: Client,
  pod: any,
): Promise<Record<string, { username: string; password: string }>> {
  const refs = new RefCache(client, pod.metadata.namespace);
  const out: Record<string, { username: string; password: string }> = {};
  for (const { name } of pod.spec.imagePullSecrets ?? []) {
    const secret = await refs.secret(name).catch(() => undefined);
    const data = secret ? entries(secret, true) : new Map<string, Buffer>();
    const raw = data.get('.dockerconfigjson') ?? data.get('.dockercfg');
    if (!raw) continue;
    let auths: Record<string, any>;
    try {
      const parsed = JSON.parse(raw.toString('utf8'));
      auths = data.has('.dockerconfigjson') ? (parsed.auths ?? {}) : parsed;
    } catch {
      continue;
    }
    for (const [server, entry] of Object.entries(auths)) {
      let { username, password } = entry ?? {};
      if ((!username || password === undefined) && typeof entry?.auth === 'string') {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) [username, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
      }
      // Docker writes hosts as URLs too (https://index.docker.io/v1/): the host is what pulls match.
      let host = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
      // Docker Hub's credentials are written for index.docker.io; images name it docker.io.
      if (host === 'index.docker.io' || host === 'registry-1.docker.io') host = 'docker.io';
      if (username && password !== undefined && !(host in out)) out[host] = { username, password };
    }
  }
  return out;
}

/** A relative path inside a volume that stays inside it. */
function safeRelative(p: string): string {
  const n = normalize(p);
  if (n.startsWith('..') || n.startsWith(sep) || n.split(sep).includes('..')) {
    throw configError(`volume item path ${JSON.stringify(p)} must be relative and stay inside the volume`);
  }
  return n;
}

/**
 * Materialises every volume of the pod under podDir/volumes/<name>. configMap and secret volumes are
 * rewritten at each start (their content may have changed); emptyDir survives container restarts and
 * lives as long as the pod.
 */
export async function prepareVolumes(
  client: Client,
  pod: any,
  podDir: string,
  podIP?: string,
  /** The pod's tier attaches local persistent volumes as disks (Capabilities.blockVolumes). */
  blockVolumes = false,
): Promise<Map<string, string>> {
  const refs = new RefCache(client, pod.metadata.namespace);
  const dirs = new Map<string, string>();
  for (const vol of pod.spec.volumes ?? []) {
    const dir = join(podDir, 'volumes', vol.name);
    dirs.set(vol.name, dir);
    if (vol.emptyDir !== undefined) {
      mkdirSync(dir, { recursive: true });
      // World-writable as Kubernetes makes it (mkdir's mode is cut by the umask): any container user writes.
      chmodSync(dir, 0o777);
      const fsGroup = pod.spec.securityContext?.fsGroup;
      if (fsGroup !== undefined) {
        // fsGroup: the volume belongs to the group, and what is created in it too (setgid).
        chownSync(dir, statSync(dir).uid, fsGroup);
        chmodSync(dir, 0o2777);
      }
      continue;
    }
    if (vol.hostPath) {
      dirs.set(vol.name, checkHostPath(vol.name, vol.hostPath));
      continue;
    }
    if (vol.persistentVolumeClaim || vol.ephemeral) {
      // A claim's volume (src/agent/volumes/); podDir is <dataDir>/pods/<uid>.
      const claim = await claimMount(client, pod, vol, dirname(dirname(podDir)), !blockVolumes);
      dirs.set(vol.name, claim.dir);
      continue;
    }
    if (vol.downwardAPI) {
      await freshDir(dir);
      writeFiles(
        dir,
        downwardFiles(vol.downwardAPI.items ?? [], { pod, podIP }),
        vol.downwardAPI.defaultMode,
      );
      continue;
    }
    if (vol.projected) {
      await freshDir(dir);
      await project(client, refs, vol, dir, { pod, podIP });
      continue;
    }
    const isSecret = !!vol.secret;
    const src = vol.secret ?? vol.configMap;
    const name = isSecret ? src.secretName : src.name;
    const obj = isSecret ? await refs.secret(name) : await refs.configMap(name);
    await freshDir(dir);
    if (!obj) {
      if (src.optional) continue;
      throw configError(`${isSecret ? 'secret' : 'configmap'} "${name}" not found (volume ${vol.name})`);
    }
    const data = entries(obj, isSecret);
    const mode = src.defaultMode ?? 0o644;
    const items: Array<{ key: string; path: string; mode?: number }> =
      src.items ?? [...data.keys()].map((key) => ({ key, path: key }));
    for (const item of items) {
      const content = data.get(item.key);
      if (content === undefined) {
        if (src.optional) continue;
        throw configError(
          `volume ${vol.name}: key ${item.key} not found in ${isSecret ? 'secret' : 'configmap'} ${name}`,
        );
      }
      const file = join(dir, safeRelative(item.path));
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, content);
      chmodSync(file, item.mode ?? mode);
    }
  }
  return dirs;
}

/** Off the agent's thread: a synchronous rm + mkdir per volume was ~10 % of it with 4,000 pods starting. */
async function freshDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o755 });
}

function writeFiles(
  dir: string,
  files: Array<{ path: string; content: string | Buffer; mode?: number }>,
  mode = 0o644,
): void {
  for (const f of files) {
    const file = join(dir, safeRelative(f.path));
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, f.content);
    chmodSync(file, f.mode ?? mode);
  }
}

/** A projected volume: its configMap, secret, downwardAPI and serviceAccountToken sources, one directory. */
async function project(
  client: Client,
  refs: RefCache,
  vol: any,
  dir: string,
  ctx: DownwardContext,
): Promise<void> {
  for (const src of vol.projected.sources) {
    if (src.serviceAccountToken) {
      // A token bound to the pod, rewritten before it expires (volumes/projected-token.ts).
      await projectServiceAccountToken(
        client,
        ctx.pod,
        dir,
        src.serviceAccountToken,
        vol.projected.defaultMode,
      );
      continue;
    }
    if (src.downwardAPI) {
      writeFiles(dir, downwardFiles(src.downwardAPI.items ?? [], ctx), vol.projected.defaultMode);
      continue;
    }
    const isSecret = !!src.secret;
    const ref = src.secret ?? src.configMap;
    const what = isSecret ? 'secret' : 'configmap';
    const obj = isSecret ? await refs.secret(ref.name) : await refs.configMap(ref.name);
    if (!obj) {
      if (ref.optional) continue;
      throw configError(`${what} "${ref.name}" not found (volume ${vol.name})`);
    }
    const data = entries(obj, isSecret);
    const items: Array<{ key: string; path: string; mode?: number }> =
      ref.items ?? [...data.keys()].map((key) => ({ key, path: key }));
    const files = [];
    for (const item of items) {
      const content = data.get(item.key);
      if (content === undefined) {
        if (ref.optional) continue;
        throw configError(`volume ${vol.name}: key ${item.key} not found in ${what} ${ref.name}`);
      }
      files.push({ path: item.path, content, mode: item.mode });
    }
    writeFiles(dir, files, vol.projected.defaultMode);
  }
}

const HOST_PATH_KINDS: Record<string, { is: (s: Stats) => boolean; noun: string }> = {
  Directory: { is: (s) => s.isDirectory(), noun: 'a directory' },
  DirectoryOrCreate: { is: (s) => s.isDirectory(), noun: 'a directory' },
  File: { is: (s) => s.isFile(), noun: 'a file' },
  FileOrCreate: { is: (s) => s.isFile(), noun: 'a file' },
  Socket: { is: (s) => s.isSocket(), noun: 'a socket' },
  CharDevice: { is: (s) => s.isCharacterDevice(), noun: 'a character device' },
  BlockDevice: { is: (s) => s.isBlockDevice(), noun: 'a block device' },
};

/**
 * A hostPath volume: the node's own path, checked against its declared type (the *OrCreate types make
 * it first), as the kubelet does. It exposes node data to the pod: once RBAC exists, creating a pod with
 * one is for administrators only (an admission check on `volumes[].hostPath`).
 */
function checkHostPath(name: string, hp: { path: string; type?: string }): string {
  const type = hp.type ?? '';
  const fail = (why: string) =>
    new SandboxError(
      'CreateContainerConfigError',
      `hostPath volume ${name}: type check failed: ${hp.path} ${why}`,
    );
  let st: Stats | undefined;
  try {
    st = statSync(hp.path);
  } catch {
    st = undefined;
  }
  if (!st && type === 'DirectoryOrCreate') {
    mkdirSync(hp.path, { recursive: true, mode: 0o755 });
    return hp.path;
  }
  if (!st && type === 'FileOrCreate') {
    try {
      closeSync(openSync(hp.path, 'a', 0o644));
    } catch (err) {
      throw fail(`cannot be created: ${(err as Error).message}`);
    }
    return hp.path;
  }
  if (type === '') return hp.path;
  const want = HOST_PATH_KINDS[type];
  if (!st) throw fail('does not exist');
  if (!want.is(st)) throw fail(`is not ${want.noun}`);
  return hp.path;
}

/**
 * The container's mounts: each volume's directory (or, with subPath/subPathExpr, the part of it the
 * mount names — expanded from `env`, the container's resolved environment).
 */
export function mountsFor(
  pod: any,
  container: any,
  dirs: Map<string, string>,
  env: Record<string, string> = {},
): VolumeMount[] {
  const byName = new Map<string, any>((pod.spec.volumes ?? []).map((v: any) => [v.name, v]));
  return (container.volumeMounts ?? []).map((m: any) => {
    const volumeDir = dirs.get(m.name);
    const vol = byName.get(m.name);
    if (!volumeDir || !vol) throw configError(`volumeMount ${m.name}: no volume of that name in the pod`);
    const sub = m.subPathExpr !== undefined ? expandSubPathExpr(m.subPathExpr, env) : m.subPath;
    const dir = sub ? resolveSubPath(m.name, volumeDir, sub) : volumeDir;
    // configMap, secret, downwardAPI and projected volumes are always read-only, as in Kubernetes.
    const claimBacked = vol.persistentVolumeClaim !== undefined || vol.ephemeral !== undefined;
    const readOnly =
      !!m.readOnly ||
      !!vol.persistentVolumeClaim?.readOnly ||
      (vol.emptyDir === undefined && vol.hostPath === undefined && !claimBacked);
    // A local persistent volume is also an ext4 image: tiers that take disks (microvm) attach that instead.
    // (Not with a subPath: a disk is the whole volume.)
    const blockImage = claimBacked && !sub ? blockImageOf(dir) : undefined;
    return { hostPath: dir, guestPath: m.mountPath, readOnly, ...(blockImage ? { blockImage } : {}) };
  });
}
