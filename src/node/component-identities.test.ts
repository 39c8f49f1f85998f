// The control plane's own components act under least-privilege identities (issue 13): on a real control
// plane (HTTPS, RBAC, audit log), the controllers' writes are authorized as system:kube-controller-manager —
// take a rule out of its role and the ReplicaSet controller's pod creates are refused with kube's 403
// (a FailedCreate event says so, nothing is created), put it back and they go through; the audit log
// names the controllers' own user for both. The same holds with leader election on (the controllers
// then run as the lease holder's leader work, as on an etcd datastore shared by several servers).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../api/index.ts';
import { Client } from '../client/client.ts';
import { startControlPlane, type ControlPlane } from './assemble-control-plane.ts';

const CLUSTER_ROLE = kindFor('rbac.authorization.k8s.io/v1', 'ClusterRole')!;
const REPLICA_SET = kindFor('apps/v1', 'ReplicaSet')!;
const POD = kindFor('v1', 'Pod')!;
const EVENT = kindFor('v1', 'Event')!;

let dir: string;
let cp: ControlPlane;
let admin: Client;
const auditPath = () => join(dir, 'audit.log');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'strata-component-identities-'));
  cp = await startControlPlane({
    dataDir: join(dir, 'server'),
    port: 0,
    logger: false,
    advertiseAddress: 'none',
    // Leader work (controllers, scheduler) starts only once this server holds the Lease, as with etcd.
    leaderElection: { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 },
    audit: { path: auditPath() },
  });
  admin = new Client({ server: cp.url, token: cp.adminToken, tls: { ca: cp.pki!.ca.cert } });
}, 60_000);

afterAll(async () => {
  admin?.close();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const replicaSet = (name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: { name },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'c', image: 'docker.io/library/busybox:1.36' }] },
    },
  },
});

interface AuditLine {
  user: { username: string };
  verb: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  responseStatus: { code: number };
  annotations?: Record<string, string>;
}

const auditLines = (): AuditLine[] =>
  readFileSync(auditPath(), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditLine);

describe('the controllers act as system:kube-controller-manager', () => {
  it('have the role kube gives them, bound to their own user', async () => {
    const role = await admin.get(CLUSTER_ROLE, undefined, 'system:kube-controller-manager');
    // Least privilege: no wildcard verb, no secret creation, no impersonation.
    for (const r of role.rules) expect(r.verbs).not.toContain('*');
    const review = await admin.json('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: 'system:kube-controller-manager',
          resourceAttributes: { verb: 'create', resource: 'secrets', namespace: 'default' },
        },
      },
    });
    expect(review.status.allowed).toBe(false);
  });

  it('are refused a write their role lacks (403, FailedCreate, nothing created) and allowed it back', async () => {
    const role = await admin.get(CLUSTER_ROLE, undefined, 'system:kube-controller-manager');
    const createsPods = (r: { verbs: string[]; apiGroups?: string[]; resources?: string[] }) =>
      r.verbs.includes('create') && r.apiGroups?.includes('') && r.resources?.includes('pods');
    expect(role.rules.some(createsPods)).toBe(true);
    const without = role.rules.map((r: { resources?: string[] } & Parameters<typeof createsPods>[0]) =>
      createsPods(r) ? { ...r, resources: r.resources!.filter((x) => x !== 'pods') } : r,
    );
    await admin.replace(CLUSTER_ROLE, {
      ...role,
      // Opt out of reconciling at the next start (kube's way to keep an edited default role).
      metadata: {
        ...role.metadata,
        annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'false' },
      },
      rules: without,
    });
    // RBAC reads roles through an informer: wait until the review answers no.
    await until('the narrowed role to apply', async () => {
      const r = await admin.json('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: 'system:kube-controller-manager',
            resourceAttributes: { verb: 'create', resource: 'pods', namespace: 'default' },
          },
        },
      });
      return r.status.allowed ? undefined : true;
    });

    await admin.create(REPLICA_SET, replicaSet('denied'), 'default');
    const event = await until('a FailedCreate event', async () => {
      const events = await admin.list(EVENT, 'default');
      return events.items.find((e) => e.involvedObject?.name === 'denied' && e.reason === 'FailedCreate');
    });
    expect(event.type).toBe('Warning');
    expect(event.message).toContain(
      'pods is forbidden: User "system:kube-controller-manager" cannot create resource "pods" in API group "" in the namespace "default"',
    );
    const pods = await admin.list(POD, 'default', { labelSelector: 'app=denied' });
    expect(pods.items).toEqual([]);

    // The role back as it was: the same controller creates the pod.
    await admin.replace(CLUSTER_ROLE, {
      ...(await admin.get(CLUSTER_ROLE, undefined, 'system:kube-controller-manager')),
      rules: role.rules,
    });
    await admin.create(REPLICA_SET, replicaSet('allowed'), 'default');
    await until('the allowed ReplicaSet pod', async () => {
      const l = await admin.list(POD, 'default', { labelSelector: 'app=allowed' });
      return l.items.length === 1 ? true : undefined;
    });
  }, 90_000);

  it('are recorded in the audit log under their own user', async () => {
    const lines = await until('the audit lines of the controllers', async () => {
      const all = auditLines();
      const denied = all.find(
        (l) =>
          l.user.username === 'system:kube-controller-manager' &&
          l.verb === 'create' &&
          l.objectRef?.resource === 'pods' &&
          l.responseStatus.code === 403,
      );
      const created = all.find(
        (l) =>
          l.user.username === 'system:kube-controller-manager' &&
          l.verb === 'create' &&
          l.objectRef?.resource === 'pods' &&
          l.responseStatus.code === 201,
      );
      return denied && created ? { denied, created } : undefined;
    });
    expect(lines.denied.annotations?.['authorization.k8s.io/decision']).toBe('forbid');
    expect(lines.created.objectRef?.name).toMatch(/^allowed-/);
    // Nothing the components did is recorded as an administrator.
    const admins = auditLines().filter((l) => l.user.username === 'admin');
    expect(
      admins.every((l) => (l as { userAgent?: string }).userAgent?.includes('in-process') !== true),
    ).toBe(true);
  }, 40_000);
});
