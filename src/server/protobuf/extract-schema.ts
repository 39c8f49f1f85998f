// Writes proto/**/generated.proto: the messages of kinds.ts (and everything they reference),
// trimmed out of the k8s.io/api and k8s.io/apimachinery `generated.proto` schemas exactly as the
// kubectl binary on this machine was compiled with them.
//
// Why from kubectl and not from a checkout: gogo-protobuf embeds every generated.proto it compiled
// as a gzipped FileDescriptorProto in the binary, *with* the gogoproto options that upstream strips
// from the published .proto files. `(gogoproto.nullable) = false` is how the Go struct field is a
// value rather than a pointer, and that decides Go's JSON output for a zero value (see go-json.ts).
// The field numbers, names and types are the upstream ones, verbatim.
//
//   node src/server/protobuf/extract-schema.ts [path/to/kubectl]   (default: kubectl on PATH)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync, constants as zlibConstants } from 'node:zlib';
import protobuf from 'protobufjs';
import { readGoJsonTags, type GoJsonTags } from './go-struct-tags.ts';
import { schemaRoots } from './kinds.ts';
import { PROTO_DIR } from './proto-dir.ts';

// Just the parts of google/protobuf/descriptor.proto this needs, plus the gogoproto extension
// numbers (github.com/gogo/protobuf/gogoproto/gogo.proto) read off FieldOptions.
const DESCRIPTOR_SCHEMA = `
syntax = "proto2";
message FileDescriptorProto {
  optional string name = 1;
  optional string package = 2;
  repeated string dependency = 3;
  repeated DescriptorProto message_type = 4;
}
message DescriptorProto {
  optional string name = 1;
  repeated FieldDescriptorProto field = 2;
  repeated DescriptorProto nested_type = 3;
  optional MessageOptions options = 7;
}
message FieldDescriptorProto {
  optional string name = 1;
  optional int32 number = 3;
  optional int32 label = 4;
  optional int32 type = 5;
  optional string type_name = 6;
  optional FieldOptions options = 8;
}
message MessageOptions { optional bool map_entry = 7; }
message FieldOptions { optional bool gogoproto_nullable = 65001; }
`;

export interface FieldDescriptor {
  name: string;
  number: number;
  label: number;
  type: number;
  type_name?: string;
  options?: { gogoproto_nullable?: boolean };
}
export interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nested_type: MessageDescriptor[];
  options?: { map_entry?: boolean };
}
export interface FileDescriptor {
  name: string;
  package: string;
  dependency: string[];
  message_type: MessageDescriptor[];
}

const descriptorRoot = protobuf.parse(DESCRIPTOR_SCHEMA, { keepCase: true }).root;
const FileDescriptorProto = descriptorRoot.lookupType('FileDescriptorProto');

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);

/** Every `*generated.proto` FileDescriptorProto gogo-protobuf embedded in a Go binary, by file name. */
export function readEmbeddedDescriptors(binary: Buffer): Map<string, FileDescriptor> {
  const files = new Map<string, FileDescriptor>();
  for (let at = binary.indexOf(GZIP_MAGIC); at !== -1; at = binary.indexOf(GZIP_MAGIC, at + 1)) {
    let raw: Buffer;
    try {
      // The member's length is unknown; a sync flush inflates what is there and ignores the rest.
      // Only this member: gunzip would go on into the next member when two descriptors sit back to back
      // (certificates/v1 right before v1beta1), and protobuf would merge the two into one file named
      // after the second. Go's gzip.Writer writes a plain 10-byte header (no flags), then raw deflate.
      if (binary[at + 3] !== 0) continue;
      raw = inflateRawSync(binary.subarray(at + 10, at + (1 << 20)), {
        finishFlush: zlibConstants.Z_SYNC_FLUSH,
      });
    } catch {
      continue; // three bytes that only look like a gzip header
    }
    // A FileDescriptorProto starts with field 1 (its name).
    if (
      raw[0] !== 0x0a ||
      !raw
        .subarray(2, 2 + raw[1])
        .toString()
        .endsWith('generated.proto')
    )
      continue;
    const file = FileDescriptorProto.toObject(FileDescriptorProto.decode(raw), {
      arrays: true,
      defaults: false,
    }) as FileDescriptor;
    files.set(file.name, file);
  }
  return files;
}

