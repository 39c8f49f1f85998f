// The checks of the Kubernetes Pod Security Standards (k8s.io/pod-security-admission/policy), with the
// reasons and details kube-apiserver prints, so a message copied from a Kubernetes cluster reads the same
// here. Each check looks at a pod's metadata and spec (a Pod, or a workload's pod template) and reports
// one `reason (detail)` when the pod violates it.
//
// The checks read Kubernetes' full field set, not only what Strata's Pod schema admits today: fields the
// schema refuses outright (hostNetwork, privileged: true, …) can never reach them, and if the schema ever
// admits one, its check already applies.
import { SAFE_SYSCTLS } from '../../api/index.ts';

export type Level = 'privileged' | 'baseline' | 'restricted';
export const LEVELS: readonly Level[] = ['privileged', 'baseline', 'restricted'];

/** The isolation tier the pod runs on: some fields mean nothing to a wasm guest (see README). */
export type Tier = 'wasm' | 'container' | 'microvm';

export interface PodView {
  metadata?: { annotations?: Record<string, string> };
  spec: any;
}

export interface CheckResult {
  /** Short name of what is wrong, e.g. `hostPort`. */
  reason: string;
  /** Which containers/volumes/values, e.g. `container "web" uses hostPort 8080`. */
  detail: string;
}

interface Check {
  /** Kubernetes' check ID: results are reported in ID order, as kube does. */
  id: string;
  level: Exclude<Level, 'privileged'>;
  /** Tiers on which the fields this check reads mean nothing (the check is skipped there). */
  meaninglessOn?: readonly Tier[];
  check(pod: PodView): CheckResult | undefined;
}

interface NamedContainer {
  name: string;
  securityContext?: any;
  ports?: { hostPort?: number }[];
}

function allContainers(spec: any): NamedContainer[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])];
}

const quote = (items: readonly (string | number)[]) => items.map((i) => JSON.stringify(String(i))).join(', ');
const plural = (n: number, one: string, many: string) => (n === 1 ? one : many);
/** `container "a"` / `containers "a", "b"`. */
const containersPhrase = (names: readonly string[]) =>
  `${plural(names.length, 'container', 'containers')} ${quote(names)}`;
/** `pod`, `container "a"`, or `pod and containers "a", "b"`. */
function podAndContainers(pod: boolean, names: readonly string[]): string {
  const parts = [];
  if (pod) parts.push('pod');
  if (names.length) parts.push(containersPhrase(names));
  return parts.join(' and ');
}
const unique = <T>(xs: T[]) => [...new Set(xs)];

const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);

const RESTRICTED_VOLUME_SOURCES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);

const SELINUX_TYPES = new Set([
  '',
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
]);
const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

/** Capability names as Kubernetes writes them (Strata also accepts the `CAP_` prefix). */
const capName = (c: string) => c.replace(/^CAP_/, '');

/** Tiers where users, capabilities, LSMs, seccomp and kernel parameters do not exist. */
const NO_LINUX_IDENTITY: readonly Tier[] = ['wasm'];

