// Idempotent iptables operations on Strata's own chains. Every rule Strata adds lives in a chain it owns
// (jumped to from the built-in chains by one rule each), and every per-pod rule carries the comment
// `strata:<podUid>`, so that removal is exact: a pod's rules are found by their comment, and removing
// Strata altogether flushes its chains and the jumps — nobody else's rules are touched.

import { CommandError, run } from '../lib/command.ts';

export type Table = 'filter' | 'nat';

export class Iptables {
  private readonly bin: string;

  constructor(opts: { bin?: string } = {}) {
    this.bin = opts.bin ?? 'iptables';
  }

  async version(): Promise<string> {
    return (await run(this.bin, ['--version'])).trim();
  }

  /** Creates the chain unless it exists. */
  async ensureChain(table: Table, chain: string): Promise<void> {
    try {
      await this.ipt(table, ['-N', chain]);
    } catch (err) {
      if (!/already exists/i.test((err as CommandError).stderr ?? '')) throw err;
    }
  }

  async hasRule(table: Table, chain: string, rule: string[]): Promise<boolean> {
    try {
      await this.ipt(table, ['-C', chain, ...rule]);
      return true;
    } catch (err) {
      if (err instanceof CommandError && err.code === 1) return false;
      // "No chain/target/match by that name" also means: not there.
      if (err instanceof CommandError && /does not exist|No chain|Bad rule/i.test(err.stderr)) return false;
      throw err;
    }
  }

  /** Adds the rule unless an identical one exists; `insert` puts it first (for jumps from built-ins). */
  async ensureRule(table: Table, chain: string, rule: string[], insert = false): Promise<void> {
    if (await this.hasRule(table, chain, rule)) return;
    await this.ipt(table, [insert ? '-I' : '-A', chain, ...(insert ? ['1'] : []), ...rule]);
  }

  /** Deletes every copy of the rule; a missing rule or chain is not an error. */
  async deleteRule(table: Table, chain: string, rule: string[]): Promise<void> {
    while (await this.hasRule(table, chain, rule)) {
      await this.ipt(table, ['-D', chain, ...rule]);
    }
  }

  /** The chain's rules as argument lists (without the leading `-A CHAIN`); [] for a missing chain. */
  async listRules(table: Table, chain: string): Promise<string[][]> {
    let out: string;
    try {
      out = await this.ipt(table, ['-S', chain]);
    } catch (err) {
      if (err instanceof CommandError && /No chain|does not exist|incompatible/i.test(err.stderr)) return [];
      throw err;
    }
    const rules: string[][] = [];
    for (const line of out.split('\n')) {
      const words = splitRule(line);
      if (words[0] === '-A' && words[1] === chain) rules.push(words.slice(2));
    }
    return rules;
  }

  /** Flushes and deletes the chain; a missing chain is not an error. */
  async deleteChain(table: Table, chain: string): Promise<void> {
    for (const args of [
      ['-F', chain],
      ['-X', chain],
    ]) {
      try {
        await this.ipt(table, args);
      } catch (err) {
        if (!(err instanceof CommandError && /No chain|does not exist/i.test(err.stderr))) throw err;
      }
    }
  }

  /** `iptables-save` of one table (for tests and diagnostics). */
  async save(table: Table): Promise<string> {
    return run(`${this.bin}-save`, ['-t', table]);
  }

  private ipt(table: Table, args: string[]): Promise<string> {
    // -w: wait for the xtables lock instead of failing when another tool holds it.
    return run(this.bin, ['-w', '5', '-t', table, ...args]);
  }
}

/** Splits one line of `iptables -S` output into words; double quotes group (comments have spaces). */
export function splitRule(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let quoted = false;
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '\\' && quoted && i + 1 < line.length) {
      cur += line[++i];
    } else if (ch === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (/\s/.test(ch) && !quoted) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** The comment Strata puts on a pod's rules. */
export function podComment(podUid: string): string {
  return `strata:${podUid}`;
}

/** The pod uid in a rule's `--comment strata:<uid>`, if any. */
export function podOfRule(rule: string[]): string | undefined {
  const i = rule.indexOf('--comment');
  const c = i >= 0 ? rule[i + 1] : undefined;
  return c?.startsWith('strata:') ? c.slice('strata:'.length) : undefined;
}
