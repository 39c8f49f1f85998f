// The agent's open-file limit raise, against the real kernel: raised to fs.nr_open where this process
// may (CAP_SYS_RESOURCE), refused with prlimit's reason and one warning line where it may not.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { raiseOpenFileLimit } from './open-file-limit.ts';

const softLimit = () =>
  Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]);
/** CAP_SYS_RESOURCE is capability 24 of the effective set. */
const mayRaise = () =>
  (BigInt(`0x${/^CapEff:\s+(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`) >> 24n) & 1n;
const nrOpen = () => Number(readFileSync('/proc/sys/fs/nr_open', 'utf8'));

describe('raiseOpenFileLimit', () => {
  it('raises to fs.nr_open when permitted, else says why in one warning and leaves the limit as it was', () => {
    const before = softLimit();
    const lines: string[] = [];
    const log = {
      info: (_: object, m: string) => lines.push(`info ${m}`),
      warn: (_: object, m: string) => lines.push(`warn ${m}`),
    };
    const r = raiseOpenFileLimit(log)!;
    expect(r.before).toBe(before);
    expect(r.after).toBe(softLimit());
    if (before >= nrOpen()) {
      expect(r.refused).toBeUndefined();
      return;
    }
    if (mayRaise()) {
      expect(r).toMatchObject({ after: nrOpen(), refused: undefined });
      expect(lines).toEqual(['info open-file limit raised']);
    } else {
      console.log(`no CAP_SYS_RESOURCE here: the limit stays ${before} (${r.refused})`);
      expect(r.refused).toMatch(/not permitted|EPERM|prlimit/i);
      expect(r.after).toBe(before);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^warn open-file limit not raised/);
    }
  });
});
