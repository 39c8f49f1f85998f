// One node: its conditions, tiers, CPU and memory over time, and the pods it runs.
import { useLiveList } from '../api.ts';
import { Chart } from '../components/Chart.tsx';
import { bytes, cores, isReady, microvmAccel, nodeTiers } from '../format.ts';
import { NodesTable, PodsTable } from './Overview.tsx';

export function NodeDetail({ name }: { name: string }) {
  const nodes = useLiveList(`/api/v1/nodes?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`);
  const pods = useLiveList(`/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${name}`)}`);
  const node = nodes.items[0];
  if (!nodes.loaded) return <p>Loading {name}…</p>;
  if (!node)
    return (
      <section>
        <h1>Node {name}</h1>
        <p className="error">This node is not registered.</p>
      </section>
    );
  const entity = `node/${name}`;
  return (
    <section aria-labelledby="node-title">
      <h1 id="node-title">Node {name}</h1>
      <p>
        {isReady(node) ? 'Ready' : 'NotReady'} · tiers: {nodeTiers(node).join(', ') || 'none'}
        {nodeTiers(node).includes('microvm')
          ? ` · microVMs: ${microvmAccel(node) ?? 'acceleration not reported'}`
          : ''}
      </p>
      <NodesTable nodes={[node]} pods={pods.items} />
      <h2>Conditions</h2>
      <table aria-label="Conditions">
        <thead>
          <tr>
            <th scope="col">Type</th>
            <th scope="col">Status</th>
            <th scope="col">Reason</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          {(node.status?.conditions ?? []).map((c: any) => (
            <tr key={c.type}>
              <th scope="row">{c.type}</th>
              <td>{c.status}</td>
              <td>{c.reason}</td>
              <td>{c.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Usage over time</h2>
      <div className="charts">
        <Chart entity={entity} figure="cpu" title="CPU (cores)" format={cores} />
        <Chart entity={entity} figure="memory" title="Memory working set" format={bytes} />
      </div>
      <h2>Pods on {name}</h2>
      <PodsTable pods={pods.items} label={`Pods on ${name}`} />
    </section>
  );
}
