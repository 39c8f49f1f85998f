// The open-file budget: read from the kernel's view of this process, and an EMFILE hit for real (a child
// whose soft limit is lowered with the shell's `ulimit -n`) is described with the limit it hit.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fdExhaustionMessage, fdPodCeiling, openFileLimit, wasmFdBudget } from './fd-budget.ts';

describe('fd budget', () => {
  it("reads this process's soft RLIMIT_NOFILE (what `ulimit -n` prints in a child, which inherits it)", () => {
    const shell = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
    expect(String(openFileLimit())).toBe(shell === 'unlimited' ? 'Infinity' : shell);
  });

  it('keeps a reserve for the agent: 2,560, or a quarter of a small limit', () => {
    expect(wasmFdBudget(20_000)).toBe(17_440);
    expect(fdPodCeiling(20_000)).toBe(17_440);
    expect(wasmFdBudget(1_024)).toBe(768);
    expect(wasmFdBudget(1_048_576)).toBe(1_046_016);
    expect(wasmFdBudget(Infinity)).toBe(Infinity);
  });

  it('describes a real EMFILE with the limit the process hit; other errors are not touched', () => {
    // A child with a soft limit of 64 opens /dev/null until the kernel refuses, then describes the error.
    const script = `
      import { openSync } from 'node:fs';
      import { fdExhaustionMessage } from ${JSON.stringify(new URL('./fd-budget.ts', import.meta.url).href)};
      try { for (;;) openSync('/dev/null', 'r'); }
      catch (err) { console.log(fdExhaustionMessage(err, 'cannot open the log') ?? 'not described: ' + err.message); }`;
    const out = execFileSync(
      'sh',
      ['-c', `ulimit -n 64 && exec "${process.execPath}" --input-type=module -e "$0"`, script],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toMatch(/^cannot open the log: too many open files \(EMFILE\): .*RLIMIT_NOFILE 64\b/);
    const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    expect(fdExhaustionMessage(enoent, 'x')).toBeUndefined();
  });
});
