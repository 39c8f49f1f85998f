// The gateway's counters, in Prometheus' text exposition format (`strata_gateway_*`), so the node's
// metrics endpoint can serve them as they are. Every ejection and breaker trip is counted here (and
// reported as an Event on its Service).

export class Counters {
  private readonly values = new Map<string, number>();
  private readonly help = new Map<string, string>();

  describe(name: string, help: string): void {
    this.help.set(name, help);
  }

  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    this.incKey(Counters.key(name, labels), by);
  }

  /** A counter's series key: callers on the request path compute it once and use incKey. */
  static key(name: string, labels: Record<string, string> = {}): string {
    return `${name}${labelText(labels)}`;
  }

  incKey(key: string, by = 1): void {
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  /** The sum over every label set of `name` matching `labels`. */
  get(name: string, labels: Record<string, string> = {}): number {
    let total = 0;
    for (const [key, v] of this.values) {
      if (key !== name && !key.startsWith(`${name}{`)) continue;
      if (Object.entries(labels).every(([k, val]) => key.includes(`${k}="${escape(val)}"`))) total += v;
    }
    return total;
  }

  text(): string {
    const names = new Set([...this.values.keys()].map((k) => k.replace(/\{.*$/, '')));
    const out: string[] = [];
    for (const name of [...names].sort()) {
      const help = this.help.get(name);
      if (help) out.push(`# HELP ${name} ${help}`);
      out.push(`# TYPE ${name} counter`);
      for (const [key, v] of this.values) if (key.replace(/\{.*$/, '') === name) out.push(`${key} ${v}`);
    }
    return out.join('\n') + '\n';
  }
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Record<string, string>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}` : '';
}
