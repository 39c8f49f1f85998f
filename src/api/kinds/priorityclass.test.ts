import { describe, expect, it } from 'vitest';
import { applyPriority, type PriorityClass, podPriority, resolvePodPriority } from './priorityclass.ts';
import { invalid, podWith, valid } from './testing.ts';

const pc = (name: string, value: number, extra: Record<string, unknown> = {}): PriorityClass =>
  valid({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name }, value, ...extra });

describe('PriorityClass', () => {
  it('is cluster-scoped with defaults', () => {
    const c = pc('high', 1000);
    expect(c).toMatchObject({ globalDefault: false, preemptionPolicy: 'PreemptLowerPriority' });
    expect(c.metadata.namespace).toBeUndefined();
  });

  it('reserves values above one billion for system- classes', () => {
    const body = { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'x' } };
    expect(invalid({ ...body, value: 2_000_000_000 })[0].field).toBe('value');
    expect(invalid({ ...body, value: 1, preemptionPolicy: 'Sometimes' })[0].field).toBe('preemptionPolicy');
  });
});

describe('applyPriority', () => {
  const classes = [pc('high', 1000), pc('batch', -5, { preemptionPolicy: 'Never' })];

  it('sets spec.priority and the preemption policy from the class', () => {
    const pod = valid(podWith({ priorityClassName: 'high' }));
    expect(applyPriority(pod, classes)).toEqual([]);
    expect(pod.spec).toMatchObject({ priority: 1000, preemptionPolicy: 'PreemptLowerPriority' });
    const b = valid(podWith({ priorityClassName: 'batch' }));
    applyPriority(b, classes);
    expect(b.spec).toMatchObject({ priority: -5, preemptionPolicy: 'Never' });
    expect(podPriority(b)).toBe(-5);
  });

  it('uses the global default class, else 0; knows the system classes', () => {
    const plain = valid(podWith({}));
    applyPriority(plain, classes);
    expect(plain.spec.priority).toBe(0);
    const withDefault = valid(podWith({}));
    applyPriority(withDefault, [...classes, pc('std', 10, { globalDefault: true })]);
    expect(withDefault.spec).toMatchObject({ priority: 10, priorityClassName: 'std' });
    const r = resolvePodPriority(valid(podWith({ priorityClassName: 'system-node-critical' })), []);
    expect(r).toMatchObject({ ok: true, priority: 2_000_001_000 });
  });

  it('rejects an unknown class on spec.priorityClassName and a contradicting spec.priority', () => {
    const pod = valid(podWith({ priorityClassName: 'nope' }));
    const causes = applyPriority(pod, classes);
    expect(causes).toEqual([
      {
        field: 'spec.priorityClassName',
        reason: 'FieldValueNotFound',
        message: 'Not found: "nope": no PriorityClass with name nope was found',
      },
    ]);
    expect(pod.spec.priority).toBeUndefined();
    const contradicting = valid(podWith({ priorityClassName: 'high', priority: 5 }));
    expect(applyPriority(contradicting, classes)[0].field).toBe('spec.priority');
    expect(applyPriority(valid(podWith({ priorityClassName: 'high', priority: 1000 })), classes)).toEqual([]);
  });
});
