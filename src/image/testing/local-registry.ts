// Test and benchmark support: Debian's docker-registry (distribution 2.8) on 127.0.0.1 with a minimal
// config (no auth, htpasswd Basic auth, or bearer tokens from startTokenServer), in a temp directory.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSign, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Credentials } from '../registry-auth.ts';
import { freePort } from '../../lib/free-port.ts';

export interface LocalRegistry {
  /** "127.0.0.1:PORT", as used in references. */
  host: string;
  url: string;
  dir: string;
  stop(): Promise<void>;
}

export interface LocalRegistryOptions {
  /** Basic auth with one user (htpasswd from Debian's apache2-utils makes the bcrypt entry). */
  htpasswd?: Credentials;
  /** Bearer-token auth trusting this token server. */
  token?: TokenServer;
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = join(dir, cmd);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Why registry tests cannot run here, or undefined when they can. */
export function registryUnavailable(): string | undefined {
  return which('docker-registry')
    ? undefined
    : 'docker-registry not installed (apt-get install docker-registry)';
}

export function toolMissing(cmd: string, pkg: string): string | undefined {
  return which(cmd) ? undefined : `${cmd} not installed (apt-get install ${pkg})`;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export async function startLocalRegistry(opts: LocalRegistryOptions = {}): Promise<LocalRegistry> {
  const why = registryUnavailable();
  if (why) throw new Error(why);
  const dir = mkdtempSync(join(tmpdir(), 'strata-registry-'));
  const port = await freePort();
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'error', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: join(dir, 'data') }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, secret: randomBytes(16).toString('hex') },
  };
  if (opts.htpasswd) {
    const line = execFileSync('htpasswd', ['-Bbn', opts.htpasswd.username, opts.htpasswd.password], {
      encoding: 'utf8',
    });
    writeFileSync(join(dir, 'htpasswd'), line.trim() + '\n');
    config.auth = { htpasswd: { realm: 'strata-test', path: join(dir, 'htpasswd') } };
  } else if (opts.token) {
    config.auth = {
      token: {
        realm: opts.token.realm,
        service: opts.token.service,
        issuer: opts.token.issuer,
        rootcertbundle: opts.token.certFile,
      },
    };
  }
  // JSON is YAML: the registry reads it as its config file.
  writeFileSync(join(dir, 'config.yml'), JSON.stringify(config));
  // A shell watchdog runs the registry and takes it down once this process is gone, even when it was
  // killed too hard for an exit handler to run (a test runner timing out, kill -9).
  const watchdog =
    'docker-registry serve "$1" & r=$!; trap \'kill $r 2>/dev/null; wait $r; exit 0\' TERM; ' +
    'while kill -0 "$2" 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 1 & wait $!; done; kill $r 2>/dev/null; wait $r';
  const child = spawn('sh', ['-c', watchdog, 'sh', join(dir, 'config.yml'), String(process.pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr.trim()}`);
    try {
      const res = await fetch(`${url}/v2/`);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    dir,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      children.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Token requests served, and the scopes asked for. */
  requests: Array<{ user?: string; scopes: string[] }>;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/**
 * A docker token service (the "Bearer realm" of the distribution auth spec) for one user: checks Basic
 * credentials and issues RS256 JWTs carrying the requested repository actions, signed by a throwaway
 * self-signed certificate (made with openssl) that the registry is told to trust.
 */
export async function startTokenServer(user: Credentials): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-token-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=strata-test-token',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const key = readFileSync(join(dir, 'key.pem'), 'utf8');
  const certDer = Buffer.from(
    readFileSync(join(dir, 'cert.pem'), 'utf8')
      .replace(/-----[A-Z ]+-----/g, '')
      .replace(/\s+/g, ''),
    'base64',
  );
  const service = 'strata-test-registry';
  const issuer = 'strata-test-issuer';
  const requests: TokenServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    const [scheme, cred] = (req.headers.authorization ?? '').split(' ');
    const [name, pass] =
      scheme === 'Basic'
        ? Buffer.from(cred ?? '', 'base64')
            .toString()
            .split(':')
        : [];
    requests.push({ user: name, scopes });
    if (name !== user.username || pass !== user.password) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.map((s) => {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop() ?? '';
      return { type, name: rest.join(':'), actions: actions.split(',') };
    });
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] }));
    const claims = b64url(
      JSON.stringify({
        iss: issuer,
        sub: name,
        aud: service,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(8).toString('hex'),
        access,
      }),
    );
    const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key);
    const token = `${header}.${claims}.${b64url(signature)}`;
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile: join(dir, 'cert.pem'),
    requests,
    async stop() {
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
