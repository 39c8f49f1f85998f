import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ContainerProber,
  httpGetProbe,
  execProbe,
  resolvePort,
  runProbe,
  tcpSocketProbe,
  type ProbeOutcome,
  type ProbeSpec,
  type ProbeTarget,
} from './probes.ts';

const target: ProbeTarget = {
  host: '127.0.0.1',
  ports: [{ name: 'http', containerPort: 1 }],
  runtimeClass: 'tier-a',
};
const closers: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  vi.useRealTimers();
});

async function httpServer(handler: Parameters<typeof createHttpServer>[1]): Promise<number> {
  const s: Server = createHttpServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => s.close(() => r())));
  return (s.address() as AddressInfo).port;
}

/** A port nothing listens on (bound and released). */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('probe handlers', () => {
  it('httpGet: 2xx/3xx succeed, other codes fail with the status code; headers and path are sent', async () => {
    const seen: any[] = [];
    const port = await httpServer((req, res) => {
      seen.push({ url: req.url, headers: req.headers });
      res.statusCode = req.url === '/healthz' ? 200 : req.url === '/moved' ? 302 : 503;
      res.end(req.url === '/healthz' ? 'ok' : 'not yet');
    });
    const ok = await httpGetProbe(
      { path: '/healthz', port, httpHeaders: [{ name: 'X-Probe', value: 'yes' }] },
      target,
      1000,
    );
    expect(ok.ok).toBe(true);
    expect(seen[0].headers['x-probe']).toBe('yes');
    expect(seen[0].headers['user-agent']).toMatch(/strata-probe/);
    expect((await httpGetProbe({ path: 'moved', port }, target, 1000)).ok).toBe(true);
    const bad = await httpGetProbe({ path: '/other', port }, target, 1000);
    expect(bad).toEqual({ ok: false, message: 'HTTP probe failed with statuscode: 503 (not yet)' });
  });

  it('httpGet: connection refused, timeouts and unknown named ports fail with a clear message', async () => {
    const port = await closedPort();
    const refused = await httpGetProbe({ port }, target, 1000);
    expect(refused.ok).toBe(false);
    expect(refused.message).toBe(`Get "http://127.0.0.1:${port}/": connect: connection refused`);
    const slow = await httpServer(() => {
      /* never answers */
    });
    const timedOut = await httpGetProbe({ port: slow }, target, 200);
    expect(timedOut.ok).toBe(false);
    expect(timedOut.message).toMatch(/timeout after 0.2s/);
    const unnamed = await httpGetProbe({ port: 'metrics' }, target, 200);
    expect(unnamed).toEqual({
      ok: false,
      message: `port "metrics" is not one of the container's named ports`,
    });
  });

  it('named ports resolve through the container ports', async () => {
    expect(resolvePort('http', target.ports)).toBe(1);
    expect(resolvePort(8080, [])).toBe(8080);
    expect(resolvePort('8080', [])).toBe(8080);
  });

  it('tcpSocket: connects or reports why not', async () => {
    const port = await httpServer((_q, s) => s.end());
    expect((await tcpSocketProbe({ port }, target, 1000)).ok).toBe(true);
    const closed = await closedPort();
    expect(await tcpSocketProbe({ port: closed }, target, 1000)).toEqual({
      ok: false,
      message: `dial tcp 127.0.0.1:${closed}: connect: connection refused`,
    });
  });

  it('exec: fails clearly on a tier that cannot exec, and uses the exit code where it can', async () => {
    const noExec = await execProbe({ command: ['true'] }, target, 1000);
    expect(noExec.ok).toBe(false);
    expect(noExec.message).toContain('exec probes are not supported: runtime class "tier-a"');
    const enc = new TextEncoder();
    const withExec: ProbeTarget = {
      ...target,
      runtimeClass: 'tier-b',
      exec: async (cmd) => ({
        exitCode: cmd[0] === 'ok' ? 0 : 1,
        stdout: enc.encode(cmd[0] === 'ok' ? '' : 'unhealthy: db down'),
        stderr: new Uint8Array(),
      }),
    };
    expect((await execProbe({ command: ['ok'] }, withExec, 1000)).ok).toBe(true);
    expect(await execProbe({ command: ['check'] }, withExec, 1000)).toEqual({
      ok: false,
      message: 'unhealthy: db down',
    });
    const hung: ProbeTarget = { ...withExec, exec: () => new Promise(() => {}) };
    expect((await execProbe({ command: ['x'] }, hung, 100)).message).toMatch(/timed out after 0.1s/);
  });

  it('runProbe picks the handler and applies timeoutSeconds', async () => {
    const port = await closedPort();
    const r = await runProbe({ tcpSocket: { port } }, target);
    expect(r.ok).toBe(false);
  });
});

