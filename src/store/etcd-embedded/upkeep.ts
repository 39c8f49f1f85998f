// Defragmentation of the local member, the part of etcd's upkeep compaction does not do: compaction
// (the Store's, every 5 minutes) frees pages inside the bbolt file, only a defrag gives them back to the
// filesystem and keeps the file under --quota-backend-bytes. A defrag blocks the member while it runs,
// so each server defrags only its own member: once at start (as K3s does), then whenever the file has
// grown past half the quota, at most once per interval.
import type { Etcd3 } from 'etcd3';

export interface DefragOptions {
  /** A client whose only endpoint is the local member. */
  client: Etcd3;
  quotaBackendBytes: number;
  /** How often the file size is looked at (default 10 minutes). */
  intervalMs?: number;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

export interface DefragUpkeep {
  /** Runs one check now (tests); resolves to whether it defragmented. */
  checkNow(force?: boolean): Promise<boolean>;
  stop(): void;
}

export function startDefragUpkeep(o: DefragOptions): DefragUpkeep {
  let running = false;
  const check = async (force = false): Promise<boolean> => {
    if (running) return false;
    running = true;
    try {
      const before = Number((await o.client.maintenance.status()).dbSize);
      if (!force && before < o.quotaBackendBytes / 2) return false;
      await o.client.maintenance.defragment();
      const after = Number((await o.client.maintenance.status()).dbSize);
      o.log?.info({ before, after }, 'etcd member defragmented');
      return true;
    } catch (err) {
      o.log?.warn({ err: (err as Error).message }, 'etcd defrag failed');
      return false;
    } finally {
      running = false;
    }
  };
  const first = setTimeout(() => void check(true), 5_000);
  const timer = setInterval(() => void check(), o.intervalMs ?? 600_000);
  first.unref();
  timer.unref();
  return {
    checkNow: check,
    stop() {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}
