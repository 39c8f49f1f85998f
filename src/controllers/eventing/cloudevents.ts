// CloudEvents 1.0 over HTTP (the HTTP protocol binding): reading an event from a request in binary mode
// (attributes in `ce-*` headers, the data as the body) or structured mode (the whole event as
// `application/cloudevents+json`), checking the required attributes, and writing an event back out in
// binary mode — what Knative's sources and brokers send. Pure: headers and bytes in and out.

export const SPEC_VERSION = '1.0';
/** Required context attributes, in the order a missing one is reported. */
export const REQUIRED = ['specversion', 'id', 'source', 'type'] as const;
const STRUCTURED = 'application/cloudevents+json';
const BATCH = 'application/cloudevents-batch+json';

export interface CloudEvent {
  specversion: string;
  id: string;
  source: string;
  type: string;
  datacontenttype?: string;
  dataschema?: string;
  subject?: string;
  time?: string;
  /** The payload as bytes (binary mode body, or structured `data` / `data_base64`). */
  data?: Buffer;
  /** Extension attributes (lower-case names), as strings. */
  extensions: Record<string, string>;
}

/** A request that is not an acceptable CloudEvent; `attribute` names the field at fault. */
export class CloudEventError extends Error {
  readonly attribute?: string;
  constructor(message: string, attribute?: string) {
    super(message);
    this.name = 'CloudEventError';
    this.attribute = attribute;
  }
}

const KNOWN = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'datacontenttype',
  'dataschema',
  'subject',
  'time',
]);
// CloudEvents attribute names: lower-case letters and digits, at most 20 characters recommended.
const NAME = /^[a-z0-9]{1,20}$/;

type Headers = Record<string, string | string[] | undefined>;

function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function check(attrs: Record<string, string | undefined>): void {
  for (const a of REQUIRED)
    if (attrs[a] === undefined || attrs[a] === '')
      throw new CloudEventError(`missing required CloudEvents attribute "${a}"`, a);
  if (attrs.specversion !== SPEC_VERSION)
    throw new CloudEventError(
      `unsupported specversion "${attrs.specversion}": only "${SPEC_VERSION}" is accepted`,
      'specversion',
    );
  if (attrs.time !== undefined && Number.isNaN(Date.parse(attrs.time)))
    throw new CloudEventError(
      `invalid "time": ${JSON.stringify(attrs.time)} is not an RFC 3339 timestamp`,
      'time',
    );
}

/** Percent-decoding of binary-mode header values (the HTTP binding's rule for non-ASCII characters). */
function decodeHeader(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** Read a CloudEvent from an HTTP request: structured when the content type says so, binary otherwise. */
export function parseHttp(headers: Headers, body: Buffer): CloudEvent {
  const contentType = header(headers, 'content-type') ?? '';
  const mediaType = contentType.split(';')[0].trim().toLowerCase();
  if (mediaType === BATCH)
    throw new CloudEventError('batched CloudEvents are not accepted: send one event per request');
  if (mediaType === STRUCTURED) return parseStructured(body);
  const attrs: Record<string, string | undefined> = {};
  const extensions: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    if (!name.startsWith('ce-') || v === undefined) continue;
    const attr = name.slice(3);
    const value = decodeHeader(Array.isArray(v) ? v.join(',') : v);
    if (KNOWN.has(attr)) attrs[attr] = value;
    else if (NAME.test(attr)) extensions[attr] = value;
  }
  if (Object.keys(attrs).length === 0 && Object.keys(extensions).length === 0)
    throw new CloudEventError(
      `not a CloudEvent: no ce-* headers (binary mode) and content type is not ${STRUCTURED} (structured mode)`,
      'specversion',
    );
  check(attrs);
  return {
    specversion: attrs.specversion!,
    id: attrs.id!,
    source: attrs.source!,
    type: attrs.type!,
    ...(contentType ? { datacontenttype: contentType } : {}),
    ...(attrs.dataschema ? { dataschema: attrs.dataschema } : {}),
    ...(attrs.subject ? { subject: attrs.subject } : {}),
    ...(attrs.time ? { time: attrs.time } : {}),
    ...(body.length ? { data: body } : {}),
    extensions,
  };
}

