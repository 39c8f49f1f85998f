// A failing backend behind the node gateway: one of 3 replicas answers 500 to half of its requests
// (at random), and clients load the Service through a `type: LoadBalancer` port. The error rate they see
// (non-2xx answers, as wrk counts them) with outlier ejection and retries on and off, all in one run:
//   - neither: every 500 of the failing replica reaches a client (the baseline, ~1/6 of requests);
//   - ejection only (`strata.dev/retries: "0"`): the 500s until the replica is ejected (5 consecutive);
//   - retries only (ejection off: `strata.dev/outlier-consecutive-5xx` out of reach): a 500 is retried on
//     another replica within the retry budget;
//   - both (the defaults).
// Each round of each variant gets a fresh gateway (an ejection lasts 30 s: it must not carry over) and
// wrk (its own process, -t2 -c16) for SECONDS. Goal (issue 9): < 0.1 % errors with ejection.
//
//   npm run bench -- gateway-outliers [SECONDS=10] [ROUNDS=2]
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { freePort } from '../src/lib/free-port.ts';
import { startBackend, startLbGateway } from './lib/gateway-fixture.ts';

const SECONDS = Number(process.argv[2] ?? 10);
const ROUNDS = Number(process.argv[3] ?? 2);
const FAIL_PERCENT = 50;
const NEVER = '1000000'; // consecutive 5xx before an ejection: out of reach, i.e. ejection off

const VARIANTS: Record<string, Record<string, string>> = {
  'no ejection, no retries': { 'strata.dev/retries': '0', 'strata.dev/outlier-consecutive-5xx': NEVER },
  'ejection, no retries': { 'strata.dev/retries': '0' },
  'retries, no ejection': { 'strata.dev/outlier-consecutive-5xx': NEVER },
  'ejection and retries (defaults)': {},
};

interface Round {
  total: number;
  non2xx: number;
  socketErrors: number;
  rps: number;
  ejections: number;
  retries: number;
}

/** The sum of a counter's series in the gateway's Prometheus text. */
function counter(text: string, name: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

const ports = [await freePort(), await freePort(), await freePort()];
const backends = [
  await startBackend(ports[0]!),
  await startBackend(ports[1]!),
  await startBackend(ports[2]!, FAIL_PERCENT),
];

async function round(annotations: Record<string, string>): Promise<Round> {
  const { gateway, port } = await startLbGateway({ name: 'web', backendPorts: ports, annotations });
  try {
    const { stdout: out } = await promisify(execFile)(
      'wrk',
      ['-t2', '-c16', `-d${SECONDS}s`, `http://127.0.0.1:${port}/`],
      { encoding: 'utf8' },
    );
    const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const text = gateway.counters.text();
    return {
      total: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
      non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
      socketErrors: sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0,
      rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
      ejections: counter(text, 'strata_gateway_outlier_ejections_total'),
      retries: counter(text, 'strata_gateway_retries_total'),
    };
  } finally {
    await gateway.stop();
  }
}

const loadAtStart = os.loadavg()[0];
const results: Record<string, Round[]> = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++)
  for (const [name, annotations] of Object.entries(VARIANTS)) results[name]!.push(await round(annotations));
for (const b of backends) b.kill();

console.log(
  `\nhost: ${os.availableParallelism()} CPUs, load average ${loadAtStart.toFixed(1)} at start, ${os.loadavg()[0].toFixed(1)} at the end`,
);
console.log(
  `\n### One of 3 replicas failing ${FAIL_PERCENT} % of its requests — wrk -t2 -c16, ${ROUNDS} × ${SECONDS} s per variant (totals over the rounds)\n`,
);
console.log(
  '| variant | requests | errors seen by clients | error rate | requests/s (median) | ejections | retries |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [name, rs] of Object.entries(results)) {
  const total = rs.reduce((a, x) => a + x.total, 0);
  const errors = rs.reduce((a, x) => a + x.non2xx + x.socketErrors, 0);
  const rps = [...rs.map((x) => x.rps)].sort((a, b) => a - b)[Math.floor(rs.length / 2)]!;
  console.log(
    `| ${name} | ${total} | ${errors} | ${((100 * errors) / Math.max(1, total)).toFixed(3)} % | ${Math.round(rps)} | ${rs.reduce((a, x) => a + x.ejections, 0)} | ${rs.reduce((a, x) => a + x.retries, 0)} |`,
  );
}
