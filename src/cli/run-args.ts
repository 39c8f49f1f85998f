// `strata run`'s docker-style arguments, turned into the Pod they describe. Pure: the caller passes the
// environment, the working directory and how to read files, so every rule is tested without a cluster.
//
//   -e K=V | -e K          an env var; a bare K takes the caller's value (left out when unset), as docker does
//   --env-file F           docker's format: KEY=VALUE lines taken literally, `#` comments, blank lines,
//                          a bare KEY takes the caller's value; -e wins over the file, the last of a name wins
//   -p [IP:]HOST:CTR[/P]   a containerPort published on the node's HOST port (hostPort; P tcp|udp|sctp)
//   -v SRC:DST[:ro|rw]     SRC an absolute (or ./relative) host path: a hostPath volume; SRC a NAME: the
//                          PersistentVolumeClaim of that name
//   -w DIR                 workingDir (absolute)
//   --user UID[:GID]       securityContext runAsUser/runAsGroup (numbers: a pod has no user names)
//   -i, -t                 the container's stdin (stdinOnce: the run's input ends it; with -d it stays
//                          open for `attach -i`) and terminal
//   --memory Q, --cpu Q    limits (docker's 512m/1g memory suffixes are binary units, 512Mi/1Gi)
import { isAbsolute, posix, resolve } from 'node:path';

/** The tiers a pod can ask for (spec.runtimeClassName). */
export const RUNTIMES = ['wasm', 'container', 'microvm'] as const;

export class RunArgumentError extends Error {}

export interface RunArgs {
  name?: string;
  env?: string[];
  envFile?: string[];
  publish?: string[];
  volume?: string[];
  workdir?: string;
  user?: string;
  interactive?: boolean;
  tty?: boolean;
  memory?: string;
  cpu?: string;
  restart?: string;
  detach?: boolean;
}

export interface EnvVar {
  name: string;
  value: string;
}

export interface PortSpec {
  containerPort: number;
  hostPort: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  hostIP?: string;
}

export interface VolumeSpec {
  volume: Record<string, unknown> & { name: string };
  mount: { name: string; mountPath: string; readOnly?: boolean };
}

export interface RunEnvironment {
  /** The caller's environment, for bare names. */
  environ: Record<string, string | undefined>;
  /** Where relative host paths start. */
  cwd: string;
  readFile: (path: string) => string;
  /** Whether a host path exists (docker creates a missing bind-mount source as a directory). */
  exists: (path: string) => boolean;
}

/** A docker env file's variables, in order. `file` names the file in errors. */
export function parseEnvFile(text: string, file: string, environ: RunEnvironment['environ']): EnvVar[] {
  const out: EnvVar[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const name = eq < 0 ? line : line.slice(0, eq);
    const where = `--env-file ${file}, line ${i + 1}`;
    if (name === '') throw new RunArgumentError(`${where}: no variable name before "="`);
    if (/\s/.test(name)) throw new RunArgumentError(`${where}: variable "${name}" contains whitespace`);
    if (eq >= 0) out.push({ name, value: line.slice(eq + 1) });
    else if (environ[name] !== undefined) out.push({ name, value: environ[name]! });
  });
  return out;
}

/** `-e K=V` and `-e K` (the caller's value, left out when unset). */
export function parseEnvFlags(pairs: string[], environ: RunEnvironment['environ']): EnvVar[] {
  const out: EnvVar[] = [];
  for (const p of pairs) {
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq);
    if (name === '' || /\s/.test(name)) {
      throw new RunArgumentError(
        `-e ${JSON.stringify(p)}: expected NAME=VALUE or NAME (no spaces in the name)`,
      );
    }
    if (eq >= 0) out.push({ name, value: p.slice(eq + 1) });
    else if (environ[name] !== undefined) out.push({ name, value: environ[name]! });
  }
  return out;
}

/** One entry per name, the last one winning, in the order names first appeared. */
function lastWins(vars: EnvVar[]): EnvVar[] {
  const byName = new Map<string, string>();
  for (const v of vars) byName.set(v.name, v.value);
  return [...byName].map(([name, value]) => ({ name, value }));
}

