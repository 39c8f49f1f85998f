// Persistent volumes as the Kubernetes documentation shows them, with the real kubectl against `strata up`:
// a PersistentVolumeClaim of the default class (local-path, WaitForFirstConsumer) and a pod that mounts it.
// The data outlives the pod (deleted and created again, it reads back what it wrote), a claim larger than
// any node stays Pending with the reason, a ReadWriteOncePod claim keeps a second pod Pending, reclaim
// Delete removes the volume's file from the node, an expanded claim's filesystem is larger — on the
// container tier (busybox) and on the wasm tier (a WASI file tool).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountsUnder } from '../../src/agent/volumes/ext4-image.ts';
import { microvmUnavailable } from '../../src/sandbox/microvm/test-support.ts';
import { Cluster, fixture, waitFor, missingTools } from './harness.ts';

function missing(): string | undefined {
  return missingTools(
    ['runc', 'conmon', 'kubectl', 'mke2fs', 'resize2fs', 'losetup'],
    'local volumes (loop mounts) and the container tier need root',
  );
}
const why = missing();
if (why) console.warn(`skipping the storage e2e tests: ${why}`);

let c: Cluster;

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await c.kubectl(args, { input, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function apply(name: string, manifest: string): Promise<string> {
  const file = join(c.dir, `${name}.yaml`);
  writeFileSync(file, manifest);
  return kubectl(['apply', '-f', file]);
}

async function getJson(...args: string[]): Promise<any> {
  return JSON.parse(await kubectl(['get', ...args, '-o', 'json']));
}

async function podDone(name: string): Promise<any> {
  return waitFor(
    `pod ${name} finished`,
    async () => {
      const p = await getJson('pod', name);
      return ['Succeeded', 'Failed'].includes(p.status?.phase) && p;
    },
    120_000,
  );
}

async function deletePod(name: string): Promise<void> {
  await kubectl(['delete', 'pod', name, '--wait=true', '--timeout=60s']);
}

/** Where the node keeps a local-path volume (the `up` node's data dir is <dir>/data/agent). */
const volumeDir = (pvName: string) => join(c.dir, 'data', 'agent', 'volumes', pvName);

const claim = (name: string, storage: string, accessMode = 'ReadWriteOnce') => `apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: ${name}
spec:
  accessModes: [${accessMode}]
  resources:
    requests:
      storage: ${storage}
`;

/** A busybox pod that prints what the volume holds, appends a line, and prints the filesystem size. */
const containerPod = (name: string, claimName: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  runtimeClassName: container
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: localhost/busybox:1.0
      command: [sh, -c, 'cat /data/log 2>/dev/null; echo "written by $(hostname)" >> /data/log; df -k /data | tail -1']
      volumeMounts:
        - name: data
          mountPath: /data
  volumes:
    - name: data
      persistentVolumeClaim:
        claimName: ${claimName}
`;

const sleeper = (name: string, claimName: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  runtimeClassName: container
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: localhost/busybox:1.0
      command: [sleep, '3600']
      volumeMounts: [{ name: data, mountPath: /data }]
  volumes:
    - name: data
      persistentVolumeClaim: { claimName: ${claimName} }
`;

describe.skipIf(!!why)('persistent volumes end to end', { timeout: 300_000 }, () => {
  beforeAll(async () => {
    c = await new Cluster().up();
    await c.importTestImages('busybox');
  }, 300_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('has the default local-path StorageClass', async () => {
    const table = await kubectl(['get', 'storageclass']);
    expect(table).toMatch(
      /^NAME\s+PROVISIONER\s+RECLAIMPOLICY\s+VOLUMEBINDINGMODE\s+ALLOWVOLUMEEXPANSION\s+AGE/,
    );
    expect(table).toMatch(
      /^local-path \(default\)\s+strata\.dev\/local-path\s+Delete\s+WaitForFirstConsumer\s+true/m,
    );
  });

  it("keeps a pod's data when the pod is deleted and created again (container tier)", async () => {
    await apply('data', claim('data', '64Mi'));
    // WaitForFirstConsumer: nothing is provisioned before a pod uses the claim.
    expect((await getJson('pvc', 'data')).status.phase).toBe('Pending');
    expect((await getJson('pvc', 'data')).spec.storageClassName).toBe('local-path');
    await apply('writer', containerPod('writer', 'data'));
    const first = await podDone('writer');
    expect(first.status.phase).toBe('Succeeded');
    const pvc = await getJson('pvc', 'data');
    expect(pvc.status).toMatchObject({ phase: 'Bound', capacity: { storage: '64Mi' } });
    const pv = await getJson('pv', pvc.spec.volumeName);
    expect(pv.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values).toEqual(['node-a']);
    expect(existsSync(join(volumeDir(pv.metadata.name), 'disk.img'))).toBe(true);
    expect(await kubectl(['get', 'pvc', 'data'])).toMatch(
      /^data\s+Bound\s+pvc-\S+\s+64Mi\s+RWO\s+local-path/m,
    );
    const log1 = await kubectl(['logs', 'writer']);
    expect(log1).not.toContain('written by');
    await deletePod('writer');
    await apply('writer', containerPod('writer', 'data'));
    await podDone('writer');
    const log2 = await kubectl(['logs', 'writer']);
    expect(log2).toContain('written by writer');
    // The filesystem is the claim's size, not the node's: df sees ~64 MiB.
    const sizeKb = Number(log2.trim().split('\n').at(-1)!.trim().split(/\s+/)[1]);
    expect(sizeKb).toBeGreaterThan(40_000);
    expect(sizeKb).toBeLessThan(70_000);
    await deletePod('writer');
  });

  it.skipIf(!!microvmUnavailable())(
    'hands a microVM pod the claim as a disk (never loop-mounted beside it); a container pod reads its data after',
    async () => {
      await apply('vmdata', claim('vmdata', '64Mi'));
      await apply(
        'vm-writer',
        containerPod('vm-writer', 'vmdata').replace(
          'runtimeClassName: container',
          'runtimeClassName: microvm',
        ),
      );
      const vm = await podDone('vm-writer');
      expect(vm.status.phase, JSON.stringify(vm.status)).toBe('Succeeded');
      await apply('ctr-reader', containerPod('ctr-reader', 'vmdata'));
      await podDone('ctr-reader');
      expect(await kubectl(['logs', 'ctr-reader'])).toContain('written by vm-writer');
      await deletePod('vm-writer');
      await deletePod('ctr-reader');
    },
  );

  it('grows the filesystem of an expanded claim', async () => {
    const before = await getJson('pvc', 'data');
    await kubectl(['patch', 'pvc', 'data', '-p', '{"spec":{"resources":{"requests":{"storage":"128Mi"}}}}']);
    await waitFor(
      'claim capacity 128Mi',
      async () => (await getJson('pvc', 'data')).status.capacity?.storage === '128Mi',
      60_000,
    );
    expect((await getJson('pv', before.spec.volumeName)).spec.capacity.storage).toBe('128Mi');
    await apply('writer', containerPod('writer', 'data'));
    await podDone('writer');
    const log = await kubectl(['logs', 'writer']);
    const sizeKb = Number(log.trim().split('\n').at(-1)!.trim().split(/\s+/)[1]);
    expect(sizeKb).toBeGreaterThan(100_000);
    expect(log).toContain('written by writer'); // the data came along
    await deletePod('writer');
    // Shrinking is refused with the field named, and changes nothing.
    const shrink = await c.kubectl([
      'patch',
      'pvc',
      'data',
      '-p',
      '{"spec":{"resources":{"requests":{"storage":"32Mi"}}}}',
    ]);
    expect(shrink.code).not.toBe(0);
    expect(shrink.stderr).toContain(
      'spec.resources.requests.storage: Forbidden: field can not be less than previous value',
    );
  });

  it('removes the volume file when the claim goes (reclaim Delete)', async () => {
    const pvName = (await getJson('pvc', 'data')).spec.volumeName;
    expect(existsSync(volumeDir(pvName))).toBe(true);
    await kubectl(['delete', 'pvc', 'data', '--wait=true', '--timeout=60s']);
    await waitFor(
      'PV deleted',
      async () => !(await getJson('pv')).items.some((p: any) => p.metadata.name === pvName),
      60_000,
    );
    await waitFor('volume file removed from the node', async () => !existsSync(volumeDir(pvName)), 60_000);
  });

  it('keeps a pod whose claim is larger than any node Pending, with the reason', async () => {
    await apply('huge', claim('huge', '100Ti') + '---\n' + sleeper('huge-user', 'huge'));
    const pod = await waitFor(
      'huge-user unschedulable',
      async () => {
        const p = await getJson('pod', 'huge-user');
        const cond = p.status?.conditions?.find((x: any) => x.type === 'PodScheduled');
        return cond?.status === 'False' && p;
      },
      60_000,
    );
    const cond = pod.status.conditions.find((x: any) => x.type === 'PodScheduled');
    expect(cond).toMatchObject({ reason: 'Unschedulable' });
    expect(cond.message).toContain('did not have enough free storage');
    const events = await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=huge-user']);
    expect(events).toMatch(/FailedScheduling.*did not have enough free storage/);
    expect((await getJson('pvc', 'huge')).status.phase).toBe('Pending');
    await kubectl(['delete', 'pod', 'huge-user', '--wait=true']);
    await kubectl(['delete', 'pvc', 'huge', '--wait=true']);
  });

  it('keeps a second pod of a ReadWriteOncePod claim Pending, with the reason', async () => {
    await apply('solo', claim('solo', '16Mi', 'ReadWriteOncePod') + '---\n' + sleeper('solo-1', 'solo'));
    await waitFor(
      'solo-1 running',
      async () => (await getJson('pod', 'solo-1')).status?.phase === 'Running',
      120_000,
    );
    await apply('solo-2', sleeper('solo-2', 'solo'));
    const msg = await waitFor(
      'solo-2 unschedulable',
      async () => {
        const cond = (await getJson('pod', 'solo-2')).status?.conditions?.find(
          (x: any) => x.type === 'PodScheduled',
        );
        return cond?.status === 'False' && cond.message;
      },
      60_000,
    );
    expect(msg).toContain('ReadWriteOncePod');
    expect((await getJson('pod', 'solo-2')).spec.nodeName).toBeUndefined();
    // The claim cannot go while solo-1 uses it (pvc-protection); once the pods go, it does.
    await kubectl(['delete', 'pvc', 'solo', '--wait=false']);
    const held = await getJson('pvc', 'solo');
    expect(held.metadata.finalizers).toContain('kubernetes.io/pvc-protection');
    await kubectl(['delete', 'pod', 'solo-1', 'solo-2', '--wait=true', '--timeout=60s']);
    await waitFor(
      'claim solo gone',
      async () => !(await getJson('pvc')).items.some((p: any) => p.metadata.name === 'solo'),
      60_000,
    );
  });

  it('gives wasm pods the same volumes (preopened), data kept across pods', async () => {
    const tool = fixture('fs-tool');
    const wasmPod = (name: string, args: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  runtimeClassName: wasm
  restartPolicy: Never
  containers:
    - name: main
      image: ${tool}
      args: [${args}]
      volumeMounts: [{ name: notes, mountPath: /notes }]
  volumes:
    - name: notes
      persistentVolumeClaim: { claimName: notes }
`;
    await apply(
      'notes',
      claim('notes', '16Mi') + '---\n' + wasmPod('wasm-writer', 'write, /notes/hello.txt, from-wasm'),
    );
    const w = await podDone('wasm-writer');
    expect(w.status.phase, await kubectl(['logs', 'wasm-writer'])).toBe('Succeeded');
    expect((await getJson('pvc', 'notes')).status.phase).toBe('Bound');
    await apply('wasm-reader', wasmPod('wasm-reader', 'cat, /notes/hello.txt'));
    await podDone('wasm-reader');
    expect(await kubectl(['logs', 'wasm-reader'])).toContain('CONTENT /notes/hello.txt: from-wasm');
    await kubectl(['delete', 'pod', 'wasm-writer', 'wasm-reader', '--wait=true']);
  });

  it('makes and removes a generic ephemeral volume with its pod', async () => {
    await apply(
      'eph',
      `apiVersion: v1
kind: Pod
metadata:
  name: eph
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: app
      image: localhost/busybox:1.0
      command: [sh, -c, 'echo scratch > /scratch/f && cat /scratch/f']
      volumeMounts: [{ name: scratch, mountPath: /scratch }]
  volumes:
    - name: scratch
      ephemeral:
        volumeClaimTemplate:
          spec:
            accessModes: [ReadWriteOnce]
            resources: { requests: { storage: 16Mi } }
`,
    );
    const p = await podDone('eph');
    expect(p.status.phase).toBe('Succeeded');
    const pvc = await getJson('pvc', 'eph-scratch');
    expect(pvc.metadata.ownerReferences[0]).toMatchObject({ kind: 'Pod', name: 'eph', controller: true });
    await kubectl(['delete', 'pod', 'eph', '--wait=true']);
    await waitFor(
      'ephemeral claim collected',
      async () => !(await getJson('pvc')).items.some((x: any) => x.metadata.name === 'eph-scratch'),
      60_000,
    );
  });
});

// A separate agent process, killed (-9) and started again: the volume, its data and its mount outlive it.
describe.skipIf(!!why)('persistent volumes across an agent restart', { timeout: 300_000 }, () => {
  let r: Cluster;
  const tool = () => fixture('fs-tool');
  const pod = (name: string, args: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  runtimeClassName: wasm
  restartPolicy: Never
  containers:
    - name: main
      image: ${tool()}
      args: [${args}]
      volumeMounts: [{ name: data, mountPath: /data }]
  volumes:
    - name: data
      persistentVolumeClaim: { claimName: kept }
`;
  const run = async (name: string, manifest: string) => {
    const file = join(r.dir, `${name}.yaml`);
    writeFileSync(file, manifest);
    const applied = await r.kubectl(['apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    return waitFor(
      `${name} finished`,
      async () => {
        const p = JSON.parse((await r.kubectl(['get', 'pod', name, '-o', 'json'])).stdout);
        return ['Succeeded', 'Failed'].includes(p.status?.phase) && p;
      },
      120_000,
    );
  };

  beforeAll(async () => {
    r = await new Cluster().serverOnly();
    await r.addAgent('node-v');
  }, 120_000);
  afterAll(async () => {
    if (!r) return;
    // Pods and the claim go through the API, so the node unmounts and removes the volume before the cluster does.
    await r.kubectl(['delete', 'pods', '--all', '--wait=true']);
    await r.kubectl(['delete', 'pvc', '--all', '--wait=true']);
    const volumes = join(r.agentDir('node-v'), 'volumes');
    await waitFor(
      'volumes removed',
      async () => !existsSync(volumes) || readdirSync(volumes).length === 0,
      60_000,
    ).catch(() => undefined);
    for (const point of mountsUnder(r.dir).keys()) execFileSync('umount', ['-l', point]);
    await r.stop();
  });

  it('keeps the volume and its data when the agent is killed and started again', async () => {
    const claimFile = join(r.dir, 'kept.yaml');
    writeFileSync(
      claimFile,
      `apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: kept }
spec:
  accessModes: [ReadWriteOnce]
  resources: { requests: { storage: 16Mi } }
`,
    );
    expect((await r.kubectl(['apply', '-f', claimFile])).code).toBe(0);
    const w = await run('before', pod('before', 'write, /data/note, before-restart'));
    expect(w.status.phase).toBe('Succeeded');
    const pvName = JSON.parse((await r.kubectl(['get', 'pvc', 'kept', '-o', 'json'])).stdout).spec.volumeName;
    const image = join(r.agentDir('node-v'), 'volumes', pvName, 'disk.img');
    expect(existsSync(image)).toBe(true);
    await r.killAgent('node-v');
    await r.restartAgent('node-v');
    const after = await run('after', pod('after', 'cat, /data/note'));
    expect(after.status.phase).toBe('Succeeded');
    expect((await r.kubectl(['logs', 'after'])).stdout).toContain('CONTENT /data/note: before-restart');
    expect(existsSync(image)).toBe(true);
  });
});
