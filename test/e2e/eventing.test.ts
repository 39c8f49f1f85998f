// End to end, event triggers: a real single-node cluster; `kubectl apply` of a Knative PingSource firing
// every 2 seconds whose sink is a selector-less Service with an EndpointSlice pointing at an HTTP server
// this test runs on the node's address. The server sees ping CloudEvents (binary mode, the data as the
// body), the first delivery failing with 503 and retried; the PingSource reports sinkUri and Ready.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, missingTools, waitFor } from './harness.ts';

const why = missingTools(['kubectl'], 'the cluster runs as root in the e2e tests');
if (why) console.warn(`skipping eventing e2e tests: ${why}`);

let c: Cluster;
let server: Server;
const got: { headers: Record<string, unknown>; body: string }[] = [];
const answers = [503];

/** A non-loopback IPv4 address of this machine (EndpointSlices may not point at loopback). */
function hostAddress(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

describe.skipIf(!!why)('event triggers end to end', () => {
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        got.push({ headers: req.headers, body });
        res.writeHead(answers.shift() ?? 202).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    c = await new Cluster().up();
  }, 300_000);

  afterAll(async () => {
    await c?.stop();
    await new Promise((r) => server?.close(r));
  });

  it('a PingSource delivers ping CloudEvents on schedule to a Service sink, retrying a failure', async () => {
    const port = (server.address() as AddressInfo).port;
    const manifest = `apiVersion: v1
kind: Service
metadata: { name: event-log }
spec:
  ports: [{ name: http, port: 80, targetPort: ${port} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: event-log-1
  labels: { kubernetes.io/service-name: event-log }
addressType: IPv4
ports: [{ name: http, port: ${port}, protocol: TCP }]
endpoints: [{ addresses: ["${hostAddress()}"], conditions: { ready: true } }]
---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: heartbeat }
spec:
  schedule: "*/2 * * * * *"
  contentType: application/json
  data: '{"message": "Hello world!"}'
  sink:
    ref: { apiVersion: v1, kind: Service, name: event-log }
`;
    const applied = await c.kubectl(['apply', '-f', '-'], { input: manifest });
    expect(applied.code, applied.stderr).toBe(0);
    // The first attempt is refused (503) and retried; later ticks succeed at once.
    await waitFor('three deliveries', () => got.length >= 3, 60_000);
    expect(got[1].headers['ce-id']).toBe(got[0].headers['ce-id']);
    for (const g of got) {
      expect(g.headers).toMatchObject({
        'ce-specversion': '1.0',
        'ce-type': 'dev.knative.sources.ping',
        'ce-source': '/apis/v1/namespaces/default/pingsources/heartbeat',
        'content-type': 'application/json',
      });
      expect(JSON.parse(g.body)).toEqual({ message: 'Hello world!' });
    }
    const ids = new Set(got.map((g) => g.headers['ce-id']));
    expect(ids.size).toBeGreaterThan(1);
    const status = JSON.parse(
      (await c.kubectl(['get', 'pingsource', 'heartbeat', '-o', 'json'])).stdout,
    ).status;
    expect(status.sinkUri).toBe('http://event-log.default.svc.cluster.local');
    expect(status.conditions.find((x: any) => x.type === 'Ready').status).toBe('True');
  }, 120_000);

  it('refuses a PingSource with a bad schedule, naming the field', async () => {
    const r = await c.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: { name: broken }
spec: { schedule: "every minute", sink: { uri: "http://example.com/" } }
`,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.schedule');
  });
});
