// Events for `strata get events` and the Events section of `describe`: fetched with field selectors on
// involvedObject.* (filtered here instead when a server does not support them), sorted by when they last
// happened, and formatted like kubectl's describe.
import { kindFor, parseFieldSelector } from '../api/index.ts';
import { ClientError, type Client } from '../client/client.ts';
import { age, eventTime, sortEvents } from './printers.ts';

function eventKind() {
  const k = kindFor('v1', 'Event');
  if (!k) throw new Error('this Strata build has no v1 Event kind');
  return k;
}

/** The field names a selector uses (`a.b=x,c!=y` → [a.b, c]). */
function selectorFields(sel: string): string[] {
  return sel
    .split(/(?<!\\),/)
    .map((t) => t.split(/!=|==|=/)[0].trim())
    .filter(Boolean);
}

/**
 * Lists events matching a field selector. A server that rejects the selector's fields (older servers
 * know only metadata.*) gets a plain list, filtered here.
 */
export async function listEvents(
  client: Client,
  namespace: string | undefined,
  q: { fieldSelector?: string; labelSelector?: string } = {},
): Promise<{ items: any[]; metadata: { resourceVersion: string } }> {
  try {
    return await client.list(eventKind(), namespace, q);
  } catch (err) {
    if (!(err instanceof ClientError && err.code === 400 && q.fieldSelector && /field/i.test(err.message)))
      throw err;
    const all = await client.list(eventKind(), namespace, { labelSelector: q.labelSelector });
    const match = parseFieldSelector(q.fieldSelector, selectorFields(q.fieldSelector));
    return { ...all, items: all.items.filter(match) };
  }
}

function escapeValue(v: string): string {
  return v.replace(/[\\,=]/g, (c) => `\\${c}`);
}

/** The events about one object, oldest first. */
export async function eventsFor(client: Client, obj: any): Promise<any[]> {
  const m = obj.metadata ?? {};
  const terms = [`involvedObject.name=${escapeValue(m.name)}`, `involvedObject.kind=${obj.kind}`];
  if (m.namespace) terms.push(`involvedObject.namespace=${m.namespace}`);
  // Node events from agents carry the node name as uid (as the kubelet's do): match nodes by name only.
  if (m.uid && obj.kind !== 'Node') terms.push(`involvedObject.uid=${m.uid}`);
  const res = await listEvents(client, m.namespace, { fieldSelector: terms.join(',') });
  return sortEvents(res.items);
}

function source(e: any): string {
  return [e.source?.component ?? e.reportingComponent, e.source?.host].filter(Boolean).join(', ');
}

/** kubectl describe's Events section. */
export function eventsSection(events: any[], now = Date.now()): string[] {
  if (events.length === 0) return ['Events:  <none>'];
  const rows = events.map((e) => {
    const count = e.count ?? 1;
    const when =
      count > 1
        ? `${age(eventTime(e), now)} (x${count} over ${age(e.firstTimestamp ?? eventTime(e), now)})`
        : age(e.firstTimestamp ?? eventTime(e), now);
    return [e.type ?? 'Normal', e.reason ?? '', when, source(e), (e.message ?? '').replace(/\s*\n\s*/g, ' ')];
  });
  const header = ['Type', 'Reason', 'Age', 'From', 'Message'];
  const rule = header.map((h) => '-'.repeat(h.length));
  const all = [header, rule, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  return [
    'Events:',
    ...all.map(
      (r) =>
        '  ' +
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 2)))
          .join('')
          .trimEnd(),
    ),
  ];
}
