// JSON values as the patch algorithms see them, and the error they raise for a malformed patch.
import { statusFailure, type Status } from '../status.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Structural equality of JSON values (key order does not matter, array order does). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * A patch that cannot be applied. `code` 400 (BadRequest) when the patch itself is malformed (an unknown
 * directive, a missing merge key), 422 (Invalid) when it is well-formed but does not apply to the object
 * (a failing JSON patch `test`, a path that does not exist) — the codes kube-apiserver answers with.
 */
export class PatchError extends Error {
  readonly code: number;
  private readonly status?: Status;
  constructor(message: string, code: number = 400, status?: Status) {
    super(message);
    this.name = 'PatchError';
    this.code = code;
    this.status = status;
  }

  /** An error answered with exactly `status` (e.g. server-side apply's 409 listing each conflict). */
  static withStatus(status: Status): PatchError {
    return new PatchError(status.message ?? status.reason ?? 'patch failed', status.code, status);
  }

  /** The Kubernetes Status for this error. */
  toStatus(): Status {
    if (this.status) return this.status;
    if (this.code !== 422) return statusFailure(this.code, 'BadRequest', this.message);
    // kube-apiserver answers a JSON patch that does not apply with this generic 422; the cause says why.
    return statusFailure(422, 'Invalid', 'the server rejected our request due to an error in our request', {
      causes: [{ field: 'patch', reason: 'FieldValueInvalid', message: this.message }],
    });
  }
}

/** `spec.containers` + `name` → `spec.containers.name` (for error messages). */
export function joinPath(at: string, key: string): string {
  return at ? `${at}.${key}` : key;
}
