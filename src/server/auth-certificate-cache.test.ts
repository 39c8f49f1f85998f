// The client certificate is read once per TLS connection, not once per request: several requests over
// one keep-alive connection authenticate as the certificate's user with a single parse, and another
// connection with another certificate is its own user. Real TLS (node:https), real certificates.
import { createServer, request, Agent, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCA, issue, type KeyPair } from '../auth/pki.ts';
import { Authenticator, type AuthResult } from './auth.ts';

let ca: KeyPair;
let server: Server;
let port: number;
const parsesBySocket = new Map<TLSSocket, number>();

beforeAll(async () => {
  ca = await createCA('cache-ca');
  const serving = await issue(ca, {
    commonName: 'server',
    altNames: ['127.0.0.1'],
    usage: 'server',
    days: 1,
  });
  const auth = new Authenticator();
  server = createServer(
    { cert: serving.cert, key: serving.key, ca: ca.cert, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      if (!parsesBySocket.has(socket)) {
        // Count the parses of this connection's certificate (the real method, called through).
        parsesBySocket.set(socket, 0);
        const real = socket.getPeerCertificate.bind(socket);
        socket.getPeerCertificate = ((detailed?: boolean) => {
          parsesBySocket.set(socket, parsesBySocket.get(socket)! + 1);
          return real(detailed as true);
        }) as TLSSocket['getPeerCertificate'];
      }
      const result = auth.authenticateRequest(req) as AuthResult;
      res.end(JSON.stringify(result.ok ? result.user : { error: result.message }));
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

function get(agent: Agent): Promise<any> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/', agent, ca: ca.cert }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(JSON.parse(body)));
    })
      .on('error', reject)
      .end();
  });
}

async function clientAgent(commonName: string, organizations: string[]): Promise<Agent> {
  const c = await issue(ca, { commonName, organizations, usage: 'client', days: 1 });
  return new Agent({ keepAlive: true, maxSockets: 1, cert: c.cert, key: c.key, ca: ca.cert });
}

describe('client certificates per connection', () => {
  it('parses a connection’s certificate once for all its requests; each connection its own', async () => {
    parsesBySocket.clear();
    const alice = await clientAgent('alice', ['devs']);
    const bob = await clientAgent('bob', []);
    try {
      for (let i = 0; i < 5; i++) {
        expect(await get(alice)).toMatchObject({
          username: 'alice',
          groups: ['devs', 'system:authenticated'],
        });
        expect(await get(bob)).toMatchObject({ username: 'bob', groups: ['system:authenticated'] });
      }
      // One keep-alive connection each (TLS 1.3), one parse each.
      expect([...parsesBySocket.values()]).toEqual([1, 1]);
    } finally {
      alice.destroy();
      bob.destroy();
    }
  });

  it('a certificate of another CA is refused on every request of its connection', async () => {
    const other = await createCA('other-ca');
    const c = await issue(other, { commonName: 'mallory', usage: 'client', days: 1 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1, cert: c.cert, key: c.key, ca: ca.cert });
    try {
      for (let i = 0; i < 3; i++) expect((await get(agent)).error).toMatch(/not valid for this cluster/);
    } finally {
      agent.destroy();
    }
  });
});
