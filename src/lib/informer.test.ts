import { describe, expect, it } from 'vitest';
import { Informer, type InformerWatchEvent, type ListWatch } from './informer.ts';

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  value?: number;
}

/**
 * A tiny in-memory versioned source (the informer's input, not the thing under test): a revision
 * counter, an event history that can be compacted (watching from before it fails with 410), and the
 * ability to end every open watch, cleanly or with an error.
 */
class Source implements ListWatch<Obj> {
  rev = 0;
  objects = new Map<string, Obj>();
  history: { rev: number; ev: InformerWatchEvent<Obj> }[] = [];
  compactedTo = 0;
  watchers = new Set<{ onEvent: (ev: InformerWatchEvent<Obj>) => void; onClose: (err?: Error) => void }>();
  lists = 0;
  failLists = 0;

  put(name: string, value: number, namespace = 'ns'): void {
    const key = `${namespace}/${name}`;
    const type = this.objects.has(key) ? 'MODIFIED' : 'ADDED';
    const obj = { metadata: { name, namespace, resourceVersion: String(++this.rev) }, value };
    this.objects.set(key, obj);
    this.emit({ type, object: obj });
  }

  remove(name: string, namespace = 'ns'): void {
    const key = `${namespace}/${name}`;
    const old = this.objects.get(key)!;
    this.objects.delete(key);
    this.emit({
      type: 'DELETED',
      object: { ...old, metadata: { ...old.metadata, resourceVersion: String(++this.rev) } },
    });
  }

  private emit(ev: InformerWatchEvent<Obj>): void {
    this.history.push({ rev: this.rev, ev });
    for (const w of this.watchers) w.onEvent(ev);
  }

  compact(): void {
    this.compactedTo = this.rev;
    this.history = [];
  }

  closeWatches(err?: Error): void {
    const ws = [...this.watchers];
    this.watchers.clear();
    for (const w of ws) w.onClose(err);
  }

  async list() {
    this.lists++;
    if (this.failLists > 0) {
      this.failLists--;
      throw new Error('list failed (test)');
    }
    return { items: [...this.objects.values()], resourceVersion: String(this.rev) };
  }

  async watch(rv: string, onEvent: (ev: InformerWatchEvent<Obj>) => void, onClose: (err?: Error) => void) {
    const from = Number(rv);
    if (from < this.compactedTo) {
      throw Object.assign(new Error(`too old resource version: ${from}`), { code: 410 });
    }
    for (const h of this.history) if (h.rev > from) onEvent(h.ev);
    const w = { onEvent, onClose };
    this.watchers.add(w);
    return { cancel: () => this.watchers.delete(w) };
  }
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function recorder(inf: Informer<Obj>) {
  const log: string[] = [];
  inf.addHandler({
    onAdd: (o) => log.push(`add ${o.metadata.name}=${o.value}`),
    onUpdate: (a, b) => log.push(`update ${a.metadata.name}=${a.value}->${b.value}`),
    onDelete: (o) => log.push(`delete ${o.metadata.name}`),
  });
  return log;
}

describe('Informer', () => {
  it('lists, syncs, then follows the watch', async () => {
    const src = new Source();
    src.put('a', 1);
    src.put('b', 1);
    const inf = new Informer(src, { initialBackoffMs: 5 });
    const log = recorder(inf);
    inf.start();
    expect(await inf.waitForSync()).toBe(true);
    expect(inf.hasSynced()).toBe(true);
    expect(log).toEqual(['add a=1', 'add b=1']);
    src.put('a', 2);
    src.remove('b');
    src.put('c', 1, 'other');
    expect(log.slice(2)).toEqual(['update a=1->2', 'delete b', 'add c=1']);
    expect(inf.get('ns/a')?.value).toBe(2);
    expect(inf.get('other/c')?.value).toBe(1);
    expect(
      inf
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['a', 'c']);
    inf.stop();
  });

  it('resumes a cleanly closed watch without relisting and without missing events', async () => {
    const src = new Source();
    src.put('a', 1);
    const inf = new Informer(src, { initialBackoffMs: 5 });
    const log = recorder(inf);
    inf.start();
    await inf.waitForSync();
    src.put('a', 2); // delivered, so the closed watch resumes at once
    src.closeWatches();
    src.put('a', 3); // happens while no watch is open: must come from history
    await until(() => log.includes('update a=2->3'));
    expect(src.lists).toBe(1);
    inf.stop();
  });

  it('relists after 410 and diffs the cache so handlers see each change once', async () => {
    const src = new Source();
    src.put('a', 1);
    src.put('b', 1);
    const inf = new Informer(src, { initialBackoffMs: 5, onError: () => {} });
    const log = recorder(inf);
    inf.start();
    await inf.waitForSync();
    // Changes the informer cannot see, then history is compacted: the resumed watch gets 410.
    const ws = [...src.watchers];
    src.watchers.clear();
    src.put('a', 2);
    src.remove('b');
    src.put('d', 1);
    src.compact();
    for (const w of ws) w.onClose(Object.assign(new Error('too old'), { code: 410 }));
    await until(() => log.length === 5);
    expect(log.slice(2).sort()).toEqual(['add d=1', 'delete b', 'update a=1->2']);
    expect(src.lists).toBe(2);
    // And it is watching again.
    src.put('e', 1);
    await until(() => log.includes('add e=1'));
    inf.stop();
  });

  it('retries a failing list with backoff, then syncs', async () => {
    const src = new Source();
    src.put('a', 1);
    src.failLists = 2;
    const errors: unknown[] = [];
    const inf = new Informer(src, { initialBackoffMs: 2, onError: (e) => errors.push(e) });
    inf.start();
    expect(await inf.waitForSync()).toBe(true);
    expect(errors).toHaveLength(2);
    expect(inf.get('ns/a')).toBeDefined();
    inf.stop();
  });

  it('relists after a watch error', async () => {
    const src = new Source();
    const inf = new Informer(src, { initialBackoffMs: 2, onError: () => {} });
    const log = recorder(inf);
    inf.start();
    await inf.waitForSync();
    src.closeWatches(new Error('connection reset'));
    src.put('x', 1);
    await until(() => log.includes('add x=1'));
    expect(src.lists).toBeGreaterThanOrEqual(2);
    inf.stop();
  });

  it('replays the cache to handlers added after sync, isolates throwing handlers, and stops', async () => {
    const src = new Source();
    src.put('a', 1);
    const errors: unknown[] = [];
    const inf = new Informer(src, { onError: (e) => errors.push(e) });
    inf.addHandler({
      onAdd: () => {
        throw new Error('boom');
      },
    });
    inf.start();
    await inf.waitForSync();
    const late = recorder(inf);
    expect(late).toEqual(['add a=1']);
    expect(errors).toHaveLength(1);
    inf.stop();
    src.put('b', 1);
    expect(late).toEqual(['add a=1']);
    await until(() => src.watchers.size === 0); // a watch still being opened is cancelled when it arrives
    expect(await new Informer(src).start().waitForSync()).toBe(true);
  });

  it('waitForSync resolves false when stopped before syncing', async () => {
    const never: ListWatch<Obj> = {
      list: () => new Promise(() => {}),
      watch: async () => ({ cancel() {} }),
    };
    const inf = new Informer(never).start();
    const p = inf.waitForSync();
    inf.stop();
    expect(await p).toBe(false);
  });
});
