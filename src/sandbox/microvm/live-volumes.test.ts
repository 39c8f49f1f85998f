// Live read-only volumes: the host's watch sends what changed (and only that), and in a real VM (QEMU,
// TCG here) a token the node rewrites while the VM runs — as the agent's rotation rewrites a projected
// service-account token — is what the workload reads next, through a mount it still cannot write.
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../agent/volumes/projected-token.ts';
import { ImageStore, importImage } from '../../image/index.ts';
import { testImages } from '../../image/testing/fixtures.ts';
import { captureLog, tempDir } from '../wasm/test-support.ts';
import { MicrovmDriver } from './driver.ts';
import { fileLine, watchLiveVolumes } from './live-volumes.ts';
import { kernelDir, microvmUnavailable } from './test-support.ts';
import { podEtcFiles } from '../../net/pod-etc-files.ts';

async function until(what: string, probe: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('watchLiveVolumes (host side)', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => {
    tmp = tempDir('strata-live-');
  });
  afterAll(() => tmp?.remove());

  it('sends a changed file once, with its mode and owner, and nothing for what the VM started with', async () => {
    const dir = join(tmp.path, 'vol');
    mkdirSync(dir);
    writeFileSync(join(dir, 'ca.crt'), 'CA');
    writeFileSync(join(dir, 'token'), 'first');
    const lines: string[] = [];
    const w = watchLiveVolumes([{ serial: 'v2', hostPath: dir }], async (l) => {
      lines.push(l);
    });
    try {
      writeFileAtomic(join(dir, 'token'), 'second', 0o640);
      await until('the update line', () => lines.length > 0);
      await new Promise((r) => setTimeout(r, 200));
      const [kind, serial, mode, uid, gid, name, data] = lines[0]!.split(' ');
      expect([kind, serial, mode]).toEqual(['file', 'v2', '640']);
      expect([uid, gid]).toEqual([String(process.getuid?.() ?? 0), String(process.getgid?.() ?? 0)]);
      expect(Buffer.from(name!, 'base64').toString()).toBe('token');
      expect(Buffer.from(data!, 'base64').toString()).toBe('second');
      // The unchanged CA and the writer's temporary file were not sent; the same content is not resent.
      expect(lines).toHaveLength(1);
      chmodSync(join(dir, 'token'), 0o640);
      await new Promise((r) => setTimeout(r, 200));
      expect(lines).toHaveLength(1);
    } finally {
      w.close();
    }
  });

  it('retries a send that failed (the guest was not reading yet)', async () => {
    const dir = join(tmp.path, 'retry');
    mkdirSync(dir);
    writeFileSync(join(dir, 'token'), 'a');
    let attempts = 0;
    const sent: string[] = [];
    const w = watchLiveVolumes(
      [{ serial: 'v0', hostPath: dir }],
      async (l) => {
        if (++attempts === 1) throw new Error('ECONNREFUSED');
        sent.push(l);
      },
      { retryMs: 100 },
    );
    try {
      writeFileAtomic(join(dir, 'token'), 'b', 0o600);
      await until('the retried line', () => sent.length > 0);
      expect(Buffer.from(sent[0]!.split(' ')[6]!, 'base64').toString()).toBe('b');
    } finally {
      w.close();
    }
  });

  it('a re-adopted VM is sent every file once', async () => {
    const dir = join(tmp.path, 'again');
    mkdirSync(dir);
    writeFileSync(join(dir, 'token'), 't');
    writeFileSync(join(dir, 'namespace'), 'ns');
    const names: string[] = [];
    const w = watchLiveVolumes(
      [{ serial: 'v1', hostPath: dir }],
      async (l) => {
        names.push(Buffer.from(l.split(' ')[5]!, 'base64').toString());
      },
      { resendAll: true },
    );
    try {
      await until('both files', () => names.length === 2);
      expect(names.sort()).toEqual(['namespace', 'token']);
    } finally {
      w.close();
    }
  });

  it('refuses names that are not one path element', () => {
    const st = { mode: 0o644, uid: 0, gid: 0 };
    expect(() => fileLine('v0', '../x', Buffer.from(''), st)).toThrow(/one path element/);
    expect(() => fileLine('x0', 'token', Buffer.from(''), st)).toThrow(/v<N>/);
  });
});

const why = microvmUnavailable();
if (why) console.log(`skipping the microvm live volume test: ${why}`);

describe.skipIf(why)('live volumes in a VM (TCG)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: ImageStore;
  let driver: MicrovmDriver;
  const runDir = `/run/strata-test-${process.pid}-microvm-live`;

  beforeAll(async () => {
    tmp = tempDir('strata-mvm-live-');
    store = new ImageStore(join(tmp.path, 'images'));
    await importImage(store, join(testImages(), 'busybox'), { name: 'busybox:1' });
    driver = new MicrovmDriver({
      etcFiles: podEtcFiles(),
      stateDir: join(tmp.path, 'state'),
      runDir,
      images: store,
      accel: 'tcg',
      kernelDir,
    });
  }, 60_000);

  afterAll(async () => {
    await driver?.shutdown();
    tmp?.remove();
    rmSync(runDir, { recursive: true, force: true });
  });

  it('the workload reads the token the node rewrote, through a read-only mount', async () => {
    const vol = join(tmp.path, 'kube-api-access');
    mkdirSync(vol);
    writeFileAtomic(join(vol, 'token'), 'first-token', 0o644);
    writeFileSync(join(vol, 'namespace'), 'default');
    const dir = '/var/run/secrets/kubernetes.io/serviceaccount';
    const script = [
      'i=0',
      'while [ $i -lt 600 ]; do',
      `  t=$(cat ${dir}/token)`,
      '  echo "token=$t"',
      '  if [ "$t" = second-token ]; then',
      `    echo "mode=$(stat -c %a ${dir}/token) files=$(ls -A ${dir} | tr "\\n" " ")"`,
      `    touch ${dir}/x 2>/dev/null && echo writable || echo read-only`,
      '    exit 0',
      '  fi',
      '  sleep 0.2; i=$((i+1))',
      'done',
      'exit 3',
    ].join('\n');
    const id = 'mvm-live';
    const artifact = await driver.prepareArtifact({
      sandboxId: id,
      container: { name: 'main', image: 'busybox:1', command: ['sh', '-c', script] },
    });
    const log = captureLog();
    await driver.start({
      id,
      podUid: `uid-${id}`,
      podName: 'live',
      namespace: 'default',
      containerName: 'main',
      image: artifact.image,
      args: artifact.args ?? [],
      env: {},
      mounts: [{ hostPath: vol, guestPath: dir, readOnly: true }],
      limits: { memoryBytes: 192 * 1024 * 1024 },
      log,
      options: driver.tierOptions(
        { sandboxId: id, container: { name: 'main', image: 'busybox:1' } },
        artifact,
      ),
    });
    await until(
      'the workload reading the first token',
      () => log.stdout().includes('token=first-token'),
      120_000,
    );
    // What the agent's rotation does: a new file renamed over the token.
    writeFileAtomic(join(vol, 'token'), 'second-token', 0o640);
    const result = await driver.wait(id);
    const out = log.stdout();
    expect(result.exitCode, out).toBe(0);
    expect(out).toContain('token=second-token');
    expect(out).toContain('mode=640 files=namespace token ');
    expect(out).toContain('read-only');
    await driver.destroy(id);
  }, 240_000);
});
