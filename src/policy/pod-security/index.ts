// Pod Security admission: what the control plane wires in (see README.md).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type PodSecurityConfig, defaultPodSecurityConfig, loadPodSecurityConfig } from './config.ts';

export { installPodSecurity, PodSecurityAdmission } from './admission.ts';
export * from './config.ts';
export { evaluatePod, formatViolations, type Level } from './checks.ts';

/** The file DATA/pod-security.yaml is read when no path is given: a cluster's config travels with its data. */
export const DEFAULT_CONFIG_FILE = 'pod-security.yaml';

/** The cluster's config: the given file, else DATA/pod-security.yaml if present, else Strata's default. */
export function podSecurityConfigFor(dataDir: string, path?: string): PodSecurityConfig {
  if (path) return loadPodSecurityConfig(path);
  const inData = join(dataDir, DEFAULT_CONFIG_FILE);
  return existsSync(inData) ? loadPodSecurityConfig(inData) : defaultPodSecurityConfig();
}
