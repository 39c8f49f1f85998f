// WAGI, the WebAssembly Gateway Interface (deislabs/wagi): CGI 1.1 (RFC 3875) for WASI commands. A
// request runs one fresh instance of the module: the request line and headers become environment
// variables, the body is its stdin, the query string's parts its arguments; what it writes to stdout —
// header lines, a blank line, the body — is the response.
import type { HttpHandlerRequest, HttpHandlerResponse } from '../driver.ts';

export interface WagiContext {
  /** argv[0]: the module's name, as SCRIPT_NAME. */
  scriptName: string;
  /** The client-facing host:port when the request has no Host header. */
  serverName: string;
}

/** The CGI environment of a request (RFC 3875 §4.1, plus WAGI's X_FULL_URL, X_MATCHED_ROUTE, X_RAW_PATH_INFO). */
export function wagiEnvironment(req: HttpHandlerRequest, ctx: WagiContext): Record<string, string> {
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const query = q < 0 ? '' : req.url.slice(q + 1);
  const host = req.headers.host ?? ctx.serverName;
  const env: Record<string, string> = {
    AUTH_TYPE: '',
    CONTENT_LENGTH: String(req.body.length),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    GATEWAY_INTERFACE: 'CGI/1.1',
    PATH_INFO: safeDecode(rawPath),
    PATH_TRANSLATED: safeDecode(rawPath),
    QUERY_STRING: query,
    REMOTE_ADDR: req.remoteAddress,
    REMOTE_HOST: req.remoteAddress,
    REMOTE_USER: '',
    REQUEST_METHOD: req.method,
    SCRIPT_NAME: ctx.scriptName,
    SERVER_NAME: host.replace(/:\d+$/, ''),
    SERVER_PORT: String(req.localPort),
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_SOFTWARE: 'Strata-WAGI/1',
    X_FULL_URL: `http://${host}${req.url}`,
    X_MATCHED_ROUTE: '/...',
    X_RAW_PATH_INFO: rawPath,
  };
  for (const [name, value] of Object.entries(req.headers)) {
    // Credentials stay out of the environment unless the module is meant to see them (CGI's rule).
    if (name === 'authorization' || name === 'proxy-authorization') continue;
    if (name === 'content-type' || name === 'content-length') continue;
    env[`HTTP_${name.toUpperCase().replace(/-/g, '_')}`] = value;
  }
  return env;
}

/** argv: the module's name, then the query string's parts, decoded (WAGI's convention). */
export function wagiArgs(url: string, scriptName: string): string[] {
  const q = url.indexOf('?');
  if (q < 0) return [scriptName];
  const parts = url
    .slice(q + 1)
    .split('&')
    .filter(Boolean)
    .map((p) => safeDecode(p.replace(/\+/g, ' ')));
  return [scriptName, ...parts];
}

export class WagiResponseError extends Error {}

const MAX_HEADER_BYTES = 64 * 1024;

/**
 * Parses a module's stdout as a CGI response: header lines up to the first blank line (LF or CRLF), then
 * the body. `Status: 404 Not Found` sets the status; a `Location` without one is a 302 redirect. A
 * response with neither Content-Type nor Location is not a CGI response (WAGI refuses it too).
 */
export function parseWagiResponse(stdout: Uint8Array): HttpHandlerResponse {
  const buf = Buffer.from(stdout.buffer, stdout.byteOffset, stdout.byteLength);
  const end = headerEnd(buf);
  if (!end) {
    throw new WagiResponseError(
      stdout.length === 0
        ? 'the module wrote nothing to stdout (a WAGI response starts with headers, e.g. "Content-Type: text/plain", then a blank line)'
        : 'the module wrote no blank line after its headers',
    );
  }
  const headers: Array<[string, string]> = [];
  let status: number | undefined;
  let hasType = false;
  let location = false;
  for (const line of buf.subarray(0, end.headersEnd).toString('latin1').split(/\r?\n/)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new WagiResponseError(`malformed header line "${line.slice(0, 80)}"`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    const lower = name.toLowerCase();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
      throw new WagiResponseError(`invalid header name "${name}"`);
    if (lower === 'status') {
      const code = Number(value.split(' ')[0]);
      if (!Number.isInteger(code) || code < 100 || code > 999)
        throw new WagiResponseError(`invalid Status header "${value}"`);
      status = code;
      continue;
    }
    if (lower === 'content-type') hasType = true;
    if (lower === 'location') location = true;
    // The listener frames the body itself.
    if (lower === 'content-length' || lower === 'transfer-encoding' || lower === 'connection') continue;
    headers.push([name, value]);
  }
  if (!hasType && !location)
    throw new WagiResponseError('the response has neither a Content-Type nor a Location header');
  return {
    status: status ?? (location ? 302 : 200),
    headers,
    body: buf.subarray(end.bodyStart),
  };
}

function headerEnd(buf: Buffer): { headersEnd: number; bodyStart: number } | undefined {
  const limit = Math.min(buf.length, MAX_HEADER_BYTES);
  for (let i = 0; i < limit; i++) {
    if (buf[i] !== 0x0a) continue;
    if (buf[i + 1] === 0x0a) return { headersEnd: i, bodyStart: i + 2 };
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return { headersEnd: i, bodyStart: i + 3 };
  }
  return undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
