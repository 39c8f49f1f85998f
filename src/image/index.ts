// The node's OCI image management: content store, references, image store (tags, import/export, GC),
// registry client (pull/push), layer snapshots for overlayfs, and wasm artifacts.
export { ContentStore, type BlobRef, type BlobWriter } from './content-store.ts';
export { digestHex, isDigest, parseDigest, sha256, shortDigest, type Digest } from './digest.ts';
export { ImageError, isImageError, type ImageErrorCode } from './errors.ts';
export { collectGarbage, type GcOptions, type GcResult } from './gc.ts';
export {
  defaultImageRoot,
  ImageStore,
  type ImageInspect,
  type ImageRecord,
  type ImageStoreOptions,
  type ResolvedImage,
} from './image-store.ts';
export { importImage } from './archive.ts';
export { importDockerSave } from './docker-archive.ts';
export {
  exportOciLayout,
  importOciLayoutDir,
  type ExportOptions,
  type ImportedImage,
  type ImportOptions,
} from './oci-layout.ts';
export {
  chainIds,
  isWasmManifest,
  MediaType,
  parseImageConfig,
  parseManifest,
  type Descriptor,
  type ImageConfig,
  type Index,
  type Manifest,
} from './oci.ts';
export { defaultPlatform, formatPlatform, parsePlatform, selectManifest, type Platform } from './platform.ts';
export { pullImage, type PullOptions, type PullResult } from './pull.ts';
export { pushImage, type PushOptions, type PushResult } from './push.ts';
export { familiarReference, formatReference, parseReference, type Reference } from './reference.ts';
export { type Credentials } from './registry-auth.ts';
export { RegistryClient, type RegistryClientOptions, type TransferProgress } from './registry-client.ts';
export {
  mountRootfs,
  Snapshotter,
  unmountRootfs,
  type LayerSource,
  type PreparedRootfs,
} from './snapshots.ts';
export { unpackLayer, type UnpackOptions, type UnpackResult } from './unpack.ts';
export { resolveWasmModule, type ResolveWasmOptions } from './wasm.ts';
