// Admission-policy overhead, each figure beside a baseline measured in the same run.
//
//   npm run bench -- admission-policy [--scale=N]     (~1 min at scale 1)
//
// 1. Pod creates through the ObjectStore (sqlite, as an API caller: opts.user set) with 0, 10 and 100
//    bound policies that all pass; the baseline is the 0-policy run (goal: ≥ 0.8× its rate at 10).
// 2. CEL µs per expression: Strata's evaluation of one validation (evaluatePolicy: activation with
//    params and variables, the validation, the outcome) beside @bufbuild/cel's raw plan() call on the
//    same converted pod (goal ≤ 1.2×). Both on the main thread: the worker hop is measured in (1).
// 3. Full audit scan of 10,000 ConfigMaps against one policy (the background scanner, through the
//    worker pool) beside a raw main-thread loop evaluating the same expression on every object.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { celEnv, parse, plan, CelScalar } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { ObjectStore } from '../src/store/objects.ts';
import { openSqliteStore } from '../src/store/sqlite.ts';
import { ValidatingAdmission } from '../src/policy/validating-admission.ts';
import { PolicyReporter } from '../src/policy/reports/reporter.ts';
import { BackgroundScanner } from '../src/policy/reports/scanner.ts';
import { activationFor, evaluatePolicy } from '../src/policy/evaluation/evaluate.ts';
import { jsonToCel } from '../src/policy/cel/values.ts';
import { printTable, summarize } from './lib/stats.ts';

const scaleArg = process.argv.find((a) => a.startsWith('--scale='));
const scale = scaleArg ? Number(scaleArg.slice('--scale='.length)) : 1;
const CREATES = Math.round(300 * scale);
const SCAN_OBJECTS = Math.round(10_000 * scale);
const EXPR = "object.spec.containers.all(c, c.image != '' && !c.image.endsWith(':latest'))";
const USER = { username: 'bench', groups: ['system:authenticated'] };

const dir = mkdtempSync(join(tmpdir(), 'strata-bench-policy-'));
let dbs = 0;

async function freshStore(): Promise<{ objects: ObjectStore; close(): Promise<void> }> {
  const store = openSqliteStore(join(dir, `db-${++dbs}.sqlite`));
  const objects = new ObjectStore(store);
  await objects.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  return { objects, close: () => store.close() };
}

function pod(i: number) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `web-${i}`, labels: { app: 'web', tier: 'frontend' } },
    spec: {
      runtimeClassName: 'wasm',
      containers: [
        { name: 'app', image: 'build/wasm/ticker.wasm', resources: { limits: { memory: '64Mi' } } },
      ],
    },
  };
}

async function addPolicies(objects: ObjectStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await objects.create({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: `p${i}` },
      spec: {
        matchConstraints: {
          resourceRules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] },
          ],
        },
        validations: [{ expression: EXPR }, { expression: `object.metadata.name != 'forbidden-${i}'` }],
      },
    });
    await objects.create({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: `p${i}` },
      spec: { policyName: `p${i}`, validationActions: ['Deny'] },
    });
  }
}

interface Setup {
  n: number;
  objects: ObjectStore;
  plugin: ValidatingAdmission;
  close(): Promise<void>;
  perCreate: number[];
  seconds: number;
  created: number;
}

async function setup(policies: number): Promise<Setup> {
  const { objects, close } = await freshStore();
  const plugin = new ValidatingAdmission(objects);
  await plugin.install();
  await addPolicies(objects, policies);
  for (let i = 0; i < 200 && plugin.bindings.list().length < policies; i++)
    await new Promise((r) => setTimeout(r, 10));
  // Warm-up: start the workers, compile the programs, warm sqlite.
  for (let i = 0; i < 30; i++) await objects.create(pod(1_000_000 + i), 'default', { user: USER });
  return { n: policies, objects, plugin, close, perCreate: [], seconds: 0, created: 0 };
}

// 1. pod creates/s — the three setups take turns (rounds of 50) so machine noise hits them alike.
const setups = [await setup(0), await setup(10), await setup(100)];
const ROUND = 50;
for (let done = 0; done < CREATES; done += ROUND)
  for (const s of setups) {
    const t0 = performance.now();
    for (let i = done; i < done + ROUND; i++) {
      const t = performance.now();
      await s.objects.create(pod(i), 'default', { user: USER });
      s.perCreate.push(performance.now() - t);
    }
    s.seconds += (performance.now() - t0) / 1000;
    s.created += ROUND;
  }