const SCALARS: Record<number, string> = {
  1: 'double',
  2: 'float',
  3: 'int64',
  4: 'uint64',
  5: 'int32',
  8: 'bool',
  9: 'string',
  12: 'bytes',
  13: 'uint32',
};
const TYPE_MESSAGE = 11;
const LABEL_REPEATED = 3;

interface Indexed {
  file: FileDescriptor;
  message: MessageDescriptor;
}

function index(files: Map<string, FileDescriptor>): Map<string, Indexed> {
  const byName = new Map<string, Indexed>();
  const add = (file: FileDescriptor, scope: string, messages: MessageDescriptor[]): void => {
    for (const message of messages) {
      const full = `${scope}.${message.name}`;
      byName.set(full, { file, message });
      add(file, full, message.nested_type ?? []);
    }
  };
  for (const file of files.values()) add(file, file.package, file.message_type ?? []);
  return byName;
}

/** The roots and every message they reach through their fields. */
function closure(byName: Map<string, Indexed>, roots: string[]): Set<string> {
  const keep = new Set<string>();
  const visit = (name: string): void => {
    if (keep.has(name)) return;
    const found = byName.get(name);
    if (!found) throw new Error(`kubectl's schema has no message ${name}`);
    keep.add(name);
    for (const field of found.message.field ?? []) {
      if (field.type === TYPE_MESSAGE) visit(field.type_name!.replace(/^\./, ''));
    }
  };
  for (const root of roots) visit(root);
  return keep;
}

function typeName(field: FieldDescriptor, pkg: string): string {
  if (field.type !== TYPE_MESSAGE) {
    const scalar = SCALARS[field.type];
    if (!scalar) throw new Error(`field ${field.name}: unexpected descriptor type ${field.type}`);
    return scalar;
  }
  const full = field.type_name!.replace(/^\./, '');
  return full.startsWith(`${pkg}.`) && !full.slice(pkg.length + 1).includes('.')
    ? full.slice(pkg.length + 1)
    : full;
}

function referencedFiles(message: MessageDescriptor, byName: Map<string, Indexed>): string[] {
  const files: string[] = [];
  for (const field of message.field ?? []) {
    if (field.type !== TYPE_MESSAGE) continue;
    const target = byName.get(field.type_name!.replace(/^\./, ''))!;
    // A map field's entry type is nested in this message; what matters is the entry's value type.
    if (target.message.options?.map_entry) files.push(...referencedFiles(target.message, byName));
    else files.push(target.file.name);
  }
  return files;
}

/**
 * `(gogoproto.nullable) = false` where the Go field is a value, not a pointer; `(gogoproto.jsontag)`
 * with the Go struct's `json:"…"` tag — both gogo-protobuf's own options for exactly these facts.
 */
function fieldOptions(field: FieldDescriptor, jsonTags: Map<number, string> | undefined): string {
  const options: string[] = [];
  if (field.options?.gogoproto_nullable === false) options.push('(gogoproto.nullable) = false');
  const tag = jsonTags?.get(field.number);
  if (tag !== undefined) options.push(`(gogoproto.jsontag) = ${JSON.stringify(tag)}`);
  return options.length ? ` [${options.join(', ')}]` : '';
}

function renderMessage(
  message: MessageDescriptor,
  pkg: string,
  byName: Map<string, Indexed>,
  jsonTags: Map<number, string> | undefined,
): string {
  if ((message.nested_type ?? []).some((nested) => !nested.options?.map_entry)) {
    throw new Error(`${pkg}.${message.name}: nested messages other than map entries are not rendered`);
  }
  const lines = [`message ${message.name} {`];
  for (const field of message.field ?? []) {
    const entry = field.type === TYPE_MESSAGE ? byName.get(field.type_name!.replace(/^\./, '')) : undefined;
    if (entry?.message.options?.map_entry) {
      const [key, value] = entry.message.field;
      const options = fieldOptions(field, jsonTags);
      lines.push(
        `  map<${typeName(key, pkg)}, ${typeName(value, pkg)}> ${field.name} = ${field.number}${options};`,
      );
      continue;
    }
    const label = field.label === LABEL_REPEATED ? 'repeated' : 'optional';
    lines.push(
      `  ${label} ${typeName(field, pkg)} ${field.name} = ${field.number}${fieldOptions(field, jsonTags)};`,
    );
  }
  lines.push('}');
  return lines.join('\n');
}

