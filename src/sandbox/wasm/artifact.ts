// The wasm tier's artifact preparation (ArtifactDriver): where a module comes from. An https:// (or
// other scheme) URL or a path on the node — relative paths resolve against the agent's working
// directory — go to start() as they are (module-source.ts fetches and verifies them); anything else
// is an OCI reference to a wasm artifact, pulled through the node's image store and verified there.
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Container } from '../../api/index.ts';
import { resolveWasmModule, type ImageStore } from '../../image/index.ts';
import { SandboxError, type PreparedArtifact } from '../driver.ts';
import { defaultPullPolicy, parseImagePin, registryClientFor } from '../image-pull.ts';

export async function prepareWasmModule(
  container: Pick<Container, 'image' | 'imagePullPolicy'>,
  workDir: string,
  images: ImageStore | undefined,
): Promise<PreparedArtifact> {
  const { ref, digest } = parseImagePin(container.image);
  const module = (image: string): PreparedArtifact => ({ image, ...(digest ? { imageDigest: digest } : {}) });
  if (/^[a-z]+:\/\//.test(ref) || isAbsolute(ref)) return module(ref);
  const local = resolve(workDir, ref);
  if (ref.endsWith('.wasm') || existsSync(local) || !images) return module(local);
  try {
    return module(
      await resolveWasmModule(images, ref, {
        pullPolicy: container.imagePullPolicy ?? defaultPullPolicy(ref),
        client: registryClientFor(ref),
      }),
    );
  } catch (err) {
    throw new SandboxError('ErrImagePull', `${ref}: ${(err as Error).message}`);
  }
}