function port(text: string, flag: string, what: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) {
    throw new RunArgumentError(`${flag}: ${what} "${text}" is not a port number (1-65535)`);
  }
  return n;
}

/** `-p [IP:]HOST:CONTAINER[/tcp|udp|sctp]`; an IPv6 address goes in brackets. */
export function parsePublish(spec: string): PortSpec {
  const flag = `-p ${spec}`;
  const slash = spec.lastIndexOf('/');
  const proto = slash < 0 ? 'tcp' : spec.slice(slash + 1).toLowerCase();
  if (!['tcp', 'udp', 'sctp'].includes(proto)) {
    throw new RunArgumentError(`${flag}: protocol "${spec.slice(slash + 1)}" is not tcp, udp or sctp`);
  }
  const body = slash < 0 ? spec : spec.slice(0, slash);
  let hostIP: string | undefined;
  let rest = body;
  const v6 = /^\[([0-9A-Fa-f:.]+)\]:(.*)$/.exec(body);
  if (v6) {
    hostIP = v6[1];
    rest = v6[2];
  }
  const parts = rest.split(':');
  if (!hostIP && parts.length === 3) hostIP = parts.shift();
  if (parts.length === 1) {
    throw new RunArgumentError(
      `${flag}: give the host port too (HOST:CONTAINER): a pod's hostPort is a fixed port on the node`,
    );
  }
  if (parts.length !== 2) {
    throw new RunArgumentError(
      `${flag}: expected [IP:]HOST:CONTAINER[/PROTOCOL], e.g. 8080:80 or 5353:53/udp`,
    );
  }
  if (hostIP !== undefined && !/^(\d{1,3}(\.\d{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/.test(hostIP)) {
    throw new RunArgumentError(`${flag}: "${hostIP}" is not an IP address`);
  }
  return {
    containerPort: port(parts[1], flag, 'container port'),
    hostPort: port(parts[0], flag, 'host port'),
    protocol: proto.toUpperCase() as PortSpec['protocol'],
    ...(hostIP ? { hostIP } : {}),
  };
}

const CLAIM_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * `-v SRC:DST[:ro|rw]`. SRC starting with `/`, `./` or `../` (or `.`/`..`) is a host path, made absolute
 * like docker does; anything else names a PersistentVolumeClaim. `index` numbers the pod's volumes.
 */
export function parseVolume(
  spec: string,
  index: number,
  env: Pick<RunEnvironment, 'cwd' | 'exists'>,
): VolumeSpec {
  const flag = `-v ${spec}`;
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new RunArgumentError(`${flag}: expected SOURCE:PATH[:ro], e.g. /srv/data:/data or mydata:/data:ro`);
  }
  const [src, dst, mode] = parts;
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') {
    throw new RunArgumentError(`${flag}: mode "${mode}" is not ro or rw`);
  }
  if (!dst.startsWith('/')) {
    throw new RunArgumentError(`${flag}: the container path "${dst}" must be absolute`);
  }
  const readOnly = mode === 'ro';
  const name = `vol-${index}`;
  const mount = { name, mountPath: posix.normalize(dst), ...(readOnly ? { readOnly } : {}) };
  const isPath = isAbsolute(src) || /^\.\.?(\/|$)/.test(src);
  if (isPath) {
    const path = resolve(env.cwd, src);
    // Docker creates a missing source directory; an existing path (a file too) is bound as it is.
    const hostPath = env.exists(path) ? { path } : { path, type: 'DirectoryOrCreate' };
    return { volume: { name, hostPath }, mount };
  }
  if (!CLAIM_NAME.test(src) || src.length > 253) {
    throw new RunArgumentError(
      `${flag}: "${src}" is neither an absolute path nor a volume name (a PersistentVolumeClaim: lower case letters, digits, "-" and ".")`,
    );
  }
  return {
    volume: { name, persistentVolumeClaim: { claimName: src, ...(readOnly ? { readOnly } : {}) } },
    mount,
  };
}

/** `--user UID[:GID]` → runAsUser/runAsGroup. */
export function parseUser(spec: string): { runAsUser: number; runAsGroup?: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(spec);
  if (!m) {
    throw new RunArgumentError(
      `--user ${spec}: expected UID[:GID] as numbers (a pod's runAsUser/runAsGroup; user names are not resolved)`,
    );
  }
  const uid = Number(m[1]);
  const gid = m[2] === undefined ? undefined : Number(m[2]);
  for (const [what, n] of [
    ['UID', uid],
    ['GID', gid],
  ] as const) {
    if (n !== undefined && n > 2147483647)
      throw new RunArgumentError(`--user ${spec}: ${what} ${n} is too large`);
  }
  return { runAsUser: uid, ...(gid !== undefined ? { runAsGroup: gid } : {}) };
}

/** Docker's memory sizes (512m, 1g: binary units) as Kubernetes quantities; anything else as it is. */
export function memoryQuantity(q: string): string {
  const m = /^(\d+)([bkmg])$/.exec(q);
  if (!m) return q;
  return m[2] === 'b' ? m[1] : `${m[1]}${m[2].toUpperCase()}i`;
}

/** The runtime argument, checked; `offered` lists what the cluster's nodes run (when known). */
export function checkRuntime(runtime: string, offered?: string[]): void {
  const on = offered?.length ? ` (this cluster's nodes run: ${offered.join(', ')})` : '';
  if (!(RUNTIMES as readonly string[]).includes(runtime)) {
    throw new RunArgumentError(`runtime "${runtime}": expected one of ${RUNTIMES.join(', ')}${on}`);
  }
  if (offered && !offered.includes(runtime)) {
    throw new RunArgumentError(
      `runtime "${runtime}": no node of this cluster runs it${offered.length ? on : ' (no node is registered)'}`,
    );
  }
}

/** The Pod `strata run` creates. */
export function buildRunPod(
  runtime: string,
  image: string,
  args: string[],
  o: RunArgs,
  name: string,
  namespace: string,
  env: RunEnvironment,
): Record<string, any> {
  const fromFiles = (o.envFile ?? []).flatMap((f) => {
    let text: string;
    try {
      text = env.readFile(resolve(env.cwd, f));
    } catch (err) {
      throw new RunArgumentError(
        `--env-file ${f}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      );
    }
    return parseEnvFile(text, f, env.environ);
  });
  const vars = lastWins([...fromFiles, ...parseEnvFlags(o.env ?? [], env.environ)]);
  const ports = (o.publish ?? []).map(parsePublish);
  const volumes = (o.volume ?? []).map((v, i) => parseVolume(v, i, env));
  if (o.workdir !== undefined && !o.workdir.startsWith('/')) {
    throw new RunArgumentError(`-w ${o.workdir}: the working directory must be an absolute path`);
  }
  const securityContext = o.user !== undefined ? parseUser(o.user) : undefined;
  const limits: Record<string, string> = {};
  if (o.memory) limits.memory = memoryQuantity(o.memory);
  if (o.cpu) limits.cpu = o.cpu;
  const container: Record<string, unknown> = {
    name: 'main',
    image,
    ...(args.length ? { args } : {}),
    ...(vars.length ? { env: vars } : {}),
    ...(ports.length ? { ports } : {}),
    ...(volumes.length ? { volumeMounts: volumes.map((v) => v.mount) } : {}),
    ...(o.workdir !== undefined ? { workingDir: o.workdir } : {}),
    ...(securityContext ? { securityContext } : {}),
    ...(Object.keys(limits).length ? { resources: { limits } } : {}),
    // As `kubectl run -i`: the run's input is the container's, and ends with it. Detached (`-dit`, as
    // docker's), stdin stays open for whoever attaches later.
    ...(o.interactive ? { stdin: true, stdinOnce: !o.detach } : {}),
    ...(o.tty ? { tty: true } : {}),
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { 'strata.dev/run': name } },
    spec: {
      runtimeClassName: runtime,
      restartPolicy: o.restart ?? 'Never',
      containers: [container],
      ...(volumes.length ? { volumes: volumes.map((v) => v.volume) } : {}),
    },
  };
}
