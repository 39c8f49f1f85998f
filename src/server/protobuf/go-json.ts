// A decoded protobuf message → the JSON Go's encoding/json writes for the same k8s.io/api struct,
// i.e. what kubectl would have sent had it used application/json.
//
// The schema (proto/, see extract-schema.ts) carries two gogo-protobuf options per field that say
// how Go's JSON differs from the wire:
// - `(gogoproto.jsontag)`, the Go field's json tag: its JSON name (`uID` is "uid"), `inline` (the
//   struct's fields go into the parent: `configMapKeyRef: {name, key}`), `omitempty`.
// - `(gogoproto.nullable) = false`: a Go value, not a pointer. Value fields are always on the wire,
//   even when zero; JSON then drops a zero scalar only when it is `omitempty` (`hostPort: 0` goes,
//   PriorityClass `value: 0` stays). A pointer is on the wire only when set, so its value is kept
//   even when zero (`gracePeriodSeconds: 0` means "now", `replicas: 0` is not "unset"). Structs are
//   always written (`"status": {}`), as Go's omitempty never drops a struct.
// - Lists and maps: empty ones are not on the wire, and are omitted (Go would write null or []).
// - int64 → JSON number; bytes → base64 (Go's []byte); map entries → objects.
// - Types with their own JSON form: Time and MicroTime (RFC 3339; the zero time, an empty message, is
//   omitted where Go would write null), Quantity (its string), IntOrString (number or string),
//   FieldsV1 and RawExtension (the JSON they wrap), ExtraValue (a list of strings).
import protobuf from 'protobufjs';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
type Decoded = Record<string, unknown>;

const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';

/** Messages whose JSON is not an object of their fields, by full name. */
const SPECIAL_TYPES: Readonly<Record<string, (message: Decoded, path: string) => Json | undefined>> = {
  [`${META}.Time`]: timeToJson,
  [`${META}.MicroTime`]: microTimeToJson,
  'k8s.io.apimachinery.pkg.runtime.RawExtension': rawExtensionToJson,
  [`${META}.FieldsV1`]: fieldsV1ToJson,
  'k8s.io.apimachinery.pkg.api.resource.Quantity': (m) => (typeof m.string === 'string' ? m.string : '0'),
  'k8s.io.apimachinery.pkg.util.intstr.IntOrString': intOrStringToJson,
  // Go `type ExtraValue []string`, wrapped in a message because protobuf has no named lists.
  'k8s.io.api.authentication.v1.ExtraValue': (m) => stringList(m.items),
  'k8s.io.api.authorization.v1.ExtraValue': (m) => stringList(m.items),
  'k8s.io.api.certificates.v1.ExtraValue': (m) => stringList(m.items),
};

/** Every message type the converter treats specially (the schema test checks none is missed). */
export const SPECIAL_TYPE_NAMES: readonly string[] = Object.keys(SPECIAL_TYPES);

function fullName(type: protobuf.Type): string {
  return type.fullName.replace(/^\./, '');
}

