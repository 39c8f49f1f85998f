// `strata top nodes|pods`: kubectl top's tables from metrics.k8s.io/v1beta1 (served by the control
// plane from the agents' summaries), and `top pods --bottlenecks`: each pod's efficiency and bottleneck
// verdict from /strata/metrics/efficiency (the server's metrics history).
import { formatCpu, kindFor, parseCpu, parseMemory } from '../api/index.ts';
import type { CliContext } from './context.ts';
import { alignRows } from './printers.ts';

export interface TopOptions {
  containers?: boolean;
  allNamespaces?: boolean;
  selector?: string;
  bottlenecks?: boolean;
  /** --window: seconds of history the efficiency analysis looks at. */
  window?: number;
}

const NOT_AVAILABLE = 'metrics not available yet';

/**
 * Millicores of a metrics.k8s.io quantity: metrics-server (and Strata) write CPU in nanocores ("574835n"),
 * a suffix the api's request parser does not take.
 */
function milli(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(n|u)$/.exec(q);
  if (m) return Number(m[1]) / (m[2] === 'n' ? 1e6 : 1e3);
  return parseCpu(q);
}

/** kubectl's formatting: millicores, and memory in Mi. */
const cores = (q: string): string => `${Math.round(milli(q))}m`;
const mebibytes = (q: string): string => `${Math.round(parseMemory(q) / 1024 / 1024)}Mi`;
const percent = (part: number, whole: number | undefined): string =>
  whole ? `${Math.round((part / whole) * 100)}%` : '<unknown>';

function query(o: TopOptions): string {
  return o.selector ? `?labelSelector=${encodeURIComponent(o.selector)}` : '';
}

export async function topNodes(ctx: CliContext, name: string | undefined, o: TopOptions): Promise<string> {
  const base = '/apis/metrics.k8s.io/v1beta1/nodes';
  const items: any[] = name
    ? [await ctx.client.json('GET', `${base}/${encodeURIComponent(name)}`)]
    : (await ctx.client.json('GET', base + query(o))).items;
  if (!items.length) throw new Error(NOT_AVAILABLE);
  const nodes = await ctx.client.list(kindFor('v1', 'Node')!, undefined);
  const byName = new Map(nodes.items.map((n: any) => [n.metadata.name, n]));
  const rows = [['NAME', 'CPU(cores)', 'CPU(%)', 'MEMORY(bytes)', 'MEMORY(%)']];
  for (const m of items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const alloc = (byName.get(m.metadata.name) as any)?.status?.allocatable ?? {};
    const cpu = milli(m.usage.cpu);
    const mem = parseMemory(m.usage.memory);
    rows.push([
      m.metadata.name,
      cores(m.usage.cpu),
      percent(cpu, alloc.cpu !== undefined ? parseCpu(alloc.cpu) : undefined),
      mebibytes(m.usage.memory),
      percent(mem, alloc.memory !== undefined ? parseMemory(alloc.memory) : undefined),
    ]);
  }
  return alignRows(rows).join('\n');
}

export async function topPods(ctx: CliContext, name: string | undefined, o: TopOptions): Promise<string> {
  if (o.bottlenecks) return bottlenecks(ctx, name, o);
  const ns = o.allNamespaces ? '' : `/namespaces/${encodeURIComponent(ctx.namespace)}`;
  const base = `/apis/metrics.k8s.io/v1beta1${ns}/pods`;
  const items: any[] = name
    ? [await ctx.client.json('GET', `${base}/${encodeURIComponent(name)}`)]
    : (await ctx.client.json('GET', base + query(o))).items;
  if (!items.length) throw new Error(NOT_AVAILABLE);
  const head = [
    ...(o.allNamespaces ? ['NAMESPACE'] : []),
    ...(o.containers ? ['POD', 'NAME'] : ['NAME']),
    'CPU(cores)',
    'MEMORY(bytes)',
  ];
  const rows = [head];
  for (const m of items) {
    const lead = o.allNamespaces ? [m.metadata.namespace] : [];
    if (o.containers) {
      for (const c of m.containers)
        rows.push([...lead, m.metadata.name, c.name, cores(c.usage.cpu), mebibytes(c.usage.memory)]);
      continue;
    }
    const cpu = m.containers.reduce((a: number, c: any) => a + milli(c.usage.cpu), 0);
    const mem = m.containers.reduce((a: number, c: any) => a + parseMemory(c.usage.memory), 0);
    rows.push([...lead, m.metadata.name, `${Math.round(cpu)}m`, `${Math.round(mem / 1024 / 1024)}Mi`]);
  }
  return alignRows(rows).join('\n');
}

