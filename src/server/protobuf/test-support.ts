// Builds Kubernetes protobuf bodies for tests, the way apimachinery's serializer frames them:
// "k8s\0" + runtime.Unknown{typeMeta, raw = the object's own message}. Objects are given in
// protobuf field form ({seconds, nanos} for a Time, {type, strVal} for an IntOrString…).
import { UNKNOWN } from './kinds.ts';
import { messageType } from './schema.ts';

export function encodeMessage(typeName: string, fields: Record<string, unknown>): Uint8Array {
  const type = messageType(typeName);
  const problem = type.verify(fields);
  if (problem) throw new Error(`test object for ${typeName}: ${problem}`);
  return type.encode(type.fromObject(fields)).finish();
}

export function encodeBody(
  apiVersion: string,
  kind: string,
  typeName: string,
  fields: Record<string, unknown>,
  envelope: { contentEncoding?: string; contentType?: string } = {},
): Buffer {
  const unknown = encodeMessage(UNKNOWN, {
    typeMeta: { apiVersion, kind },
    raw: encodeMessage(typeName, fields),
    contentEncoding: envelope.contentEncoding ?? '',
    contentType: envelope.contentType ?? '',
  });
  return Buffer.concat([Buffer.from('k8s\0', 'latin1'), unknown]);
}
