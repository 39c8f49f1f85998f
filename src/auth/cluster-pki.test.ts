import { statSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadOrCreateClusterPKI, servingNames } from './cluster-pki.ts';
import { altNamesOf, issue } from './pki.ts';

describe('cluster PKI on disk', () => {
  it('creates the CA and certificates once, keys 0600, and reuses them on the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpki-'));
    const a = await loadOrCreateClusterPKI(dir);
    for (const f of ['ca.key', 'server.key', 'admin.key', 'apiserver-agent-client.key'])
      expect(statSync(join(dir, 'tls', f)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'tls')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, 'tls/ca.hash'), 'utf8').trim()).toBe(a.caHash);
    const b = await loadOrCreateClusterPKI(dir);
    expect(b.ca.cert).toBe(a.ca.cert);
    expect(b.serving.cert).toBe(a.serving.cert);
    expect(b.admin.cert).toBe(a.admin.cert);
    // The serving chain ends with the CA, so a joining agent can pin it by hash.
    expect(a.serving.cert.endsWith(a.ca.cert)).toBe(true);
    expect(new X509Certificate(a.admin.cert).subject).toBe('CN=admin\nO=system:masters');
  });

  it('names the server as in-cluster clients and kubectl reach it, plus --tls-san', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpki-'));
    const p = await loadOrCreateClusterPKI(dir, { tlsSans: ['api.example.test', '192.0.2.10'] });
    const names = altNamesOf(p.serving.cert);
    for (const n of [
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
      '127.0.0.1',
      '10.96.0.1',
      'api.example.test',
      '192.0.2.10',
    ])
      expect(names).toContain(n);
  });

  it('renews the serving certificate when a name is missing or it expires within 90 days, keeping the CA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpki-'));
    const first = await loadOrCreateClusterPKI(dir);
    const withSan = await loadOrCreateClusterPKI(dir, { tlsSans: ['new.example.test'] });
    expect(withSan.ca.cert).toBe(first.ca.cert);
    expect(withSan.serving.cert).not.toBe(first.serving.cert);
    expect(altNamesOf(withSan.serving.cert)).toContain('new.example.test');
    // A serving certificate with 30 days left is replaced at start.
    const short = await issue(first.ca, {
      commonName: 'strata-apiserver',
      altNames: servingNames(),
      usage: 'server',
      days: 30,
    });
    writeFileSync(join(dir, 'tls/server.crt'), short.cert);
    writeFileSync(join(dir, 'tls/server.key'), short.key);
    const renewed = await loadOrCreateClusterPKI(dir);
    expect(renewed.serving.cert.startsWith(short.cert)).toBe(false);
    expect(renewed.ca.cert).toBe(first.ca.cert);
  });
});