const CHECKS: readonly Check[] = [
  {
    id: 'allowPrivilegeEscalation',
    level: 'restricted',
    meaninglessOn: NO_LINUX_IDENTITY,
    check: ({ spec }) => {
      const bad = allContainers(spec)
        .filter((c) => c.securityContext?.allowPrivilegeEscalation !== false)
        .map((c) => c.name);
      if (!bad.length) return undefined;
      return {
        reason: 'allowPrivilegeEscalation != false',
        detail: `${containersPhrase(bad)} must set securityContext.allowPrivilegeEscalation=false`,
      };
    },
  },
  {
    id: 'appArmorProfile',
    level: 'baseline',
    meaninglessOn: NO_LINUX_IDENTITY,
    check: ({ metadata, spec }) => {
      const bad: string[] = [];
      const okType = (t: unknown) => t === undefined || t === 'RuntimeDefault' || t === 'Localhost';
      const podType = spec.securityContext?.appArmorProfile?.type;
      if (!okType(podType))
        bad.push(`pod must not set securityContext.appArmorProfile.type to ${quote([podType])}`);
      const badContainers = allContainers(spec).filter(
        (c) => !okType(c.securityContext?.appArmorProfile?.type),
      );
      for (const c of badContainers)
        bad.push(
          `container ${quote([c.name])} must not set securityContext.appArmorProfile.type to ${quote([c.securityContext.appArmorProfile.type])}`,
        );
      for (const [key, value] of Object.entries(metadata?.annotations ?? {})) {
        if (!key.startsWith(APPARMOR_ANNOTATION_PREFIX)) continue;
        if (value === 'runtime/default' || value.startsWith('localhost/')) continue;
        bad.push(`${key}=${quote([value])}`);
      }
      if (!bad.length) return undefined;
      return {
        reason: plural(bad.length, 'forbidden AppArmor profile', 'forbidden AppArmor profiles'),
        detail: bad.join(', '),
      };
    },
  },
  {
    id: 'capabilities_baseline',
    level: 'baseline',
    meaninglessOn: NO_LINUX_IDENTITY,
    check: ({ spec }) => {
      const badContainers: string[] = [];
      const badCaps: string[] = [];
      for (const c of allContainers(spec)) {
        const extra = (c.securityContext?.capabilities?.add ?? [])
          .map(capName)
          .filter((cap: string) => !BASELINE_CAPABILITIES.has(cap));
        if (extra.length) {
          badContainers.push(c.name);
          badCaps.push(...extra);
        }
      }
      if (!badContainers.length) return undefined;
      return {
        reason: 'non-default capabilities',
        detail: `${containersPhrase(badContainers)} must not include ${quote(unique(badCaps))} in securityContext.capabilities.add`,
      };
    },
  },
  {
    id: 'capabilities_restricted',
    level: 'restricted',
    meaninglessOn: NO_LINUX_IDENTITY,
    check: ({ spec }) => {
      const noDropAll: string[] = [];
      const badAdd: string[] = [];
      const badCaps: string[] = [];
      for (const c of allContainers(spec)) {
        const caps = c.securityContext?.capabilities;
        if (!(caps?.drop ?? []).map(capName).includes('ALL')) noDropAll.push(c.name);
        const extra = (caps?.add ?? []).map(capName).filter((cap: string) => cap !== 'NET_BIND_SERVICE');
        if (extra.length) {
          badAdd.push(c.name);
          badCaps.push(...extra);
        }
      }
      const details = [];
      if (noDropAll.length)
        details.push(`${containersPhrase(noDropAll)} must set securityContext.capabilities.drop=["ALL"]`);
      if (badAdd.length)
        details.push(
          `${containersPhrase(badAdd)} must not include ${quote(unique(badCaps))} in securityContext.capabilities.add`,
        );
      if (!details.length) return undefined;
      return { reason: 'unrestricted capabilities', detail: details.join('; ') };
    },
  },
  {
    id: 'hostNamespaces',
    level: 'baseline',
    check: ({ spec }) => {
      const set = (['hostNetwork', 'hostPID', 'hostIPC'] as const).filter((f) => spec[f] === true);
      if (!set.length) return undefined;
      return { reason: 'host namespaces', detail: set.map((f) => `${f}=true`).join(', ') };
    },
  },
  {
    id: 'hostPathVolumes',
    level: 'baseline',
    check: ({ spec }) => {
      const bad = (spec.volumes ?? []).filter((v: any) => v.hostPath).map((v: any) => v.name);
      if (!bad.length) return undefined;
      return {
        reason: 'hostPath volumes',
        detail: `${plural(bad.length, 'volume', 'volumes')} ${quote(bad)}`,
      };
    },
  },
  {
    id: 'hostPorts',
    level: 'baseline',
    // A wasm guest has no pod network: its hostPorts are never published.
    meaninglessOn: ['wasm'],
    check: ({ spec }) => {
      const bad: string[] = [];
      const ports: number[] = [];
      for (const c of allContainers(spec)) {
        const used = (c.ports ?? []).map((p) => p.hostPort ?? 0).filter((p) => p !== 0);
        if (used.length) {
          bad.push(c.name);
          ports.push(...used);
        }
      }
      if (!bad.length) return undefined;
      const uniq = unique(ports);
      return {
        reason: 'hostPort',
        detail: `${containersPhrase(bad)} ${plural(bad.length, 'uses', 'use')} ${plural(uniq.length, 'hostPort', 'hostPorts')} ${uniq.join(', ')}`,
      };
    },
  },
  {
    id: 'privileged',
    level: 'baseline',
    meaninglessOn: NO_LINUX_IDENTITY,
    check: ({ spec }) => {
      const bad = allContainers(spec)
        .filter((c) => c.securityContext?.privileged === true)
        .map((c) => c.name);
      if (!bad.length) return undefined;
      return {
        reason: 'privileged',
        detail: `${containersPhrase(bad)} must not set securityContext.privileged=true`,
      };
    },
  },
  {
    id: 'procMount',
    level: 'baseline',
    meaninglessOn: NO_LINUX_IDENTITY,
    check: ({ spec }) => {
      const bad = allContainers(spec).filter((c) => {
        const m = c.securityContext?.procMount;
        return m !== undefined && m !== 'Default';
      });
      if (!bad.length) return undefined;
      return {
        reason: 'procMount',
        detail: `${containersPhrase(bad.map((c) => c.name))} must not set securityContext.procMount to ${quote(unique(bad.map((c) => c.securityContext.procMount)))}`,
      };
    },
  },
  {
    id: 'restrictedVolumes',
    level: 'restricted',
    check: ({ spec }) => {
      const bad: string[] = [];
      const types: string[] = [];
      for (const v of spec.volumes ?? []) {
        const source = Object.keys(v).find((k) => k !== 'name');
        if (source && !RESTRICTED_VOLUME_SOURCES.has(source)) {
          bad.push(v.name);
          types.push(source);
        }
      }
      if (!bad.length) return undefined;
      const uniq = unique(types);
      return {
        reason: 'restricted volume types',
        detail: `${plural(bad.length, 'volume', 'volumes')} ${quote(bad)} ${plural(bad.length, 'uses', 'use')} ${plural(uniq.length, 'restricted volume type', 'restricted volume types')} ${quote(uniq)}`,
      };
    },
  },
  {
    id: 'runAsNonRoot',
    level: 'restricted',
    meaninglessOn: NO_LINUX_IDENTITY,
    check: ({ spec }) => {
      const podValue = spec.securityContext?.runAsNonRoot;
      const explicitFalse: string[] = [];
      const unset: string[] = [];
      for (const c of allContainers(spec)) {
        const v = c.securityContext?.runAsNonRoot;
        if (v === false) explicitFalse.push(c.name);
        else if (v === undefined && podValue !== true) unset.push(c.name);
      }
      const details = [];
      if (podValue === false) details.push('pod must not set securityContext.runAsNonRoot=false');
      if (explicitFalse.length)
        details.push(`${containersPhrase(explicitFalse)} must not set securityContext.runAsNonRoot=false`);
      if (unset.length && podValue !== false)
        details.push(`pod or ${containersPhrase(unset)} must set securityContext.runAsNonRoot=true`);
      if (!details.length) return undefined;
      return { reason: 'runAsNonRoot != true', detail: details.join('; ') };
    },
  },
  {
    id: 'runAsUser',
    level: 'restricted',
    meaninglessOn: NO_LINUX_IDENTITY,
    check: ({ spec }) => {
      const pod = spec.securityContext?.runAsUser === 0;
      const bad = allContainers(spec)
        .filter((c) => c.securityContext?.runAsUser === 0)
        .map((c) => c.name);
      if (!pod && !bad.length) return undefined;
      return { reason: 'runAsUser=0', detail: `${podAndContainers(pod, bad)} must not set runAsUser=0` };
    },
  },
  {
    id: 'seLinuxOptions',
    level: 'baseline',
    meaninglessOn: NO_LINUX_IDENTITY,
    check: ({ spec }) => {
      const problems = new Set<string>();
      const judge = (o: any): boolean => {
        if (!o) return false;
        let bad = false;
        if (!SELINUX_TYPES.has(o.type ?? '')) {
          problems.add(`type ${quote([o.type])}`);
          bad = true;
        }
        if (o.user) {
          problems.add('user may not be set');
          bad = true;
        }
        if (o.role) {
          problems.add('role may not be set');
          bad = true;
        }
        return bad;
      };
      const pod = judge(spec.securityContext?.seLinuxOptions);
      const bad = allContainers(spec)
        .filter((c) => judge(c.securityContext?.seLinuxOptions))
        .map((c) => c.name);
      if (!pod && !bad.length) return undefined;
      return {
        reason: 'seLinuxOptions',
        detail: `${podAndContainers(pod, bad)} set forbidden securityContext.seLinuxOptions: ${[...problems].join('; ')}`,
      };
    },
  },
  {
    id: 'seccompProfile_baseline',
    level: 'baseline',
    meaninglessOn: NO_LINUX_IDENTITY,
    check: ({ spec }) => {
      const pod = spec.securityContext?.seccompProfile?.type === 'Unconfined';
      const bad = allContainers(spec)
        .filter((c) => c.securityContext?.seccompProfile?.type === 'Unconfined')
        .map((c) => c.name);
      if (!pod && !bad.length) return undefined;
      return {
        reason: 'seccompProfile',
        detail: `${podAndContainers(pod, bad)} must not set securityContext.seccompProfile.type to "Unconfined"`,
      };
    },
  },
  {
    id: 'seccompProfile_restricted',
    level: 'restricted',
    meaninglessOn: NO_LINUX_IDENTITY,
    check: ({ spec }) => {
      const ok = (t: unknown) => t === 'RuntimeDefault' || t === 'Localhost';
      const podType = spec.securityContext?.seccompProfile?.type;
      const details = [];
      if (podType !== undefined && !ok(podType))
        details.push(`pod must not set securityContext.seccompProfile.type to ${quote([podType])}`);
      const explicit: NamedContainer[] = [];
      const unset: string[] = [];
      for (const c of allContainers(spec)) {
        const t = c.securityContext?.seccompProfile?.type;
        if (t !== undefined && !ok(t)) explicit.push(c);
        else if (t === undefined && !ok(podType)) unset.push(c.name);
      }
      if (explicit.length)
        details.push(
          `${containersPhrase(explicit.map((c) => c.name))} must not set securityContext.seccompProfile.type to ${quote(unique(explicit.map((c) => c.securityContext.seccompProfile.type)))}`,
        );
      if (unset.length && podType === undefined)
        details.push(
          `pod or ${containersPhrase(unset)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"`,
        );
      if (!details.length) return undefined;
      return { reason: 'seccompProfile', detail: details.join('; ') };
    },
  },
  {
    id: 'sysctls',
    level: 'baseline',
    meaninglessOn: NO_LINUX_IDENTITY,
    check: ({ spec }) => {
      const safe = new Set<string>(SAFE_SYSCTLS);
      const bad = (spec.securityContext?.sysctls ?? [])
        .map((s: { name: string }) => s.name)
        .filter((n: string) => !safe.has(n));
      if (!bad.length) return undefined;
      return { reason: 'forbidden sysctls', detail: bad.join(', ') };
    },
  },
  {
    id: 'windowsHostProcess',
    level: 'baseline',
    check: ({ spec }) => {
      const pod = spec.securityContext?.windowsOptions?.hostProcess === true;
      const bad = allContainers(spec)
        .filter((c) => c.securityContext?.windowsOptions?.hostProcess === true)
        .map((c) => c.name);
      if (!pod && !bad.length) return undefined;
      return {
        reason: 'hostProcess',
        detail: `${podAndContainers(pod, bad)} must not set securityContext.windowsOptions.hostProcess=true`,
      };
    },
  },
];

