// The agent's local load balancer in front of the API servers (K3s' agent load balancer on 6444): the
// agent's client talks to https://127.0.0.1:PORT, and this TCP proxy passes each connection to one of
// the servers it knows. It sticks to one server while that one answers (watches and the lease stay on
// one connection) and moves to the next when a connection to it fails or its health check does; the
// connections still open to a server that failed are cut, so the agent's watches and lease renewals
// reconnect at once, through another server. TLS passes through untouched: every server's certificate
// carries 127.0.0.1 and is verified against the cluster CA as before.
//
// The server list: the --server URLs, plus every address the `default/kubernetes` EndpointSlice has named
// (each server writes its own address there), kept in a file so that a restart knows them all.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export interface ServerLoadBalancerOptions {
  /** https://HOST:PORT of the servers known at start (at least one). */
  servers: string[];
  /** Local port (default 6444; 0 picks a free one). */
  port?: number;
  /** Where the list learned so far is kept between restarts. */
  stateFile?: string;
  /** Between health checks of every server (default 2 s). */
  healthIntervalMs?: number;
  /** A connection attempt slower than this counts as a failure (default 2 s). */
  connectTimeoutMs?: number;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

interface Backend {
  host: string;
  port: number;
  healthy: boolean;
  sockets: Set<Socket>;
}

const key = (b: { host: string; port: number }) => `${b.host}:${b.port}`;

function parseServer(url: string): { host: string; port: number } {
  const u = new URL(url);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
  };
}

export class ServerLoadBalancer {
  private readonly backends = new Map<string, Backend>();
  private current: string | undefined;
  private server: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly o: ServerLoadBalancerOptions;
  private readonly protocol: string;

  constructor(o: ServerLoadBalancerOptions) {
    if (o.servers.length === 0) throw new Error('--server: at least one server URL');
    this.o = o;
    this.protocol = new URL(o.servers[0]!).protocol;
    const saved =
      o.stateFile && existsSync(o.stateFile)
        ? (JSON.parse(readFileSync(o.stateFile, 'utf8')) as string[])
        : [];
    for (const s of [...o.servers, ...saved]) this.add(parseServer(s));
    this.current = key(parseServer(o.servers[0]!));
  }

  /** The URL the agent uses. */
  get url(): string {
    const addr = this.server?.address();
    if (!addr || typeof addr === 'string') throw new Error('the load balancer is not listening');
    return `${this.protocol}//127.0.0.1:${addr.port}`;
  }

  /** host:port of every server known, and which one connections go to now. */
  status(): { servers: { address: string; healthy: boolean }[]; current: string | undefined } {
    return {
      servers: [...this.backends.values()].map((b) => ({ address: key(b), healthy: b.healthy })),
      current: this.current,
    };
  }

  async start(): Promise<string> {
    this.server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.o.port ?? 6444, '127.0.0.1', () => resolve());
    });
    this.timer = setInterval(() => void this.checkAll(), this.o.healthIntervalMs ?? 2_000);
    this.timer.unref();
    return this.url;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const b of this.backends.values()) for (const s of b.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Adds servers learned from the cluster (addresses of the `kubernetes` EndpointSlice, with its port). */
  learn(addresses: { host: string; port: number }[]): void {
    let changed = false;
    for (const a of addresses) changed = this.add(a) || changed;
    if (changed) {
      this.o.log?.info({ servers: [...this.backends.keys()] }, 'load balancer: servers learned');
      if (this.o.stateFile)
        writeFileSync(
          this.o.stateFile,
          JSON.stringify([...this.backends.values()].map((b) => `${this.protocol}//${b.host}:${b.port}`)),
        );
    }
  }

  private add(a: { host: string; port: number }): boolean {
    if (this.backends.has(key(a))) return false;
    this.backends.set(key(a), { ...a, healthy: true, sockets: new Set() });
    return true;
  }

  /** The server new connections go to: the current one while healthy, else the next healthy one. */
  private pick(exclude: Set<string>): Backend | undefined {
    const list = [...this.backends.values()];
    const cur = this.current ? this.backends.get(this.current) : undefined;
    if (cur && cur.healthy && !exclude.has(key(cur))) return cur;
    const start = Math.max(
      0,
      list.findIndex((b) => key(b) === this.current),
    );
    for (let i = 1; i <= list.length; i++) {
      const b = list[(start + i) % list.length]!;
      if (b.healthy && !exclude.has(key(b))) return b;
    }
    // None looks healthy: try any not tried yet (the health check may lag a server that came back).
    return list.find((b) => !exclude.has(key(b)));
  }

  private accept(client: Socket, tried = new Set<string>()): void {
    const b = this.pick(tried);
    if (!b) {
      client.destroy();
      return;
    }
    tried.add(key(b));
    const upstream = connect({ host: b.host, port: b.port });
    let connected = false;
    upstream.setTimeout(this.o.connectTimeoutMs ?? 2_000, () => {
      if (!connected) upstream.destroy(new Error('connect timeout'));
    });
    upstream.once('connect', () => {
      connected = true;
      upstream.setTimeout(0);
      if (this.current !== key(b)) {
        this.o.log?.info({ from: this.current, to: key(b) }, 'load balancer: switched server');
        this.current = key(b);
      }
      b.sockets.add(upstream);
      upstream.once('close', () => b.sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    upstream.once('error', (err) => {
      if (connected) return;
      this.markDown(b, err.message);
      if (client.destroyed) return;
      this.accept(client, tried);
    });
  }

  private markDown(b: Backend, why: string): void {
    if (!b.healthy) return;
    b.healthy = false;
    this.o.log?.warn({ server: key(b), why }, 'load balancer: server down');
    // Cut what is open to it: the agent's watches and lease renewals reconnect through another server.
    for (const s of b.sockets) s.destroy();
  }

  private async checkAll(): Promise<void> {
    await Promise.all(
      [...this.backends.values()].map(
        (b) =>
          new Promise<void>((resolve) => {
            const s = connect({ host: b.host, port: b.port });
            const done = (ok: boolean, why?: string) => {
              s.destroy();
              if (ok && !b.healthy) {
                b.healthy = true;
                this.o.log?.info({ server: key(b) }, 'load balancer: server up');
              } else if (!ok) this.markDown(b, why ?? 'health check failed');
              resolve();
            };
            s.setTimeout(this.o.connectTimeoutMs ?? 2_000, () => done(false, 'health check timeout'));
            s.once('connect', () => done(true));
            s.once('error', (err) => done(false, err.message));
          }),
      ),
    );
  }
}
