// `strata image …` end to end in a real process (src/cli/image.ts), against a local registry.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { humanBytes, ProgressView } from './image.ts';
import { sha256 } from '../image/digest.ts';
import { tempDir, testImages, testImagesUnavailable } from '../image/testing/fixtures.ts';
import {
  registryUnavailable,
  startLocalRegistry,
  type LocalRegistry,
} from '../image/testing/local-registry.ts';

const run = promisify(execFile);
const harness = join(import.meta.dirname, 'testing', 'image-harness.ts');
const skip = testImagesUnavailable() ?? registryUnavailable();
if (skip) console.warn(`skipping image CLI tests: ${skip}`);

describe('progress view', () => {
  const sink = (isTTY: boolean) => {
    let text = '';
    return {
      stream: { isTTY, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream,
      text: () => text,
    };
  };
  const d = sha256('layer');

  it('prints one line per blob when stderr is not a terminal', () => {
    const s = sink(false);
    const v = new ProgressView(s.stream, 'pull');
    v.update({ digest: d, mediaType: 'x', total: 2_000_000, done: 0, status: 'active' });
    v.update({ digest: d, mediaType: 'x', total: 2_000_000, done: 1_000_000, status: 'active' });
    v.update({ digest: d, mediaType: 'x', total: 2_000_000, done: 2_000_000, status: 'done' });
    v.update({ digest: sha256('cfg'), mediaType: 'x', total: 10, done: 10, status: 'exists' });
    v.finish();
    expect(s.text()).toBe(
      `${d.slice(7, 19)}: pulled 2.00 MB\n${sha256('cfg').slice(7, 19)}: already exists\n`,
    );
  });

  it('redraws bars in place on a terminal', async () => {
    const s = sink(true);
    const v = new ProgressView(s.stream, 'push');
    v.update({ digest: d, mediaType: 'x', total: 1000, done: 500, status: 'active' });
    await new Promise((r) => setTimeout(r, 150));
    v.update({ digest: d, mediaType: 'x', total: 1000, done: 1000, status: 'done' });
    v.finish();
    expect(s.text()).toContain(
      `\x1b[2K${d.slice(7, 19)}  uploading  [==============>               ]  500 B/1.00 kB\n`,
    );
    expect(s.text()).toContain(`\x1b[1A\x1b[2K${d.slice(7, 19)}  push complete  1.00 kB\n`);
  });

  it('formats sizes as docker does', () => {
    expect([humanBytes(999), humanBytes(1000), humanBytes(1_234_567), humanBytes(25_000_000_000)]).toEqual([
      '999 B',
      '1.00 kB',
      '1.23 MB',
      '25.0 GB',
    ]);
  });
});

describe.skipIf(skip)('strata image (CLI)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let reg: LocalRegistry;
  // Every command first says which store it acts on; the helper checks that line and strips it.
  const storeLine = (root: string, stderr: string): string => {
    const line = `image store: ${root} (default)\n`;
    expect(stderr.startsWith(line), `stderr names the store: ${stderr}`).toBe(true);
    return stderr.slice(line.length);
  };
  const strata = async (root: string, ...args: string[]) => {
    try {
      const r = await run(process.execPath, [harness, 'image', ...args], {
        env: { ...process.env, TEST_IMAGE_ROOT: root },
      });
      return { code: 0, stdout: r.stdout, stderr: storeLine(root, r.stderr) };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: storeLine(root, e.stderr) };
    }
  };

  beforeAll(async () => {
    testImages();
    tmp = tempDir();
    reg = await startLocalRegistry();
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
    tmp?.cleanup();
  });

  it('imports, lists, pushes, pulls, inspects, exports, removes and collects', async () => {
    const a = join(tmp.path, 'a');
    const b = join(tmp.path, 'b');
    const imported = await strata(a, 'import', join(testImages(), 'httpd'), '--name', 'httpd');
    expect(imported.stdout).toMatch(/^imported httpd:latest sha256:[0-9a-f]{64}\n$/);
    const ls = await strata(a, 'ls');
    expect(ls.stdout.split('\n')[0]).toMatch(/^NAME\s+DIGEST\s+PLATFORM\s+SIZE\s+CREATED$/);
    expect(ls.stdout.split('\n')[1]).toMatch(/^httpd:latest\s+[0-9a-f]{12}\s+linux\/\w+\s+1\.\d+ MB\s+\d+s$/);

    const dest = `${reg.host}/cli/httpd:1`;
    const pushed = await strata(a, 'push', 'httpd', dest, '--chunk-size', '300000');
    expect(pushed.code).toBe(0);
    expect(pushed.stdout).toMatch(
      new RegExp(`^pushed ${dest} sha256:[0-9a-f]{64} \\(3 blobs uploaded, 0 already there\\)\\n$`),
    );
    expect(pushed.stderr.trim().split('\n')).toHaveLength(3); // one line per blob, stderr is not a TTY

    const pulled = await strata(b, 'pull', dest);
    expect(pulled.stdout).toMatch(
      new RegExp(`^pulled ${dest} sha256:[0-9a-f]{64} \\(3 blobs, 1\\.\\d+ MB downloaded\\)\\n$`),
    );
    expect(
      pulled.stderr
        .trim()
        .split('\n')
        .every((l) => /^[0-9a-f]{12}: pulled /.test(l)),
    ).toBe(true);
    const inspect = JSON.parse((await strata(b, 'inspect', dest)).stdout);
    expect(inspect.config.Cmd[0]).toBe('/bin/httpd');
    expect(inspect.layers).toHaveLength(2);

    expect((await strata(b, 'tag', dest, 'web:v1')).stdout).toBe('tagged web:v1\n');
    const out = join(tmp.path, 'web.tar');
    expect((await strata(b, 'export', 'web:v1', '-o', out)).stdout).toBe(`exported 1 image(s) to ${out}\n`);
    expect(existsSync(out)).toBe(true);
    expect((await strata(b, 'ls', '-q')).stdout).toBe(`${dest}\nweb:v1\n`);
    expect((await strata(b, 'rm', 'web:v1', dest)).stdout).toBe(`untagged web:v1\nuntagged ${dest}\n`);
    expect((await strata(b, 'gc')).stdout).toMatch(
      /^removed 4 blobs \(1\.\d+ MB\), 0 layer snapshots, 0 partial downloads\n$/,
    );
    expect((await strata(b, 'import', out)).stdout).toMatch(/^imported web:v1 /);
  });

  it('fails with one clear line and exit code 1', async () => {
    const root = join(tmp.path, 'c');
    expect(await strata(root, 'pull', 'Bad/Name')).toMatchObject({
      code: 1,
      stderr: 'error: invalid image reference "Bad/Name": repository name "Bad/Name" must be lowercase\n',
    });
    expect(await strata(root, 'inspect', 'nothing')).toMatchObject({
      code: 1,
      stderr: 'error: image docker.io/library/nothing:latest not found in the local store\n',
    });
    const r = await strata(root, 'pull', `${reg.host}/cli/absent:1`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: fetching manifest .*absent:1: HTTP 404 \(MANIFEST_UNKNOWN/);
  });
});
