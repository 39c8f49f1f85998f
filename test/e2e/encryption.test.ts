// Secrets encrypted at rest, end to end: a real `strata server` process, the real kubectl, and the bytes
// of the sqlite database and its WAL. Secrets created before encryption was turned on are found in the
// files (so the check can fail), then not after `strata secrets reencrypt`; key rotation and the local
// KMS envelope; a missing key-encryption key refuses to start; no secret value reaches a log.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NODE, ROOT, waitFor, type CliResult } from './harness.ts';

const MAIN = join(ROOT, 'src/cli/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'strata-e2e-enc-'));
const dataDir = join(dir, 'data');
const kubeconfig = join(dir, 'kubeconfig');
/** Everything every strata process printed, and the server log: grepped for secret values at the end. */
const output: string[] = [];

function run(cmd: string, args: string[], input = ''): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    p.stdin.end(input);
  });
}

const kubectl = (...args: string[]): Promise<CliResult> =>
  run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'kube-cache'), ...args]);

async function strata(...args: string[]): Promise<CliResult> {
  const r = await run(NODE, ['--disable-warning=ExperimentalWarning', MAIN, ...args]);
  output.push(r.stdout, r.stderr);
  return r;
}

let server: ChildProcess | undefined;

/**
 * `strata server` on the test's data directory; resolves once kubectl gets 200 from `probe` (/readyz:
 * the controllers have listed everything, secrets included).
 */
async function start(...extra: string[]): Promise<void> {
  return startProbing('/readyz', extra);
}

