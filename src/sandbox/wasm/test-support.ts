// Shared by the wasm driver's tests: builds the C fixtures, and makes specs and log sinks.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LogSink, SandboxSpec } from '../driver.ts';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const buildDir = join(repoRoot, 'build/wasm');

export function fixture(name: string): string {
  return join(buildDir, 'fixtures', `${name}.wasm`);
}

export function example(name: string): string {
  return join(buildDir, `${name}.wasm`);
}

/**
 * Runs scripts/build-examples.sh: it is idempotent and skips up-to-date modules, so running it every
 * time costs little and never tests a stale fixture.
 */
export function buildFixtures(): void {
  execFileSync('bash', [join(repoRoot, 'scripts/build-examples.sh')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export interface CapturedLog extends LogSink {
  stdout(): string;
  stderr(): string;
  /** Chunks in arrival order, with their stream. */
  chunks: Array<{ stream: 'stdout' | 'stderr'; text: string }>;
}

export function captureLog(): CapturedLog {
  const chunks: Array<{ stream: 'stdout' | 'stderr'; text: string }> = [];
  const join = (s: 'stdout' | 'stderr'): string =>
    chunks
      .filter((c) => c.stream === s)
      .map((c) => c.text)
      .join('');
  return {
    chunks,
    write(stream, chunk) {
      chunks.push({ stream, text: Buffer.from(chunk).toString('utf8') });
    },
    stdout: () => join('stdout'),
    stderr: () => join('stderr'),
  };
}

let seq = 0;

/** A spec for `image` with sensible defaults; argv[0] is the module's name. */
export function spec(image: string, over: Partial<SandboxSpec> = {}): SandboxSpec {
  const id = over.id ?? `t-${process.pid}-${++seq}`;
  return {
    id,
    podUid: `uid-${id}`,
    podName: `pod-${id}`,
    namespace: 'default',
    containerName: 'main',
    image,
    args: [
      image
        .split('/')
        .pop()!
        .replace(/\.wasm$/, ''),
    ],
    env: {},
    mounts: [],
    limits: {},
    log: captureLog(),
    ...over,
  };
}

export function tempDir(prefix = 'strata-wasm-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Descriptors open in this process (reading the directory opens one more; counts stay comparable). */
export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until it is true or `timeoutMs` passes. */
export async function eventually(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}
