import { describe, expect, it } from 'vitest';
import { LineCounter, parseDocument } from 'yaml';
import { lineOfField, parseFieldPath } from './fieldpath.ts';

const YAML_TEXT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: -1
  template:
    spec:
      containers:
        - name: a
          image: one
        - name: b
          image: ""
          resources:
            limits:
              cpu: lots
`;

function line(field: string) {
  const lc = new LineCounter();
  const doc = parseDocument(YAML_TEXT, { lineCounter: lc });
  return lineOfField(doc, lc, field);
}

describe('field paths of Status causes in the YAML the user wrote', () => {
  it('parses dotted paths, list indexes and map keys', () => {
    expect(parseFieldPath('spec.template.spec.containers[1].image')).toEqual([
      'spec',
      'template',
      'spec',
      'containers',
      1,
      'image',
    ]);
    expect(parseFieldPath('spec.hard[pods]')).toEqual(['spec', 'hard', 'pods']);
  });

  it('finds the line of the field, through lists and map keys', () => {
    expect(line('spec.replicas')).toEqual({ line: 6, exact: true });
    expect(line('spec.template.spec.containers[1].image')).toEqual({ line: 13, exact: true });
    expect(line('spec.template.spec.containers[1].resources.limits[cpu]')).toEqual({ line: 16, exact: true });
  });

  it('falls back to the nearest ancestor the document has', () => {
    expect(line('spec.template.spec.containers[1].ports[0].containerPort')).toEqual({
      line: 12,
      exact: false,
    });
    expect(line('spec.strategy.type')).toEqual({ line: 5, exact: false });
  });
});
