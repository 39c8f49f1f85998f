// Prints where a V8 CPU profile (`node --cpu-prof`) spent its time: self time by source file and by
// function, largest first. Used for bench/wasm-density-api.ts's `--cpu-prof` runs.
//
//   node bench/lib/cpuprofile-summary.ts FILE.cpuprofile [TOP=30]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Self time (µs) per profile node id, from the sample list and the time deltas between samples. */
function selfTimes(p: Profile): Map<number, number> {
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; charge the sample with the gap after it.
    const dt = p.timeDeltas[i + 1] ?? 0;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
  }
  return self;
}

function shortUrl(url: string): string {
  const i = url.indexOf('/src/');
  if (i >= 0) return url.slice(i + 1);
  const n = url.indexOf('node_modules/');
  if (n >= 0) return url.slice(n);
  return url || '(native)';
}

export function summarizeProfile(path: string, top = 30): string {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const self = selfTimes(p);
  const total = p.endTime - p.startTime;
  const byFile = new Map<string, number>();
  const byFn = new Map<string, number>();
  let idle = 0;
  for (const n of p.nodes) {
    const t = self.get(n.id) ?? 0;
    if (!t) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') idle += t;
    const file = shortUrl(url);
    byFile.set(file, (byFile.get(file) ?? 0) + t);
    const fn = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + t);
  }
  const pct = (t: number): string => `${((t / total) * 100).toFixed(1)} %`;
  const rows = (m: Map<string, number>): string =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, t]) => `  ${pct(t).padStart(7)}  ${k}`)
      .join('\n');
  return (
    `${path}: ${(total / 1e6).toFixed(1)} s profiled, idle ${pct(idle)}\n` +
    `by file:\n${rows(byFile)}\nby function:\n${rows(byFn)}`
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(summarizeProfile(process.argv[2], Number(process.argv[3] ?? 30)));
}
