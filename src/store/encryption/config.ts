// Reads an `EncryptionConfiguration` (apiserver.config.k8s.io/v1, kube-apiserver's
// --encryption-provider-config) into the transformers the encrypted store applies per resource.
//
//   apiVersion: apiserver.config.k8s.io/v1
//   kind: EncryptionConfiguration
//   resources:
//     - resources: [secrets]            # also configmaps, deployments.apps, *.apps, *. (core), *.*
//       providers:                      # the first writes; every one is tried on read
//         - kms: {apiVersion: v2, name: local, endpoint: file:///etc/strata/kek}   # KEK file, mode 0600
//         - aesgcm: {keys: [{name: key1, secret: <base64 of 32 bytes>}]}
//         - identity: {}
//
// As in Kubernetes, the first resources entry that names a resource decides its providers, each aesgcm
// key is a provider of its own (the first key of the first provider writes), and reading an object stored
// unencrypted needs `identity` in the list. `kms` is local here: its endpoint is `file://<path>` of a
// key-encryption key (32 bytes, raw or base64) that only its owner may read; a missing or loose file
// refuses the configuration, naming the path. secretbox and aescbc are not offered (no XSalsa20 in
// node:crypto, and aescbc is deprecated by Kubernetes); naming one is a clear error.
import { readFileSync, statSync } from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import {
  AesGcmProvider,
  DecryptionError,
  ENC_PREFIX,
  IdentityProvider,
  LocalKmsProvider,
  type Provider,
} from './providers.ts';

/** The configuration file is unusable; the message names the file and the field, never a key's bytes. */
export class EncryptionConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncryptionConfigError';
  }
}

const keySchema = z.object({ name: z.string().min(1), secret: z.string().min(1) });
const providerSchema = z
  .object({
    aesgcm: z.object({ keys: z.array(keySchema).min(1) }).optional(),
    kms: z
      .object({
        apiVersion: z.enum(['v1', 'v2']).optional(),
        name: z.string().min(1),
        endpoint: z.string().min(1),
        cachesize: z.number().optional(),
        timeout: z.string().optional(),
      })
      .optional(),
    identity: z.object({}).optional(),
    secretbox: z.unknown().optional(),
    aescbc: z.unknown().optional(),
  })
  .strict();
const configSchema = z.object({
  apiVersion: z.literal('apiserver.config.k8s.io/v1'),
  kind: z.literal('EncryptionConfiguration'),
  resources: z
    .array(
      z.object({
        resources: z.array(z.string().min(1)).min(1),
        providers: z.array(providerSchema).min(1),
      }),
    )
    .min(1),
});

/** The providers of one resources entry, in order: what seals and opens the values of its resources. */
export class Transformer {
  readonly providers: readonly Provider[];
  readonly #writer: Provider;
  readonly #identity: boolean;
  constructor(providers: Provider[]) {
    this.providers = providers;
    this.#writer = providers[0];
    this.#identity = providers.some((p) => p.prefix === undefined);
  }

  /** What the first provider stores for `value` under `key`. */
  seal(key: string, value: unknown): unknown {
    if (this.#writer.prefix === undefined) return value;
    return this.#writer.seal(key, JSON.stringify(value));
  }

  /** The object back from what is stored under `key`, by whichever provider wrote it. */
  open(key: string, stored: unknown): unknown {
    if (typeof stored === 'string' && stored.startsWith(ENC_PREFIX)) {
      for (const p of this.providers) {
        if (p.prefix !== undefined && stored.startsWith(p.prefix)) return JSON.parse(p.open(key, stored));
      }
      // The prefix names the provider and key that wrote it (k8s:enc:aesgcm:v1:key1:); never the payload.
      const writtenBy = stored.slice(ENC_PREFIX.length).split(':').slice(0, 3).join(':');
      throw new DecryptionError(
        key,
        `it was written by ${writtenBy}, which the encryption configuration no longer lists`,
      );
    }
    if (!this.#identity)
      throw new DecryptionError(
        key,
        'it is stored unencrypted and identity is not among its providers (add identity last, then run strata secrets reencrypt)',
      );
    return stored;
  }

  /** True when the value is already what the first provider would write (same provider and key). */
  isCurrent(stored: unknown): boolean {
    const p = this.#writer.prefix;
    return p === undefined ? typeof stored !== 'string' : typeof stored === 'string' && stored.startsWith(p);
  }
}

interface Rule {
  group: string | '*';
  resource: string | '*';
  transformer: Transformer;
}

/** Which transformer a store key's resource gets (keys are /registry/<group or core>/<plural>/...). */
export class EncryptionConfig {
  readonly #rules: Rule[];
  /** Resolved per `<group>/<plural>` prefix: a key's lookup is one split and one map hit. */
  readonly #cache = new Map<string, Transformer | null>();
  /** The file it came from. */
  readonly source: string;

  constructor(rules: Rule[], source: string) {
    this.#rules = rules;
    this.source = source;
  }

  /** The resources entries' patterns, for messages: `secrets`, `*.apps` … */
  get resources(): string[] {
    return this.#rules.map((r) =>
      r.group === '' ? r.resource : `${r.resource}.${r.group === '*' ? '*' : r.group}`,
    );
  }

  transformerForResource(group: string, resource: string): Transformer | undefined {
    const id = `${group}/${resource}`;
    let t = this.#cache.get(id);
    if (t === undefined) {
      const rule = this.#rules.find(
        (r) => (r.group === '*' || r.group === group) && (r.resource === '*' || r.resource === resource),
      );
      t = rule?.transformer ?? null;
      this.#cache.set(id, t);
    }
    return t ?? undefined;
  }

