// v1 Secret: like a ConfigMap, but values are base64 and `stringData` is a write-only convenience.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { ObjectMeta } from '../meta.ts';
import { Base64, checkDataKeys, MAX_DATA_BYTES } from './configmap.ts';

// Keys a typed Secret must carry, so consumers (TLS, registry auth) can rely on them.
const REQUIRED_KEYS: Record<string, string[]> = {
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
};

export const Secret = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.literal('Secret'),
    metadata: ObjectMeta,
    type: z.string().min(1).default('Opaque'),
    data: z.record(z.string(), Base64).optional(),
    stringData: z.record(z.string(), z.string()).optional(),
    immutable: z.boolean().optional(),
  })
  .superRefine((s, ctx) => {
    checkDataKeys(ctx, 'data', s.data);
    checkDataKeys(ctx, 'stringData', s.stringData);
    // Size after folding: stringData wins over data for the same key.
    const sizes = new Map<string, number>();
    for (const [k, v] of Object.entries(s.data ?? {})) sizes.set(k, Buffer.from(v, 'base64').length);
    for (const [k, v] of Object.entries(s.stringData ?? {})) sizes.set(k, Buffer.byteLength(v));
    let size = 0;
    for (const n of sizes.values()) size += n;
    if (size > MAX_DATA_BYTES) addCause(ctx, ['data'], Reason.TooLong, msg.tooLong(MAX_DATA_BYTES));
    for (const key of REQUIRED_KEYS[s.type] ?? [])
      if (!sizes.has(key))
        addCause(ctx, ['data', key], Reason.Required, msg.required(`required for type ${s.type}`));
  });
export type Secret = z.infer<typeof Secret>;

/** Fold `stringData` into base64 `data` and drop it: stored Secrets only ever have `data`. */
export function defaultSecret(s: Secret): void {
  if (!s.stringData) return;
  s.data = { ...s.data };
  for (const [k, v] of Object.entries(s.stringData)) s.data[k] = Buffer.from(v, 'utf8').toString('base64');
  delete s.stringData;
}
