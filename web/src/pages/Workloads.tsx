// Workloads by tier: Deployments (scale them here, through the scale subresource) and pods.
import { useState, type FormEvent } from 'react';
import { ApiError, api, useLiveList, type KubeObject } from '../api.ts';
import { TIERS, tierOf } from '../format.ts';
import { href } from '../router.tsx';
import { PodsTable } from './Overview.tsx';

function ScaleForm({ d }: { d: KubeObject }) {
  const id = `replicas-${d.metadata.namespace}-${d.metadata.name}`;
  const [value, setValue] = useState(String(d.spec?.replicas ?? 1));
  const [message, setMessage] = useState<{ error: boolean; text: string } | undefined>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMessage(undefined);
    try {
      const path = `/apis/apps/v1/namespaces/${encodeURIComponent(d.metadata.namespace!)}/deployments/${encodeURIComponent(d.metadata.name)}/scale`;
      const scale = await api(path, {
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        body: { spec: { replicas: Number(value) } },
      });
      setMessage({ error: false, text: `scaled to ${scale.spec.replicas}` });
    } catch (err) {
      setMessage({ error: true, text: err instanceof ApiError ? err.message : String(err) });
    }
  };
  return (
    <form onSubmit={submit} className="inline">
      <label htmlFor={id}>
        Replicas
        <span className="visually-hidden">
          {' '}
          for {d.metadata.namespace}/{d.metadata.name}
        </span>
      </label>
      <input id={id} type="number" min={0} value={value} onChange={(e) => setValue(e.target.value)} />
      <button type="submit">Scale</button>
      {message && (
        <span role="status" className={message.error ? 'error' : 'ok'}>
          {message.text}
        </span>
      )}
    </form>
  );
}

export function Workloads({ tier }: { tier?: string }) {
  const deployments = useLiveList('/apis/apps/v1/deployments');
  const pods = useLiveList('/api/v1/pods');
  const shown = (t: string) => !tier || tier === t;
  const tiers = tier && !TIERS.includes(tier as never) ? [tier] : TIERS.filter(shown);
  return (
    <section aria-labelledby="workloads-title">
      <h1 id="workloads-title">Workloads{tier ? ` on the ${tier} tier` : ' by tier'}</h1>
      <nav aria-label="Tiers" className="tabs">
        <a href="#/workloads" aria-current={!tier ? 'page' : undefined}>
          All tiers
        </a>
        {TIERS.map((t) => (
          <a key={t} href={href('workloads', t)} aria-current={tier === t ? 'page' : undefined}>
            {t}
          </a>
        ))}
      </nav>
      {deployments.error && <p className="error">{deployments.error}</p>}
      {tiers.map((t) => {
        const ds = deployments.items.filter((d) => tierOf(d.spec?.template?.spec) === t);
        const ps = pods.items.filter((p) => tierOf(p.spec) === t);
        return (
          <section key={t} aria-labelledby={`tier-${t}`}>
            <h2 id={`tier-${t}`}>
              <span className={`tier tier-${t}`}>{t}</span> — {ds.length} deployment
              {ds.length === 1 ? '' : 's'}, {ps.length} pod{ps.length === 1 ? '' : 's'}
            </h2>
            {ds.length > 0 && (
              <table aria-label={`Deployments on ${t}`}>
                <thead>
                  <tr>
                    <th scope="col">Namespace</th>
                    <th scope="col">Deployment</th>
                    <th scope="col">Ready</th>
                    <th scope="col">Scale</th>
                    <th scope="col">YAML</th>
                  </tr>
                </thead>
                <tbody>
                  {ds.map((d) => (
                    <tr key={`${d.metadata.namespace}/${d.metadata.name}`}>
                      <td>{d.metadata.namespace}</td>
                      <th scope="row">{d.metadata.name}</th>
                      <td>
                        {d.status?.readyReplicas ?? 0}/{d.spec?.replicas ?? 0}
                      </td>
                      <td>
                        <ScaleForm d={d} />
                      </td>
                      <td>
                        <a
                          href={`#/apply/apis/apps/v1/namespaces/${d.metadata.namespace}/deployments/${d.metadata.name}`}
                        >
                          Edit<span className="visually-hidden"> {d.metadata.name}</span>
                        </a>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {ps.length > 0 && <PodsTable pods={ps} label={`Pods on ${t}`} />}
          </section>
        );
      })}
    </section>
  );
}