function parseStructured(body: Buffer): CloudEvent {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new CloudEventError(`structured CloudEvent is not valid JSON: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new CloudEventError('structured CloudEvent must be a JSON object');
  const o = doc as Record<string, unknown>;
  const attrs: Record<string, string | undefined> = {};
  const extensions: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === 'data' || k === 'data_base64') continue;
    if (v === null || v === undefined) continue;
    const s =
      typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
    if (s === undefined) throw new CloudEventError(`attribute "${k}" must be a string, number or boolean`, k);
    if (KNOWN.has(k)) attrs[k] = s;
    else if (NAME.test(k)) extensions[k] = s;
    else throw new CloudEventError(`invalid attribute name "${k}": lower-case letters and digits only`, k);
  }
  check(attrs);
  if (o.data !== undefined && o.data_base64 !== undefined)
    throw new CloudEventError('only one of "data" and "data_base64" may be set', 'data_base64');
  let data: Buffer | undefined;
  const dct = attrs.datacontenttype;
  if (typeof o.data_base64 === 'string') data = Buffer.from(o.data_base64, 'base64');
  else if (o.data !== undefined && o.data !== null) {
    // JSON data (the default content type) is the JSON value; other text is carried as the string.
    const isJson = !dct || /[/+]json(;|$)/.test(dct);
    data = Buffer.from(isJson || typeof o.data !== 'string' ? JSON.stringify(o.data) : o.data, 'utf8');
  }
  return {
    specversion: attrs.specversion!,
    id: attrs.id!,
    source: attrs.source!,
    type: attrs.type!,
    ...(dct ? { datacontenttype: dct } : o.data !== undefined ? { datacontenttype: 'application/json' } : {}),
    ...(attrs.dataschema ? { dataschema: attrs.dataschema } : {}),
    ...(attrs.subject ? { subject: attrs.subject } : {}),
    ...(attrs.time ? { time: attrs.time } : {}),
    ...(data ? { data } : {}),
    extensions,
  };
}

/** Header values outside printable ASCII are percent-encoded, as the HTTP binding requires. */
function encodeHeader(v: string): string {
  return v.replace(/[^\x20-\x7e]|%/g, (c) => encodeURIComponent(c));
}

/** An event as a binary-mode HTTP message: the headers to send and the body. */
export function toBinary(e: CloudEvent): { headers: Record<string, string>; body: Buffer } {
  const headers: Record<string, string> = {
    'ce-specversion': e.specversion,
    'ce-id': encodeHeader(e.id),
    'ce-source': encodeHeader(e.source),
    'ce-type': encodeHeader(e.type),
  };
  if (e.datacontenttype) headers['content-type'] = e.datacontenttype;
  if (e.dataschema) headers['ce-dataschema'] = encodeHeader(e.dataschema);
  if (e.subject) headers['ce-subject'] = encodeHeader(e.subject);
  if (e.time) headers['ce-time'] = e.time;
  for (const [k, v] of Object.entries(e.extensions)) headers[`ce-${k}`] = encodeHeader(v);
  return { headers, body: e.data ?? Buffer.alloc(0) };
}

/** An event as a structured-mode JSON document (data as JSON when it is JSON, else data_base64). */
export function toStructured(e: CloudEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {
    specversion: e.specversion,
    id: e.id,
    source: e.source,
    type: e.type,
    ...(e.datacontenttype ? { datacontenttype: e.datacontenttype } : {}),
    ...(e.dataschema ? { dataschema: e.dataschema } : {}),
    ...(e.subject ? { subject: e.subject } : {}),
    ...(e.time ? { time: e.time } : {}),
    ...e.extensions,
  };
  if (e.data) {
    const json = !e.datacontenttype || /[/+]json(;|$)/.test(e.datacontenttype);
    if (json) {
      try {
        out.data = JSON.parse(e.data.toString('utf8'));
        return out;
      } catch {
        // Not JSON after all: carry the bytes.
      }
    }
    out.data_base64 = e.data.toString('base64');
  }
  return out;
}
