// JSON patch (RFC 6902, `application/json-patch+json`) with fast-json-patch. kube-apiserver's answers:
// a malformed operation list is a 400 BadRequest; a well-formed patch that does not apply to the object
// (a failing `test`, a path that does not exist) is a 422 with reason Invalid. The object is never
// partly patched: operations run on a copy.
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { isObject, PatchError, type JsonObject } from './json.ts';

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);
/** kube-apiserver's limit on operations in one JSON patch. */
export const MAX_JSON_PATCH_OPERATIONS = 10000;

/** Check the shape of every operation (before looking at the object); a 400 names the first bad one. */
export function parseJsonPatch(patch: unknown): Operation[] {
  if (!Array.isArray(patch)) throw new PatchError('a JSON patch must be a JSON array of operations');
  if (patch.length > MAX_JSON_PATCH_OPERATIONS)
    throw new PatchError(
      `the allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${patch.length}`,
    );
  patch.forEach((op, i) => {
    if (!isObject(op)) throw new PatchError(`JSON patch operation ${i}: must be an object`);
    if (typeof op.op !== 'string' || !OPS.has(op.op))
      throw new PatchError(
        `JSON patch operation ${i}: "op" must be one of add, remove, replace, move, copy, test (got ${JSON.stringify(op.op)})`,
      );
    try {
      jsonpatch.validator(op as unknown as Operation, i);
    } catch (err) {
      throw new PatchError(`JSON patch operation ${i} (${op.op}): ${(err as Error).message}`);
    }
  });
  return patch as Operation[];
}

/** Apply a JSON patch to a copy of `doc`. Throws PatchError (400 malformed, 422 does not apply). */
export function applyJsonPatch(doc: object, patch: unknown): JsonObject {
  const ops = parseJsonPatch(patch);
  let result: unknown;
  try {
    result = jsonpatch.applyPatch(structuredClone(doc), ops, true, true, true).newDocument;
  } catch (err) {
    if (err instanceof jsonpatch.JsonPatchError) {
      const op = ops[err.index ?? 0];
      const what = op ? `${op.op} ${op.path}` : 'operation';
      // fast-json-patch appends its name, index, operation and document to the message: keep line one.
      const message = err.message.split('\n')[0];
      throw new PatchError(`JSON patch operation ${err.index ?? 0} (${what}): ${message}`, 422);
    }
    // fast-json-patch refuses `__proto__` / `constructor/prototype` paths with a plain TypeError.
    if (err instanceof TypeError && err.message.startsWith('JSON-Patch:'))
      throw new PatchError(err.message.replace(/, if this was on purpose.*$/s, ''), 422);
    throw err;
  }
  if (!isObject(result)) throw new PatchError('the JSON patch replaced the object with a non-object', 422);
  return result;
}
