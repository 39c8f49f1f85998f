// The audit log end to end: `strata up` with an audit policy, the real kubectl (create, get, watch,
// exec into a container pod, --as for a 403) and a request with no credential (401); each request's
// audit.k8s.io/v1 lines are read back from DATA/audit.log, and no secret value is in the file.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, waitFor, missingTools } from './harness.ts';

function missing(): string | undefined {
  return missingTools(['runc', 'conmon'], 'exec into a container pod needs root (the container tier)');
}
const why = missing();
if (why) console.warn(`skipping the audit e2e test: ${why}`);

const SECRET_VALUE = `audit-e2e-${Math.random().toString(36).slice(2)}-secret`;
let c: Cluster;
let auditLog: string;

function events(): any[] {
  if (!existsSync(auditLog)) return [];
  return readFileSync(auditLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** Waits for the events matching `pred` to include a ResponseComplete; returns them all. */
async function eventsWhere(what: string, pred: (e: any) => boolean): Promise<any[]> {
  return waitFor(what, () => {
    const evs = events().filter(pred);
    return evs.some((e) => e.stage === 'ResponseComplete') ? evs : undefined;
  });
}

describe.skipIf(!!why)('audit log (strata up, kubectl)', { timeout: 240_000 }, () => {
  beforeAll(async () => {
    c = new Cluster();
    const policy = join(c.dir, 'audit-policy.yaml');
    writeFileSync(
      policy,
      `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    nonResourceURLs: ['/healthz*', '/readyz*', '/livez*']
  - level: RequestResponse
    resources: [{group: '', resources: [secrets, configmaps]}]
  - level: Request
    namespaces: [default]
    resources: [{group: '', resources: [pods]}]
  - level: Metadata
`,
    );
    await c.up(['--audit-policy-file', policy]);
    auditLog = join(c.dataDir, 'audit.log');
    await c.importTestImages('busybox');
  });

  afterAll(async () => {
    await c?.stop();
  });

  it('create and get: who, what, the level the policy gives (Request for pods, secrets capped at Metadata)', async () => {
    const pod = await c.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: v1
kind: Pod
metadata: {name: shell}
spec:
  runtimeClassName: container
  containers:
    - name: sh
      image: localhost/busybox:1.0
      command: [sleep, '3600']
`,
    });
    expect(pod.code, pod.stderr).toBe(0);
    // kubectl apply reads, then creates; the node's later status patches (pods/status) are other lines.
    const created = await eventsWhere(
      'the pod create',
      (x) =>
        x.verb === 'create' &&
        x.user?.username === 'admin' &&
        x.objectRef?.resource === 'pods' &&
        x.objectRef?.name === 'shell' &&
        !x.objectRef?.subresource,
    );
    const e = created.find((x) => x.stage === 'ResponseComplete');
    expect(e).toMatchObject({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Event',
      level: 'Request',
      user: { username: 'admin' },
      objectRef: { resource: 'pods', namespace: 'default', name: 'shell', apiVersion: 'v1' },
      responseStatus: { code: 201 },
      annotations: { 'authorization.k8s.io/decision': 'allow' },
    });
    expect(e.requestObject).toBeDefined();
    expect(e.responseObject).toBeUndefined(); // Request, not RequestResponse
    expect(e.userAgent).toMatch(/^kubectl\//);

    const s = await c.kubectl([
      'create',
      'secret',
      'generic',
      'db',
      `--from-literal=password=${SECRET_VALUE}`,
    ]);
    expect(s.code, s.stderr).toBe(0);
    const g = await c.kubectl(['get', 'secret', 'db', '-o', 'name']);
    expect(g.code).toBe(0);
    const [get] = await eventsWhere(
      'the secret get',
      (x) => x.verb === 'get' && x.objectRef?.resource === 'secrets' && x.objectRef?.name === 'db',
    );
    expect(get).toMatchObject({ level: 'Metadata', responseStatus: { code: 200 } });
    expect(get.responseObject).toBeUndefined();
  });

  it('kubectl exec: pods/exec with verb create, ResponseStarted at the 101 and ResponseComplete at the end', async () => {
    await waitFor(
      'the pod running',
      async () => {
        const r = await c.kubectl(['get', 'pod', 'shell', '-o', 'jsonpath={.status.phase}']);
        return r.stdout === 'Running';
      },
      120_000,
    );
    const r = await c.kubectl(['exec', 'shell', '--', 'echo', 'audited']);
    expect(r.stdout.trim(), r.stderr).toBe('audited');
    const evs = await eventsWhere(
      'the exec',
      (e) => e.objectRef?.subresource === 'exec' && e.objectRef?.name === 'shell',
    );
    const upgraded = evs.filter((e) => e.responseStatus.code === 101);
    expect(upgraded.map((e) => e.stage)).toEqual(['ResponseStarted', 'ResponseComplete']);
    expect(upgraded[0]).toMatchObject({
      verb: 'create',
      user: { username: 'admin' },
      objectRef: { resource: 'pods', namespace: 'default' },
    });
    expect(upgraded[0].auditID).toBe(upgraded[1].auditID);
  });

  it('kubectl get -w: a watch is ResponseStarted, then ResponseComplete when it ends', async () => {
    await c.kubectl(['get', 'configmaps', '-w', '--request-timeout=2s']);
    const evs = await eventsWhere(
      'the watch',
      (e) => e.verb === 'watch' && e.objectRef?.resource === 'configmaps' && e.user?.username === 'admin',
    );
    const byId = evs.filter((e) => e.auditID === evs.find((x) => x.stage === 'ResponseComplete').auditID);
    expect(byId.map((e) => e.stage)).toEqual(['ResponseStarted', 'ResponseComplete']);
  });

  it('401 with no credential and 403 for an impersonated user are both logged', async () => {
    const res = await c.anonymous('/api/v1/namespaces/default/secrets');
    expect(res.status).toBe(401);
    const [unauth] = await eventsWhere(
      'the 401',
      (e) => e.responseStatus.code === 401 && e.objectRef?.resource === 'secrets',
    );
    expect(unauth).toMatchObject({ verb: 'list', user: {}, sourceIPs: ['127.0.0.1'] });

    const denied = await c.kubectl(['--as', 'mallory', 'get', 'secrets']);
    expect(denied.code).not.toBe(0);
    const [forbid] = await eventsWhere('the 403', (e) => e.impersonatedUser?.username === 'mallory');
    expect(forbid).toMatchObject({
      user: { username: 'admin' },
      impersonatedUser: { username: 'mallory' },
      responseStatus: { code: 403, reason: 'Forbidden' },
      annotations: { 'authorization.k8s.io/decision': 'forbid' },
    });
  });

  it('no secret value anywhere in the audit log (raw or base64)', () => {
    const text = readFileSync(auditLog, 'utf8');
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(SECRET_VALUE);
    expect(text).not.toContain(Buffer.from(SECRET_VALUE).toString('base64'));
  });
});
