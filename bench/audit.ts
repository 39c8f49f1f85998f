// The audit log's cost: API gets per second (a ServiceAccount by name — ConfigMaps and Secrets are capped
// at Metadata whatever the policy, so they would not show the RequestResponse cost — plain HTTP, admin token, concurrency
// 64) through two control planes in the same run — one writing every request to its audit log at
// Metadata (the default policy), one with no audit log — taking turns round after round; each row is the
// median of its rounds. A third writes at RequestResponse (request and response bodies in every line).
//
//   npm run bench -- audit [GETS_PER_ROUND] [ROUNDS]
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, setGlobalDispatcher } from 'undici';
import { startControlPlane, type ControlPlane } from '../src/node/assemble-control-plane.ts';

const PER_ROUND = Number(process.argv[2] ?? 5000);
const ROUNDS = Number(process.argv[3] ?? 5);
const CONCURRENCY = 64;
setGlobalDispatcher(new Agent({ connections: CONCURRENCY, pipelining: 1 }));

const dir = mkdtempSync(join(tmpdir(), 'strata-bench-audit-'));
const full = join(dir, 'request-response.yaml');
writeFileSync(full, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: RequestResponse}]\n');

const variants: Array<{ name: string; audit?: { path: string; policyFile?: string } }> = [
  { name: 'no audit log (baseline)' },
  { name: 'audit log, Metadata (default policy)', audit: { path: join(dir, 'metadata.log') } },
  { name: 'audit log, RequestResponse', audit: { path: join(dir, 'rr.log'), policyFile: full } },
];
const planes: ControlPlane[] = [];
for (const [i, v] of variants.entries()) {
  const cp = await startControlPlane({
    dataDir: join(dir, `cp-${i}`),
    port: 0,
    insecureHttp: true,
    advertiseAddress: 'none',
    audit: v.audit,
  });
  const res = await fetch(`${cp.url}/api/v1/namespaces/default/serviceaccounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'target', annotations: { note: 'v'.repeat(256) } },
    }),
  });
  if (res.status !== 201) throw new Error(`setup: HTTP ${res.status}`);
  planes.push(cp);
}

async function gets(cp: ControlPlane): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < PER_ROUND; i = next++) {
        const res = await fetch(`${cp.url}/api/v1/namespaces/default/serviceaccounts/target`, {
          headers: { authorization: `Bearer ${cp.adminToken}` },
        });
        if (res.status !== 200) throw new Error(`get ${i}: HTTP ${res.status}`);
        await res.arrayBuffer();
      }
    }),
  );
  return (PER_ROUND / (performance.now() - t0)) * 1000;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const rates: number[][] = variants.map(() => []);
for (const cp of planes) await gets(cp); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < planes.length; k++) {
    const i = (r + k) % planes.length;
    rates[i].push(await gets(planes[i]));
  }
}
const base = median(rates[0]);
console.log(
  `\n### API gets/s with and without the audit log, concurrency ${CONCURRENCY}, ${PER_ROUND} per round, median of ${ROUNDS} rounds\n`,
);
console.log('| variant | gets/s (median) | rounds | × baseline | log size |');
console.log('| --- | --- | --- | --- | --- |');
for (const [i, v] of variants.entries()) {
  const m = median(rates[i]);
  const size = v.audit ? `${(statSync(v.audit.path).size / 1e6).toFixed(1)} MB` : '-';
  console.log(
    `| ${v.name} | ${m.toFixed(0)} | ${rates[i].map((x) => x.toFixed(0)).join(', ')} | ${(m / base).toFixed(2)}× | ${size} |`,
  );
}
for (const cp of planes) await cp.stop();
rmSync(dir, { recursive: true, force: true });
