// The `serviceAccountToken` source of a projected volume, as the kubelet serves it: the node asks the API
// for a token bound to the pod (TokenRequest: the pod's ServiceAccount, the source's audience — the API's
// when unset — and expirationSeconds), writes it into the volume's directory, and rewrites it atomically
// (a temporary file renamed over the old one, so a reader never sees half a token) once 80 % of its
// lifetime has passed. The rotation lives as long as the volume's directory and the pod: when the pod's
// directory is removed at teardown, or the API says the pod is gone, it stops.
import { chmodSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ClientError, type Client } from '../../client/client.ts';
import { SandboxError } from '../../sandbox/driver.ts';

export interface ServiceAccountTokenSource {
  audience?: string;
  expirationSeconds?: number;
  path: string;
}

export interface IssuedPodToken {
  token: string;
  /** When the API says it expires. */
  expiresAt: number;
  /** When it was issued (here: when the node received it). */
  issuedAt: number;
}

/** Refresh once this share of the token's lifetime has passed (the kubelet's 80 %). */
export const REFRESH_AT = 0.8;
/** After a failed refresh, try again this much later (bounded by the token's remaining life). */
const RETRY_MS = 10_000;

/** Asks the API for a token of the pod's ServiceAccount, bound to the pod. */
export async function requestPodToken(
  client: Client,
  pod: any,
  src: ServiceAccountTokenSource,
): Promise<IssuedPodToken> {
  const ns = pod.metadata.namespace;
  const account = pod.spec.serviceAccountName ?? 'default';
  const issuedAt = Date.now();
  const tr = await client.json(
    'POST',
    `/api/v1/namespaces/${encodeURIComponent(ns)}/serviceaccounts/${encodeURIComponent(account)}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          audiences: src.audience ? [src.audience] : [],
          expirationSeconds: src.expirationSeconds ?? 3600,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata.name, uid: pod.metadata.uid },
        },
      },
    },
  );
  const token = tr?.status?.token;
  const expiresAt = Date.parse(tr?.status?.expirationTimestamp);
  if (typeof token !== 'string' || !Number.isFinite(expiresAt))
    throw new Error('the TokenRequest answer carries no token');
  return { token, expiresAt, issuedAt };
}

/** Writes `content` to `file` through a temporary file in the same directory and a rename. */
export function writeFileAtomic(file: string, content: string, mode: number): void {
  const tmp = join(dirname(file), `..${basename(file)}.tmp-${process.pid}`);
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** When a token issued at `t.issuedAt` should be replaced. */
export function refreshTime(t: IssuedPodToken): number {
  return t.issuedAt + (t.expiresAt - t.issuedAt) * REFRESH_AT;
}

/** Rotations in this process, by file: a new projection of the same file replaces the old one. */
const rotations = new Map<string, NodeJS.Timeout>();

function stopRotation(file: string): void {
  const timer = rotations.get(file);
  if (timer) clearTimeout(timer);
  rotations.delete(file);
}

/** Stops every rotation whose file lies under `dir` (a pod's directory at teardown; tests). */
export function stopTokenRotations(dir: string): void {
  for (const file of [...rotations.keys()]) if (file.startsWith(`${dir}/`)) stopRotation(file);
}

/** The number of running rotations (tests). */
export function tokenRotationCount(): number {
  return rotations.size;
}

export interface ProjectTokenOptions {
  /** Log sink for refresh failures. */
  log?: { warn(o: object, m: string): void };
  /** Clock override for the rotation (tests): when to refresh a token. */
  refreshAt?: (t: IssuedPodToken) => number;
}

/**
 * Writes the source's token into `dir` and keeps it fresh. A token that cannot be had fails the start
 * (CreateContainerConfigError naming the reason), as the kubelet fails such a pod's volume.
 */
export async function projectServiceAccountToken(
  client: Client,
  pod: any,
  dir: string,
  src: ServiceAccountTokenSource,
  mode: number,
  opts: ProjectTokenOptions = {},
): Promise<void> {
  const file = join(dir, src.path);
  let issued: IssuedPodToken;
  try {
    issued = await requestPodToken(client, pod, src);
  } catch (err) {
    throw new SandboxError(
      'CreateContainerConfigError',
      `cannot get a service account token for ${pod.metadata.namespace}/${pod.spec.serviceAccountName ?? 'default'}: ${(err as Error).message}`,
    );
  }
  writeFileAtomic(file, issued.token, mode);
  const when = opts.refreshAt ?? refreshTime;
  const schedule = (delayMs: number, expiresAt: number): void => {
    stopRotation(file);
    const timer = setTimeout(() => void refresh(expiresAt), Math.max(0, delayMs));
    timer.unref();
    rotations.set(file, timer);
  };
  const refresh = async (expiresAt: number): Promise<void> => {
    if (!existsSync(dir)) return stopRotation(file);
    try {
      const next = await requestPodToken(client, pod, src);
      if (!existsSync(dir)) return stopRotation(file);
      writeFileAtomic(file, next.token, mode);
      schedule(when(next) - Date.now(), next.expiresAt);
    } catch (err) {
      // The pod or its account is gone: nothing will make a token for it again.
      if (err instanceof ClientError && (err.code === 404 || err.code === 422)) {
        opts.log?.warn({ file, err: err.message }, 'service account token: rotation stopped');
        return stopRotation(file);
      }
      opts.log?.warn(
        { file, err: (err as Error).message },
        'service account token: refresh failed, retrying',
      );
      schedule(Math.min(RETRY_MS, Math.max(1000, expiresAt - Date.now())), expiresAt);
    }
  };
  schedule(when(issued) - Date.now(), issued.expiresAt);
}

/**
 * After an agent restart, a re-adopted sandbox still mounts its pod's projected directories, but nothing
 * rotates their tokens any more: fetch a fresh token into each (same directory, so the running sandbox sees
 * it) and rotate again. Failures are logged, not thrown: the sandbox keeps running on its current token.
 */
export async function resumeServiceAccountTokens(
  client: Client,
  pod: any,
  podDir: string,
  log?: { warn(o: object, m: string): void },
): Promise<void> {
  for (const vol of pod.spec?.volumes ?? []) {
    if (!vol.projected) continue;
    const dir = join(podDir, 'volumes', vol.name);
    if (!existsSync(dir)) continue;
    for (const src of vol.projected.sources ?? []) {
      if (!src.serviceAccountToken || rotations.has(join(dir, src.serviceAccountToken.path))) continue;
      await projectServiceAccountToken(
        client,
        pod,
        dir,
        src.serviceAccountToken,
        vol.projected.defaultMode ?? 0o644,
        {
          log,
        },
      ).catch((err: Error) =>
        log?.warn({ pod: pod.metadata.name, err: err.message }, 'service account token: not resumed'),
      );
    }
  }
}
