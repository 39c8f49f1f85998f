// Audit events for the in-process components' calls (acting-store.ts): the same `audit.k8s.io/v1` Event
// lines the request path writes (src/server/audit), under the component's own user, so the audit log
// shows who in the control plane changed what. The audit policy decides the level as for any request;
// the bodies of in-process calls are never serialized, so an event is at most Metadata.
import { randomUUID } from 'node:crypto';
import type { ActingStoreOutcome } from './acting-store.ts';

/** What the audit policy is asked (src/server/audit/policy.ts's AuditAttributes, structurally). */
interface PolicyInput {
  user?: { username: string; groups: string[] };
  verb: string;
  resourceRequest: boolean;
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  path: string;
}

export interface InProcessAuditOptions {
  /** The audit policy's decision (AuditPolicy.decide). */
  decide(a: PolicyInput): { level: string; omitStages: string[] };
  sink: { write(event: object): void };
  /** The component's user agent, as its requests would carry it. */
  userAgent: string;
}

/** An ActingStoreOptions.onOutcome that writes one ResponseComplete event per call. */
export function inProcessAudit(o: InProcessAuditOptions): (outcome: ActingStoreOutcome) => void {
  return ({ attrs, code, message, createdName, forbidden }) => {
    const policyInput: PolicyInput = {
      ...attrs,
      user: { username: attrs.user.username, groups: attrs.user.groups },
    };
    const decision = o.decide(policyInput);
    if (decision.level === 'None' || decision.omitStages.includes('ResponseComplete')) return;
    const now = new Date().toISOString();
    const name = attrs.name ?? createdName;
    const denied = forbidden === true;
    o.sink.write({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: randomUUID(),
      stage: 'ResponseComplete',
      requestURI: attrs.path,
      verb: attrs.verb,
      user: { username: attrs.user.username, groups: attrs.user.groups },
      sourceIPs: [],
      userAgent: o.userAgent,
      objectRef: {
        resource: attrs.resource,
        ...(attrs.namespace ? { namespace: attrs.namespace } : {}),
        ...(name ? { name } : {}),
        apiGroup: attrs.apiGroup ?? '',
        apiVersion: attrs.apiVersion,
        ...(attrs.subresource ? { subresource: attrs.subresource } : {}),
      },
      responseStatus: {
        metadata: {},
        code,
        ...(code >= 400 ? { status: 'Failure', ...(message ? { message } : {}) } : {}),
        ...(code === 403 ? { reason: 'Forbidden' } : {}),
      },
      requestReceivedTimestamp: now,
      stageTimestamp: now,
      annotations: {
        'authorization.k8s.io/decision': denied ? 'forbid' : 'allow',
        'authorization.k8s.io/reason': '',
      },
    });
  };
}
