import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readKubeconfig, writeKubeconfig } from './kubeconfig.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'kcfg-'));
const PEM = (what: string) => `-----BEGIN CERTIFICATE-----\n${what}\n-----END CERTIFICATE-----\n`;

describe('kubeconfig', () => {
  it('round-trips the CA, the client certificate and the local node (0600)', () => {
    const path = join(dir(), 'config');
    writeKubeconfig(path, {
      server: 'https://127.0.0.1:6443',
      ca: PEM('ca'),
      clientCert: PEM('cert'),
      clientKey: 'KEY',
      node: { name: 'node-a', imageStore: '/var/lib/strata/images' },
    });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const c = readKubeconfig(path);
    expect(c.server).toBe('https://127.0.0.1:6443');
    expect(c.tls).toEqual({ ca: PEM('ca'), cert: PEM('cert'), key: 'KEY', insecureSkipVerify: false });
    expect(c.token).toBeUndefined();
    expect(c.node).toEqual({ name: 'node-a', imageStore: '/var/lib/strata/images' });
  });

  it('falls back to a token file, and says what is missing', () => {
    const d = dir();
    const path = join(d, 'config');
    writeKubeconfig(path, { server: 'http://127.0.0.1:6443', tokenFile: join(d, 'nope') });
    expect(() => readKubeconfig(path)).toThrow(/cannot read token file/);
    expect(() => readKubeconfig(join(d, 'absent'))).toThrow(/no Strata config at .*strata up/);
  });
});
