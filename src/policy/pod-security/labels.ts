// A namespace's Pod Security labels (pod-security.kubernetes.io/<mode> and <mode>-version) read into the
// policy each mode applies, falling back to the cluster defaults for a mode the namespace does not label.
import type { Cause } from '../../api/index.ts';
import { LEVELS, type Level } from './checks.ts';
import { MODES, VERSION_PATTERN, type Mode, type PodSecurityConfig, type Policy } from './config.ts';

export const LABEL_PREFIX = 'pod-security.kubernetes.io/';

/**
 * The policy of each mode. A label with a value that is not a level makes the mode `restricted` (kube's
 * fail-closed rule for namespaces labelled before validation existed); a bad version means `latest`.
 */
export function namespacePolicies(
  labels: Record<string, string> | undefined,
  config: PodSecurityConfig,
): Record<Mode, Policy> {
  const out = {} as Record<Mode, Policy>;
  for (const mode of MODES) {
    const level = labels?.[`${LABEL_PREFIX}${mode}`];
    const version = labels?.[`${LABEL_PREFIX}${mode}-version`];
    const base = config.defaults[mode];
    out[mode] = {
      level:
        level === undefined ? base.level : LEVELS.includes(level as Level) ? (level as Level) : 'restricted',
      version: version === undefined ? base.version : VERSION_PATTERN.test(version) ? version : 'latest',
    };
  }
  return out;
}

/** Causes for label values that are not levels or versions (a namespace write carrying them is refused). */
export function labelCauses(labels: Record<string, string> | undefined): Cause[] {
  const causes: Cause[] = [];
  for (const mode of MODES) {
    const levelKey = `${LABEL_PREFIX}${mode}`;
    const level = labels?.[levelKey];
    if (level !== undefined && !LEVELS.includes(level as Level))
      causes.push({
        reason: 'FieldValueNotSupported',
        field: `metadata.labels[${levelKey}]`,
        message: `Unsupported value: ${JSON.stringify(level)}: supported values: ${LEVELS.map((l) => JSON.stringify(l)).join(', ')}`,
      });
    const versionKey = `${levelKey}-version`;
    const version = labels?.[versionKey];
    if (version !== undefined && !VERSION_PATTERN.test(version))
      causes.push({
        reason: 'FieldValueInvalid',
        field: `metadata.labels[${versionKey}]`,
        message: `Invalid value: ${JSON.stringify(version)}: must be "latest" or "v1.<minor>"`,
      });
  }
  return causes;
}

/** `restricted:latest`, as kube names a policy in its messages. */
export const policyName = (p: Policy) => `${p.level}:${p.version}`;
