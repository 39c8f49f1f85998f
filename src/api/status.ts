// Kubernetes `Status` objects: every API error is one of these, so kubectl-minded clients and ours
// can show `reason`, `message` and the per-field `details.causes`.
import { type Cause, formatCauses } from './causes.ts';
import type { KindInfo } from './registry.ts';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: Cause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export function statusFailure(
  code: number,
  reason: string,
  message: string,
  details?: StatusDetails,
): Status {
  const s: Status = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
  if (details) s.details = details;
  return s;
}

/** What a DELETE returns when there is no object to return. */
export function statusSuccess(details?: StatusDetails): Status {
  const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 };
  if (details) s.details = details;
  return s;
}

/**
 * Kubernetes names the resource in messages as `pods` or `deployments.apps` and puts the plural in
 * details.kind. A plain string is used as given.
 */
function resource(kind: KindInfo | string): { label: string; group?: string; kind: string } {
  if (typeof kind === 'string') return { label: kind, kind };
  return {
    label: kind.group ? `${kind.plural}.${kind.group}` : kind.plural,
    group: kind.group,
    kind: kind.plural,
  };
}

export function notFound(kind: KindInfo | string, name: string): Status {
  const r = resource(kind);
  return statusFailure(404, 'NotFound', `${r.label} "${name}" not found`, {
    name,
    group: r.group,
    kind: r.kind,
  });
}

export function alreadyExists(kind: KindInfo | string, name: string): Status {
  const r = resource(kind);
  return statusFailure(409, 'AlreadyExists', `${r.label} "${name}" already exists`, {
    name,
    group: r.group,
    kind: r.kind,
  });
}

/** 409 for a stale resourceVersion (optimistic concurrency) or another conflicting write. */
export function conflict(
  kind: KindInfo | string,
  name: string,
  msg = 'the object has been modified; please apply your changes to the latest version and try again',
): Status {
  const r = resource(kind);
  // Accept a message that already carries kubectl's prefix rather than printing it twice.
  const message = msg.startsWith('Operation cannot be fulfilled')
    ? msg
    : `Operation cannot be fulfilled on ${r.label} "${name}": ${msg}`;
  return statusFailure(409, 'Conflict', message, {
    name,
    group: r.group,
    kind: r.kind,
  });
}

/** 422 like kubectl prints it: `Pod "x" is invalid: spec.containers[0].image: Required value`. */
export function invalid(kind: KindInfo | string, name: string, causes: Cause[]): Status {
  const kindName = typeof kind === 'string' ? kind : kind.kind;
  const group = typeof kind === 'string' ? undefined : kind.group;
  return statusFailure(422, 'Invalid', `${kindName} "${name}" is invalid: ${formatCauses(causes)}`, {
    name,
    group,
    kind: kindName,
    causes,
  });
}

export function badRequest(message: string): Status {
  return statusFailure(400, 'BadRequest', message);
}

export function unauthorized(message = 'Unauthorized'): Status {
  return statusFailure(401, 'Unauthorized', message);
}

export function forbidden(message: string): Status {
  return statusFailure(403, 'Forbidden', message);
}

export function methodNotAllowed(
  message = 'the server does not allow this method on the requested resource',
): Status {
  return statusFailure(405, 'MethodNotAllowed', message);
}

/** 410 for a watch or list from a resourceVersion that compaction has removed: the client must relist. */
export function gone(message: string): Status {
  return statusFailure(410, 'Expired', message);
}

export function tooLarge(message: string): Status {
  return statusFailure(413, 'RequestEntityTooLarge', message);
}

export function internalError(message: string): Status {
  return statusFailure(500, 'InternalError', `Internal error occurred: ${message}`);
}
