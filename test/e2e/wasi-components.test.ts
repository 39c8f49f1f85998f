// WASI 0.2 components in a cluster: examples/wasi-http-hello.yaml as written — a wasi:http/proxy
// component (componentize-js) behind a NodePort Service, answering through the node port and the
// cluster IP — and a wasi:cli/command component run as a pod (args, env, logs, exit code) via kubectl.
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, ROOT, waitFor, missingTools } from './harness.ts';

function missing(): string | undefined {
  const tools = missingTools(
    ['runc', 'conmon', 'nft'],
    'wasm handlers need root (pod network and Service rules)',
  );
  if (tools) return tools;
  if (!existsSync(join(ROOT, 'build/components/wasi-http-hello.wasm')))
    return 'build/components not built (node scripts/build-components.ts)';
  return undefined;
}
const why = missing();
if (why) console.warn(`skipping the WASI components e2e tests: ${why}`);

let c: Cluster;

/** waitFor, and on a timeout the pods' state and events in the error (what the agent reported). */
async function waitOrDescribe(what: string, cond: () => Promise<boolean>, ms: number): Promise<void> {
  try {
    await waitFor(what, cond, ms);
  } catch (err) {
    const pods = await c.kubectl(['describe', 'pods']);
    throw new Error(`${(err as Error).message}\n${pods.stdout.slice(-6000)}`);
  }
}

describe.skipIf(!!why)('WASI 0.2 components', () => {
  beforeAll(async () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-components.ts')], { stdio: 'ignore' });
    c = await new Cluster().up();
  }, 900_000); // the build is a no-op when setup made the components (one build takes minutes)
  afterAll(async () => {
    await c?.stop();
  });

  it('serves examples/wasi-http-hello.yaml on its node port and cluster IP', async () => {
    const applied = await c.kubectl(['apply', '-f', join(ROOT, 'examples/wasi-http-hello.yaml')]);
    expect(applied.code, applied.stderr).toBe(0);
    await waitOrDescribe(
      'the component pod Running',
      async () => {
        const d = JSON.parse((await c.kubectl(['get', 'deploy', 'wasi-http-hello', '-o', 'json'])).stdout);
        return d.status?.readyReplicas === 1;
      },
      300_000,
    );
    const svc = JSON.parse((await c.kubectl(['get', 'svc', 'wasi-http-hello', '-o', 'json'])).stdout);
    const nodePort = svc.spec.ports[0].nodePort;
    let res: Response | undefined;
    await waitFor('the node port answering', async () => {
      res = await fetch(`http://127.0.0.1:${nodePort}/`).catch(() => undefined);
      return res?.status === 200;
    });
    expect(res!.headers.get('x-served-by')).toBe('wasi-http-hello');
    expect(await res!.text()).toBe('hello from a wasi:http component\n');
    const posted = await fetch(`http://${svc.spec.clusterIP}/`, {
      method: 'POST',
      body: 'through the Service',
    });
    expect(await posted.text()).toBe('hello from a wasi:http component: through the Service\n');
    // Concurrent requests, each answered with its own body: the pod's instances are reset between
    // requests (docs/wasi-components.md), so nothing of one request shows in another's answer.
    const bodies = Array.from({ length: 24 }, (_, i) => `concurrent ${i}`);
    const answers = await Promise.all(
      bodies.map((body) =>
        fetch(`http://127.0.0.1:${nodePort}/`, { method: 'POST', body }).then((r) => r.text()),
      ),
    );
    expect(answers).toEqual(bodies.map((b) => `hello from a wasi:http component: ${b}\n`));
    const pod = JSON.parse(
      (await c.kubectl(['get', 'pods', '-l', 'app=wasi-http-hello', '-o', 'json'])).stdout,
    ).items[0];
    expect(pod.status.podIP).toMatch(/^10\.\d+\.\d+\.\d+$/);
  }, 600_000);

  it('runs a wasi:cli/command component as a pod: args, env, logs and exit code', async () => {
    const file = join(c.dir, 'cli-hello.yaml');
    const pod = (name: string, exitCode: string) => `apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
  runtimeClassName: wasm
  restartPolicy: Never
  containers:
    - name: main
      image: build/components/wasi-cli-hello.wasm
      args: [first, second arg]
      env: [{ name: GREETING, value: from-kubectl }, { name: EXIT_CODE, value: "${exitCode}" }]
      resources: { limits: { memory: 256Mi } }
`;
    writeFileSync(file, `${pod('cli-ok', '0')}---\n${pod('cli-fails', '1')}`);
    expect((await c.kubectl(['apply', '-f', file])).code).toBe(0);
    const phase = async (name: string) =>
      JSON.parse((await c.kubectl(['get', 'pod', name, '-o', 'json'])).stdout).status?.phase;
    await waitOrDescribe(
      'both commands finished',
      async () => {
        const phases = [await phase('cli-ok'), await phase('cli-fails')];
        return phases.every((p) => p === 'Succeeded' || p === 'Failed');
      },
      300_000,
    );
    expect(await phase('cli-ok')).toBe('Succeeded');
    expect(await phase('cli-fails')).toBe('Failed');
    const logs = (await c.kubectl(['logs', 'cli-ok'])).stdout;
    expect(logs).toContain(
      'hello from a wasi:cli component: args=["main","first","second arg"] GREETING=from-kubectl',
    );
    const failed = JSON.parse((await c.kubectl(['get', 'pod', 'cli-fails', '-o', 'json'])).stdout);
    expect(failed.status.containerStatuses[0].state.terminated).toMatchObject({
      exitCode: 1,
      reason: 'Error',
    });
  }, 600_000);
});
