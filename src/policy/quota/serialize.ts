// One chain of promises per key: work for the same namespace runs one at a time, in arrival order, while
// other namespaces proceed. This is what makes quota admission exact within one server; across servers the
// compare-and-swap on the quota's status catches the rest.
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(work, work);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}
