// `Content-Type: application/vnd.kubernetes.protobuf` request bodies → the JSON object a JSON client
// would have sent. The wire format is apimachinery's protobuf serializer
// (k8s.io/apimachinery/pkg/runtime/serializer/protobuf): the 4 bytes "k8s\0", then a runtime.Unknown
// whose typeMeta names the object's apiVersion and kind and whose raw holds the object's own
// message (k8s.io/api generated.proto), without TypeMeta.
import type protobuf from 'protobufjs';
import { messageToJson, type Json } from './go-json.ts';
import { messageTypeFor, PROTOBUF_KINDS, UNKNOWN } from './kinds.ts';
import { messageType } from './schema.ts';

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';

const MAGIC = Buffer.from('k8s\0', 'latin1');

/**
 * Why a body could not be decoded. `code` is the HTTP status to answer with: 415 when the body is
 * well-formed but of a kind (or encoding) Strata does not read as protobuf, so the client can send
 * JSON instead; 400 when it is not a Kubernetes protobuf body at all.
 */
export class ProtobufBodyError extends Error {
  readonly code: 400 | 415;
  readonly reason: 'BadRequest' | 'UnsupportedMediaType';
  constructor(code: 400 | 415, message: string) {
    super(message);
    this.name = 'ProtobufBodyError';
    this.code = code;
    this.reason = code === 415 ? 'UnsupportedMediaType' : 'BadRequest';
  }
}

interface UnknownEnvelope {
  typeMeta?: { apiVersion?: string; kind?: string };
  raw?: Uint8Array;
  contentEncoding?: string;
  contentType?: string;
}

/** The body's object, with apiVersion and kind, in Kubernetes' JSON shape. */
export function decodeKubernetesProtobuf(
  body: Buffer,
): { apiVersion: string; kind: string } & Record<string, Json> {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new ProtobufBodyError(
      400,
      'the protobuf request body does not start with the Kubernetes magic "k8s\\0"',
    );
  }
  const envelope = decodeOrThrow<UnknownEnvelope>(
    messageType(UNKNOWN),
    body.subarray(MAGIC.length),
    'the protobuf request body is not a runtime.Unknown envelope',
  );
  const apiVersion = envelope.typeMeta?.apiVersion ?? '';
  const kind = envelope.typeMeta?.kind ?? '';
  if (!apiVersion || !kind) {
    throw new ProtobufBodyError(400, 'the protobuf request body does not name its apiVersion and kind');
  }
  if (envelope.contentEncoding) {
    throw new ProtobufBodyError(
      415,
      `protobuf content encoding "${envelope.contentEncoding}" is not supported`,
    );
  }
  if (envelope.contentType && envelope.contentType !== PROTOBUF_CONTENT_TYPE) {
    throw new ProtobufBodyError(415, `a protobuf envelope holding ${envelope.contentType} is not supported`);
  }
  const typeName = messageTypeFor(apiVersion, kind);
  if (!typeName) {
    const known = Object.hasOwn(PROTOBUF_KINDS, apiVersion) ? `kind ${kind}` : `apiVersion ${apiVersion}`;
    throw new ProtobufBodyError(
      415,
      `protobuf request bodies of ${apiVersion}, Kind=${kind} are not supported (unknown ${known}); send application/json`,
    );
  }
  const type = messageType(typeName);
  const message = decodeOrThrow<protobuf.Message>(
    type,
    envelope.raw ?? new Uint8Array(),
    `the ${apiVersion}, Kind=${kind} in the protobuf request body is malformed`,
  );
  let object: Record<string, Json>;
  try {
    object = messageToJson(type, message);
  } catch (err) {
    throw new ProtobufBodyError(
      400,
      `the ${kind} in the protobuf request body is invalid: ${(err as Error).message}`,
    );
  }
  return { kind, apiVersion, ...object };
}

function decodeOrThrow<T>(type: protobuf.Type, bytes: Uint8Array, what: string): T {
  try {
    return type.decode(bytes) as unknown as T;
  } catch (err) {
    throw new ProtobufBodyError(400, `${what}: ${(err as Error).message}`);
  }
}
