// The etcd datastore under load, on a three-member etcd on loopback started by the benchmark:
//  - durable writes/s at concurrency 64: Strata's EtcdStore.create (one txn: create-if-absent + put) vs
//    raw etcd3 puts of the same bytes, in the same run, alternating rounds so drift hits both alike;
//  - failover: the etcd leader member is killed, time until the next write through the store succeeds
//    (p50 over a few kills; each killed member is restarted before the next kill).
//
//   npm run bench -- etcd [WRITES_PER_ROUND] [KILLS]
import { Etcd3 } from 'etcd3';
import { openEtcdStore } from '../src/store/etcd.ts';
import { startEtcdCluster } from '../src/store/testing/etcd.ts';
import { summarize, printTable } from './lib/stats.ts';

const WRITES = Number(process.argv[2] ?? 3_000);
const KILLS = Number(process.argv[3] ?? 3);
const CONCURRENCY = 64;
const ROUNDS = 3;

const value = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'x', namespace: 'default' },
  data: { k: 'v'.repeat(200) },
};

/** Runs `n` writes with CONCURRENCY in flight; returns writes/s. */
async function rate(n: number, write: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) await write(next++);
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const etcd = await startEtcdCluster({ size: 3 });
  const store = openEtcdStore({ endpoints: etcd.endpoints, compactionIntervalMs: 0 });
  const raw = new Etcd3({ hosts: etcd.endpoints });
  try {
    const strata: number[] = [];
    const baseline: number[] = [];
    await rate(500, (i) => store.create(`/warm/${i}`, value)); // connections up, members warm
    for (let r = 0; r < ROUNDS; r++) {
      baseline.push(
        await rate(WRITES, async (i) => {
          await raw.put(`/raw/${r}/${i}`).value(JSON.stringify(value));
        }),
      );
      strata.push(await rate(WRITES, (i) => store.create(`/strata/${r}/${i}`, value)));
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(
      `\ndurable writes/s, concurrency ${CONCURRENCY}, 3 members on loopback (${ROUNDS} rounds of ${WRITES}; median)`,
    );
    console.log(
      `  raw etcd3 put             ${med(baseline).toFixed(0)}/s   rounds: ${baseline.map((x) => x.toFixed(0)).join(', ')}`,
    );
    console.log(
      `  Strata EtcdStore.create   ${med(strata).toFixed(0)}/s   rounds: ${strata.map((x) => x.toFixed(0)).join(', ')}`,
    );
    console.log(`  ratio Strata / raw        ${(med(strata) / med(baseline)).toFixed(2)}×`);

    // Failover: kill the member that leads raft, time until a write succeeds again.
    const samples: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      const status = await Promise.all(
        etcd.members.map(async (m, i) => {
          if (!m.process) return undefined;
          const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}' });
          const body = (await res.json()) as { header: { member_id: string }; leader: string };
          return { i, leader: body.header.member_id === body.leader };
        }),
      );
      const leader = status.find((s) => s?.leader)!.i;
      const t0 = performance.now();
      await etcd.kill(leader);
      for (let n = 0; ; n++) {
        try {
          await store.create(`/failover/${k}/${n}`, value);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      samples.push(performance.now() - t0);
      await etcd.restart(leader);
    }
    printTable(`etcd leader member killed → next successful write (${KILLS} kills)`, [
      { name: 'failover', s: summarize(samples) },
    ]);
  } finally {
    raw.close();
    await store.close();
    await etcd.stop();
  }
}

await main();
