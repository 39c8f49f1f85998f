// The real kubectl (1.32) driving Deployments on Strata through their ReplicaSets: `get rs`, `rollout
// status|history|undo|restart|pause|resume`, `scale`, `set image` and `describe`, each checked on what
// kubectl prints and on what the cluster then holds.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, waitFor, wasm } from './harness.ts';

let c: Cluster;
/** kubectl with a cache directory of this cluster's own. */
const kubectl = (args: string[], input?: string) =>
  c.kubectl(['--cache-dir', join(c.dir, 'kube-cache'), ...args], { input, timeoutMs: 110_000 });
/** kubectl that must succeed; its stdout. */
const ok = async (args: string[], input?: string): Promise<string> => {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
};
const jsonpath = (what: string, path: string) => ok(['get', what, '-o', `jsonpath=${path}`]);
/** The rows of a table, split on kubectl's column gaps. */
const rows = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/));

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: ${wasm('ticker')}
`;

/** Waits for the rollout with kubectl itself; returns what it printed last. */
async function rolledOut(): Promise<string> {
  const out = await ok(['rollout', 'status', 'deployment/web', '--timeout=100s']);
  expect(out.trim().split('\n').at(-1)).toBe('deployment "web" successfully rolled out');
  return out;
}

/** `kubectl get rs` as NAME → [DESIRED, CURRENT, READY]. */
async function replicaSets(): Promise<Map<string, string[]>> {
  const [header, ...lines] = rows(await ok(['get', 'rs', '-l', 'app=web']));
  expect(header).toEqual(['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE']);
  return new Map(lines.map((l) => [l[0], l.slice(1, 4)]));
}

const history = async () => rows(await ok(['rollout', 'history', 'deployment/web']));
let v2 = '';
let firstRS = '';

beforeAll(async () => {
  c = await new Cluster().up(['--runtimes', 'wasm']);
  // A second image: the same module under another path (another template, another ReplicaSet).
  v2 = join(c.dir, 'ticker-v2.wasm');
  copyFileSync(wasm('ticker'), v2);
});
afterAll(async () => {
  await c?.stop();
});

describe('kubectl rollouts on Strata', () => {
  it('get rs: one ReplicaSet per template, kubectl’s columns, owning the pods', async () => {
    expect(await ok(['apply', '-f', '-'], deployment)).toContain('deployment.apps/web created');
    await rolledOut();
    const rss = await replicaSets();
    expect([...rss.values()]).toEqual([['3', '3', '3']]);
    firstRS = [...rss.keys()][0];
    const hash = await jsonpath(`rs/${firstRS}`, `{.metadata.labels.pod-template-hash}`);
    expect(firstRS).toBe(`web-${hash}`);
    const [header, row] = rows(await ok(['get', 'rs', firstRS, '-o', 'wide']));
    expect(header).toEqual([
      'NAME',
      'DESIRED',
      'CURRENT',
      'READY',
      'AGE',
      'CONTAINERS',
      'IMAGES',
      'SELECTOR',
    ]);
    expect(row.slice(5)).toEqual(['main', wasm('ticker'), `app=web,pod-template-hash=${hash}`]);
    expect(
      await jsonpath(
        `rs/${firstRS}`,
        '{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}',
      ),
    ).toBe('Deployment/web');
    expect(
      await jsonpath(`rs/${firstRS}`, "{.metadata.annotations['deployment\\.kubernetes\\.io/revision']}"),
    ).toBe('1');
    const owners = await jsonpath('pods', '{range .items[*]}{.metadata.ownerReferences[0].name}{"\\n"}{end}');
    expect(owners.trim().split('\n')).toEqual([firstRS, firstRS, firstRS]);
    expect((await ok(['get', 'replicasets.apps'])).split('\n')[1]).toMatch(
      new RegExp(`^${firstRS}\\s+3\\s+3\\s+3`),
    );
  });

  it('set image, rollout history, and rollout undo --to-revision=1 back to the first ReplicaSet', async () => {
    expect(await ok(['set', 'image', 'deployment/web', `main=${v2}`])).toContain(
      'deployment.apps/web image updated',
    );
    await rolledOut();
    expect(await history()).toEqual([
      ['deployment.apps/web'],
      ['REVISION', 'CHANGE-CAUSE'],
      ['1', '<none>'],
      ['2', '<none>'],
    ]);
    const second = await ok(['rollout', 'history', 'deployment/web', '--revision=2']);
    expect(second).toContain('deployment.apps/web with revision #2');
    expect(second).toContain(v2);
    const rss = await replicaSets();
    expect(rss.get(firstRS)).toEqual(['0', '0', '0']);

    expect((await ok(['rollout', 'undo', 'deployment/web', '--to-revision=1'])).trim()).toBe(
      'deployment.apps/web rolled back',
    );
    await rolledOut();
    // the first ReplicaSet is back with every replica, as revision 3 (it was 1)
    expect((await replicaSets()).get(firstRS)).toEqual(['3', '3', '3']);
    expect(await history()).toEqual([
      ['deployment.apps/web'],
      ['REVISION', 'CHANGE-CAUSE'],
      ['2', '<none>'],
      ['3', '<none>'],
    ]);
    expect(
      await jsonpath(
        `rs/${firstRS}`,
        "{.metadata.annotations['deployment\\.kubernetes\\.io/revision']} {.metadata.annotations['deployment\\.kubernetes\\.io/revision-history']}",
      ),
    ).toBe('3 1');
    expect(await jsonpath('deploy/web', '{.spec.template.spec.containers[0].image}')).toBe(wasm('ticker'));

    const missing = await kubectl(['rollout', 'undo', 'deployment/web', '--to-revision=9']);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('error: unable to find specified revision 9 in history');
    const same = await ok(['rollout', 'undo', 'deployment/web', '--to-revision=3']);
    expect(same).toContain('skipped rollback');
  });

  it('describe deployment lists the new and old ReplicaSets', async () => {
    const out = await ok(['describe', 'deployment', 'web']);
    expect(out).toMatch(new RegExp(`NewReplicaSet:\\s+${firstRS} \\(3/3 replicas created\\)`));
    expect(out).toMatch(/OldReplicaSets:\s+web-\w+ \(0\/0 replicas created\)/);
    expect(out).toMatch(/Progressing\s+True\s+NewReplicaSetAvailable/);
    expect(out).toMatch(/Normal\s+ScalingReplicaSet\s+.*Scaled up replica set web-\w+ from 0 to 1/);
  });

  it('rollout restart replaces every pod through a new ReplicaSet', async () => {
    const before = await jsonpath('pods', '{.items[*].metadata.name}');
    expect((await ok(['rollout', 'restart', 'deployment/web'])).trim()).toBe('deployment.apps/web restarted');
    await rolledOut();
    const after = await waitFor('only new pods', async () => {
      const names = (await jsonpath('pods', '{.items[*].metadata.name}')).split(' ');
      return names.length === 3 && names.every((n) => !before.includes(n)) && names;
    });
    expect(after).toHaveLength(3);
    expect((await history()).at(-1)).toEqual(['4', '<none>']);
    const restarted = await jsonpath(
      'deploy/web',
      "{.spec.template.metadata.annotations['kubectl\\.kubernetes\\.io/restartedAt']}",
    );
    expect(Date.parse(restarted)).toBeGreaterThan(Date.now() - 120_000);
  });

  it('rollout pause holds a template change back; resume rolls it out', async () => {
    expect((await ok(['rollout', 'pause', 'deployment/web'])).trim()).toBe('deployment.apps/web paused');
    const again = await kubectl(['rollout', 'pause', 'deployment/web']);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe('error: deployments.apps "web" is already paused');
    const count = (await replicaSets()).size;
    await ok(['set', 'image', 'deployment/web', `main=${v2}`]);
    await waitFor(
      'paused condition',
      async () =>
        (await jsonpath('deploy/web', '{.status.conditions[?(@.type=="Progressing")].reason}')) ===
        'DeploymentPaused',
    );
    await new Promise((r) => setTimeout(r, 1000));
    expect((await replicaSets()).size).toBe(count);
    expect(await jsonpath('pods', '{.items[*].spec.containers[0].image}')).not.toContain(v2);

    expect((await ok(['rollout', 'resume', 'deployment/web'])).trim()).toBe('deployment.apps/web resumed');
    await rolledOut();
    expect((await replicaSets()).size).toBe(count + 1);
    expect((await jsonpath('pods', '{.items[*].spec.containers[0].image}')).split(' ')).toEqual([v2, v2, v2]);
    expect((await history()).at(-1)).toEqual(['5', '<none>']);
  });

  it('scale resizes the current ReplicaSet, through the scale subresource', async () => {
    expect((await ok(['scale', 'deployment/web', '--replicas=5'])).trim()).toBe('deployment.apps/web scaled');
    await rolledOut();
    const current = await waitFor('5 replicas', async () => {
      const rss = await replicaSets();
      return [...rss].find(([, v]) => v.join() === '5,5,5');
    });
    expect(
      await jsonpath(
        `rs/${current[0]}`,
        "{.metadata.annotations['deployment\\.kubernetes\\.io/desired-replicas']}",
      ),
    ).toBe('5');
    expect((await ok(['scale', 'deployment/web', '--replicas=2'])).trim()).toBe('deployment.apps/web scaled');
    await waitFor(
      '2 pods',
      async () => (await jsonpath('pods', '{.items[*].metadata.name}')).split(' ').length === 2,
    );
    expect((await replicaSets()).get(current[0])).toEqual(['2', '2', '2']);
    expect(await jsonpath('deploy/web', '{.status.readyReplicas}/{.spec.replicas}')).toBe('2/2');
  });
});
