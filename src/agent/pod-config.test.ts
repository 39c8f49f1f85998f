import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mountsFor, prepareVolumes, resolveEnv } from './pod-config.ts';
import { withPodSecurity } from './pod-worker.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pod-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Reads the ConfigMaps and Secrets a test declares, as the API would answer. */
const client: any = {
  find: async (kind: any, _ns: string, name: string) => {
    if (kind.kind === 'ConfigMap' && name === 'app-config') return { data: { 'app.conf': 'mode=fast\n' } };
    if (kind.kind === 'Secret' && name === 'creds')
      return { data: { user: Buffer.from('admin').toString('base64') } };
    return undefined;
  },
};

function pod(spec: Record<string, unknown>): any {
  return {
    metadata: {
      name: 'web-0',
      namespace: 'prod',
      uid: 'u-1',
      labels: { app: 'web', tier: 'front' },
      annotations: { build: '42' },
    },
    spec: {
      nodeName: 'node-a',
      serviceAccountName: 'default',
      containers: [{ name: 'app', image: 'x', resources: { limits: { cpu: '500m', memory: '64Mi' } } }],
      ...spec,
    },
    status: { hostIP: '192.0.2.1' },
  };
}

describe('the downward API', () => {
  it('env: fieldRef and resourceFieldRef, and $(VAR) references to earlier variables', async () => {
    const p = pod({});
    const c = {
      name: 'app',
      env: [
        { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
        { name: 'TIER', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
        { name: 'BUILD', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['build']" } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
        { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        { name: 'CPU_M', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1m' } } },
        { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'WHERE', value: '$(POD).$(NS) $$(POD) $(NOPE)' },
      ],
    };
    expect(await resolveEnv(client, p, c, '10.1.2.3')).toEqual({
      POD: 'web-0',
      NS: 'prod',
      UID: 'u-1',
      TIER: 'front',
      BUILD: '42',
      NODE: 'node-a',
      SA: 'default',
      HOST_IP: '192.0.2.1',
      POD_IP: '10.1.2.3',
      CPU: '1',
      CPU_M: '500',
      MEM_MI: '64',
      WHERE: 'web-0.prod $(POD) $(NOPE)',
    });
  });

  it('downwardAPI and projected volumes: files in the kubelet formats, read-only', async () => {
    const p = pod({
      volumes: [
        {
          name: 'podinfo',
          downwardAPI: {
            defaultMode: 0o644,
            items: [
              { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
              { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
              {
                path: 'cpu_limit',
                resourceFieldRef: { containerName: 'app', resource: 'limits.cpu', divisor: '1m' },
              },
            ],
          },
        },
        {
          name: 'all-in-one',
          projected: {
            defaultMode: 0o644,
            sources: [
              { configMap: { name: 'app-config' } },
              { secret: { name: 'creds', items: [{ key: 'user', path: 'secret/user' }] } },
              { downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
            ],
          },
        },
      ],
    });
    const dirs = await prepareVolumes(client, p, dir);
    const info = dirs.get('podinfo')!;
    expect(readFileSync(join(info, 'labels'), 'utf8')).toBe('app="web"\ntier="front"');
    expect(readFileSync(join(info, 'annotations'), 'utf8')).toBe('build="42"');
    expect(readFileSync(join(info, 'cpu_limit'), 'utf8')).toBe('500');
    const all = dirs.get('all-in-one')!;
    expect(readFileSync(join(all, 'app.conf'), 'utf8')).toBe('mode=fast\n');
    expect(readFileSync(join(all, 'secret/user'), 'utf8')).toBe('admin');
    expect(readFileSync(join(all, 'name'), 'utf8')).toBe('web-0');
    const mounts = mountsFor(p, { volumeMounts: [{ name: 'podinfo', mountPath: '/etc/podinfo' }] }, dirs);
    expect(mounts[0].readOnly).toBe(true);
  });
});

describe('hostPath volumes', () => {
  it('checks the declared type; the *OrCreate types create; a mismatch is a clear config error', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const made = join(dir, 'made/deep');
    const p = pod({
      volumes: [
        { name: 'd', hostPath: { path: made, type: 'DirectoryOrCreate' } },
        { name: 'f', hostPath: { path: join(dir, 'new-file'), type: 'FileOrCreate' } },
        { name: 'any', hostPath: { path: join(dir, 'whatever') } },
      ],
    });
    const dirs = await prepareVolumes(client, p, join(dir, 'pod'));
    expect(dirs.get('d')).toBe(made);
    expect(statSync(made).isDirectory()).toBe(true);
    expect(statSync(join(dir, 'new-file')).isFile()).toBe(true);
    const m = mountsFor(p, { volumeMounts: [{ name: 'd', mountPath: '/data' }] }, dirs);
    expect(m[0]).toEqual({ hostPath: made, guestPath: '/data', readOnly: false });

    const notDir = pod({ volumes: [{ name: 'logs', hostPath: { path: file, type: 'Directory' } }] });
    await expect(prepareVolumes(client, notDir, join(dir, 'pod2'))).rejects.toMatchObject({
      reason: 'CreateContainerConfigError',
      message: `hostPath volume logs: type check failed: ${file} is not a directory`,
    });
    mkdirSync(join(dir, 'adir'));
    const notFile = pod({ volumes: [{ name: 'cfg', hostPath: { path: join(dir, 'adir'), type: 'File' } }] });
    await expect(prepareVolumes(client, notFile, join(dir, 'pod3'))).rejects.toThrow(/is not a file/);
    const missing = pod({
      volumes: [{ name: 'm', hostPath: { path: join(dir, 'nope'), type: 'Directory' } }],
    });
    await expect(prepareVolumes(client, missing, join(dir, 'pod4'))).rejects.toThrow(/does not exist/);
  });
});

describe('pod-level securityContext', () => {
  it.skipIf(process.getuid?.() !== 0)('fsGroup owns emptyDir volumes (setgid)', async () => {
    const p = pod({ securityContext: { fsGroup: 2000 }, volumes: [{ name: 'scratch', emptyDir: {} }] });
    const dirs = await prepareVolumes(client, p, dir);
    const st = statSync(dirs.get('scratch')!);
    expect(st.gid).toBe(2000);
    expect(st.mode & 0o7777).toBe(0o2777);
  });

  it('applies under the container’s own; fsGroup joins the supplemental groups', () => {
    const c = withPodSecurity(
      {
        securityContext: {
          runAsUser: 1000,
          runAsGroup: 3000,
          runAsNonRoot: true,
          fsGroup: 2000,
          supplementalGroups: [4000],
        },
      },
      { name: 'app', image: 'x', securityContext: { runAsUser: 1001 } } as any,
    );
    expect(c.securityContext).toEqual({
      runAsUser: 1001,
      runAsGroup: 3000,
      runAsNonRoot: true,
      supplementalGroups: [4000, 2000],
    });
  });
});

describe('imagePullSecrets', () => {
  it('docker config JSON Secrets become registry credentials by host', async () => {
    const dockerconfig = {
      auths: {
        'registry.example:5000': { username: 'alice', password: 's3cret' },
        'https://index.docker.io/v1/': { auth: Buffer.from('bob:pa:ss').toString('base64') },
      },
    };
    const secrets: Record<string, any> = {
      regcred: {
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': Buffer.from(JSON.stringify(dockerconfig)).toString('base64') },
      },
    };
    const c: any = { find: async (_k: any, _ns: string, name: string) => secrets[name] };
    const { pullCredentials } = await import('./pod-config.ts');
    const p = pod({ imagePullSecrets: [{ name: 'missing' }, { name: 'regcred' }] });
    expect(await pullCredentials(c, p)).toEqual({
      'registry.example:5000': { username: 'alice', password: 's3cret' },
      'docker.io': { username: 'bob', password: 'pa:ss' },
    });
  });
});
