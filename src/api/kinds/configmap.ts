// v1 ConfigMap: non-secret configuration, consumed as env vars or files in a volume.
import { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import { ObjectMeta } from '../meta.ts';
import { configKeyErrors } from '../names.ts';

/** ConfigMaps and Secrets are stored whole and sent to every consuming node: keep them small. */
export const MAX_DATA_BYTES = 1024 * 1024;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 with padding, as Kubernetes' JSON decoding of []byte requires. */
export const Base64 = z.string().superRefine((v, ctx) => {
  if (!BASE64.test(v))
    addCause(ctx, [], Reason.Invalid, msg.invalid(v, 'must be valid base64 (standard alphabet, padded)'));
});

/** Report bad keys of a data map at `field[key]`; returns nothing, errors go to ctx. */
export function checkDataKeys(
  ctx: z.RefinementCtx<any>,
  field: string,
  map: Record<string, string> | undefined,
): void {
  for (const key of Object.keys(map ?? {}))
    for (const e of configKeyErrors(key)) addCause(ctx, [field, key], Reason.Invalid, msg.invalid(key, e));
}

export const ConfigMap = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.literal('ConfigMap'),
    metadata: ObjectMeta,
    data: z.record(z.string(), z.string()).optional(),
    binaryData: z.record(z.string(), Base64).optional(),
    immutable: z.boolean().optional(),
  })
  .superRefine((cm, ctx) => {
    checkDataKeys(ctx, 'data', cm.data);
    checkDataKeys(ctx, 'binaryData', cm.binaryData);
    let size = 0;
    for (const v of Object.values(cm.data ?? {})) size += Buffer.byteLength(v);
    for (const [k, v] of Object.entries(cm.binaryData ?? {})) {
      size += Buffer.from(v, 'base64').length;
      if (cm.data && k in cm.data)
        addCause(ctx, ['binaryData', k], Reason.Duplicate, `${msg.duplicate(k)}: also present in data`);
    }
    if (size > MAX_DATA_BYTES) addCause(ctx, ['data'], Reason.TooLong, msg.tooLong(MAX_DATA_BYTES));
  });
export type ConfigMap = z.infer<typeof ConfigMap>;
