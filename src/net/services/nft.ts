// Talking to nftables: scripts go to `nft -f -` (one atomic transaction each: all of it applies or
// none), state is read back with `nft -j` (JSON). There is no maintained npm nftables library.
import { CommandError, run } from '../../lib/command.ts';

export async function nftApply(script: string): Promise<void> {
  await run('nft', ['-f', '-'], { input: script });
}

export interface TableContents {
  chains: Set<string>;
  sets: Set<string>;
  maps: Set<string>;
  /** Rule count per chain. */
  rules: Map<string, number>;
}

/** What a table holds (chain, set and map names, rules per chain), or undefined when it does not exist. */
export async function nftListTable(family: string, table: string): Promise<TableContents | undefined> {
  let out: string;
  try {
    out = await run('nft', ['-j', 'list', 'table', family, table]);
  } catch (err) {
    if (err instanceof CommandError && /No such file or directory|does not exist/.test(err.stderr))
      return undefined;
    throw err;
  }
  const items = (JSON.parse(out) as { nftables: Record<string, any>[] }).nftables;
  const contents: TableContents = { chains: new Set(), sets: new Set(), maps: new Set(), rules: new Map() };
  for (const item of items) {
    if (item.chain) contents.chains.add(item.chain.name);
    else if (item.set) contents.sets.add(item.set.name);
    else if (item.map) contents.maps.add(item.map.name);
    else if (item.rule) contents.rules.set(item.rule.chain, (contents.rules.get(item.rule.chain) ?? 0) + 1);
  }
  return contents;
}

/** The elements of a set or map, as nft prints them in JSON (for tests and diagnostics). */
export async function nftListElements(
  family: string,
  table: string,
  kind: 'set' | 'map',
  name: string,
): Promise<unknown[]> {
  const out = await run('nft', ['-j', 'list', kind, family, table, name]);
  const items = (JSON.parse(out) as { nftables: Record<string, any>[] }).nftables;
  return items.find((i) => i[kind])?.[kind].elem ?? [];
}
