// Reads manifests for `apply -f` / `delete -f`: a file, a directory (its *.yaml, *.yml, *.json files,
// not recursive), or `-` for standard input. Multi-document YAML and `kind: List` are flattened.
// Errors name the file and document.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import YAML from 'yaml';

export interface Manifest {
  source: string;
  object: any;
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Apply order: namespaces, then the config objects pods refer to, then everything else. */
const KIND_ORDER = ['Namespace', 'ConfigMap', 'Secret'];

function readStdin(): string {
  return readFileSync(0, 'utf8');
}

function filesOf(path: string): string[] {
  if (path === '-') return ['-'];
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`the path "${path}" does not exist`);
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => EXTENSIONS.has(extname(f)))
    .sort()
    .map((f) => join(path, f));
}

export function parseManifests(text: string, source: string): Manifest[] {
  const out: Manifest[] = [];
  const docs = YAML.parseAllDocuments(text, { prettyErrors: true });
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `${source} (document ${i + 1})` : source;
    if (doc.errors.length) throw new Error(`${where}: invalid YAML: ${doc.errors[0].message.split('\n')[0]}`);
    const obj = doc.toJS();
    if (obj === null || obj === undefined) return;
    if (typeof obj !== 'object' || Array.isArray(obj))
      throw new Error(`${where}: expected an object with apiVersion and kind`);
    if (
      obj.kind === 'List' ||
      (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items))
    ) {
      for (const item of obj.items ?? []) out.push({ source: where, object: item });
      return;
    }
    if (!obj.apiVersion || !obj.kind) throw new Error(`${where}: apiVersion and kind are required`);
    out.push({ source: where, object: obj });
  });
  return out;
}

export function readManifests(paths: string[]): Manifest[] {
  const out: Manifest[] = [];
  for (const p of paths) {
    for (const f of filesOf(p)) {
      const text = f === '-' ? readStdin() : readFileSync(f, 'utf8');
      out.push(...parseManifests(text, f === '-' ? '<stdin>' : f));
    }
  }
  const rank = (m: Manifest): number => {
    const i = KIND_ORDER.indexOf(m.object.kind);
    return i < 0 ? KIND_ORDER.length : i;
  };
  return out
    .map((m, i) => ({ m, i }))
    .sort((a, b) => rank(a.m) - rank(b.m) || a.i - b.i)
    .map((x) => x.m);
}