async function startProbing(probe: string, extra: string[]): Promise<void> {
  rmSync(kubeconfig, { force: true });
  const p = spawn(
    NODE,
    [
      '--disable-warning=ExperimentalWarning',
      MAIN,
      '--kubeconfig',
      kubeconfig,
      'server',
      '--data-dir',
      dataDir,
      '--port',
      '0',
      '--advertise-address',
      'none',
      ...extra,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  p.stdout!.on('data', (d) => output.push(String(d)));
  p.stderr!.on('data', (d) => output.push(String(d)));
  server = p;
  await waitFor('the server', async () => {
    if (p.exitCode !== null) throw new Error(`strata server exited: ${output.join('')}`);
    return existsSync(kubeconfig) && (await kubectl('get', '--raw', probe)).code === 0;
  });
}

async function stop(): Promise<void> {
  const p = server;
  server = undefined;
  if (!p || p.exitCode !== null) return;
  await new Promise<void>((r) => {
    p.once('exit', () => r());
    p.kill('SIGTERM');
  });
}

/** The server's exit when it refuses to start: its code and everything it printed. */
async function startFails(...extra: string[]): Promise<{ code: number; out: string }> {
  const r = await strata(
    'server',
    '--data-dir',
    dataDir,
    '--port',
    '0',
    '--advertise-address',
    'none',
    ...extra,
  );
  return { code: r.code, out: r.stdout + r.stderr };
}

function fileBytes(): Buffer {
  const parts = [readFileSync(join(dataDir, 'state.db'))];
  const wal = join(dataDir, 'state.db-wal');
  if (existsSync(wal)) parts.push(readFileSync(wal));
  return Buffer.concat(parts);
}

/** The value in the files, raw or in base64 (how a Secret's data field holds it). */
function onDisk(value: string): boolean {
  const b = fileBytes();
  return b.includes(value) || b.includes(Buffer.from(value).toString('base64'));
}

async function secretValue(name: string): Promise<string> {
  const r = await kubectl('get', 'secret', name, '-o', 'jsonpath={.data.password}');
  if (r.code !== 0) throw new Error(`kubectl get secret ${name}: ${r.stderr}`);
  return Buffer.from(r.stdout, 'base64').toString();
}

const key1 = randomBytes(32).toString('base64');
const key2 = randomBytes(32).toString('base64');
const kekPath = join(dir, 'kek');

function writeConfig(name: string, providers: string): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
${providers}`,
  );
  return path;
}
const aes = (name: string, secret: string): string =>
  `      - aesgcm:\n          keys: [{name: ${name}, secret: "${secret}"}]\n`;
const IDENTITY = '      - identity: {}\n';
const KMS = `      - kms: {apiVersion: v2, name: local-kek, endpoint: "file://${kekPath}"}\n`;

// Distinct, greppable values; none is a substring of another.
const values = {
  before1: `before-encryption-${randomBytes(6).toString('hex')}`,
  before2: `before-encryption-${randomBytes(6).toString('hex')}`,
  during: `while-encrypted-${randomBytes(6).toString('hex')}`,
  rotated: `after-rotation-${randomBytes(6).toString('hex')}`,
};

afterAll(async () => {
  await stop();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  // A test that failed half-way must not leave its server holding the data directory.
  await stop();
});

describe('encryption at rest (strata server, kubectl, the sqlite files)', { timeout: 240_000 }, () => {
  it('secrets created before encryption leave the database and WAL after reencrypt; kubectl still reads them', async () => {
    await start();
    for (const [name, v] of [
      ['before1', values.before1],
      ['before2', values.before2],
    ])
      expect((await kubectl('create', 'secret', 'generic', name, `--from-literal=password=${v}`)).code).toBe(
        0,
      );
    // Overwrite one: its first version stays in the history (and the files) until compaction.
    const old = `overwritten-${randomBytes(6).toString('hex')}`;
    expect(
      (await kubectl('create', 'secret', 'generic', 'changed', `--from-literal=password=${old}`)).code,
    ).toBe(0);
    const patch = JSON.stringify({
      data: { password: Buffer.from(values.before2 + '-x').toString('base64') },
    });
    expect((await kubectl('patch', 'secret', 'changed', '-p', patch)).code).toBe(0);
    await stop();
    expect(onDisk(values.before1)).toBe(true);
    expect(onDisk(old)).toBe(true);

    const phase1 = writeConfig('enc-1.yaml', aes('key1', key1) + IDENTITY);
    await start('--encryption-provider-config', phase1);
    expect(await secretValue('before1')).toBe(values.before1); // plaintext read through identity
    expect(
      (await kubectl('create', 'secret', 'generic', 'during', `--from-literal=password=${values.during}`))
        .code,
    ).toBe(0);
    expect(await secretValue('during')).toBe(values.during);
    expect(onDisk(values.during)).toBe(false); // new writes are encrypted at once
    expect(onDisk(values.before1)).toBe(true); // old ones wait for reencrypt
    await stop();

    const r = await strata(
      'secrets',
      'reencrypt',
      '--data-dir',
      dataDir,
      '--encryption-provider-config',
      phase1,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rewrote \d+ secrets/);
    for (const v of [values.before1, values.before2, values.during, old]) expect(onDisk(v), v).toBe(false);
    expect(fileBytes().includes('k8s:enc:aesgcm:v1:key1:')).toBe(true);

    await start('--encryption-provider-config', phase1);
    expect(await secretValue('before1')).toBe(values.before1);
    expect(await secretValue('before2')).toBe(values.before2);
    // reencrypt against a running server is refused, naming what to do.
    const busy = await strata(
      'secrets',
      'reencrypt',
      '--data-dir',
      dataDir,
      '--encryption-provider-config',
      phase1,
    );
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toMatch(/held by a running server: stop it/);
    await stop();
  });

  it('rotates keys: the new key first and the old one still read, then the old key removed', async () => {
    const both = writeConfig('enc-2.yaml', aes('key2', key2) + aes('key1', key1));
    await start('--encryption-provider-config', both);
    expect(await secretValue('before1')).toBe(values.before1);
    expect(
      (await kubectl('create', 'secret', 'generic', 'rotated', `--from-literal=password=${values.rotated}`))
        .code,
    ).toBe(0);
    await stop();
    expect(
      (await strata('secrets', 'reencrypt', '--data-dir', dataDir, '--encryption-provider-config', both))
        .code,
    ).toBe(0);
    expect(fileBytes().includes('k8s:enc:aesgcm:v1:key1:')).toBe(false);

    const onlyNew = writeConfig('enc-3.yaml', aes('key2', key2));
    await start('--encryption-provider-config', onlyNew);
    for (const n of ['before1', 'before2', 'during', 'rotated'] as const)
      expect(await secretValue(n)).toBe(values[n === 'rotated' ? 'rotated' : n]);
    await stop();

    // The old key alone: an unreadable secret is an error naming the object and the key, with no data in
    // it (the server runs but is not ready: its controllers cannot list secrets, as kube-apiserver's).
    const onlyOld = writeConfig('enc-4.yaml', aes('key1', key1));
    const offline = await strata(
      'secrets',
      'reencrypt',
      '--data-dir',
      dataDir,
      '--encryption-provider-config',
      onlyOld,
    );
    expect(offline.code).not.toBe(0);
    expect(offline.stderr).toMatch(
      /cannot decrypt \/registry\/core\/secrets\/default\/\w+: it was written by aesgcm:v1:key2/,
    );
    await startProbing('/livez', ['--encryption-provider-config', onlyOld]);
    const denied = await kubectl('get', 'secret', 'before1');
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(
      /cannot decrypt \/registry\/core\/secrets\/default\/before1: it was written by aesgcm:v1:key2/,
    );
    await stop();
  });

  it('kms envelope: a KEK file wraps per-object data keys; a missing KEK refuses to start, naming the path', async () => {
    writeFileSync(kekPath, randomBytes(32).toString('base64'), { mode: 0o600 });
    const kms = writeConfig('enc-5.yaml', KMS + aes('key2', key2));
    expect(
      (await strata('secrets', 'reencrypt', '--data-dir', dataDir, '--encryption-provider-config', kms)).code,
    ).toBe(0);
    expect(fileBytes().includes('k8s:enc:kms:v2:local-kek:')).toBe(true);
    expect(fileBytes().includes('k8s:enc:aesgcm:v1:key2:')).toBe(false);
    await start('--encryption-provider-config', kms);
    expect(await secretValue('rotated')).toBe(values.rotated);
    await stop();

    rmSync(kekPath);
    const failed = await startFails('--encryption-provider-config', kms);
    expect(failed.code).not.toBe(0);
    expect(failed.out).toContain(`key-encryption key file ${kekPath}: not found`);
  });

  it('no secret value in the server log, the audit log or any output', () => {
    // The server log, the audit log (on by default, Metadata: no bodies) and everything printed.
    const log =
      readFileSync(join(dataDir, 'server.log'), 'utf8') +
      readFileSync(join(dataDir, 'audit.log'), 'utf8') +
      output.join('');
    expect(log.length).toBeGreaterThan(0);
    for (const v of Object.values(values)) {
      expect(log.includes(v), v).toBe(false);
      expect(log.includes(Buffer.from(v).toString('base64')), v).toBe(false);
    }
  });
});
