// Image pull throughput from a local registry (Debian's docker-registry on 127.0.0.1): Strata's pull
// (in process, and as the `strata image pull` CLI process) beside `skopeo copy docker://… oci:…` of the
// same image, measured in the same run, rounds interleaved.
//
//   npm run bench -- image-pull [ROUNDS=7] [RANDOM_MB=24]
//
// The image: the busybox test layer plus three layers of random data (RANDOM_MB in total, generated here;
// random bytes do not compress, so the bytes on the wire are the layer sizes). Every pull goes into a
// fresh store / layout directory; both sides verify digests.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { ImageStore } from '../src/image/image-store.ts';
import { pullImage } from '../src/image/pull.ts';
import { sha256 } from '../src/image/digest.ts';
import { MediaType } from '../src/image/oci.ts';
import { tarOf, tempDir, testImages, repoRoot } from '../src/image/testing/fixtures.ts';
import { registryUnavailable, startLocalRegistry, toolMissing } from '../src/image/testing/local-registry.ts';
import { printTable, summarize } from './lib/stats.ts';

const ROUNDS = Number(process.argv[2] ?? 7);
const RANDOM_MB = Number(process.argv[3] ?? 24);
const run = promisify(execFile);

const missing = registryUnavailable() ?? toolMissing('skopeo', 'skopeo');
if (missing) {
  console.error(`image-pull: ${missing}`);
  process.exit(1);
}

const tmp = tempDir('strata-bench-pull-');
const layout = join(tmp.path, 'layout');
cpSync(join(testImages(), 'busybox'), layout, { recursive: true });

/** Adds layers of random data to the busybox layout and rewrites its manifest and index. */
async function buildImage(): Promise<{ digest: string; bytes: number; layers: number }> {
  const blob = (d: string): string => join(layout, 'blobs/sha256', d.slice(7));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8'));
  const per = Math.round((RANDOM_MB * 1e6) / 3);
  for (let i = 0; i < 3; i++) {
    const tar = await tarOf([{ name: `data/random-${i}.bin`, data: randomBytes(per) }]);
    const gz = gzipSync(tar, { level: 1 });
    writeFileSync(blob(sha256(gz)), gz);
    manifest.layers.push({ mediaType: MediaType.ociLayerGzip, digest: sha256(gz), size: gz.length });
    config.rootfs.diff_ids.push(sha256(tar));
  }
  const cfg = Buffer.from(JSON.stringify(config));
  writeFileSync(blob(sha256(cfg)), cfg);
  manifest.config = { mediaType: MediaType.ociConfig, digest: sha256(cfg), size: cfg.length };
  const m = Buffer.from(JSON.stringify(manifest));
  writeFileSync(blob(sha256(m)), m);
  index.manifests = [
    {
      mediaType: MediaType.ociManifest,
      digest: sha256(m),
      size: m.length,
      annotations: { 'org.opencontainers.image.ref.name': 'latest' },
    },
  ];
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
  const bytes =
    m.length + cfg.length + manifest.layers.reduce((a: number, l: { size: number }) => a + l.size, 0);
  return { digest: sha256(m), bytes, layers: manifest.layers.length };
}

const image = await buildImage();
const reg = await startLocalRegistry();
const ref = `${reg.host}/bench/pull:latest`;
await run('skopeo', [
  'copy',
  '--quiet',
  '--dest-tls-verify=false',
  `oci:${layout}:latest`,
  `docker://${ref}`,
]);

let seq = 0;
const dests: string[] = [];
const fresh = (): string => {
  const p = join(tmp.path, `dest-${seq++}`);
  mkdirSync(p);
  dests.push(p);
  return p;
};
const harness = join(repoRoot, 'src/cli/testing/image-harness.ts');

const contenders: Record<string, () => Promise<void>> = {
  'Strata pullImage (in process)': async () => {
    const r = await pullImage(new ImageStore(fresh()), ref);
    if (r.target.digest !== image.digest)
      throw new Error(`pulled ${r.target.digest}, expected ${image.digest}`);
  },
  'Strata `strata image pull` (CLI process)': async () => {
    await run(process.execPath, [harness, 'image', 'pull', ref], {
      env: { ...process.env, TEST_IMAGE_ROOT: fresh() },
    });
  },
  'baseline: skopeo copy docker:// → oci:': async () => {
    const dest = fresh();
    await run('skopeo', [
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      `docker://${ref}`,
      `oci:${dest}:latest`,
    ]);
    const got = JSON.parse(readFileSync(join(dest, 'index.json'), 'utf8')).manifests[0].digest;
    if (got !== image.digest) throw new Error(`skopeo copied ${got}, expected ${image.digest}`);
  },
};
const names = Object.keys(contenders);
const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
// Round 0 warms the registry's page cache and each tool's code paths; it is not counted.
for (let round = 0; round <= ROUNDS; round++) {
  const order = names.map((_, i) => names[(i + round) % names.length]);
  for (const name of order) {
    const t0 = performance.now();
    await contenders[name]();
    if (round > 0) samples[name].push(performance.now() - t0);
  }
  for (const d of dests.splice(0)) rmSync(d, { recursive: true, force: true }); // keep disk use flat
}

const startFloor: Record<string, number[]> = { node: [], skopeo: [] };
for (let i = 0; i < 5; i++) {
  let t0 = performance.now();
  await run(process.execPath, ['-e', '0']);
  startFloor.node.push(performance.now() - t0);
  t0 = performance.now();
  await run('skopeo', ['--version']);
  startFloor.skopeo.push(performance.now() - t0);
}
await reg.stop();
tmp.cleanup();

const mb = image.bytes / 1e6;
const skopeoP50 = summarize(samples[names[2]]).p50;
printTable(
  `image pull from a local registry (${image.layers} layers, ${mb.toFixed(1)} MB, ${ROUNDS} rounds)`,
  [
    ...names.map((name) => {
      const s = summarize(samples[name]);
      const note =
        `${(mb / (s.p50 / 1000)).toFixed(0)} MB/s` +
        (name === names[2] ? '' : `; ${(skopeoP50 / s.p50).toFixed(2)}× skopeo's speed`);
      return { name, s, extra: note };
    }),
  ],
);
console.log(
  `\nprocess start floors (p50): node ${summarize(startFloor.node).p50.toFixed(0)} ms, skopeo --version ${summarize(startFloor.skopeo).p50.toFixed(0)} ms`,
);
process.exit(0);
