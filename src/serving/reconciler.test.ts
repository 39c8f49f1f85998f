// The reconciler against a real store: a user's own Service named like a ksvc is never taken over — the
// Route and the ksvc say NotOwned (Knative's reason) and the user's Service keeps its spec.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { kindFor, SERVING_API_VERSION } from '../api/index.ts';
import { EventRecorder, objectStoreEventSink } from '../controllers/events.ts';
import { openTestObjects, until, type TestObjects } from '../controllers/testutil.ts';
import { SharedInformers } from '../store/shared-informers.ts';
import { startServing, type RunningServing } from './index.ts';

const SERVICE = kindFor('v1', 'Service')!;
const KSVC = kindFor(SERVING_API_VERSION, 'Service')!;

let t: TestObjects;
let informers: SharedInformers;
let serving: RunningServing;

beforeEach(async () => {
  t = await openTestObjects();
  informers = new SharedInformers(t.objects);
  const recorder = new EventRecorder({ sink: objectStoreEventSink(t.objects), component: 'serving' });
  informers.start();
  serving = await startServing({ objects: t.objects, informers, recorder, tickMs: 50 });
});

afterEach(async () => {
  await serving.stop();
  informers.stop();
  await t.close();
});

it("leaves a user's Service of the ksvc's name alone and reports NotOwned", async () => {
  const mine = await t.objects.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'greeter', namespace: 'default' },
    spec: { selector: { app: 'greeter' }, ports: [{ port: 80, targetPort: 8080 }] },
  });
  await t.objects.create({
    apiVersion: SERVING_API_VERSION,
    kind: 'Service',
    metadata: { name: 'greeter', namespace: 'default' },
    spec: { template: { spec: { containers: [{ image: 'localhost/busybox:1.0' }] } } },
  });
  const ksvc = await until(async () => {
    const k = await t.objects.get(KSVC, 'default', 'greeter');
    const routes = k.status?.conditions?.find((c: { type: string }) => c.type === 'RoutesReady');
    return routes?.reason === 'NotOwned' && k;
  }, 'the ksvc to report NotOwned');
  // No node runs the revision here, so Ready names the Configuration first; the route's reason is its own.
  const cond = (type: string) => ksvc.status.conditions.find((c: { type: string }) => c.type === type);
  expect(cond('RoutesReady')).toMatchObject({
    status: 'False',
    message: 'There is an existing placeholder Service "greeter" that we do not own.',
  });
  expect(cond('Ready').status).toBe('False');
  const after = await t.objects.get(SERVICE, 'default', 'greeter');
  expect(after.metadata.resourceVersion).toBe(mine.metadata.resourceVersion);
  expect(after.metadata.ownerReferences).toBeUndefined();
  expect(after.spec.selector).toEqual({ app: 'greeter' });
});