for (const s of setups) {
  await s.plugin.stop();
  await s.close();
}
const rate = (s: Setup) => s.created / s.seconds;
const base = rate(setups[0]);
printTable(
  `Pod creates through the store with bound policies (${CREATES} sequential creates each, interleaved rounds of ${ROUND})`,
  setups.map((s) => ({
    name: s.n === 0 ? 'baseline: 0 policies' : `${s.n} policies (2 validations each)`,
    s: summarize(s.perCreate),
    extra: `${rate(s).toFixed(0)} creates/s, ${(rate(s) / base).toFixed(2)}× baseline`,
  })),
);

// 2. µs per expression
const sample = pod(1);
const env = celEnv({ variables: { object: CelScalar.DYN }, funcs: [...strings] });
const raw = plan(env, parse(EXPR));
const rawActivation = { object: jsonToCel(sample) };
const ours = activationFor({ object: sample, oldObject: null, request: {}, namespaceObject: null });
const item = {
  spec: {
    key: 'bench/1',
    matchConditions: [],
    variables: [],
    validations: [{ expression: EXPR }],
    auditAnnotations: [],
  },
  params: null,
};
const ITER = 20_000;
function timeEach(fn: () => unknown): number[] {
  const out: number[] = [];
  for (let r = 0; r < 2; r++) {
    const t = performance.now();
    for (let i = 0; i < ITER / 20; i++) fn();
    out.push((performance.now() - t) / (ITER / 20));
  }
  return out;
}
for (let i = 0; i < 2000; i++) {
  raw(rawActivation);
  evaluatePolicy(ours, item);
}
// Alternating batches, so JIT and machine noise hit both alike.
const rawTimes: number[] = [];
const ourTimes: number[] = [];
for (let r = 0; r < 10; r++) {
  rawTimes.push(...timeEach(() => raw(rawActivation)));
  ourTimes.push(...timeEach(() => evaluatePolicy(ours, item)));
}
const rawS = summarize(rawTimes);
const ourS = summarize(ourTimes);
printTable(`CEL evaluation of \`${EXPR}\` (per expression, batches of ${ITER / 20})`, [
  { name: 'baseline: @bufbuild/cel plan() call', s: rawS },
  {
    name: 'Strata evaluatePolicy (one validation)',
    s: ourS,
    extra: `${(ourS.p50 / rawS.p50).toFixed(2)}× raw`,
  },
]);

// 3. full audit scan
{
  const { objects, close } = await freshStore();
  const cmKind = (await import('../src/api/index.ts')).kindFor('v1', 'ConfigMap')!;
  for (let i = 0; i < SCAN_OBJECTS; i++)
    await objects.create(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `cm-${i}`, labels: i % 10 ? { team: 'a' } : {} },
        data: { k: 'v' },
      },
      'default',
    );
  const plugin = new ValidatingAdmission(objects);
  await plugin.install();
  await objects.create({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: 'team' },
    spec: {
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: [''],
            apiVersions: ['v1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['configmaps'],
          },
        ],
      },
      validations: [{ expression: "has(object.metadata.labels) && 'team' in object.metadata.labels" }],
    },
  });
  await objects.create({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: 'team' },
    spec: { policyName: 'team', validationActions: ['Audit'] },
  });
  for (let i = 0; i < 200 && plugin.bindings.list().length < 1; i++)
    await new Promise((r) => setTimeout(r, 10));
  const reporter = new PolicyReporter(objects, { maxResults: 1000 });
  const scanner = new BackgroundScanner(plugin, reporter, objects, { maxObjects: SCAN_OBJECTS + 10 });
  await plugin.pool.evaluate({ object: {}, oldObject: null, request: {}, namespaceObject: null }, []); // no-op
  const t0 = performance.now();
  const summary = await scanner.scan();
  const scanMs = performance.now() - t0;
  const rawPlan = plan(env, parse("has(object.metadata.labels) && 'team' in object.metadata.labels"));
  const t1 = performance.now();
  const { items } = await objects.list(cmKind, 'default');
  let fails = 0;
  for (const o of items) if (rawPlan({ object: jsonToCel(o) }) !== true) fails++;
  const rawMs = performance.now() - t1;
  printTable(`Full audit scan of ${SCAN_OBJECTS} ConfigMaps, one policy`, [
    { name: 'baseline: list + raw main-thread evaluation', s: summarize([rawMs]), extra: `${fails} failing` },
    {
      name: 'Strata background scan (worker pool, reports)',
      s: summarize([scanMs]),
      extra: `${summary.objects} objects, ${summary.fail} failing, ${(scanMs / rawMs).toFixed(1)}× baseline, ${((scanMs / summary.objects) * 1000).toFixed(0)} µs/object`,
    },
  ]);
  await reporter.stop();
  await plugin.stop();
  await close();
}
rmSync(dir, { recursive: true, force: true });
