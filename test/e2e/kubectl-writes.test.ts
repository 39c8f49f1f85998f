// The real kubectl (1.32) writing to a Strata cluster: client-side apply (three-way strategic merge
// patches), label/annotate/set image/patch/edit, server-side apply with conflicts and
// --force-conflicts, --dry-run=server, and --validate=strict|warn (fieldValidation).
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { Cluster, wasm } from './harness.ts';

const deployments = kindFor('apps/v1', 'Deployment')!;
const configmaps = kindFor('v1', 'ConfigMap')!;
let c: Cluster;
const kubectl = (args: string[], input?: string) =>
  c.kubectl(['--cache-dir', join(c.dir, 'kube-cache'), ...args], { input });

const deployment = (image: string, containers = ['main', 'side'], strategy = '') => `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: writes
spec:
  replicas: 1
  selector:
    matchLabels: {app: writes}
${strategy}
  template:
    metadata:
      labels: {app: writes}
    spec:
      containers:
${containers.map((n) => `      - name: ${n}\n        image: ${n === 'main' ? image : wasm('ticker')}`).join('\n')}
`;

const configMap = (name: string, data: Record<string, string>, extra = '') => `
apiVersion: v1
kind: ConfigMap
metadata:
  name: ${name}
${extra}
data:
${Object.entries(data)
  .map(([k, v]) => `  ${k}: "${v}"`)
  .join('\n')}
`;

const getDeploy = () => c.client.get(deployments, 'default', 'writes') as Promise<any>;
const getCm = (name: string) => c.client.get(configmaps, 'default', name) as Promise<any>;

beforeAll(async () => {
  c = await new Cluster().up(['--runtimes', 'wasm']);
});
afterAll(async () => {
  await c?.stop();
});

