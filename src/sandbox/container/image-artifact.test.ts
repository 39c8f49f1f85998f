// The container tier's optional parts that turn a pod's container into a spec (ArtifactDriver and
// TierOptionsDriver): an image from the node's image store becomes an overlay rootfs of the sandbox's
// own, argv follows Kubernetes' command/args rules, and the pod's securityContext and cpu request become
// typed options. Needs root (overlay mounts); skipped otherwise.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageStore, importImage } from '../../image/index.ts';
import { overlayUnavailable, testImages, testImagesUnavailable } from '../../image/testing/fixtures.ts';
import { ContainerDriver } from './driver.ts';
import { tempDir } from './test-support.ts';
import { podEtcFiles } from '../../net/pod-etc-files.ts';

const unavailable = overlayUnavailable() ?? testImagesUnavailable();
if (unavailable) console.warn(`skipping container artifact tests: ${unavailable}`);

describe.skipIf(unavailable)('the container tier prepares artifacts and options', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: ImageStore;
  let driver: ContainerDriver;
  const runDir = `/run/strata-test-${process.pid}-artifact`;

  beforeAll(async () => {
    tmp = tempDir('strata-ct-artifact-');
    store = new ImageStore(join(tmp.path, 'images'));
    await importImage(store, join(testImages(), 'busybox'), { name: 'busybox:1' });
    driver = new ContainerDriver({
      etcFiles: podEtcFiles(),
      stateDir: join(tmp.path, 'state'),
      runDir,
      images: store,
    });
  });
  afterAll(async () => {
    await driver?.shutdown();
    tmp?.remove();
    rmSync(runDir, { recursive: true, force: true });
  });

  it('mounts a snapshot per sandbox, applies command/args over the image, and releases it', async () => {
    const container = { name: 'main', image: 'busybox:1', command: ['sh', '-c'], args: ['echo hi'] };
    const a = await driver.prepareArtifact({ sandboxId: 'sb-a', container });
    const b = await driver.prepareArtifact({
      sandboxId: 'sb-b',
      container: { ...container, command: undefined },
    });
    try {
      expect(a.image).not.toBe(b.image);
      expect(readdirSync(a.image)).toContain('bin');
      expect(a.args).toEqual(['sh', '-c', 'echo hi']);
      // args alone replace the image's cmd and keep its entrypoint (none here).
      expect(b.args).toEqual(['echo hi']);
      expect(a.imageID).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(a.imageDigest).toBeUndefined();
      expect(a.options?.imageConfig).toBeDefined();
    } finally {
      await a.release?.();
      // A sandbox re-adopted after an agent restart has lost its release(): the driver releases by id.
      await driver.releaseArtifact('sb-b');
    }
    expect(existsSync(a.image)).toBe(false);
    expect(existsSync(b.image)).toBe(false);
  });

  it('refuses an image that is absent under imagePullPolicy Never', async () => {
    await expect(
      driver.prepareArtifact({
        sandboxId: 'sb-c',
        container: { name: 'main', image: 'registry.example/none:1', imagePullPolicy: 'Never' },
      }),
    ).rejects.toMatchObject({ reason: 'ErrImageNeverPull' });
  });

  it('reads typed options off the pod container, on top of what the image gave', () => {
    const imageConfig = { entrypoint: [], cmd: ['sh'], env: {} };
    const options = driver.tierOptions(
      {
        sandboxId: 'sb-d',
        container: {
          name: 'main',
          image: 'busybox:1',
          securityContext: { runAsUser: 1000, readOnlyRootFilesystem: true },
          resources: { requests: { cpu: '250m' } },
        },
      },
      { image: '/rootfs', options: { imageConfig } },
    );
    expect(options).toEqual({
      imageConfig,
      securityContext: { runAsUser: 1000, readOnlyRootFilesystem: true },
      cpuRequest: 0.25,
      terminationMessagePath: '/dev/termination-log',
    });
    // Kubernetes' default termination message path, whatever the container declares.
    expect(
      driver.tierOptions({ sandboxId: 'sb-e', container: { name: 'main', image: 'x' } }, undefined),
    ).toEqual({ terminationMessagePath: '/dev/termination-log' });
    // Pod-level settings the tier applies: hostname, hostAliases, safe sysctls.
    expect(
      driver.tierOptions(
        {
          sandboxId: 'sb-f',
          container: { name: 'main', image: 'x' },
          podSpec: {
            containers: [],
            hostname: 'web-0',
            hostAliases: [{ ip: '10.0.0.1', hostnames: ['db'] }],
            securityContext: { sysctls: [{ name: 'net.ipv4.tcp_syncookies', value: '1' }] },
          } as any,
        },
        undefined,
      ),
    ).toMatchObject({
      hostname: 'web-0',
      hostAliases: [{ ip: '10.0.0.1', hostnames: ['db'] }],
      sysctls: { 'net.ipv4.tcp_syncookies': '1' },
    });
  });

  it('without an image store it cannot prepare images', async () => {
    const bare = new ContainerDriver({ etcFiles: podEtcFiles(), stateDir: join(tmp.path, 'bare'), runDir });
    try {
      await expect(
        bare.prepareArtifact({ sandboxId: 'sb-f', container: { name: 'main', image: 'busybox:1' } }),
      ).rejects.toMatchObject({ reason: 'CreateContainerError', message: 'this node has no image store' });
      expect(bare.capabilities).toMatchObject({ artifacts: true, tierOptions: true, podNetwork: false });
    } finally {
      await bare.shutdown();
    }
  });
});