const ratio = (r: number | undefined): string => (r === undefined ? '-' : `${Math.round(r * 100)}%`);

/** The efficiency section `describe pod` prints (and `top pods --bottlenecks NAME`). */
export function efficiencyLines(e: any): string[] {
  const lines = [`Efficiency (last ${Math.round(e.windowSeconds / 60)} min, ${e.samples} samples):`];
  const cpu = e.cpu ?? {};
  const mem = e.memory ?? {};
  const cpuText =
    cpu.usageCores === undefined
      ? '-'
      : `${formatCpu(cpu.usageCores * 1000)} (peak ${formatCpu((cpu.peakCores ?? 0) * 1000)})` +
        (cpu.requestCores !== undefined ? `, ${ratio(cpu.ofRequest)} of request` : '') +
        (cpu.limitCores !== undefined ? `, ${ratio(cpu.ofLimit)} of limit` : '') +
        (cpu.throttledRatio !== undefined ? `, throttled ${ratio(cpu.throttledRatio)} of periods` : '');
  lines.push(`  CPU:          ${cpuText}`);
  const memText =
    mem.workingSetBytes === undefined
      ? '-'
      : `${Math.round(mem.workingSetBytes / 1024 / 1024)}Mi working set` +
        (mem.limitBytes !== undefined ? `, ${ratio(mem.ofLimit)} of limit` : '') +
        (mem.requestBytes !== undefined ? `, ${ratio(mem.ofRequest)} of request` : '');
  lines.push(`  Memory:       ${memText}`);
  if (e.io?.pressure !== undefined)
    lines.push(`  I/O pressure: ${ratio(e.io.pressure)} of the time stalled (${e.io.pressureSource} PSI)`);
  const net = e.network ?? {};
  if (net.receiveBytesPerSecond !== undefined)
    lines.push(
      `  Network:      rx ${Math.round(net.receiveBytesPerSecond)} B/s, tx ${Math.round(net.transmitBytesPerSecond ?? 0)} B/s`,
    );
  lines.push(`  Efficiency:   ${e.efficiency === undefined ? '- (no requests)' : ratio(e.efficiency)}`);
  lines.push(`  Verdict:      ${e.verdict}`);
  for (const b of e.bottlenecks ?? [])
    if (b.evidence !== e.bottlenecks[0].evidence)
      lines.push(`                also: ${b.evidence}: ${b.advice}`);
  for (const h of e.hints ?? []) lines.push(`  Hint:         ${h}`);
  return lines;
}

async function bottlenecks(ctx: CliContext, name: string | undefined, o: TopOptions): Promise<string> {
  const params = new URLSearchParams();
  if (!o.allNamespaces || name) params.set('namespace', ctx.namespace);
  if (name) params.set('pod', name);
  if (o.selector) params.set('labelSelector', o.selector);
  if (o.window !== undefined) params.set('window', String(o.window));
  const res = await ctx.client.json('GET', `/strata/metrics/efficiency?${params}`);
  if (name) return efficiencyLines(res).join('\n');
  const rows = [
    [
      ...(o.allNamespaces ? ['NAMESPACE'] : []),
      'NAME',
      'TIER',
      'CPU',
      'CPU/REQ',
      'THROTTLED',
      'MEM',
      'MEM/LIMIT',
      'EFFICIENCY',
      'VERDICT',
    ],
  ];
  for (const e of res.items as any[]) {
    rows.push([
      ...(o.allNamespaces ? [e.namespace] : []),
      e.name,
      e.runtimeClass ?? '-',
      e.cpu.usageCores === undefined ? '-' : formatCpu(e.cpu.usageCores * 1000),
      ratio(e.cpu.ofRequest),
      ratio(e.cpu.throttledRatio),
      e.memory.workingSetBytes === undefined
        ? '-'
        : `${Math.round(e.memory.workingSetBytes / 1024 / 1024)}Mi`,
      ratio(e.memory.ofLimit),
      ratio(e.efficiency),
      e.verdict,
    ]);
  }
  if (rows.length === 1) throw new Error('no pods');
  return alignRows(rows).join('\n');
}