describe('kubectl writes against Strata', () => {
  it('client-side apply: create, change an image, drop a container, switch strategy, unchanged', async () => {
    const created = await kubectl(['apply', '-f', '-'], deployment(wasm('ticker')));
    expect(created.stderr).toBe('');
    expect(created.stdout).toContain('deployment.apps/writes created');

    const changed = await kubectl(
      ['apply', '-f', '-'],
      deployment(wasm('hello'), ['main'], '  strategy:\n    type: Recreate'),
    );
    expect(changed.stderr).toBe('');
    expect(changed.stdout).toContain('deployment.apps/writes configured');
    const d = await getDeploy();
    expect(d.spec.template.spec.containers.map((x: any) => `${x.name}=${x.image}`)).toEqual([
      `main=${wasm('hello')}`,
    ]);
    // $retainKeys: the defaulted rollingUpdate goes away with the switch to Recreate.
    expect(d.spec.strategy).toEqual({ type: 'Recreate' });
    expect(d.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain('Recreate');
    expect(d.metadata.managedFields.map((m: any) => m.manager)).toContain('kubectl-client-side-apply');

    const again = await kubectl(
      ['apply', '-f', '-'],
      deployment(wasm('hello'), ['main'], '  strategy:\n    type: Recreate'),
    );
    expect(again.stdout).toContain('deployment.apps/writes unchanged');
  });

  it('label, annotate, set image and patch (strategic, merge, json)', async () => {
    expect((await kubectl(['label', 'deployment', 'writes', 'tier=front'])).stdout).toContain('labeled');
    expect((await kubectl(['annotate', 'deployment', 'writes', 'note=hello'])).stdout).toContain('annotated');
    let d = await getDeploy();
    expect(d.metadata.labels).toMatchObject({ tier: 'front' });
    expect(d.metadata.annotations).toMatchObject({ note: 'hello' });
    expect((await kubectl(['label', 'deployment', 'writes', 'tier-'])).stdout).toContain('unlabeled');
    d = await getDeploy();
    expect(d.metadata.labels?.tier).toBeUndefined();

    const set = await kubectl(['set', 'image', 'deployment/writes', `main=${wasm('ticker')}`]);
    expect(set.stderr).toBe('');
    expect(set.stdout).toContain('image updated');
    expect((await getDeploy()).spec.template.spec.containers[0].image).toBe(wasm('ticker'));

    const smp = await kubectl(['patch', 'deployment', 'writes', '-p', '{"spec":{"minReadySeconds":3}}']);
    expect(smp.stdout).toContain('patched');
    const merge = await kubectl([
      'patch',
      'deployment',
      'writes',
      '--type=merge',
      '-p',
      '{"spec":{"revisionHistoryLimit":4}}',
    ]);
    expect(merge.stdout).toContain('patched');
    const json = await kubectl([
      'patch',
      'deployment',
      'writes',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/spec/replicas","value":2}]',
    ]);
    expect(json.stdout).toContain('patched');
    d = await getDeploy();
    expect([d.spec.minReadySeconds, d.spec.revisionHistoryLimit, d.spec.replicas]).toEqual([3, 4, 2]);

    const failing = await kubectl([
      'patch',
      'deployment',
      'writes',
      '--type=json',
      '-p',
      '[{"op":"test","path":"/spec/replicas","value":9}]',
    ]);
    expect(failing.code).not.toBe(0);
    expect(failing.stderr).toMatch(
      /The request is invalid: patch: JSON patch operation 0 \(test \/spec\/replicas\): Test operation failed/,
    );
    const bogus = await kubectl(['patch', 'deployment', 'writes', '-p', '{"spec":{"$patch":"frobnicate"}}']);
    expect(bogus.code).not.toBe(0);
    expect(bogus.stderr).toMatch(/frobnicate/);
  });

  it('edit sends a patch with the edited fields', async () => {
    const editor = join(c.dir, 'editor.sh');
    writeFileSync(editor, `#!/bin/sh\nsed -i 's/minReadySeconds: 3/minReadySeconds: 5/' "$1"\n`);
    chmodSync(editor, 0o755);
    const saved = process.env.KUBE_EDITOR;
    process.env.KUBE_EDITOR = editor;
    try {
      const r = await kubectl(['edit', 'deployment', 'writes']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('deployment.apps/writes edited');
    } finally {
      if (saved === undefined) delete process.env.KUBE_EDITOR;
      else process.env.KUBE_EDITOR = saved;
    }
    const d = await getDeploy();
    expect(d.spec.minReadySeconds).toBe(5);
    expect(d.metadata.managedFields.map((m: any) => m.manager)).toContain('kubectl-edit');
  });

  it('server-side apply: create, conflict with another manager, --force-conflicts, remove a field', async () => {
    const first = await kubectl(['apply', '--server-side', '-f', '-'], configMap('ssa', { a: '1', b: '2' }));
    expect(first.stderr).toBe('');
    expect(first.stdout).toContain('configmap/ssa serverside-applied');

    const conflict = await kubectl(
      ['apply', '--server-side', '--field-manager=other', '-f', '-'],
      configMap('ssa', { a: 'changed' }),
    );
    expect(conflict.code).not.toBe(0);
    expect(conflict.stderr).toMatch(/Apply failed with 1 conflict: conflict with "kubectl": \.data\.a/);
    expect((await getCm('ssa')).data).toEqual({ a: '1', b: '2' });

    const forced = await kubectl(
      ['apply', '--server-side', '--field-manager=other', '--force-conflicts', '-f', '-'],
      configMap('ssa', { a: 'changed' }),
    );
    expect(forced.stdout).toContain('serverside-applied');
    expect((await getCm('ssa')).data).toEqual({ a: 'changed', b: '2' });

    // kubectl no longer owns a (other took it) and now drops b: b goes, a stays.
    const dropped = await kubectl(['apply', '--server-side', '-f', '-'], configMap('ssa', { c: '3' }));
    expect(dropped.stdout).toContain('serverside-applied');
    expect((await getCm('ssa')).data).toEqual({ a: 'changed', c: '3' });
  });

  it('server-side apply of a Deployment: change the image of the client-side applied one', async () => {
    const r = await kubectl(
      ['apply', '--server-side', '--force-conflicts', '-f', '-'],
      deployment(wasm('hello'), ['main'], '  strategy:\n    type: Recreate'),
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('deployment.apps/writes serverside-applied');
    expect((await getDeploy()).spec.template.spec.containers[0].image).toBe(wasm('hello'));
  });

  it('--dry-run=server creates, changes and deletes nothing', async () => {
    const create = await kubectl(
      ['create', '--dry-run=server', '-o', 'yaml', '-f', '-'],
      configMap('dry', { a: '1' }),
    );
    expect(create.code).toBe(0);
    expect(create.stdout).toContain('name: dry');
    expect(await c.client.find(configmaps, 'default', 'dry')).toBeUndefined();

    const apply = await kubectl(['apply', '--dry-run=server', '-f', '-'], configMap('ssa', { a: 'dry' }));
    expect(apply.stdout).toContain('(server dry run)');
    const del = await kubectl(['delete', 'configmap', 'ssa', '--dry-run=server']);
    expect(del.stdout).toContain('(server dry run)');
    expect((await getCm('ssa')).data).toEqual({ a: 'changed', c: '3' });
  });

  it('--validate=strict refuses unknown fields, --validate=warn drops them with a warning', async () => {
    const manifest = configMap('validated', { a: '1' }).replace('\ndata:', '\nbogus: 1\ndata:');
    const strict = await kubectl(['apply', '--validate=strict', '-f', '-'], manifest);
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toMatch(/bogus/);
    expect(await c.client.find(configmaps, 'default', 'validated')).toBeUndefined();

    const warn = await kubectl(['apply', '--validate=warn', '-f', '-'], manifest);
    expect(warn.code).toBe(0);
    expect(warn.stderr).toMatch(/Warning: unknown field "bogus"/);
    const stored = await getCm('validated');
    expect(stored.data).toEqual({ a: '1' });
    expect(stored.bogus).toBeUndefined();
  });
});
