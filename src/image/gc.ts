// Garbage collection: mark everything reachable from a tag (index → manifests → config + layers, and
// the layer snapshots of those images), everything used by a prepared container, and everything leased
// by work in progress; delete the rest. Runs under a lock so two collections never interleave.
import { join } from 'node:path';
import { digestHex } from './digest.ts';
import { withLockFile } from './fsutil.ts';
import type { ImageStore } from './image-store.ts';
import { chainIds } from './oci.ts';
import { walkImage } from './walk.ts';

export interface GcOptions {
  /** Partial downloads untouched for this long are dropped (default 24 h; they are resumable until then). */
  partialMaxAgeMs?: number;
}

export interface GcResult {
  blobsRemoved: number;
  bytesFreed: number;
  snapshotsRemoved: number;
  partialsRemoved: number;
}

export async function collectGarbage(store: ImageStore, opts: GcOptions = {}): Promise<GcResult> {
  return withLockFile(join(store.root, 'gc.lock'), async () => {
    const keepBlobs = new Set<string>();
    const keepSnapshots = new Set<string>();
    for (const rec of await store.list()) {
      const graph = await walkImage(store.content, rec.target);
      for (const d of [...graph.blobs, ...graph.missing]) keepBlobs.add(d.digest);
      for (const ids of graph.diffIds) for (const c of chainIds(ids)) keepSnapshots.add(digestHex(c));
    }
    // Listed before the leases are read: a pull that starts after this point leases what it then writes.
    const blobs = await store.content.list();
    const leased = await store.leases.active();
    let blobsRemoved = 0;
    let bytesFreed = 0;
    for (const b of blobs) {
      if (keepBlobs.has(b.digest) || leased.blobs.has(b.digest)) continue;
      await store.content.delete(b.digest);
      blobsRemoved++;
      bytesFreed += b.size;
    }
    const snapshotsRemoved = await store.snapshots.gc(keepSnapshots);
    const partialsRemoved = await store.content.cleanIngest(opts.partialMaxAgeMs ?? 24 * 3600_000);
    return { blobsRemoved, bytesFreed, snapshotsRemoved, partialsRemoved };
  });
}
