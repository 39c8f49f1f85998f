// Real etcd 3.4 members with TLS from a real CA: found a cluster, add a member the way --join does, see the
// supervisor restart a killed member, remove a member again. Loopback only.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCA, issue } from '../../auth/pki.ts';
import { freePort } from '../../lib/free-port.ts';
import { etcdUnavailable } from '../testing/etcd.ts';
import { memberClient, startEmbeddedEtcd, type EmbeddedEtcd, type MemberTlsFiles } from './member.ts';
import { addMember, listMembers, removeMember } from './membership.ts';

const missing = etcdUnavailable();
if (missing) console.warn(`skipping embedded etcd tests: ${missing}`);

async function certificates(dir: string): Promise<MemberTlsFiles> {
  const ca = await createCA('test-ca');
  const names = ['127.0.0.1', 'localhost'];
  const files: MemberTlsFiles = {
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
    peerCertFile: join(dir, 'peer.crt'),
    peerKeyFile: join(dir, 'peer.key'),
    clientCertFile: join(dir, 'client.crt'),
    clientKeyFile: join(dir, 'client.key'),
  };
  writeFileSync(files.caFile, ca.cert);
  for (const [crt, key, usage] of [
    [files.certFile, files.keyFile, 'server+client'],
    [files.peerCertFile, files.peerKeyFile, 'server+client'],
    [files.clientCertFile, files.clientKeyFile, 'client'],
  ] as const) {
    const kp = await issue(ca, { commonName: 'm', altNames: names, usage, days: 1 });
    writeFileSync(crt, kp.cert);
    writeFileSync(key, kp.key);
  }
  return files;
}

describe.skipIf(missing)('embedded etcd member', () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-embedded-etcd-'));
  const running: EmbeddedEtcd[] = [];
  afterAll(async () => {
    for (const m of running) await m.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('founds a cluster, adds a member that starts as existing, survives a kill, and removes a member', async () => {
    const tls = await certificates(root);
    const [c1, p1, c2, p2] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const first = await startEmbeddedEtcd({
      dir: join(root, 'm1'),
      name: 'm1',
      address: '127.0.0.1',
      clientPort: c1,
      peerPort: p1,
      tls,
      initialCluster: `m1=https://127.0.0.1:${p1}`,
      state: 'new',
      quotaBackendBytes: 64 * 1024 * 1024,
    });
    running.push(first);
    const client = memberClient([first.localClientUrl], tls);
    try {
      await client.put('k').value('v1');
      // --join: the member is added first, then starts with the list the add returned.
      const plan = await addMember(client, 'm2', `https://127.0.0.1:${p2}`);
      expect(plan.initialCluster.split(',').sort()).toEqual([
        `m1=https://127.0.0.1:${p1}`,
        `m2=https://127.0.0.1:${p2}`,
      ]);
      // A retried join (the joiner died before starting) finds its member added already.
      expect((await addMember(client, 'm2', `https://127.0.0.1:${p2}`)).initialCluster).toBe(
        plan.initialCluster,
      );
      await expect(addMember(client, 'm1', `https://127.0.0.1:${p2}`)).rejects.toThrow(/m1/);
      const second = await startEmbeddedEtcd({
        dir: join(root, 'm2'),
        name: 'm2',
        address: '127.0.0.1',
        clientPort: c2,
        peerPort: p2,
        tls,
        initialCluster: plan.initialCluster,
        state: 'existing',
      });
      running.push(second);
      const c2client = memberClient([second.localClientUrl], tls);
      try {
        // The new member serves the data written before it joined.
        expect(await c2client.get('k').string()).toBe('v1');
        expect((await listMembers(c2client)).map((m) => m.name).sort()).toEqual(['m1', 'm2']);

        // SIGKILL the first member's process: the supervisor starts it again on its data.
        const pid = first.pid!;
        process.kill(pid, 'SIGKILL');
        for (let i = 0; first.pid === pid || first.pid === undefined; i++) {
          if (i > 300) throw new Error('the member was not restarted');
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(first.restarts).toBe(1);
        for (let i = 0; ; i++) {
          try {
            await client.put('k').value('v2');
            break;
          } catch (err) {
            if (i > 100) throw err;
            await new Promise((r) => setTimeout(r, 200));
          }
        }
        expect(await c2client.get('k').string()).toBe('v2');

        // A member leaving for good is removed; the other goes on alone.
        expect(await removeMember(client, 'm2')).toBe(true);
        expect(await removeMember(client, 'm2')).toBe(false);
        expect((await listMembers(client)).map((m) => m.name)).toEqual(['m1']);
        await client.put('k').value('v3');
      } finally {
        c2client.close();
      }
    } finally {
      client.close();
    }
  }, 120_000);
});