/** A prober driven by a scripted sequence of outcomes, on fake timers. */
function scripted(
  container: Record<string, ProbeSpec>,
  outcomes: Record<string, boolean[]>,
  fastFirstReadinessMs?: number,
) {
  const calls: string[] = [];
  const changes: string[] = [];
  const failures: string[] = [];
  const killed: string[] = [];
  const prober = new ContainerProber({
    container,
    target,
    startedAtMs: Date.now(),
    ...(fastFirstReadinessMs ? { fastFirstReadinessMs } : {}),
    run: async (spec): Promise<ProbeOutcome> => {
      const kind = Object.keys(container).find((k) => container[k] === spec)!;
      calls.push(kind);
      const ok = outcomes[kind]?.shift() ?? true;
      return { ok, message: ok ? 'fine' : `${kind} says no` };
    },
    callbacks: {
      onChange: () => changes.push(`started=${prober.started} ready=${prober.ready}`),
      onProbeFailure: (kind, m) => failures.push(`${kind}: ${m}`),
      onFailed: (kind, m) => killed.push(`${kind}: ${m}`),
    },
  });
  return { prober, calls, changes, failures, killed };
}

describe('ContainerProber', () => {
  it('without a readiness probe the container is ready at once', () => {
    const { prober } = scripted({ livenessProbe: { tcpSocket: { port: 1 } } }, {});
    expect(prober.started).toBe(true);
    expect(prober.ready).toBe(true);
  });

  it('readiness starts false and follows success/failure thresholds', async () => {
    vi.useFakeTimers();
    const s = scripted(
      {
        readinessProbe: {
          tcpSocket: { port: 1 },
          periodSeconds: 1,
          successThreshold: 2,
          failureThreshold: 2,
        },
      },
      { readinessProbe: [true, true, false, true, false, false] },
    );
    s.prober.start();
    expect(s.prober.ready).toBe(false);
    await vi.advanceTimersByTimeAsync(10); // 1st: success (1 of 2)
    expect(s.prober.ready).toBe(false);
    await vi.advanceTimersByTimeAsync(1000); // 2nd: success → ready
    expect(s.prober.ready).toBe(true);
    await vi.advanceTimersByTimeAsync(1000); // failure (1 of 2): still ready
    await vi.advanceTimersByTimeAsync(1000); // success resets the run
    await vi.advanceTimersByTimeAsync(1000); // failure 1
    expect(s.prober.ready).toBe(true);
    await vi.advanceTimersByTimeAsync(1000); // failure 2 → not ready
    expect(s.prober.ready).toBe(false);
    expect(s.changes).toEqual(['started=true ready=true', 'started=true ready=false']);
    expect(s.failures).toHaveLength(3);
    expect(s.failures[0]).toBe('readiness: readinessProbe says no');
    s.prober.stop();
  });

  it('fast first readiness: retried every 20 ms until ready, then the period; failures reported once per period', async () => {
    vi.useFakeTimers();
    const s = scripted(
      { readinessProbe: { tcpSocket: { port: 1 }, periodSeconds: 1, failureThreshold: 3 } },
      { readinessProbe: [false, false, false, false, false, true, false, false, false] },
      20,
    );
    s.prober.start();
    await vi.advanceTimersByTimeAsync(5); // attempt 1 fails (reported)
    expect(s.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(5 * 20); // attempts 2-5 fail (not reported), 6 succeeds
    expect(s.calls).toHaveLength(6);
    expect(s.prober.ready).toBe(true);
    expect(s.failures).toHaveLength(1);
    // Ready once: the declared period again, and failures reported each time as the kubelet does.
    await vi.advanceTimersByTimeAsync(500);
    expect(s.calls).toHaveLength(6);
    await vi.advanceTimersByTimeAsync(3 * 1000);
    expect(s.calls).toHaveLength(9);
    expect(s.failures).toHaveLength(4);
    expect(s.prober.ready).toBe(false);
    s.prober.stop();

    // Without the option the second attempt waits a whole period.
    const slow = scripted(
      { readinessProbe: { tcpSocket: { port: 1 }, periodSeconds: 1 } },
      { readinessProbe: [false, true] },
    );
    slow.prober.start();
    await vi.advanceTimersByTimeAsync(500);
    expect(slow.calls).toHaveLength(1);
    expect(slow.prober.ready).toBe(false);
    slow.prober.stop();
  });

  it('fast first readiness stops after its window when the container never becomes ready', async () => {
    vi.useFakeTimers();
    const s = scripted(
      { readinessProbe: { tcpSocket: { port: 1 }, periodSeconds: 5 } },
      { readinessProbe: Array(10_000).fill(false) },
      20,
    );
    s.prober.start();
    await vi.advanceTimersByTimeAsync(10_000);
    const inWindow = s.calls.length;
    expect(inWindow).toBeGreaterThan(400);
    // Reported once per 5 s period inside the window (t = 0 and 5 s), not per attempt.
    expect(s.failures.length).toBeLessThanOrEqual(3);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.calls.length - inWindow).toBeLessThanOrEqual(2);
    s.prober.stop();
  });

  it('initialDelaySeconds holds the first probe back', async () => {
    vi.useFakeTimers();
    const s = scripted(
      { readinessProbe: { tcpSocket: { port: 1 }, initialDelaySeconds: 5, periodSeconds: 1 } },
      {},
    );
    s.prober.start();
    await vi.advanceTimersByTimeAsync(4900);
    expect(s.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(s.calls).toHaveLength(1);
    expect(s.prober.ready).toBe(true);
    s.prober.stop();
  });

  it('liveness failureThreshold failures in a row ask for a restart, once', async () => {
    vi.useFakeTimers();
    const s = scripted(
      { livenessProbe: { httpGet: { port: 1 }, periodSeconds: 1, failureThreshold: 3 } },
      { livenessProbe: [false, false, true, false, false, false, false] },
    );
    s.prober.start();
    await vi.advanceTimersByTimeAsync(10 + 4 * 1000);
    expect(s.killed).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.killed).toEqual(['liveness: Liveness probe failed: livenessProbe says no']);
    await vi.advanceTimersByTimeAsync(5000);
    expect(s.killed).toHaveLength(1);
    expect(s.calls).toHaveLength(6);
  });

  it('startup gates liveness and readiness; a failing startup probe asks for a restart', async () => {
    vi.useFakeTimers();
    const s = scripted(
      {
        startupProbe: { tcpSocket: { port: 1 }, periodSeconds: 1, failureThreshold: 10 },
        livenessProbe: { tcpSocket: { port: 1 }, periodSeconds: 1 },
        readinessProbe: { tcpSocket: { port: 1 }, periodSeconds: 1 },
      },
      { startupProbe: [false, false, true], readinessProbe: [false, true] },
    );
    s.prober.start();
    expect(s.prober.started).toBe(false);
    await vi.advanceTimersByTimeAsync(10 + 1000);
    expect(s.calls).toEqual(['startupProbe', 'startupProbe']);
    expect(s.prober.started).toBe(false);
    // The third startup probe succeeds: liveness and readiness begin right away, readiness not yet passing.
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.prober.started).toBe(true);
    expect(s.calls.slice(3).sort()).toEqual(['livenessProbe', 'readinessProbe']);
    expect(s.prober.ready).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.prober.ready).toBe(true);
    expect(s.calls.filter((c) => c === 'startupProbe')).toHaveLength(3);
    s.prober.stop();

    const f = scripted(
      { startupProbe: { tcpSocket: { port: 1 }, periodSeconds: 1, failureThreshold: 2 } },
      { startupProbe: [false, false] },
    );
    f.prober.start();
    await vi.advanceTimersByTimeAsync(10 + 1000);
    expect(f.killed).toEqual(['startup: Startup probe failed: startupProbe says no']);
  });
});
