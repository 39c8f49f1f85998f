// End to end, event triggers: a real single-node cluster.
//   - `kubectl apply` of a Knative PingSource firing every 2 seconds whose sink is a selector-less Service
//     with an EndpointSlice pointing at an HTTP server this test runs on the node's address. The server
//     sees ping CloudEvents (binary mode, the data as the body), the first delivery failing with 503 and
//     retried; the PingSource reports sinkUri and Ready.
//   - A Broker and a Trigger whose subscriber is a Knative Service (a container function: busybox httpd
//     with a CGI that logs each event it gets): events POSTed to the Broker's address in binary and in
//     structured mode reach the function through the node gateway; one the filter does not match does
//     not; a bad one is a 400 naming the attribute.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/lib/free-port.ts';
import { Cluster, missingTools, waitFor } from './harness.ts';

const why = missingTools(['kubectl', 'runc', 'conmon', 'nft'], 'the cluster runs as root in the e2e tests');
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
    // The gateway on a free port: Knative Service subscribers are reached through it.
    c = await new Cluster().up(['--http-port', String(await freePort('0.0.0.0')), '--https-port', '0']);
    await c.importTestImages('busybox');
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
    // The refused event is sent again (a later tick's may arrive before the retry on a loaded host).
    expect(got.slice(1).map((g) => g.headers['ce-id'])).toContain(got[0].headers['ce-id']);
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

  it('a Broker delivers CloudEvents POSTed in binary and structured mode to a function its Trigger names', async () => {
    const applied = await c.kubectl(['apply', '--validate=false', '-f', '-'], { input: FUNCTION_AND_BROKER });
    expect(applied.code, applied.stderr).toBe(0);
    const fn = await waitFor(
      'the function and the Trigger Ready',
      async () => {
        const ksvc = await json(['get', 'ksvc', 'order-fn']);
        const trigger = await json(['get', 'trigger', 'orders']);
        return ready(ksvc) && ready(trigger) && ksvc;
      },
      180_000,
    );
    const trigger = await json(['get', 'trigger', 'orders']);
    // Knative resolves a Service to its cluster-local address (status.address.url), which the gateway routes.
    expect(trigger.status.subscriberUri).toBe(`${fn.status.address.url}/cgi-bin/app`);
    const broker = await json(['get', 'broker', 'default']);
    const url: string = broker.status.address.url;
    expect(url).toMatch(/^http:\/\/[^/]+:\d+\/default\/default$/);
    const listed = await c.kubectl(['get', 'brokers']);
    expect(listed.stdout).toMatch(/^NAME\s+URL\s+AGE\s+READY\s+REASON/);
    const ce = (id: string, type: string) => ({
      'ce-specversion': '1.0',
      'ce-id': id,
      'ce-source': '/e2e/shop',
      'ce-type': type,
    });
    expect(
      await post(url, { ...ce('b-1', 'order.created'), 'content-type': 'text/plain' }, 'binary-apples'),
    ).toEqual({
      status: 202,
      body: expect.anything(),
    });
    const structured = JSON.stringify({
      specversion: '1.0',
      id: 's-1',
      source: '/e2e/shop',
      type: 'order.created',
      datacontenttype: 'text/plain',
      data: 'structured-pears',
    });
    expect((await post(url, { 'content-type': 'application/cloudevents+json' }, structured)).status).toBe(
      202,
    );
    expect(
      (await post(url, { ...ce('x-1', 'order.cancelled'), 'content-type': 'text/plain' }, 'filtered-out'))
        .status,
    ).toBe(202);
    const bad = await post(url, { 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-type': 't' }, '');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({
      kind: 'Status',
      details: { causes: [{ field: 'source' }] },
    });
    // The function logged both events it got (its CGI writes one line per request to stderr).
    const logs = await waitFor(
      'the function to log both events',
      async () => {
        const r = await c.kubectl(['logs', '-l', 'serving.knative.dev/service=order-fn', '--tail=-1']);
        return r.stdout.includes('binary-apples') && r.stdout.includes('structured-pears') && r.stdout;
      },
      120_000,
    );
    expect(logs).toMatch(/event POST text\/plain binary-apples/);
    expect(logs).toMatch(/event POST text\/plain structured-pears/);
    expect(logs).not.toContain('filtered-out');
  }, 300_000);
});

// A CGI that logs each request's method, content type and body to stderr (the container log).
const EVENT_CGI = `#!/bin/sh
body=$(head -c "\${CONTENT_LENGTH:-0}")
echo "event $REQUEST_METHOD $CONTENT_TYPE $body" >&2
printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'
`;

const FUNCTION_AND_BROKER = `apiVersion: serving.knative.dev/v1
kind: Service
metadata: { name: order-fn }
spec:
  template:
    metadata:
      annotations: { autoscaling.knative.dev/min-scale: "1" }
    spec:
      runtimeClassName: container
      containers:
        - image: localhost/busybox:1.0
          env: [{ name: APP, value: ${JSON.stringify(EVENT_CGI)} }]
          command: [sh, -c, 'mkdir -p /www/cgi-bin && printf "%s" "$APP" > /www/cgi-bin/app && chmod +x /www/cgi-bin/app && exec httpd -f -p $PORT -h /www']
---
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: default }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: orders }
spec:
  broker: default
  filter: { attributes: { type: order.created } }
  subscriber:
    ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: order-fn }
    uri: /cgi-bin/app
  delivery: { retry: 3, backoffDelay: PT0.5S }
`;

const ready = (o: any) => o?.status?.conditions?.find((x: any) => x.type === 'Ready')?.status === 'True';

async function json(args: string[]): Promise<any> {
  const r = await c.kubectl([...args, '-o', 'json']);
  return r.code === 0 ? JSON.parse(r.stdout) : undefined;
}

/** POST to a URL; resolves with the status and body. */
function post(
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