/** Restricted checks that replace a baseline one (kube reports only the stricter). */
const OVERRIDES: Record<string, string> = { seccompProfile_restricted: 'seccompProfile_baseline' };

/** The checks a level applies on a tier, in Kubernetes' ID order. */
function checksFor(level: Level, tier: Tier): Check[] {
  if (level === 'privileged') return [];
  const chosen = CHECKS.filter(
    (c) => (level === 'restricted' || c.level === 'baseline') && !c.meaninglessOn?.includes(tier),
  );
  const overridden = new Set(chosen.map((c) => OVERRIDES[c.id]).filter(Boolean));
  return chosen.filter((c) => !overridden.has(c.id));
}

/** Every violation of `level` by a pod running on `tier` (empty: it passes). */
export function evaluatePod(level: Level, pod: PodView, tier: Tier): CheckResult[] {
  const out: CheckResult[] = [];
  for (const c of checksFor(level, tier)) {
    const r = c.check(pod);
    if (r) out.push(r);
  }
  return out;
}

/** `reason1 (detail1), reason2 (detail2)`: the tail of kube's PodSecurity messages. */
export function formatViolations(results: readonly CheckResult[]): string {
  return results.map((r) => (r.detail ? `${r.reason} (${r.detail})` : r.reason)).join(', ');
}

/** The check IDs skipped on a tier, for the README and tests. */
export function checksMeaninglessOn(tier: Tier): string[] {
  return CHECKS.filter((c) => c.meaninglessOn?.includes(tier)).map((c) => c.id);
}
