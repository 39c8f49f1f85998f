// The container tier's artifact preparation (ArtifactDriver): the image from the node's image store
// (pulled from its registry when the pull policy says so), an overlay snapshot of it per sandbox (lower
// layers shared, an upper dir of its own) as the root filesystem, and the image's configuration
// (entrypoint, cmd, env, user, …). With spares (rootfs-spares.ts) a mounted snapshot made ahead is
// claimed instead of one prepared and mounted on the start's path.
import { ImageError, ImageStore, mountRootfs, pullImage } from '../../image/index.ts';
import { SandboxError } from '../driver.ts';
import { defaultPullPolicy, registryClientFor, type PullPolicy } from '../image-pull.ts';
import { parseImageConfig, type ContainerImageConfig } from './image-config.ts';
import type { RootfsSpares } from './rootfs-spares.ts';

export interface PreparedContainerImage {
  rootfs: string;
  imageConfig: ContainerImageConfig;
  /** The manifest digest the rootfs came from (reported as the container's imageID). */
  imageID: string;
  /** Unmount and delete the sandbox's snapshot. Idempotent. */
  release(): Promise<void>;
}

/** Image store errors as the waiting reasons Kubernetes users know. */
function asSandboxError(err: unknown, image: string): SandboxError {
  if (err instanceof SandboxError) return err;
  const code = err instanceof ImageError ? err.code : undefined;
  const message = `${image}: ${(err as Error).message}`;
  if (code === 'DigestMismatch') return new SandboxError('InvalidImageDigest', message);
  if (code === 'UnsafeLayer' || code === 'InvalidLayer')
    return new SandboxError('CreateContainerError', message);
  return new SandboxError('ErrImagePull', message);
}

export async function prepareContainerImage(
  store: ImageStore,
  image: string,
  pullPolicy: PullPolicy | undefined,
  sandboxId: string,
  credentials?: Record<string, { username: string; password: string }>,
  spares?: RootfsSpares,
): Promise<PreparedContainerImage> {
  try {
    const policy = pullPolicy ?? defaultPullPolicy(image);
    const present = await store.get(image);
    // A locally imported image (no registry behind it) is used as it is, even under Always.
    if (!present || policy === 'Always') {
      if (policy === 'Never' && !present) {
        throw new SandboxError(
          'ErrImageNeverPull',
          `${image} is not present on the node and imagePullPolicy is Never`,
        );
      }
      try {
        await pullImage(store, image, { client: registryClientFor(image, credentials) });
      } catch (err) {
        if (!present) throw err;
      }
    }
    const resolved = await store.resolve(image);
    if (!resolved.config) throw new SandboxError('CreateContainerError', `${image} is not a container image`);
    const prepared =
      (await spares?.take(image, resolved.manifestDescriptor.digest, sandboxId)) ??
      (await store.prepare(image, sandboxId));
    await mountRootfs(prepared);
    return {
      rootfs: prepared.rootfs,
      imageConfig: parseImageConfig(resolved.config, `${image} config`),
      imageID: prepared.manifestDigest,
      release: () => store.removeRootfs(sandboxId),
    };
  } catch (err) {
    throw asSandboxError(err, image);
  }
}
