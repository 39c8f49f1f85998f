// The cluster at a glance: nodes (tiers offered, microVM acceleration, capacity vs what pods request) and
// every pod, live from watches.
import { useMemo } from 'react';
import { useLiveList, type KubeObject } from '../api.ts';
import { href } from '../router.tsx';
import {
  TIERS,
  age,
  bytes,
  cores,
  isReady,
  microvmAccel,
  nodeTiers,
  podPhase,
  podRequest,
  quantity,
  restarts,
  tierOf,
} from '../format.ts';

function Meter({ used, total, label }: { used: number; total: number; label: string }) {
  const pct = total > 0 ? Math.min(100, Math.round((used / total) * 100)) : 0;
  return <meter min={0} max={100} value={pct} aria-label={label} title={`${pct} %`} />;
}

export function NodesTable({ nodes, pods }: { nodes: KubeObject[]; pods: KubeObject[] }) {
  const byNode = useMemo(() => {
    const m = new Map<string, KubeObject[]>();
    for (const p of pods) {
      if (!p.spec?.nodeName || ['Succeeded', 'Failed'].includes(p.status?.phase)) continue;
      const list = m.get(p.spec.nodeName) ?? [];
      list.push(p);
      m.set(p.spec.nodeName, list);
    }
    return m;
  }, [pods]);
  return (
    <table aria-label="Nodes">
      <thead>
        <tr>
          <th scope="col">Node</th>
          <th scope="col">Ready</th>
          <th scope="col">Tiers</th>
          <th scope="col">MicroVM acceleration</th>
          <th scope="col">CPU requested / allocatable</th>
          <th scope="col">Memory requested / allocatable</th>
          <th scope="col">Pods</th>
        </tr>
      </thead>
      <tbody>
        {nodes.map((n) => {
          const onNode = byNode.get(n.metadata.name) ?? [];
          const cpu = quantity(n.status?.allocatable?.cpu);
          const mem = quantity(n.status?.allocatable?.memory);
          const cpuReq = onNode.reduce((a, p) => a + podRequest(p, 'cpu'), 0);
          const memReq = onNode.reduce((a, p) => a + podRequest(p, 'memory'), 0);
          const tiers = nodeTiers(n);
          return (
            <tr key={n.metadata.name}>
              <th scope="row">
                <a href={href('nodes', n.metadata.name)}>{n.metadata.name}</a>
              </th>
              <td className={isReady(n) ? 'ok' : 'bad'}>{isReady(n) ? 'Ready' : 'NotReady'}</td>
              <td>
                {tiers.length
                  ? tiers.map((t) => (
                      <span key={t} className={`tier tier-${t}`}>
                        {t}
                      </span>
                    ))
                  : '—'}
              </td>
              <td>{tiers.includes('microvm') ? (microvmAccel(n) ?? 'not reported') : '—'}</td>
              <td>
                {cores(cpuReq)} / {cores(cpu)}{' '}
                <Meter used={cpuReq} total={cpu} label={`CPU requested on ${n.metadata.name}`} />
              </td>
              <td>
                {bytes(memReq)} / {bytes(mem)}{' '}
                <Meter used={memReq} total={mem} label={`Memory requested on ${n.metadata.name}`} />
              </td>
              <td>
                {onNode.length} / {n.status?.allocatable?.pods ?? '?'}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function PodsTable({ pods, label = 'Pods' }: { pods: KubeObject[]; label?: string }) {
  const sorted = useMemo(
    () =>
      [...pods].sort(
        (a, b) =>
          (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
          a.metadata.name.localeCompare(b.metadata.name),
      ),
    [pods],
  );
  const now = Date.now();
  return (
    <table aria-label={label} className="pods" data-rows={sorted.length}>
      <thead>
        <tr>
          <th scope="col">Namespace</th>
          <th scope="col">Pod</th>
          <th scope="col">Tier</th>
          <th scope="col">Status</th>
          <th scope="col">Restarts</th>
          <th scope="col">Node</th>
          <th scope="col">Age</th>
        </tr>
      </thead>
      <tbody>
        {sorted.map((p) => {
          const phase = podPhase(p);
          const tier = tierOf(p.spec);
          return (
            <tr key={`${p.metadata.namespace}/${p.metadata.name}`}>
              <td>{p.metadata.namespace}</td>
              <th scope="row">
                <a href={href('pods', p.metadata.namespace ?? 'default', p.metadata.name)}>
                  {p.metadata.name}
                </a>
              </th>
              <td>
                <span className={`tier tier-${tier}`}>{tier}</span>
              </td>
              <td className={`phase phase-${phase}`}>{phase}</td>
              <td>{restarts(p)}</td>
              <td>{p.spec?.nodeName ?? '—'}</td>
              <td>{age(p.metadata.creationTimestamp, now)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function Overview() {
  const nodes = useLiveList('/api/v1/nodes');
  const pods = useLiveList('/api/v1/pods');
  const counts = useMemo(() => {
    const c: Record<string, { running: number; total: number }> = {};
    for (const t of TIERS) c[t] = { running: 0, total: 0 };
    for (const p of pods.items) {
      const t = tierOf(p.spec);
      c[t] ??= { running: 0, total: 0 };
      c[t].total++;
      if (p.status?.phase === 'Running') c[t].running++;
    }
    return c;
  }, [pods.items]);
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Cluster overview</h1>
      {(nodes.error || pods.error) && (
        <p role="status" className="error">
          {nodes.error ?? pods.error}
        </p>
      )}
      <ul className="cards" aria-label="Pods by tier">
        {Object.entries(counts).map(([tier, c]) => (
          <li key={tier} className={`card tier-${tier}`}>
            <a href={href('workloads', tier)}>
              <span className="big">{c.running}</span> running {tier} pod{c.running === 1 ? '' : 's'}
              <span className="small"> of {c.total}</span>
            </a>
          </li>
        ))}
      </ul>
      <h2>Nodes</h2>
      {nodes.loaded ? <NodesTable nodes={nodes.items} pods={pods.items} /> : <p>Loading nodes…</p>}
      <h2>Pods</h2>
      {pods.loaded ? <PodsTable pods={pods.items} /> : <p>Loading pods…</p>}
    </section>
  );
}
