// Events, newest first, live from a watch; warnings stand out.
import { useMemo } from 'react';
import { useLiveList, type KubeObject } from '../api.ts';
import { age } from '../format.ts';

const lastSeen = (e: KubeObject): string =>
  e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '';

export function EventsTable({ events, label }: { events: KubeObject[]; label: string }) {
  const sorted = useMemo(
    () => [...events].sort((a, b) => lastSeen(b).localeCompare(lastSeen(a))).slice(0, 500),
    [events],
  );
  if (sorted.length === 0) return <p className="muted">No events.</p>;
  const now = Date.now();
  return (
    <table aria-label={label}>
      <thead>
        <tr>
          <th scope="col">Last seen</th>
          <th scope="col">Type</th>
          <th scope="col">Reason</th>
          <th scope="col">Object</th>
          <th scope="col">Message</th>
          <th scope="col">Count</th>
        </tr>
      </thead>
      <tbody>
        {sorted.map((e) => (
          <tr
            key={`${e.metadata.namespace}/${e.metadata.name}`}
            className={e.type === 'Warning' ? 'warning' : undefined}
          >
            <td>{age(lastSeen(e), now)}</td>
            <td>{e.type}</td>
            <td>{e.reason}</td>
            <td>
              {e.involvedObject?.kind}/{e.involvedObject?.name}
            </td>
            <td>{e.message}</td>
            <td>{e.count ?? 1}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Events() {
  const events = useLiveList('/api/v1/events');
  return (
    <section aria-labelledby="events-title">
      <h1 id="events-title">Events</h1>
      {events.error && <p className="error">{events.error}</p>}
      {events.loaded ? <EventsTable events={events.items} label="Events" /> : <p>Loading events…</p>}
    </section>
  );
}
