// Image signatures end to end: a cluster started with DATA/image-signatures.yaml trusting a key made
// here; images pushed to Debian's docker-registry and signed (or not) with Strata's own cosign code.
// kubectl sees an unsigned and a wrongly-signed image refused with the reason; the signed one is
// admitted and, where this machine runs containers, pulled (checked again on the node) and run.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushCosignSignature, resolveDigest } from '../../src/image/cosign.ts';
import { parseReference } from '../../src/image/reference.ts';
import { RegistryClient } from '../../src/image/registry-client.ts';
import { testImages, testImagesUnavailable } from '../../src/image/testing/fixtures.ts';
import {
  type LocalRegistry,
  registryUnavailable,
  startLocalRegistry,
  toolMissing,
} from '../../src/image/testing/local-registry.ts';
import { Cluster, waitFor } from './harness.ts';

const skip = registryUnavailable() ?? testImagesUnavailable() ?? toolMissing('skopeo', 'skopeo');
if (skip) console.log(`skipping image signature e2e: ${skip}`);
// Running the signed image needs the container tier (root and runc); admission is checked regardless.
const runsContainers = process.getuid?.() === 0 && !toolMissing('runc', 'runc');

const pem = (k: { export(o: object): string | Buffer }, type: string) =>
  k.export({ type, format: 'pem' }).toString();
const trusted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe.skipIf(skip)('image signatures with kubectl', () => {
  let c: Cluster;
  let reg: LocalRegistry;
  const client = new RegistryClient();
  const push = (repo: string) => {
    execFileSync('skopeo', [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${testImages()}/busybox:latest`,
      `docker://${reg.host}/${repo}:1`,
    ]);
    return `${reg.host}/${repo}:1`;
  };
  const sign = async (image: string, key: typeof trusted.privateKey) => {
    const ref = parseReference(image);
    await pushCosignSignature(client, ref, await resolveDigest(client, ref), key);
  };
  const pod = (name: string, image: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  runtimeClassName: container
  containers:
  - name: app
    image: ${image}
    command: [sleep, "3600"]
`;

  beforeAll(async () => {
    reg = await startLocalRegistry();
    c = new Cluster();
    mkdirSync(join(c.dir, 'data'), { recursive: true });
    writeFileSync(
      join(c.dir, 'data', 'image-signatures.yaml'),
      `apiVersion: policy.strata.dev/v1alpha1
kind: ImageSignaturePolicy
policies:
- name: team
  images: ["${reg.host}/team/**"]
  keys:
  - |
${pem(trusted.publicKey, 'spki')
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`,
    );
    await c.up(['--runtimes', runsContainers ? 'wasm,container' : 'wasm']);
  });
  afterAll(async () => {
    await c?.stop();
    await reg?.stop();
  });

  it('unsigned and wrongly-signed images are refused, with the reason', async () => {
    const unsigned = push('team/unsigned');
    const r1 = await c.kubectl(['apply', '-f', '-'], { input: pod('unsigned', unsigned) });
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toContain(
      `pods "unsigned" is forbidden: image "${unsigned}" does not satisfy image signature policy "team": no signature: ${reg.host}/team/unsigned:sha256-`,
    );
    const wrong = push('team/wrong');
    await sign(wrong, other.privateKey);
    const r2 = await c.kubectl(['apply', '-f', '-'], { input: pod('wrong', wrong) });
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toContain(
      `image "${wrong}" does not satisfy image signature policy "team": signature does not verify with any trusted key`,
    );
  });

  it('a signed image is admitted and runs', async () => {
    const signed = push('team/signed');
    await sign(signed, trusted.privateKey);
    const r = await c.kubectl(['apply', '-f', '-'], { input: pod('signed', signed) });
    expect(r.stderr).not.toContain('forbidden');
    expect(r.stdout.trim()).toBe('pod/signed created');
    if (!runsContainers) {
      console.log('not running the pod: the container tier needs root and runc');
      return;
    }
    await waitFor(
      'signed pod Running',
      async () =>
        (await c.kubectl(['get', 'pod', 'signed', '-o', 'jsonpath={.status.phase}'])).stdout === 'Running',
      120_000,
    );
  });
});
