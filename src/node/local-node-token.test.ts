// Over plain HTTP the node `strata up` runs beside the server has no certificate: it gets a token of its
// own — system:node:NAME, held to what a node may do — never the admin's, and the same one at every start.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Client } from '../client/client.ts';
import { startControlPlaneNode } from './control-plane.ts';

const dir = mkdtempSync(join(tmpdir(), 'strata-local-node-token-'));
afterAll(async () => {
  // The server's log file (pino, DATA/server.log) is opened asynchronously: let it settle first.
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dir, { recursive: true, force: true });
});

const whoami = (c: Client) =>
  c.json('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });

describe('the local node over plain HTTP', () => {
  it('authenticates as system:node:NAME with a token of its own, kept across starts', async () => {
    const start = () =>
      startControlPlaneNode({
        dataDir: dir,
        port: 0,
        insecureHttp: true,
        advertiseAddress: 'none',
        localNodeName: 'n1',
      });
    const cp = await start();
    let token: string;
    try {
      token = cp.localNodeToken!;
      expect(token).toMatch(/^[0-9a-f]{48}$/);
      expect(token).not.toBe(cp.adminToken);
      expect(statSync(join(dir, 'tokens')).mode & 0o777).toBe(0o600);
      const node = new Client({ server: cp.url, token });
      const who = await whoami(node);
      expect(who.status.userInfo.username).toBe('system:node:n1');
      expect(who.status.userInfo.groups).toContain('system:nodes');
      // A node, not an administrator: it cannot list Secrets.
      await expect(node.request('GET', '/api/v1/secrets')).rejects.toMatchObject({ code: 403 });
      node.close();
    } finally {
      await cp.stop();
    }
    const again = await start();
    try {
      expect(again.localNodeToken).toBe(token);
    } finally {
      await again.stop();
    }
  }, 60_000);
});
