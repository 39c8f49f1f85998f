// How the client reaches the API: plain HTTP (loopback development only) or HTTPS verified against the
// cluster CA, with a client certificate and/or a bearer token. One keep-alive agent per client; answers are
// WHATWG Responses so callers read them as they would a fetch().
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { createSecureContext } from 'node:tls';
import { Readable } from 'node:stream';

/** TLS settings of a connection, as a kubeconfig holds them (PEM strings, not paths). */
export interface TlsConfig {
  /** The cluster CA the server's certificate must chain to. */
  ca?: string;
  /** A client certificate and its key (PEM), to authenticate with instead of (or beside) a token. */
  cert?: string;
  key?: string;
  /** kubeconfig's insecure-skip-tls-verify: do not verify the server (never the default). */
  insecureSkipVerify?: boolean;
}

export interface TransportRequest {
  method: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  signal?: AbortSignal;
}

export class Transport {
  tls: TlsConfig;
  private agent: HttpAgent | HttpsAgent;
  private readonly secure: boolean;

  constructor(server: URL, tls: TlsConfig = {}) {
    this.tls = tls;
    this.secure = server.protocol === 'https:';
    this.agent = this.secure ? this.httpsAgent() : new HttpAgent({ keepAlive: true });
  }

  /**
   * One TLS context for every connection (node builds one per connection from ca/cert/key otherwise:
   * parsing the CA and key cost more than the handshake when an agent wrote 1,500 pod statuses at once).
   * Connections are not capped: a cap of 128 queued the agent's lease renewals behind a thousand pod
   * requests and its node went NotReady.
   */
  private httpsAgent(): HttpsAgent {
    const { rejectUnauthorized, ...material } = this.tlsOptions();
    return new HttpsAgent({
      keepAlive: true,
      rejectUnauthorized,
      secureContext: createSecureContext(material),
    });
  }

  /** Options for node:https/tls calls made outside this transport (upgrades, WebSockets). */
  tlsOptions(): { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean } {
    return {
      ...(this.tls.ca ? { ca: this.tls.ca } : {}),
      ...(this.tls.cert && this.tls.key ? { cert: this.tls.cert, key: this.tls.key } : {}),
      rejectUnauthorized: !this.tls.insecureSkipVerify,
    };
  }

  request(url: URL, r: TransportRequest): Promise<Response> {
    const send = this.secure ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, {
        method: r.method,
        headers:
          r.body !== undefined
            ? { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) }
            : r.headers,
        agent: this.agent,
        signal: r.signal,
      });
      req.on('error', reject);
      req.on('response', (res: IncomingMessage) => resolve(toResponse(res)));
      req.end(r.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }

  /**
   * Presents another client certificate from now on (a node's rotated identity): new connections use it,
   * and the old ones are closed so long-lived watches reconnect under it.
   */
  setClientCertificate(cert: string, key: string): void {
    const old = this.agent;
    this.tls = { ...this.tls, cert, key };
    this.agent = this.httpsAgent();
    old.destroy();
  }
}

function toResponse(res: IncomingMessage): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) for (const x of v) headers.append(k, x);
    else if (v !== undefined) headers.set(k, v);
  }
  const status = res.statusCode ?? 500;
  // A Response may not carry a body for these statuses.
  const empty = status === 204 || status === 304 || status === 101;
  if (empty) res.resume();
  return new Response(empty ? null : (Readable.toWeb(res) as ReadableStream), {
    status,
    statusText: res.statusMessage,
    headers,
  });
}
