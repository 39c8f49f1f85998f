// What the gateway benchmarks share: backends as small Node HTTP servers in processes of their own, and
// a NodeGateway serving one `type: LoadBalancer` Service port (L7) in front of them, fed fixed Service
// and EndpointSlice objects as the API would list them.
import { spawn, type ChildProcess } from 'node:child_process';
import { selfSignedServing } from '../../src/auth/pki.ts';
import type { ListWatch } from '../../src/lib/informer.ts';
import { freePort } from '../../src/lib/free-port.ts';
import { NodeGateway } from '../../src/net/gateway/index.ts';

/** A fixed collection as the API would list it (never changes). */
export function fixed<T>(items: T[]): ListWatch<T> {
  return {
    list: async () => ({ items, resourceVersion: '1' }),
    watch: async () => ({ cancel() {} }),
  };
}

/**
 * A keep-alive HTTP server on 127.0.0.1:`port` in its own process, answering "hello from the backend";
 * with `failPercent`, that share of its answers (at random) is a 500 instead.
 */
export async function startBackend(port: number, failPercent = 0): Promise<ChildProcess> {
  const code =
    `require('node:http').createServer((q, s) => { q.resume(); s.setHeader('content-type', 'text/plain'); ` +
    `if (Math.random() * 100 < ${failPercent}) { s.statusCode = 500; s.end('failing\\n'); return; } ` +
    `s.end('hello from the backend\\n'); }).listen(${port}, '127.0.0.1', () => console.log('ready'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return child;
}

let certificate: ReturnType<typeof selfSignedServing> | undefined;

/**
 * A gateway on `workers` threads serving Service default/`name` (type LoadBalancer, one port named http)
 * with `annotations`, in front of backends on 127.0.0.1 at `backendPorts` (one EndpointSlice each).
 */
export async function startLbGateway(o: {
  name: string;
  backendPorts: number[];
  annotations?: Record<string, string>;
  workers?: number;
}): Promise<{ gateway: NodeGateway; port: number }> {
  const lbPort = await freePort();
  const workers = o.workers ?? 1;
  const gateway = new NodeGateway({
    nodeName: 'bench',
    listenAddress: '127.0.0.1',
    addresses: ['127.0.0.1'],
    defaultCertificate: await (certificate ??= selfSignedServing('bench', ['localhost'])),
    workers,
    log: { debug() {}, info() {}, warn: console.warn, error: console.error },
  });
  await gateway.start({
    services: fixed([
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: o.name, namespace: 'default', annotations: o.annotations ?? {} },
        spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: lbPort, protocol: 'TCP' }] },
      } as any,
    ]),
    endpointSlices: fixed(
      o.backendPorts.map((port, i) => ({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: `${o.name}-${i}`,
          namespace: 'default',
          labels: { 'kubernetes.io/service-name': o.name },
        },
        addressType: 'IPv4',
        ports: [{ name: 'http', port, protocol: 'TCP' }],
        endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
      })) as any[],
    ),
    ingresses: fixed([]),
    ingressClasses: fixed([]),
    secrets: fixed([]),
  });
  if (gateway.threads !== workers) throw new Error(`gateway has ${gateway.threads} threads, not ${workers}`);
  return { gateway, port: lbPort };
}
