// Wasm HTTP handlers in a cluster: examples/wasm-http.yaml as written — a Deployment of WAGI handlers
// behind a NodePort Service. Each replica gets a pod IP served by its node; the endpoints controller, the
// kernel Service rules and cluster DNS treat it like any pod: the Service answers on its node port and
// cluster IP across both replicas, a container pod reaches it by name, a readiness probe runs the module,
// and a deleted pod's address leaves the node.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, ROOT, waitFor, missingTools } from './harness.ts';

function missing(): string | undefined {
  return missingTools(['runc', 'conmon', 'nft'], 'wasm handlers need root (pod network and Service rules)');
}
const why = missing();
if (why) console.warn(`skipping the wasm HTTP e2e tests: ${why}`);

const slices = kindFor('discovery.k8s.io/v1', 'EndpointSlice')!;
let c: Cluster;

/** A GET on a connection of its own (a kept-alive connection would stay with one replica). */
function get(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 5_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}

describe.skipIf(!!why)('wasm HTTP handlers behind a Service', () => {
  beforeAll(async () => {
    c = await new Cluster().up();
    await c.importTestImages('busybox');
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('serves examples/wasm-http.yaml on its node port and cluster IP, across both replicas', async () => {
    const applied = await c.kubectl(['apply', '-f', join(ROOT, 'examples/wasm-http.yaml')]);
    expect(applied.code, applied.stderr).toBe(0);
    await waitFor(
      'two ready endpoints',
      async () => {
        const l = await c.client.list(slices, 'default', {
          labelSelector: 'kubernetes.io/service-name=greeter',
        });
        return (
          l.items.flatMap((s: any) => s.endpoints ?? []).filter((e: any) => e.conditions?.ready).length === 2
        );
      },
      90_000,
    );
    const pods = JSON.parse(
      (await c.kubectl(['get', 'pods', '-l', 'app=greeter', '-o', 'json'])).stdout,
    ).items;
    const names = pods.map((p: any) => p.metadata.name).sort();
    // Ordinary pod IPs from the node's pod range, distinct per replica.
    const ips = pods.map((p: any) => p.status.podIP);
    expect(new Set(ips).size).toBe(2);
    for (const ip of ips) expect(ip).toMatch(/^10\.\d+\.\d+\.\d+$/);

    const svc = JSON.parse((await c.kubectl(['get', 'svc', 'greeter', '-o', 'json'])).stdout);
    const nodePort = svc.spec.ports[0].nodePort;
    const seen = new Set<string>();
    await waitFor('the node port reaching both replicas', async () => {
      if (seen.size > 2) throw new Error(`unexpected answers: ${[...seen].join(' | ')}`);
      const r = await get(`http://127.0.0.1:${nodePort}/`);
      expect(r.status).toBe(200);
      seen.add(r.text.replace(/^hello from wasm, /, '').trim());
      return names.every((n: string) => seen.has(n));
    }).catch((err) => {
      throw new Error(
        `${(err as Error).message}; answers seen: ${[...seen].join(' | ')}; pods: ${names.join(' ')}`,
      );
    });
    expect(await get(`http://${svc.spec.clusterIP}/?name=cluster-ip`)).toEqual({
      status: 200,
      text: 'hello, cluster-ip\n',
    });
    const echo = await fetch(`http://127.0.0.1:${nodePort}/echo`, {
      method: 'POST',
      body: 'a body',
      headers: { 'content-type': 'text/plain' },
    });
    expect(await echo.text()).toBe('a body');
    expect((await get(`http://127.0.0.1:${nodePort}/nope`)).status).toBe(404);
  });

  it('is reached by name from a container pod, through cluster DNS and the Service', async () => {
    const file = join(c.dir, 'greeter-client.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: { name: greeter-client }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      # busybox resolves with nslookup (its static libc has no NSS); nc keeps stdin open until the answer came.
      command: [sh, -c, 'ip=$(nslookup greeter | sed -n "s/^Address: *//p" | tail -1); (printf "GET /?name=pod HTTP/1.0\\r\\nHost: greeter\\r\\n\\r\\n"; sleep 3) | nc $ip 80']
`,
    );
    expect((await c.kubectl(['apply', '-f', file])).code).toBe(0);
    await waitFor('greeter-client finished', async () => {
      const p = JSON.parse((await c.kubectl(['get', 'pod', 'greeter-client', '-o', 'json'])).stdout);
      return ['Succeeded', 'Failed'].includes(p.status?.phase);
    });
    const out = (await c.kubectl(['logs', 'greeter-client'])).stdout;
    expect(out).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(out).toContain('hello, pod');
  });

  it("releases a deleted handler pod's address on the node", async () => {
    const pod = JSON.parse((await c.kubectl(['get', 'pods', '-l', 'app=greeter', '-o', 'json'])).stdout)
      .items[0];
    const ip = pod.status.podIP;
    const has = () => execFileSync('ip', ['-o', 'addr', 'show']).toString().includes(` ${ip}/32 `);
    expect(has()).toBe(true);
    expect((await c.kubectl(['delete', 'pod', pod.metadata.name, '--wait=true'])).code).toBe(0);
    await waitFor('the address gone', async () => !has());
    // The Deployment replaces the replica, and the Service keeps answering.
    await waitFor('two ready replicas again', async () => {
      const d = JSON.parse((await c.kubectl(['get', 'deploy', 'greeter', '-o', 'json'])).stdout);
      return d.status?.readyReplicas === 2;
    });
  });
});
