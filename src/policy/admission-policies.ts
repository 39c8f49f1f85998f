// The admission-policy subsystem as the control plane starts it: the ValidatingAdmissionPolicy plugin
// (store hooks), the PolicyReport writer fed by its violations, and the background scan of existing
// objects. One call to start, one to stop.
import type { ObjectStore } from '../store/objects.ts';
import { PolicyReporter, type ReporterOptions } from './reports/reporter.ts';
import { BackgroundScanner, type ScanOptions } from './reports/scanner.ts';
import { ValidatingAdmission, type ValidatingAdmissionOptions } from './validating-admission.ts';

export interface AdmissionPoliciesOptions extends ValidatingAdmissionOptions {
  reports?: ReporterOptions;
  scan?: ScanOptions;
}

export interface AdmissionPolicies {
  plugin: ValidatingAdmission;
  reporter: PolicyReporter;
  scanner: BackgroundScanner;
  stop(): Promise<void>;
}

export async function startAdmissionPolicies(
  objects: ObjectStore,
  opts: AdmissionPoliciesOptions = {},
): Promise<AdmissionPolicies> {
  const plugin = new ValidatingAdmission(objects, opts);
  await plugin.install();
  const reporter = new PolicyReporter(objects, opts.reports);
  reporter.start(plugin.violations);
  const scanner = new BackgroundScanner(plugin, reporter, objects, opts.scan);
  scanner.start();
  return {
    plugin,
    reporter,
    scanner,
    async stop() {
      await scanner.stop();
      await reporter.stop();
      await plugin.stop();
    },
  };
}