/** What a kubectl binary says about the Kubernetes types, as read by this module. */
export interface KubectlSchema {
  version: string;
  descriptors: Map<string, FileDescriptor>;
  jsonTags: GoJsonTags;
}

export function readKubectlSchema(kubectl: string): KubectlSchema {
  const binary = readFileSync(kubectl);
  return {
    version: kubectlVersion(kubectl),
    descriptors: readEmbeddedDescriptors(binary),
    jsonTags: readGoJsonTags(binary),
  };
}

/**
 * The Go struct a message was generated from: go-to-protobuf names messages after their Go type,
 * and a generated.proto sits in its Go package's directory.
 */
function goStructTags(schema: KubectlSchema, file: FileDescriptor, message: MessageDescriptor) {
  const tags = schema.jsonTags.get(`${dirname(file.name)}.${message.name}`);
  if (!tags) return undefined;
  for (const field of message.field ?? []) {
    if (!tags.has(field.number)) {
      throw new Error(
        `${file.package}.${message.name}.${field.name}: the Go struct has no field ${field.number}`,
      );
    }
  }
  return tags;
}

/** proto/<upstream path> → file text, for the messages `roots` need. */
export function renderSchema(schema: KubectlSchema, roots: string[]): Map<string, string> {
  const byName = index(schema.descriptors);
  const keep = closure(byName, roots);
  const out = new Map<string, string>();
  const files = [...schema.descriptors.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const file of files) {
    const messages = (file.message_type ?? []).filter((m) => keep.has(`${file.package}.${m.name}`));
    if (messages.length === 0) continue;
    // Import only the files these messages' fields actually reference.
    const referenced = new Set(
      messages.flatMap((m) => referencedFiles(m, byName)).filter((name) => name !== file.name),
    );
    const deps = (file.dependency ?? []).filter((dep) => referenced.has(dep));
    const text = [
      `// Trimmed from ${file.name} (package ${file.package}) as compiled into kubectl ${schema.version}.`,
      '// Generated by src/server/protobuf/extract-schema.ts from the descriptor gogo-protobuf embedded in',
      "// that binary; do not edit. Field names, numbers and types are upstream's. `(gogoproto.nullable) =",
      "// false` marks a Go value (not pointer) field, `(gogoproto.jsontag)` is the Go struct field's json",
      "// tag (read from the binary's reflection data). Upstream: k8s.io/api and k8s.io/apimachinery,",
      '// Apache-2.0, Copyright The Kubernetes Authors.',
      '',
      'syntax = "proto2";',
      '',
      `package ${file.package};`,
      '',
      ...deps.map((dep) => `import "${dep}";`),
      ...(deps.length ? [''] : []),
      messages.map((m) => renderMessage(m, file.package, byName, goStructTags(schema, file, m))).join('\n\n'),
      '',
    ].join('\n');
    out.set(file.name, text);
  }
  return out;
}

export function kubectlVersion(kubectl: string): string {
  const out = execFileSync(kubectl, ['version', '--client', '-o', 'json'], { encoding: 'utf8' });
  return (JSON.parse(out) as { clientVersion: { gitVersion: string } }).clientVersion.gitVersion;
}

/** The kubectl binary itself (not a PATH shim that only execs it). */
export function resolveKubectl(given?: string): string {
  if (given) return realpathSync(given);
  const found = execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();
  return realpathSync(found);
}

function main(): void {
  const kubectl = resolveKubectl(process.argv[2]);
  const source = readKubectlSchema(kubectl);
  const schema = renderSchema(source, schemaRoots());
  rmSync(join(PROTO_DIR, 'k8s.io'), { recursive: true, force: true });
  for (const [name, text] of schema) {
    mkdirSync(dirname(join(PROTO_DIR, name)), { recursive: true });
    writeFileSync(join(PROTO_DIR, name), text);
  }
  console.log(`wrote ${schema.size} files under ${PROTO_DIR} from ${kubectl} (${source.version})`);
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) main();
