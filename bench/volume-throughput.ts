// Local volume write throughput: `dd` writing into a local-path volume (the ext4 image file, loop-mounted,
// exactly as a pod gets it — src/agent/volumes/) beside `dd` writing into a plain directory on the node's
// own filesystem, the one that holds the image, in the same run. Each write ends with fdatasync (dd
// conv=fdatasync), so the number is what reached the disk, not the page cache. Rounds alternate between the
// two so machine noise hits both alike; medians and the ratio (goal ≥ 0.95×). Needs root and e2fsprogs.
//
//   npm run bench -- volume-throughput [ROUNDS=5] [MIB=256]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localVolumesUnusableReason } from '../src/agent/volumes/ext4-image.ts';
import { LocalVolumes } from '../src/agent/volumes/local-volumes.ts';

const ROUNDS = Number(process.argv[2] ?? 5);
const MIB = Number(process.argv[3] ?? 256);

const unusable = localVolumesUnusableReason();
if (unusable) {
  console.error(`volume-throughput: ${unusable}`);
  process.exit(1);
}

/** MB/s (10^6 bytes per second, as dd prints) of one dd write of MIB MiB into `file`, synced. */
function ddWrite(file: string): number {
  const start = process.hrtime.bigint();
  execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${MIB}`, 'conv=fdatasync'], {
    stdio: 'ignore',
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  rmSync(file);
  return (MIB * 1024 * 1024) / seconds / 1e6;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const dataDir = mkdtempSync(join(tmpdir(), 'strata-bench-volume-'));
const volumes = new LocalVolumes(dataDir);
try {
  const plainDir = join(dataDir, 'plain');
  mkdirSync(plainDir);
  // Room for the writes plus ext4's own overhead.
  const bytes = (MIB + 64) * 1024 * 1024;
  const vol = await volumes.attach('pvc-bench', bytes, 'Delete');
  // For comparison: the same volume with its image preallocated (fallocate) instead of sparse, to show
  // how much of the gap is the node filesystem allocating the image's blocks on first write.
  const prealloc = volumes.imagePath('pvc-prealloc');
  mkdirSync(join(prealloc, '..'), { recursive: true });
  execFileSync('fallocate', ['-l', String(bytes), prealloc]);
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-m', '0', prealloc]);
  const pre = await volumes.attach('pvc-prealloc', bytes, 'Delete');
  const fsType = execFileSync('stat', ['-f', '-c', '%T', dataDir], { encoding: 'utf8' }).trim();
  // Warm-up: the image's first blocks allocated, caches and dd itself loaded.
  ddWrite(join(vol.dir, 'warm'));
  ddWrite(join(plainDir, 'warm'));
  ddWrite(join(pre.dir, 'warm'));
  const onVolume: number[] = [];
  const onNode: number[] = [];
  const onPrealloc: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    onNode.push(ddWrite(join(plainDir, `f${i}`)));
    onVolume.push(ddWrite(join(vol.dir, `f${i}`)));
    onPrealloc.push(ddWrite(join(pre.dir, `f${i}`)));
  }
  const [v, n, p] = [median(onVolume), median(onNode), median(onPrealloc)];
  console.log(
    `dd write, ${MIB} MiB per write, conv=fdatasync, ${ROUNDS} rounds (node filesystem: ${fsType})`,
  );
  console.log(
    `  node's own filesystem  median ${n.toFixed(0)} MB/s  (${onNode.map((x) => x.toFixed(0)).join(', ')})`,
  );
  console.log(
    `  local volume (ext4 image, loop-mounted)  median ${v.toFixed(0)} MB/s  (${onVolume.map((x) => x.toFixed(0)).join(', ')})`,
  );
  console.log(
    `  volume, image preallocated  median ${p.toFixed(0)} MB/s  (${onPrealloc.map((x) => x.toFixed(0)).join(', ')})`,
  );
  console.log(
    `  volume / node: ${(v / n).toFixed(2)}×  (goal ≥ 0.95×); preallocated / node: ${(p / n).toFixed(2)}×`,
  );
} finally {
  await volumes.remove('pvc-bench').catch(() => {});
  await volumes.remove('pvc-prealloc').catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
}
