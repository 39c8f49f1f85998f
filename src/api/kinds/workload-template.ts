// What every controller of long-running pods (Deployment, ReplicaSet, StatefulSet, DaemonSet) checks of
// its selector and pod template, worded as kube-apiserver words it: a selector that selects something and
// matches the template's labels (or the controller would never own the pods it makes), and pods that
// restart Always (the controller replaces them, it does not run them to completion).
import type { z } from 'zod';
import { addCause, msg, Reason } from '../causes.ts';
import type { LabelSelector } from '../meta.ts';
import { labelSelectorMatcher } from '../selectors.ts';

interface WorkloadSpec {
  selector: LabelSelector;
  template: { metadata?: { labels?: Record<string, string> }; spec: { restartPolicy?: string } };
}

/**
 * Adds the selector/template causes to `ctx`. `emptySelectorNoun` is the word kube uses in
 * "empty selector is invalid for <noun>" (ReplicaSets share Deployments' wording).
 */
export function validateWorkloadTemplate(
  spec: WorkloadSpec,
  ctx: z.RefinementCtx,
  emptySelectorNoun: 'deployment' | 'daemonset' | 'statefulset',
): void {
  const sel = spec.selector;
  if (!Object.keys(sel.matchLabels ?? {}).length && !sel.matchExpressions?.length)
    addCause(
      ctx,
      ['selector'],
      Reason.Invalid,
      msg.invalid(sel, `empty selector is invalid for ${emptySelectorNoun}`),
    );
  else if (!labelSelectorMatcher(sel)(spec.template.metadata?.labels))
    addCause(
      ctx,
      ['template', 'metadata', 'labels'],
      Reason.Invalid,
      msg.invalid(spec.template.metadata?.labels ?? {}, '`selector` does not match template `labels`'),
    );
  const rp = spec.template.spec.restartPolicy;
  if (rp !== undefined && rp !== 'Always')
    addCause(
      ctx,
      ['template', 'spec', 'restartPolicy'],
      Reason.NotSupported,
      msg.notSupported(rp, ['Always']),
    );
}
