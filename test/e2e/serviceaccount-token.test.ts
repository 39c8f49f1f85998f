// Workload identity end to end: a container pod finds its projected service-account token, the cluster CA
// and its namespace under /var/run/secrets/kubernetes.io/serviceaccount, and calls the API with them from
// its own network namespace through the `kubernetes` Service, over TLS verified with that CA — authenticated
// as system:serviceaccount:default:default, allowed exactly what RBAC grants it; deleting the pod revokes
// the token. `kubectl create token` and the issuer's discovery document work too.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { Cluster, fixture, waitFor } from './harness.ts';
import { networkNames } from '../../src/net/network-names.ts';
import { which } from '../../src/lib/command.ts';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

function missing(): string | undefined {
  if (process.getuid?.() !== 0) return 'container pods need root';
  for (const bin of ['runc', 'conmon', 'nft', 'curl', 'kubectl'])
    if (!which(bin)) return `${bin} is not installed`;
  return undefined;
}
const why = missing();
if (why) console.warn(`skipping the service-account token e2e tests: ${why}`);

let c: Cluster;

/** curl from inside the pod's network namespace (busybox's TLS cannot talk to OpenSSL 3 servers). */
function curlFromPod(podUid: string, args: string[]): { status: number; body: string; stderr: string } {
  const netns = `${networkNames(c.podBridge).netnsPrefix}${podUid}`;
  const r = spawnSync(
    'ip',
    ['netns', 'exec', netns, 'curl', '-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args],
    { encoding: 'utf8' },
  );
  const lines = r.stdout.trimEnd().split('\n');
  return { status: Number(lines.pop()), body: lines.join('\n'), stderr: r.stderr };
}

describe.skipIf(!!why)('service-account tokens end to end', () => {
  beforeAll(async () => {
    c = await new Cluster().up();
    await c.importTestImages('busybox');
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('a container pod calls the API over the kubernetes Service with its projected token, as its service account', async () => {
    const file = join(c.dir, 'sa-client.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: { name: sa-client }
spec:
  runtimeClassName: container
  terminationGracePeriodSeconds: 0
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, 'exec sleep 3600']
`,
    );
    const applied = await c.kubectl(['apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    const waited = await c.kubectl(['wait', '--for=condition=Ready', 'pod/sa-client', '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    expect(waited.code, waited.stderr).toBe(0);
    const pod = JSON.parse((await c.kubectl(['get', 'pod', 'sa-client', '-o', 'json'])).stdout);
    expect(pod.spec.serviceAccountName).toBe('default');
    const vol = pod.spec.volumes.find((v: any) => v.name.startsWith('kube-api-access-'));
    expect(pod.spec.containers[0].volumeMounts).toContainEqual({
      name: vol.name,
      readOnly: true,
      mountPath: SA_DIR,
    });

    // What the pod sees: the three files, read-only.
    const cat = async (f: string) => {
      const r = await c.kubectl(['exec', 'sa-client', '--', 'cat', `${SA_DIR}/${f}`]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    const token = (await cat('token')).trim();
    const ca = await cat('ca.crt');
    expect(await cat('namespace')).toBe('default');
    expect(ca).toBe(c.ca);
    const claims = decodeJwt(token);
    expect(claims.sub).toBe('system:serviceaccount:default:default');
    expect((claims['kubernetes.io'] as any).pod).toEqual({ name: 'sa-client', uid: pod.metadata.uid });
    expect(claims.exp! - claims.iat!).toBe(3607);
    const write = await c.kubectl(['exec', 'sa-client', '--', 'sh', '-c', `echo x > ${SA_DIR}/token`]);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/Read-only file system/);

    // From the pod's network namespace, through the Service, TLS verified with the pod's ca.crt.
    const caFile = join(c.dir, 'pod-ca.crt');
    writeFileSync(caFile, ca);
    const ip = JSON.parse((await c.kubectl(['get', 'svc', 'kubernetes', '-o', 'json'])).stdout).spec
      .clusterIP;
    const api = (path: string, method = 'GET', body?: string) =>
      curlFromPod(pod.metadata.uid, [
        '--cacert',
        caFile,
        '--resolve',
        `kubernetes.default.svc:443:${ip}`,
        '-X',
        method,
        '-H',
        `Authorization: Bearer ${token}`,
        ...(body ? ['-H', 'Content-Type: application/json', '-d', body] : []),
        `https://kubernetes.default.svc${path}`,
      ]);
    // The node programs the Service's kernel rules on its own schedule: wait until a connection gets through.
    const whoami = await waitFor('the kubernetes Service to answer from the pod', () => {
      const r = api(
        '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        'POST',
        '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}',
      );
      return r.status !== 0 && r;
    });
    expect(whoami.status, whoami.stderr + whoami.body).toBe(201);
    const user = JSON.parse(whoami.body).status.userInfo;
    expect(user).toMatchObject({
      username: 'system:serviceaccount:default:default',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'],
      extra: { 'authentication.kubernetes.io/pod-name': ['sa-client'] },
    });

    // Exactly its role: nothing until a RoleBinding grants it, then listing pods in its namespace works.
    const before = api('/api/v1/namespaces/default/pods');
    expect(before.status, before.body).toBe(403);
    expect(JSON.parse(before.body)).toMatchObject({ kind: 'Status', reason: 'Forbidden' });
    const bound = await c.kubectl([
      'create',
      'rolebinding',
      'sa-view',
      '--clusterrole=view',
      '--serviceaccount=default:default',
    ]);
    expect(bound.code, bound.stderr).toBe(0);
    const listed = await waitFor('the RoleBinding to take effect', () => {
      const r = api('/api/v1/namespaces/default/pods');
      return r.status === 200 && r;
    });
    expect(JSON.parse(listed.body).items.map((p: any) => p.metadata.name)).toContain('sa-client');
    // Still nothing in another namespace, and no secrets (view does not read them).
    expect(api('/api/v1/namespaces/kube-system/pods').status).toBe(403);
    expect(api('/api/v1/namespaces/default/secrets').status).toBe(403);

    // Deleting the pod revokes its token (checked from the host: the pod's network is gone).
    const deleted = await c.kubectl(['delete', 'pod', 'sa-client', '--wait=true', '--timeout=60s'], {
      timeoutMs: 70_000,
    });
    expect(deleted.code, deleted.stderr).toBe(0);
    const serverCa = join(c.dir, 'server-ca.crt');
    writeFileSync(serverCa, c.ca);
    const after = spawnSync(
      'curl',
      [
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--cacert',
        serverCa,
        '-H',
        `Authorization: Bearer ${token}`,
        `${c.server}/api/v1/namespaces/default/pods`,
      ],
      { encoding: 'utf8' },
    );
    expect(after.stdout).toBe('401');
  });

  it('a wasm pod gets the same directory as a preopen: its token, CA and namespace, read-only', async () => {
    const file = join(c.dir, 'wasm-reader.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: { name: wasm-reader }
spec:
  runtimeClassName: wasm
  restartPolicy: Never
  containers:
    - name: main
      image: ${fixture('fs-tool')}
      args: [cat, ${SA_DIR}/namespace, ',', cat, ${SA_DIR}/token, ',', ls, ${SA_DIR}, ',', write, ${SA_DIR}/token, x]
`,
    );
    const applied = await c.kubectl(['apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    await waitFor('wasm-reader finished', async () => {
      const p = JSON.parse((await c.kubectl(['get', 'pod', 'wasm-reader', '-o', 'json'])).stdout);
      return ['Succeeded', 'Failed'].includes(p.status?.phase) && p;
    });
    const logs = (await c.kubectl(['logs', 'wasm-reader'])).stdout;
    expect(logs).toContain(`CONTENT ${SA_DIR}/namespace: default`);
    const token = new RegExp(`CONTENT ${SA_DIR}/token: (\\S+)`).exec(logs)?.[1] ?? '';
    expect(decodeJwt(token).sub).toBe('system:serviceaccount:default:default');
    expect(logs).toMatch(/ca\.crt/);
    // Read-only: the one failed operation is the write.
    expect(logs).toMatch(new RegExp(`ERR write ${SA_DIR}/token`));
  });

  it('kubectl create token: a token for the API authenticates as the account, one for another audience does not', async () => {
    const made = await c.kubectl(['create', 'token', 'default', '--duration', '10m']);
    expect(made.code, made.stderr).toBe(0);
    const token = made.stdout.trim();
    const caFile = join(c.dir, 'server-ca.crt');
    writeFileSync(caFile, c.ca);
    const asToken = (t: string) =>
      spawnSync(
        'kubectl',
        [
          '--kubeconfig',
          '/dev/null',
          '--server',
          c.server,
          '--certificate-authority',
          caFile,
          '--token',
          t,
          'auth',
          'whoami',
          '-o',
          'json',
        ],
        { encoding: 'utf8' },
      );
    const me = asToken(token);
    expect(me.status, me.stderr).toBe(0);
    expect(JSON.parse(me.stdout).status.userInfo.username).toBe('system:serviceaccount:default:default');

    const vault = await c.kubectl(['create', 'token', 'default', '--audience', 'vault']);
    expect(vault.code, vault.stderr).toBe(0);
    expect(decodeJwt(vault.stdout.trim()).aud).toEqual(['vault']);
    const refused = asToken(vault.stdout.trim());
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/Unauthorized|must be logged in/);

    const short = await c.kubectl(['create', 'token', 'default', '--duration', '1m']);
    expect(short.code).not.toBe(0);
    expect(short.stderr).toMatch(/expirationSeconds|10 minutes/);
  });

  it('publishes kube-root-ca.crt and the issuer discovery document; automountServiceAccountToken: false mounts nothing', async () => {
    const cm = JSON.parse(
      (await c.kubectl(['get', 'configmap', 'kube-root-ca.crt', '-n', 'kube-system', '-o', 'json'])).stdout,
    );
    expect(cm.data['ca.crt']).toBe(c.ca);
    const caFile = join(c.dir, 'server-ca.crt');
    writeFileSync(caFile, c.ca);
    const conf = spawnSync(
      'curl',
      ['-sS', '--cacert', caFile, `${c.server}/.well-known/openid-configuration`],
      {
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(conf.stdout)).toMatchObject({
      issuer: 'https://kubernetes.default.svc.cluster.local',
      id_token_signing_alg_values_supported: ['ES256'],
    });
    const jwks = spawnSync('curl', ['-sS', '--cacert', caFile, `${c.server}/openid/v1/jwks`], {
      encoding: 'utf8',
    });
    expect(JSON.parse(jwks.stdout).keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'sig' });

    const file = join(c.dir, 'quiet.yaml');
    writeFileSync(
      file,
      `apiVersion: v1
kind: Pod
metadata: { name: quiet }
spec:
  runtimeClassName: container
  terminationGracePeriodSeconds: 0
  automountServiceAccountToken: false
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, 'exec sleep 3600']
`,
    );
    expect((await c.kubectl(['apply', '-f', file])).code).toBe(0);
    const waited = await c.kubectl(['wait', '--for=condition=Ready', 'pod/quiet', '--timeout=120s'], {
      timeoutMs: 130_000,
    });
    expect(waited.code, waited.stderr).toBe(0);
    const ls = await c.kubectl(['exec', 'quiet', '--', 'ls', SA_DIR]);
    expect(ls.code).not.toBe(0);
    const missingAccount = await c.kubectl([
      'run',
      'ghostly',
      '--image=localhost/busybox:1.0',
      '--overrides',
      '{"spec":{"serviceAccountName":"ghost"}}',
    ]);
    expect(missingAccount.code).not.toBe(0);
    expect(missingAccount.stderr).toContain('error looking up service account default/ghost');
  });
});
