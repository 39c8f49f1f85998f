import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { allKinds } from '../../api/registry.ts';
import { readKubectlSchema, renderSchema, resolveKubectl } from './extract-schema.ts';
import { goJsonTag, SPECIAL_TYPE_NAMES } from './go-json.ts';
import { messageTypeFor, PROTOBUF_KINDS, schemaRoots, UNKNOWN } from './kinds.ts';
import { PROTO_DIR } from './proto-dir.ts';
import { schema } from './schema.ts';

function allTypes(ns: protobuf.NamespaceBase): protobuf.Type[] {
  return ns.nestedArray.flatMap((n) =>
    n instanceof protobuf.Type ? [n, ...allTypes(n)] : n instanceof protobuf.Namespace ? allTypes(n) : [],
  );
}
const name = (t: protobuf.Type): string => t.fullName.replace(/^\./, '');
const TYPES = allTypes(schema);

describe('the protobuf schema', () => {
  it('has a message for every kind it claims to decode', () => {
    for (const [apiVersion, kinds] of Object.entries(PROTOBUF_KINDS)) {
      for (const kind of Object.keys(kinds)) {
        expect(
          () => schema.lookupType(messageTypeFor(apiVersion, kind)!),
          `${apiVersion} ${kind}`,
        ).not.toThrow();
      }
    }
  });

  it('decodes every built-in kind the API serves', () => {
    // CRD-style groups have no generated.proto upstream; their clients always send JSON.
    const jsonOnly = [
      'serving.knative.dev',
      'sources.knative.dev',
      'eventing.knative.dev',
      'monitoring.coreos.com',
      'wgpolicyk8s.io',
      'metrics.k8s.io',
    ];
    for (const k of allKinds()) {
      if (jsonOnly.includes(k.group)) continue;
      expect(messageTypeFor(k.apiVersion, k.kind), `${k.apiVersion} ${k.kind}`).toBeDefined();
    }
  });

  it('knows the Go json tag of every field, except in the types with their own JSON form', () => {
    const untagged = TYPES.filter((t) =>
      t.fieldsArray.some((f) => f.options?.['(gogoproto.jsontag)'] === undefined),
    );
    expect(untagged.map(name).filter((n) => !SPECIAL_TYPE_NAMES.includes(n))).toEqual([]);
  });

  it('drops (json:"-") fields only of the envelope and the types with their own JSON form', () => {
    const dropping = TYPES.filter((t) => t.fieldsArray.some((f) => goJsonTag(f).skip)).map(name);
    expect(dropping.filter((n) => n !== UNKNOWN && !SPECIAL_TYPE_NAMES.includes(n))).toEqual([]);
  });

  it('has reviewed every apimachinery type: plain structs, or converted specially', () => {
    // Each of these is an ordinary Go struct whose JSON is its tagged fields. A new apimachinery
    // type (Duration, …) must be checked for a MarshalJSON of its own before it joins this list.
    const plain = [
      'k8s.io.apimachinery.pkg.apis.meta.v1.Condition',
      'k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions',
      'k8s.io.apimachinery.pkg.apis.meta.v1.FieldSelectorRequirement',
      'k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector',
      'k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement',
      'k8s.io.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry',
      'k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta',
      'k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference',
      'k8s.io.apimachinery.pkg.apis.meta.v1.Preconditions',
      'k8s.io.apimachinery.pkg.runtime.TypeMeta',
      UNKNOWN,
    ];
    const apimachinery = TYPES.map(name).filter((n) => n.startsWith('k8s.io.apimachinery.'));
    expect(apimachinery.filter((n) => !plain.includes(n) && !SPECIAL_TYPE_NAMES.includes(n))).toEqual([]);
  });
});

// The committed proto/ files are what extract-schema.ts writes from this machine's kubectl: nobody
// edited them by hand, and kinds.ts did not gain a kind without re-running it.
const kubectl = (() => {
  try {
    return resolveKubectl();
  } catch {
    return undefined;
  }
})();

describe.skipIf(!kubectl)('extract-schema against the kubectl on this machine', () => {
  it('reproduces the committed schema', () => {
    const source = readKubectlSchema(kubectl!);
    const committedVersion = /as compiled into kubectl (\S+)\./.exec(
      readFileSync(join(PROTO_DIR, 'k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto'), 'utf8'),
    )?.[1];
    if (committedVersion !== source.version) {
      // Another kubectl (a newer machine image): the schema may legitimately differ.
      console.warn(`kubectl ${source.version} here, schema from ${committedVersion}: not compared`);
      return;
    }
    const rendered = renderSchema(source, schemaRoots());
    for (const [file, text] of rendered) {
      expect(existsSync(join(PROTO_DIR, file)), file).toBe(true);
      expect(readFileSync(join(PROTO_DIR, file), 'utf8'), file).toBe(text);
    }
    expect(TYPES.length).toBe(
      [...rendered.values()].reduce((n, text) => n + (text.match(/^message /gm) ?? []).length, 0),
    );
  });
});
