// The protobuf schema the decoder reads: proto/**/generated.proto (written by extract-schema.ts),
// loaded once into a protobufjs Root. Imports inside those files are upstream's paths
// ("k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto"), resolved against proto/.
import { join } from 'node:path';
import { globSync } from 'node:fs';
import protobuf from 'protobufjs';
import { PROTO_DIR } from './proto-dir.ts';

function loadSchema(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  const files = globSync('k8s.io/**/generated.proto', { cwd: PROTO_DIR });
  if (files.length === 0) throw new Error(`no protobuf schema under ${PROTO_DIR}`);
  // keepCase: the field names are already Kubernetes' JSON names (see go-json.ts for the few
  // that are not); protobufjs would otherwise camel-case them.
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

export const schema: protobuf.Root = loadSchema();

export function messageType(fullName: string): protobuf.Type {
  return schema.lookupType(fullName);
}
