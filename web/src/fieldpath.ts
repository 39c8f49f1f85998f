// Where a Status cause's field (spec.template.spec.containers[0].image, spec.hard[pods]) sits in the YAML
// the user wrote: the line of the deepest key or item the document has on that path, so the server's
// error is shown next to the field it names.
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

/** `a.b[0].c[key]` → ['a', 'b', 0, 'c', 'key']. */
export function parseFieldPath(field: string): Array<string | number> {
  const out: Array<string | number> = [];
  const re = /([^.[\]]+)|\[([^\]]*)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(field))) {
    if (m[1] !== undefined) out.push(m[1]);
    else out.push(/^\d+$/.test(m[2]) ? Number(m[2]) : m[2]);
  }
  return out;
}

/** The 1-based line of `field` in `doc` (or of its nearest existing ancestor), and whether it was exact. */
export function lineOfField(
  doc: Document,
  lines: LineCounter,
  field: string,
): { line: number; exact: boolean } | undefined {
  let node: unknown = doc.contents;
  if (!node || !(node as Node).range) return undefined;
  let offset = (node as Node).range![0];
  const path = parseFieldPath(field);
  let found = 0;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item?.range) break;
      offset = item.range[0];
      node = item;
    } else break;
    found++;
  }
  return { line: lines.linePos(offset).line, exact: found === path.length };
}
