import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLogWriter } from './writer.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'strata-auditlog-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const lines = (f: string): any[] =>
  readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('AuditLogWriter', () => {
  it('buffers within a turn and loses nothing on close; the file is 0600', () => {
    const path = join(dir, 'sub', 'audit.log');
    const w = new AuditLogWriter({ path });
    for (let i = 0; i < 5_000; i++) w.write({ i });
    expect(readFileSync(path, 'utf8')).toBe(''); // buffered, not yet written
    w.close();
    expect(lines(path).map((e) => e.i)).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    w.write({ late: true }); // after close: dropped, no throw
  });

  it('rotates by size into timestamped backups, keeps maxBackups, drops those older than maxAge', async () => {
    const path = join(dir, 'audit.log');
    // An old backup from a previous run: removed by age at the next rotation.
    const stale = join(dir, 'audit-2020-01-01T00-00-00.000.log');
    writeFileSync(stale, '{}\n');
    const old = Date.now() / 1000 - 40 * 86_400;
    utimesSync(stale, old, old);
    const w = new AuditLogWriter({ path, maxSizeMB: 1, maxBackups: 2, maxAgeDays: 30 });
    const pad = 'x'.repeat(1_000);
    let n = 0;
    // ~4.5 MB in batches of ~100 kB: four rotations.
    for (let batch = 0; batch < 45; batch++) {
      for (let i = 0; i < 100; i++) w.write({ n: n++, pad });
      w.flush();
      await new Promise((r) => setTimeout(r, 2)); // distinct backup names (millisecond stamps)
    }
    w.close();
    expect(existsSync(stale)).toBe(false);
    const backups = w.backups();
    expect(backups.length).toBe(2);
    for (const b of [...backups, path]) expect(statSync(b).size).toBeLessThanOrEqual(1024 * 1024);
    for (const b of backups) expect(b).toMatch(/audit-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}\.log$/);
    // Newest backup and the live file hold the latest events, in order, with no gap between them.
    const tail = [...lines(backups[1]), ...lines(backups[0]), ...lines(path)].map((e) => e.n);
    expect(tail[tail.length - 1]).toBe(n - 1);
    expect(tail).toEqual(Array.from({ length: tail.length }, (_, i) => n - tail.length + i));
  });
});