  /** The transformer for a store key, or undefined when its values are stored as they are. */
  transformerFor(key: string): Transformer | undefined {
    // /registry/<group>/<plural>/...
    if (!key.startsWith('/registry/')) return undefined;
    const slash1 = key.indexOf('/', 10);
    if (slash1 < 0) return undefined;
    const slash2 = key.indexOf('/', slash1 + 1);
    if (slash2 < 0) return undefined;
    const group = key.slice(10, slash1);
    return this.transformerForResource(group === 'core' ? '' : group, key.slice(slash1 + 1, slash2));
  }
}

/** `secrets` → core secrets; `deployments.apps`; `*.apps`; `*.` every core resource; `*.*` everything. */
function parseResourceName(name: string, where: string): { group: string; resource: string } {
  if (name === '*.*') return { group: '*', resource: '*' };
  const dot = name.indexOf('.');
  const resource = dot < 0 ? name : name.slice(0, dot);
  const group = dot < 0 ? '' : name.slice(dot + 1);
  if (resource === '' || (resource === '*' && dot < 0) || group === '*')
    throw new EncryptionConfigError(
      `${where}: ${JSON.stringify(name)} is not a resource (use secrets, deployments.apps, *.apps, *. or *.*)`,
    );
  return { group, resource };
}

function decodeKey(secret: string, where: string): Buffer {
  const b = Buffer.from(secret, 'base64');
  // Buffer.from ignores what is not base64; a round trip shows it was base64 all along.
  if (b.toString('base64').replace(/=+$/, '') !== secret.trim().replace(/=+$/, ''))
    throw new EncryptionConfigError(`${where}.secret: must be base64`);
  if (![16, 24, 32].includes(b.length))
    throw new EncryptionConfigError(`${where}.secret: must be base64 of 16, 24 or 32 bytes, got ${b.length}`);
  return b;
}

/** Reads the KEK file: it must exist, belong to its owner alone (no group/other bits) and hold 32 bytes. */
export function readKek(path: string, where: string): Buffer {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new EncryptionConfigError(
      `${where}: key-encryption key file ${path}: ${code === 'ENOENT' ? 'not found' : (err as Error).message}`,
    );
  }
  if ((mode & 0o077) !== 0)
    throw new EncryptionConfigError(
      `${where}: key-encryption key file ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
    );
  const raw = readFileSync(path);
  if (raw.length === 32) return raw;
  const text = raw.toString('utf8').trim();
  const b = Buffer.from(text, 'base64');
  if (b.length !== 32)
    throw new EncryptionConfigError(
      `${where}: key-encryption key file ${path} must hold 32 bytes (raw, or base64 text)`,
    );
  return b;
}

function buildProvider(p: z.infer<typeof providerSchema>, where: string): Provider[] {
  const kinds = Object.keys(p).filter((k) => (p as Record<string, unknown>)[k] !== undefined);
  if (kinds.length !== 1)
    throw new EncryptionConfigError(
      `${where}: exactly one of aesgcm, kms, identity must be given, got ${kinds.join(', ') || 'none'}`,
    );
  if (p.secretbox !== undefined || p.aescbc !== undefined)
    throw new EncryptionConfigError(
      `${where}.${kinds[0]}: not supported by Strata; use aesgcm or kms (local envelope encryption)`,
    );
  if (p.identity) return [new IdentityProvider()];
  if (p.aesgcm) {
    const names = new Set<string>();
    return p.aesgcm.keys.map((k, i) => {
      const at = `${where}.aesgcm.keys[${i}]`;
      if (!/^[A-Za-z0-9_.-]+$/.test(k.name))
        throw new EncryptionConfigError(`${at}.name: ${JSON.stringify(k.name)}: use letters, digits, - _ .`);
      if (names.has(k.name)) throw new EncryptionConfigError(`${at}.name: duplicate key name ${k.name}`);
      names.add(k.name);
      return new AesGcmProvider(k.name, decodeKey(k.secret, at));
    });
  }
  const kms = p.kms!;
  if (!/^[A-Za-z0-9_.-]+$/.test(kms.name))
    throw new EncryptionConfigError(
      `${where}.kms.name: ${JSON.stringify(kms.name)}: use letters, digits, - _ .`,
    );
  if (!kms.endpoint.startsWith('file://'))
    throw new EncryptionConfigError(
      `${where}.kms.endpoint: ${kms.endpoint}: Strata's kms provider is local; give file:///path/to/key-encryption-key`,
    );
  const path = decodeURIComponent(new URL(kms.endpoint).pathname);
  return [new LocalKmsProvider(kms.name, kms.apiVersion ?? 'v2', readKek(path, `${where}.kms`), path)];
}

/** Parses the configuration text (YAML or JSON); `source` names it in errors. */
export function parseEncryptionConfig(text: string, source: string): EncryptionConfig {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new EncryptionConfigError(`${source}: not YAML or JSON: ${(err as Error).message}`);
  }
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // Only the path and zod's message: a key's value never reaches the error.
    throw new EncryptionConfigError(`${source}: ${issue.path.join('.') || '(document)'}: ${issue.message}`);
  }
  const rules: Rule[] = [];
  parsed.data.resources.forEach((entry, i) => {
    const providers = entry.providers.flatMap((p, j) =>
      buildProvider(p, `${source}: resources[${i}].providers[${j}]`),
    );
    const transformer = new Transformer(providers);
    entry.resources.forEach((name, k) => {
      const { group, resource } = parseResourceName(name, `${source}: resources[${i}].resources[${k}]`);
      rules.push({ group, resource, transformer });
    });
  });
  return new EncryptionConfig(rules, source);
}

/** Reads --encryption-provider-config. */
export function loadEncryptionConfig(path: string): EncryptionConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new EncryptionConfigError(`--encryption-provider-config ${path}: ${(err as Error).message}`);
  }
  return parseEncryptionConfig(text, path);
}
