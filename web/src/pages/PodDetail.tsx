// One pod: status, live logs (a followed log stream, not polling), an exec terminal where the tier supports
// it, CPU and memory over time, and the pod's events.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { ApiError, streamLines, useLiveList } from '../api.ts';
import { Chart } from '../components/Chart.tsx';
import { Terminal } from '../components/Terminal.tsx';
import { EXEC_TIERS, age, bytes, cores, podPhase, restarts, tierOf } from '../format.ts';
import { href } from '../router.tsx';
import { EventsTable } from './Events.tsx';

const MAX_LOG_LINES = 2000;

function Logs({ namespace, pod, container }: { namespace: string; pod: string; container: string }) {
  const [lines, setLines] = useState<string[]>([]);
  const [state, setState] = useState('connecting');
  const pre = useRef<HTMLPreElement>(null);
  // Follow the tail while the reader is at the bottom; leave the scroll alone once they scroll up.
  const atBottom = useRef(true);
  useLayoutEffect(() => {
    if (atBottom.current && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [lines]);
  useEffect(() => {
    const abort = new AbortController();
    setLines([]);
    const q = new URLSearchParams({ container, follow: 'true', tailLines: '500' });
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log?${q}`;
    let pending: string[] = [];
    let scheduled = false;
    setState('following');
    streamLines(path, abort.signal, (line) => {
      pending.push(line);
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        const add = pending;
        pending = [];
        setLines((old) => [...old, ...add].slice(-MAX_LOG_LINES));
      });
    }).then(
      () => !abort.signal.aborted && setState('the stream ended (the container stopped)'),
      (err) =>
        !abort.signal.aborted &&
        setState(`unavailable: ${err instanceof ApiError ? err.message : String(err)}`),
    );
    return () => abort.abort();
  }, [namespace, pod, container]);
  return (
    <section aria-labelledby="logs-title">
      <h2 id="logs-title">Logs</h2>
      <p role="status" className="muted">
        {container}: {state}
      </p>
      <pre
        ref={pre}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
        }}
        className="logs"
        tabIndex={0}
        aria-label={`Logs of ${pod}/${container}`}
        aria-live="off"
      >
        {lines.join('\n')}
      </pre>
    </section>
  );
}

export function PodDetail({ namespace, name }: { namespace: string; name: string }) {
  const pods = useLiveList(
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`,
  );
  const events = useLiveList(
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`,
  );
  const pod = pods.items[0];
  const containers: string[] = useMemo(
    () => (pod?.spec?.containers ?? []).map((c: any) => c.name),
    [pod?.spec],
  );
  const [container, setContainer] = useState<string>('');
  const [terminal, setTerminal] = useState(false);
  const shell = useMemo(() => ['sh'], []);
  const chosen = container || containers[0] || '';
  const entity = `pod/${namespace}/${name}`;
  if (!pods.loaded) return <p>Loading {name}…</p>;
  if (!pod)
    return (
      <section>
        <h1>
          Pod {namespace}/{name}
        </h1>
        <p className="error">This pod does not exist (any more).</p>
      </section>
    );
  const tier = tierOf(pod.spec);
  return (
    <section aria-labelledby="pod-title">
      <h1 id="pod-title">
        Pod {namespace}/{name}
      </h1>
      <dl className="facts">
        <dt>Tier</dt>
        <dd>
          <span className={`tier tier-${tier}`}>{tier}</span>
        </dd>
        <dt>Status</dt>
        <dd>{podPhase(pod)}</dd>
        <dt>Node</dt>
        <dd>
          {pod.spec?.nodeName ? <a href={href('nodes', pod.spec.nodeName)}>{pod.spec.nodeName}</a> : '—'}
        </dd>
        <dt>Pod IP</dt>
        <dd>{pod.status?.podIP ?? '—'}</dd>
        <dt>Restarts</dt>
        <dd>{restarts(pod)}</dd>
        <dt>Age</dt>
        <dd>{age(pod.metadata.creationTimestamp)}</dd>
      </dl>
      <p>
        <a href={`#/apply/api/v1/namespaces/${namespace}/pods/${name}`}>Edit this pod's YAML</a>
      </p>
      {containers.length > 1 && (
        <p>
          <label htmlFor="container">Container</label>{' '}
          <select id="container" value={chosen} onChange={(e) => setContainer(e.target.value)}>
            {containers.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </p>
      )}
      {chosen && <Logs namespace={namespace} pod={name} container={chosen} />}
      <section aria-labelledby="exec-title">
        <h2 id="exec-title">Terminal</h2>
        {EXEC_TIERS.has(tier) ? (
          terminal ? (
            <>
              <Terminal namespace={namespace} pod={name} container={chosen} command={shell} />
              <button type="button" onClick={() => setTerminal(false)}>
                Close terminal
              </button>
            </>
          ) : (
            <button
              type="button"
              onClick={() => setTerminal(true)}
              disabled={pod.status?.phase !== 'Running'}
            >
              Open a shell in {chosen}
            </button>
          )
        ) : (
          <p className="muted">
            The {tier} tier has no interactive exec (a WASI guest has no shell to attach to).
          </p>
        )}
      </section>
      <section aria-labelledby="charts-title">
        <h2 id="charts-title">Usage over time</h2>
        <div className="charts">
          <Chart entity={entity} figure="cpu" title="CPU (cores)" format={cores} />
          <Chart entity={entity} figure="memory" title="Memory working set" format={bytes} />
        </div>
      </section>
      <section aria-labelledby="pod-events-title">
        <h2 id="pod-events-title">Events</h2>
        <EventsTable events={events.items} label={`Events of ${name}`} />
      </section>
    </section>
  );
}
