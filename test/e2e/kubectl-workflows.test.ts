// The real kubectl against a real Strata over HTTPS, with the kubeconfig `strata up` wrote: the everyday
// workflows (create, run, scale, rollout status, wait, cordon/drain, delete with its cascade modes), and
// the hostile inputs kubectl users hit (another CA's certificate, a body nested too deep). Exit codes and
// output are checked, not just "did not fail".
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { createCA, issue } from '../../src/auth/pki.ts';
import { Cluster, waitFor } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;
const deployments = kindFor('apps/v1', 'Deployment')!;
let c: Cluster;
const TICKER = 'build/wasm/ticker.wasm';

async function ok(args: string[], input?: string): Promise<string> {
  const r = await c.kubectl(args, { input });
  expect(r.code, `kubectl ${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

describe('kubectl workflows', () => {
  beforeAll(async () => {
    c = await new Cluster().up(['--runtimes', 'wasm']);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('connects over HTTPS with the CA and admin certificate, with no version skew warning', async () => {
    const r = await c.kubectl(['version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Server Version: v1\.32\.0\+strata\.0\.1\.0/);
    expect(r.stderr).not.toMatch(/skew|WARNING/i);
    const who = await ok(['auth', 'whoami', '-o', 'json']);
    expect(JSON.parse(who).status.userInfo).toEqual({
      username: 'admin',
      groups: ['system:masters', 'system:authenticated'],
    });
  });

  it('creates namespaces, configmaps, secrets, deployments and jobs, and runs a pod', async () => {
    expect(await ok(['create', 'namespace', 'team-a'])).toBe('namespace/team-a created\n');
    expect(await ok(['create', 'configmap', 'cfg', '--from-literal=mode=fast', '-n', 'team-a'])).toBe(
      'configmap/cfg created\n',
    );
    expect(await ok(['create', 'secret', 'generic', 'pw', '--from-literal=p=s3cret', '-n', 'team-a'])).toBe(
      'secret/pw created\n',
    );
    const secret = JSON.parse(await ok(['get', 'secret', 'pw', '-n', 'team-a', '-o', 'json']));
    expect(Buffer.from(secret.data.p, 'base64').toString()).toBe('s3cret');
    expect(await ok(['create', 'deployment', 'web', `--image=${TICKER}`, '--replicas=2'])).toBe(
      'deployment.apps/web created\n',
    );
    expect(await ok(['create', 'job', 'hello', '--image=build/wasm/hello.wasm'])).toBe(
      'job.batch/hello created\n',
    );
    expect(await ok(['run', 'one', `--image=${TICKER}`])).toBe('pod/one created\n');
    expect(await ok(['wait', '--for=condition=Ready', 'pod/one', '--timeout=60s'])).toBe(
      'pod/one condition met\n',
    );
    expect(await ok(['wait', '--for=condition=Complete', 'job/hello', '--timeout=60s'])).toBe(
      'job.batch/hello condition met\n',
    );
    const names = await ok(['get', 'pods', '-l', 'app=web', '-o', 'name']);
    expect(names.trim().split('\n')).toHaveLength(2);
  });

  it('scales, reports rollout status, and waits on a jsonpath', async () => {
    expect(await ok(['scale', 'deployment', 'web', '--replicas=3'])).toBe('deployment.apps/web scaled\n');
    const status = await ok(['rollout', 'status', 'deployment/web', '--timeout=60s']);
    expect(status).toMatch(/deployment "web" successfully rolled out/);
    expect(
      await ok(['wait', '--for=jsonpath={.status.readyReplicas}=3', 'deployment/web', '--timeout=60s']),
    ).toBe('deployment.apps/web condition met\n');
    const d = await c.client.get(deployments, 'default', 'web');
    expect(d.spec.replicas).toBe(3);
  });

  it('cordons, uncordons and drains the node', async () => {
    expect(await ok(['cordon', 'node-a'])).toBe('node/node-a cordoned\n');
    expect(await ok(['get', 'node', 'node-a'])).toMatch(/node-a\s+Ready,SchedulingDisabled/);
    expect(await ok(['uncordon', 'node-a'])).toBe('node/node-a uncordoned\n');
    const drained = await ok(['drain', 'node-a', '--ignore-daemonsets', '--force', '--timeout=60s']);
    expect(drained).toMatch(/pod\/one evicted/);
    expect(drained).toMatch(/node\/node-a drained/);
    // `one` had no controller: gone. The Deployment's pods wait for a schedulable node.
    expect((await c.kubectl(['get', 'pod', 'one'])).code).toBe(1);
    await ok(['uncordon', 'node-a']);
    await ok(['rollout', 'status', 'deployment/web', '--timeout=60s']);
  });

  it('deletes with --cascade=orphan (dependents stay) and --cascade=foreground (dependents first)', async () => {
    const rs = kindFor('apps/v1', 'ReplicaSet')!;
    const podsBefore = (await c.client.list(pods, 'default', { labelSelector: 'app=web' })).items.map(
      (p: any) => p.metadata.name,
    );
    expect(podsBefore.length).toBe(3);
    expect(await ok(['delete', 'deployment', 'web', '--cascade=orphan'])).toBe(
      'deployment.apps "web" deleted\n',
    );
    // The ReplicaSet stays, without its owner; its pods stay as they were.
    await waitFor('the ReplicaSet orphaned', async () => {
      const l = await c.client.list(rs, 'default', { labelSelector: 'app=web' });
      return l.items.length === 1 && !l.items[0].metadata.ownerReferences?.length;
    });
    const podsAfter = (await c.client.list(pods, 'default', { labelSelector: 'app=web' })).items;
    expect(podsAfter.map((p: any) => p.metadata.name).sort()).toEqual([...podsBefore].sort());

    await ok(['create', 'deployment', 'fg', `--image=${TICKER}`, '--replicas=2']);
    await ok(['rollout', 'status', 'deployment/fg', '--timeout=60s']);
    expect(await ok(['delete', 'deployment', 'fg', '--cascade=foreground', '--timeout=60s'])).toBe(
      'deployment.apps "fg" deleted\n',
    );
    // kubectl waited until the Deployment was gone, which foreground deletion allows only after its
    // ReplicaSet, and the ReplicaSet only after its pods.
    expect((await c.client.list(pods, 'default', { labelSelector: 'app=fg' })).items).toEqual([]);
    expect((await c.client.list(rs, 'default', { labelSelector: 'app=fg' })).items).toEqual([]);
  });

  it('deletes pods with --now and --force, and waits for deletions', async () => {
    await ok(['run', 'brief', `--image=${TICKER}`]);
    await ok(['wait', '--for=condition=Ready', 'pod/brief', '--timeout=60s']);
    expect(await ok(['delete', 'pod', 'brief', '--now'])).toBe('pod "brief" deleted\n');
    expect((await c.kubectl(['get', 'pod', 'brief'])).stderr).toMatch(/NotFound/);
    await ok(['run', 'forced', `--image=${TICKER}`]);
    await ok(['wait', '--for=condition=Ready', 'pod/forced', '--timeout=60s']);
    const forced = await c.kubectl(['delete', 'pod', 'forced', '--grace-period=0', '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toBe('pod "forced" force deleted\n');
    expect(forced.stderr).toMatch(/Immediate deletion does not wait for confirmation/);
    // The orphaned ReplicaSet of the previous test goes, and its pods with it.
    await ok(['delete', 'rs', '-l', 'app=web']);
    await ok(['wait', '--for=delete', 'pods', '-l', 'app=web', '--timeout=60s']);
    expect((await c.client.list(pods, 'default', { labelSelector: 'app=web' })).items).toEqual([]);
  });

  it('refuses a client certificate from another CA with 401 (Unauthorized)', async () => {
    const other = await createCA('not-strata');
    const foreign = await issue(other, {
      commonName: 'admin',
      organizations: ['system:masters'],
      usage: 'client',
      days: 1,
    });
    const cfg = YAML.parse(await ok(['config', 'view', '--raw']));
    cfg.users[0].user = {
      'client-certificate-data': Buffer.from(foreign.cert).toString('base64'),
      'client-key-data': Buffer.from(foreign.key).toString('base64'),
    };
    const path = join(c.dir, 'foreign.kubeconfig');
    writeFileSync(path, YAML.stringify(cfg));
    const r = await c.kubectl(['--kubeconfig', path, 'get', 'pods']);
    expect(r.code).toBe(1);
    // kubectl words the 401 either way, depending on which of its requests meets it first.
    expect(r.stderr).toMatch(/You must be logged in to the server/);
  });

  it('answers a body nested thousands of levels deep with a 400, and stores nothing', async () => {
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const body = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":{},"x":${deep}}`;
    const file = join(c.dir, 'deep.json');
    writeFileSync(file, body);
    const r = await c.kubectl(['create', '--raw', '/api/v1/namespaces/default/configmaps', '-f', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nested more than 100 levels deep/);
    expect((await c.kubectl(['get', 'configmap', 'deep'])).code).toBe(1);
  });
});
