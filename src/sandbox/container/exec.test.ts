// execInteractive without a container: the "runtime" is a shell, which is enough to see the terminal
// that `script` provides and its size changing.
import { describe, expect, it } from 'vitest';
import { which } from '../../lib/command.ts';
import { execInteractive } from './exec.ts';

describe.skipIf(!which('script') || !which('stty'))('interactive exec over pipes', () => {
  it('with tty: a terminal of the requested size, resized on request', async () => {
    const p = execInteractive(['sh', '-c', 'stty size; read x; stty size'], {
      tty: true,
      stdio: 'pipe',
      cols: 91,
      rows: 17,
    });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    await waitFor(() => out.includes('17 91'));
    await p.resize(132, 43);
    p.stdin!.write('go\r');
    expect(await p.exited).toBe(0);
    expect(out).toMatch(/17 91[\s\S]*43 132/);
  });

  it('without tty: resize does nothing and the command sees no terminal', async () => {
    const p = execInteractive(['sh', '-c', 'test -t 0 || echo no-tty'], { tty: false, stdio: 'pipe' });
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    await p.resize(100, 30);
    p.stdin!.end();
    expect(await p.exited).toBe(0);
    expect(out).toBe('no-tty\n');
  });
});

async function waitFor(ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
