// Write-time checks of PrometheusRules, on every create and update whoever writes: each `expr` is
// compiled (parse, types, Strata's PromQL subset) so a rule that could never be evaluated is refused with
// a 422 naming the field and the position, and the stored rules stay evaluable. The receivers' Secret
// likewise.
import { Reason } from '../../api/causes.ts';
import type { PrometheusRule } from '../../api/kinds/prometheusrule.ts';
import { invalid } from '../../api/status.ts';
import type { KindInfo } from '../../api/registry.ts';
import { ApiError, type ObjectStore } from '../../store/objects.ts';
import { CONFIG_SECRET, parseNotifyConfig } from './notify.ts';
import { compileRules } from './rules.ts';

function check(obj: PrometheusRule, kind: Parameters<typeof invalid>[0]): void {
  const { errors } = compileRules(obj, 30_000);
  if (!errors.length) return;
  throw new ApiError(
    invalid(
      kind,
      obj.metadata.name ?? '',
      errors.map((e) => ({
        field: e.field,
        reason: Reason.Invalid,
        message: `Invalid value: ${JSON.stringify(fieldValue(obj, e.field))}: ${e.message}`,
      })),
    ),
  );
}

/** The value at a `spec.groups[0].rules[1].expr` path, for the message. */
function fieldValue(obj: unknown, path: string): unknown {
  let v: any = obj;
  for (const part of path.split(/\.|\[|\]/).filter(Boolean))
    v = v?.[/^\d+$/.test(part) ? Number(part) : part];
  return v;
}

export function installPrometheusRuleAdmission(objects: ObjectStore): void {
  objects.addCreateHook((obj, kind) => {
    if (kind.group === 'monitoring.coreos.com' && kind.kind === 'PrometheusRule') check(obj, kind);
  });
  objects.addUpdateHook((next, _current, kind) => {
    if (kind.group === 'monitoring.coreos.com' && kind.kind === 'PrometheusRule') check(next, kind);
  });
}

/**
 * The receivers' Secret (kube-system/alertmanager-main) is checked when written too: a configuration the
 * dispatcher could not load is refused with the field and the reason, rather than logged and ignored.
 */
export function installNotifyConfigAdmission(objects: ObjectStore): void {
  const check = (obj: any, kind: KindInfo) => {
    if (kind.group !== '' || kind.kind !== 'Secret') return;
    if (obj.metadata?.namespace !== CONFIG_SECRET.namespace || obj.metadata?.name !== CONFIG_SECRET.name)
      return;
    const key = CONFIG_SECRET.key;
    const fromString = obj.stringData?.[key];
    const encoded = obj.data?.[key];
    if (fromString === undefined && encoded === undefined) return;
    const text = fromString ?? Buffer.from(String(encoded), 'base64').toString('utf8');
    try {
      parseNotifyConfig(text);
    } catch (err) {
      const field = `${fromString !== undefined ? 'stringData' : 'data'}[${key}]`;
      throw new ApiError(
        invalid(kind, obj.metadata.name, [
          { field, reason: Reason.Invalid, message: `Invalid value: ${(err as Error).message}` },
        ]),
      );
    }
  };
  objects.addCreateHook((obj, kind) => check(obj, kind));
  objects.addUpdateHook((next, _current, kind) => check(next, kind));
}
