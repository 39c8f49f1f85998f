// Leases protect content that is being written but not yet referenced by a tag or a container (a pull
// in progress, a rootfs being prepared) from a concurrent garbage collection, in this process or in
// another one on the node (containerd has the same idea). A lease is a small JSON file naming our pid;
// a lease whose process has died no longer protects anything and is removed by the next GC.
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile, pidAlive } from './fsutil.ts';

export interface LeaseResources {
  blobs?: string[];
  /** Layer snapshot keys (chain id hex). */
  snapshots?: string[];
}

export class Lease {
  private readonly path: string;
  private readonly blobs = new Set<string>();
  private readonly snapshots = new Set<string>();

  constructor(path: string) {
    this.path = path;
  }

  async add(res: LeaseResources): Promise<void> {
    for (const b of res.blobs ?? []) this.blobs.add(b);
    for (const s of res.snapshots ?? []) this.snapshots.add(s);
    await atomicWriteFile(
      this.path,
      JSON.stringify({ pid: process.pid, blobs: [...this.blobs], snapshots: [...this.snapshots] }),
    );
  }

  async release(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

export class Leases {
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async acquire(res: LeaseResources = {}): Promise<Lease> {
    const lease = new Lease(join(this.dir, `${process.pid}-${randomBytes(6).toString('hex')}.json`));
    await lease.add(res);
    return lease;
  }

  /** Everything protected by leases of live processes; leases of dead ones are deleted. */
  async active(): Promise<{ blobs: Set<string>; snapshots: Set<string> }> {
    const blobs = new Set<string>();
    const snapshots = new Set<string>();
    let names: string[] = [];
    try {
      names = await readdir(this.dir);
    } catch {
      return { blobs, snapshots };
    }
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const path = join(this.dir, name);
      let lease: { pid?: number; blobs?: string[]; snapshots?: string[] };
      try {
        lease = JSON.parse(await readFile(path, 'utf8'));
      } catch {
        continue; // being written right now (atomic rename makes a torn file impossible otherwise)
      }
      if (!pidAlive(Number(lease.pid))) {
        await rm(path, { force: true });
        continue;
      }
      for (const b of lease.blobs ?? []) blobs.add(b);
      for (const s of lease.snapshots ?? []) snapshots.add(s);
    }
    return { blobs, snapshots };
  }
}