/** The Kubernetes JSON object for a message decoded with `type` (keepCase field names). */
export function messageToJson(type: protobuf.Type, message: protobuf.Message, path = ''): JsonObject {
  const value = valueOfMessage(type, message as unknown as Decoded, path);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${fullName(type)} has no object form`);
  }
  return value;
}

function valueOfMessage(type: protobuf.Type, message: Decoded, path: string): Json | undefined {
  const special = SPECIAL_TYPES[fullName(type)];
  if (special) return special(message, path);
  const out: JsonObject = {};
  for (const field of type.fieldsArray) {
    if (!Object.hasOwn(message, field.name) || message[field.name] == null) continue;
    const tag = goJsonTag(field);
    if (tag.skip) continue;
    const value = fieldToJson(field, tag, message[field.name], path ? `${path}.${tag.name}` : tag.name);
    if (value === undefined) continue;
    if (!tag.inline) out[tag.name] = value;
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) Object.assign(out, value);
    else throw new Error(`${path || fullName(type)}: inline field ${field.name} is not an object`);
  }
  return out;
}

interface GoJsonTag {
  name: string;
  omitempty: boolean;
  inline: boolean;
  skip: boolean;
}

/** The field's Go `json:"…"` tag, from the schema's `(gogoproto.jsontag)` option. */
export function goJsonTag(field: protobuf.Field): GoJsonTag {
  const tag = field.options?.['(gogoproto.jsontag)'] as string | undefined;
  if (tag === undefined) {
    // Only the wrapper types of SPECIAL_TYPES lack Go structs; proto semantics are all there is.
    return { name: field.name, omitempty: true, inline: false, skip: false };
  }
  const [name, ...flags] = tag.split(',');
  return {
    name: name || field.name,
    omitempty: flags.includes('omitempty'),
    inline: flags.includes('inline'),
    skip: tag === '-',
  };
}

function fieldToJson(field: protobuf.Field, tag: GoJsonTag, value: unknown, path: string): Json | undefined {
  if (field.map) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return undefined;
    const out: JsonObject = {};
    for (const [key, item] of entries) out[key] = singleToJson(field, item, `${path}[${key}]`) ?? null;
    return out;
  }
  if (field.repeated) {
    const items = value as unknown[];
    if (items.length === 0) return undefined;
    return items.map((item, i) => singleToJson(field, item, `${path}[${i}]`) ?? null);
  }
  const json = singleToJson(field, value, path);
  if (field.resolvedType) return json; // a struct: Go's omitempty never drops one
  const pointer = field.options?.['(gogoproto.nullable)'] !== false;
  if (!pointer && tag.omitempty && json !== undefined && isZeroScalar(json)) return undefined;
  return json;
}

function singleToJson(field: protobuf.Field, value: unknown, path: string): Json | undefined {
  if (field.resolvedType instanceof protobuf.Type) {
    return valueOfMessage(field.resolvedType, value as Decoded, path);
  }
  if (field.resolvedType) throw new Error(`${path}: enum fields are not part of the Kubernetes schema`);
  return scalarToJson(field.type, value, path);
}

function scalarToJson(type: string, value: unknown, path: string): Json {
  switch (type) {
    case 'string':
    case 'bool':
    case 'double':
    case 'float':
    case 'int32':
    case 'uint32':
    case 'sint32':
    case 'fixed32':
    case 'sfixed32':
      return value as Json;
    case 'int64':
    case 'uint64':
    case 'sint64':
    case 'fixed64':
    case 'sfixed64':
      return int64ToNumber(value, path);
    case 'bytes':
      return Buffer.from(value as Uint8Array).toString('base64');
    default:
      throw new Error(`${path}: unexpected protobuf type ${type}`);
  }
}

function isZeroScalar(value: Json): boolean {
  return value === '' || value === 0 || value === false;
}

/** protobufjs hands int64 over as a Long (or a number when it fits); JSON gets a plain number. */
export function int64ToNumber(value: unknown, path: string): number {
  const n = typeof value === 'number' ? value : Number((value as { toString(): string }).toString());
  if (!Number.isSafeInteger(n)) throw new Error(`${path}: ${String(value)} does not fit a JSON number`);
  return n;
}

/**
 * metav1.Time travels as {seconds, nanos}; Go writes it in JSON as RFC 3339 in UTC, to the second.
 * The zero Time marshals to an empty message (apimachinery's Time.Marshal); Go's JSON would be
 * null, which says nothing, so it is left out.
 */
function timeToJson(message: Decoded, path: string): Json | undefined {
  if (!Object.hasOwn(message, 'seconds') && !Object.hasOwn(message, 'nanos')) return undefined;
  const seconds = int64ToNumber(message.seconds ?? 0, `${path}.seconds`);
  const date = new Date(seconds * 1000);
  if (Number.isNaN(date.getTime())) throw new Error(`${path}: ${seconds} seconds is not a time`);
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** metav1.MicroTime: the same wire form as Time, written with microseconds (RFC3339Micro). */
function microTimeToJson(message: Decoded, path: string): Json | undefined {
  const seconds = timeToJson(message, path);
  if (seconds === undefined) return undefined;
  const micros = Math.floor(Number(message.nanos ?? 0) / 1000);
  return (seconds as string).replace(/Z$/, `.${String(micros).padStart(6, '0')}Z`);
}

/**
 * runtime.RawExtension (ControllerRevision.data): Go's JSON is the raw bytes themselves, which
 * clients fill with the embedded object's JSON.
 */
function rawExtensionToJson(message: Decoded, path: string): Json | undefined {
  const raw = message.raw as Uint8Array | undefined;
  if (!raw || raw.length === 0) return undefined;
  if (Buffer.from(raw.subarray(0, 4)).toString('latin1') === 'k8s\0') {
    throw new Error(`${path}: an embedded protobuf object is not supported; send the object as JSON`);
  }
  try {
    return JSON.parse(Buffer.from(raw).toString('utf8')) as Json;
  } catch {
    throw new Error(`${path}: the embedded object is not valid JSON`);
  }
}

function intOrStringToJson(message: Decoded): Json {
  // type 0 (Int) is the Go zero value, so an absent type is an int.
  return int64ToNumber(message.type ?? 0, 'type') === 1
    ? String(message.strVal ?? '')
    : Number(message.intVal ?? 0);
}

function fieldsV1ToJson(message: Decoded, path: string): Json | undefined {
  const raw = message.Raw as Uint8Array | undefined;
  if (!raw || raw.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.from(raw).toString('utf8')) as Json;
  } catch {
    throw new Error(`${path}: fieldsV1 is not valid JSON`);
  }
}

function stringList(items: unknown): Json {
  return Array.isArray(items) ? (items as string[]) : [];
}
