import { defineConfig } from 'vitest/config';

// End-to-end files that spend most of their time waiting (grace periods, lease expiries, probes,
// back-offs, reconcile loops) rather than computing, and that each run on a test cluster of their own
// (harness.ts claims a network slot per cluster): run two at a time, which cuts ~5 minutes from `.ci/run`.
// Files that burn CPU on purpose (hpa, serving's load, wasm-density, the dashboard's browser), that run
// several hosts (multihost-*), or whose checks read machine-wide state stay in the one-at-a-time group.
const E2E_IN_PAIRS = [
  'alerts',
  'encryption',
  'eventing',
  'metrics',
  'network-policy',
  'orchestration',
  'orchestration-nodes',
  'pod-spec',
  'serviceaccount-token',
  'statefulset',
  'storage',
  'two-process',
].map((name) => `test/e2e/${name}.test.ts`);

// Projects: fast unit tests next to the code, then end-to-end tests that start real servers, agents and
// sandboxes — the paired ones, then the rest one at a time. All run in `npm test` (and so in .ci/run).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'web/src/**/*.test.ts', 'test/wasi-conformance/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e-pairs',
          include: E2E_IN_PAIRS,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          exclude: E2E_IN_PAIRS,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
