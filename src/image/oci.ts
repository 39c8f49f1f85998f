// OCI image-spec and Docker v2 schema2 documents: media types, and zod schemas that check the fields
// Strata relies on while keeping every other field (a manifest's bytes are never re-serialised: its
// digest is over the exact bytes a registry or layout gave us).
import { z } from 'zod';
import { isDigest, sha256, type Digest } from './digest.ts';
import { ImageError } from './errors.ts';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  wasmLayer: 'application/vnd.wasm.content.layer.v1+wasm',
  wasm: 'application/wasm',
  wasmConfig: 'application/vnd.wasm.config.v0+json',
} as const;

export const MANIFEST_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
export const INDEX_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
export const IMAGE_CONFIG_TYPES: readonly string[] = [MediaType.ociConfig, MediaType.dockerConfig];
export const WASM_LAYER_TYPES: readonly string[] = [MediaType.wasmLayer, MediaType.wasm];
/** Layer media types that unpack into a filesystem. */
export const FS_LAYER_TYPES: readonly string[] = [
  MediaType.ociLayer,
  MediaType.ociLayerGzip,
  MediaType.ociLayerZstd,
  MediaType.ociLayerNondistributable,
  MediaType.ociLayerNondistributableGzip,
  MediaType.ociLayerNondistributableZstd,
  MediaType.dockerLayerGzip,
  MediaType.dockerForeignLayerGzip,
];

/** Manifests and indexes larger than this are refused (containerd uses the same bound). */
export const MAX_MANIFEST_BYTES = 4 << 20;

const digest = z
  .string()
  .refine(isDigest, 'must be a sha256:<64 hex> digest') as unknown as z.ZodType<Digest>;

export const platformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
});
export type Platform = z.infer<typeof platformSchema>;

export const descriptorSchema = z.looseObject({
  mediaType: z.string(),
  digest,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: platformSchema.optional(),
  artifactType: z.string().optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

export const manifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const indexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type Index = z.infer<typeof indexSchema>;

export const imageConfigSchema = z.looseObject({
  architecture: z.string().optional(),
  os: z.string().optional(),
  variant: z.string().optional(),
  created: z.string().optional(),
  config: z
    .looseObject({
      User: z.string().optional(),
      Env: z.array(z.string()).nullish(),
      Entrypoint: z.array(z.string()).nullish(),
      Cmd: z.array(z.string()).nullish(),
      WorkingDir: z.string().optional(),
      ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
      Labels: z.record(z.string(), z.string()).nullish(),
      StopSignal: z.string().optional(),
    })
    .nullish(),
  rootfs: z.looseObject({ type: z.literal('layers'), diff_ids: z.array(digest) }),
  history: z.array(z.unknown()).optional(),
});
export type ImageConfig = z.infer<typeof imageConfigSchema>;

export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: Manifest }
  | { kind: 'index'; mediaType: string; index: Index };

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new ImageError('InvalidManifest', `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const at = issue.path.length ? ` at ${issue.path.join('.')}` : '';
  throw new ImageError('InvalidManifest', `${what} is invalid${at}: ${issue.message}`);
}

/**
 * Parses a manifest or index. The media type comes from the descriptor or Content-Type when known, else
 * from the document's own `mediaType`, else from its shape (OCI allows omitting it).
 */
export function parseManifest(bytes: Uint8Array, mediaType?: string, what = 'manifest'): ParsedManifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES)
    throw new ImageError('TooLarge', `${what} is ${bytes.byteLength} bytes (limit ${MAX_MANIFEST_BYTES})`);
  const doc = parseJson(bytes, what) as Record<string, unknown>;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new ImageError('InvalidManifest', `${what} is not a JSON object`);
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  let type = mediaType && mediaType !== 'application/json' ? mediaType : declared;
  if (type === MediaType.dockerSchema1 || type === MediaType.dockerSchema1Signed || doc.schemaVersion === 1)
    throw new ImageError(
      'Unsupported',
      `${what} uses Docker schema 1, which is deprecated and not supported`,
    );
  type ??= Array.isArray(doc.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
  if (INDEX_TYPES.includes(type))
    return { kind: 'index', mediaType: type, index: check(indexSchema, doc, what) };
  if (MANIFEST_TYPES.includes(type))
    return { kind: 'manifest', mediaType: type, manifest: check(manifestSchema, doc, what) };
  throw new ImageError('Unsupported', `${what} has unsupported media type ${JSON.stringify(type)}`);
}

export function parseImageConfig(bytes: Uint8Array, what = 'image config'): ImageConfig {
  return check(imageConfigSchema, parseJson(bytes, what), what);
}

/** A descriptor for bytes we hold, e.g. a manifest we just built. */
export function describe(mediaType: string, bytes: Uint8Array): Descriptor {
  return { mediaType, digest: sha256(bytes), size: bytes.byteLength };
}

/** True for a manifest whose layers are WebAssembly modules rather than filesystem tars. */
export function isWasmManifest(m: Manifest): boolean {
  return m.layers.length > 0 && m.layers.every((l) => WASM_LAYER_TYPES.includes(l.mediaType));
}

/** Chain IDs as the OCI image spec defines them: the identity of a stack of layers. */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}
