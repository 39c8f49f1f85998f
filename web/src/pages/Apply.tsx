// Create or edit objects as YAML, applied with server-side apply (PATCH application/apply-patch+yaml, the
// dashboard as field manager). The server's 422 causes are drawn next to the line of the field they name;
// YAML syntax errors next to their line too.
import { useEffect, useMemo, useRef, useState, type UIEvent } from 'react';
import YAML, { LineCounter } from 'yaml';
import { ApiError, api, resourcePath, type Cause } from '../api.ts';
import { lineOfField } from '../fieldpath.ts';

const LINE_HEIGHT = 20; // px; the textarea, gutter and markers share it (style.css .editor)

const EXAMPLE = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ticker
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels:
      app: ticker
  template:
    metadata:
      labels:
        app: ticker
    spec:
      runtimeClassName: wasm
      containers:
        - name: ticker
          image: build/wasm/ticker.wasm
`;

interface Marker {
  id: string;
  line: number;
  field?: string;
  message: string;
}

/** An object as the server returned it, minus what a user does not write. */
function editable(o: any): any {
  const {
    managedFields: _m,
    uid: _u,
    creationTimestamp: _c,
    generation: _g,
    selfLink: _s,
    ...meta
  } = o.metadata ?? {};
  const { status: _st, ...rest } = o;
  return { ...rest, metadata: meta };
}

export function Apply({ path }: { path?: string }) {
  const [text, setText] = useState(path ? '' : EXAMPLE);
  const [markers, setMarkers] = useState<Marker[]>([]);
  const [result, setResult] = useState<string>('');
  const [busy, setBusy] = useState(false);
  const [scrollTop, setScrollTop] = useState(0);
  const area = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    if (!path) return;
    api(path).then(
      (o) => setText(YAML.stringify(editable(o))),
      (err: Error) => setResult(`could not load ${path}: ${err.message}`),
    );
  }, [path]);

  const lines = useMemo(() => text.split('\n'), [text]);

  const apply = async () => {
    setBusy(true);
    setMarkers([]);
    setResult('');
    const counter = new LineCounter();
    const docs = YAML.parseAllDocuments(text, { lineCounter: counter });
    const found: Marker[] = [];
    const done: string[] = [];
    try {
      for (const doc of Array.isArray(docs) ? docs : [docs]) {
        if (doc.errors.length) {
          for (const e of doc.errors) {
            found.push({
              id: `m${found.length}`,
              line: counter.linePos(e.pos[0]).line,
              message: e.message.split('\n')[0],
            });
          }
          continue;
        }
        const obj = doc.toJS() as any;
        if (!obj) continue;
        const where = (field: string) => lineOfField(doc, counter, field)?.line ?? 1;
        if (!obj.apiVersion || !obj.kind || !obj.metadata?.name) {
          const field = !obj.apiVersion ? 'apiVersion' : !obj.kind ? 'kind' : 'metadata.name';
          found.push({
            id: `m${found.length}`,
            line: where(field),
            field,
            message: `${field}: Required value`,
          });
          continue;
        }
        try {
          const target = await resourcePath(
            obj.apiVersion,
            obj.kind,
            obj.metadata.namespace,
            obj.metadata.name,
          );
          await api(`${target}?fieldManager=strata-dashboard&force=true`, {
            method: 'PATCH',
            contentType: 'application/apply-patch+yaml',
            body: YAML.stringify(obj),
          });
          done.push(`${obj.kind}/${obj.metadata.name} applied`);
        } catch (err) {
          const causes: Cause[] = err instanceof ApiError ? (err.status?.details?.causes ?? []) : [];
          if (causes.length === 0) {
            found.push({
              id: `m${found.length}`,
              line: where('metadata.name'),
              message: (err as Error).message,
            });
          }
          for (const c of causes) {
            found.push({
              id: `m${found.length}`,
              line: c.field ? where(c.field) : where('metadata.name'),
              field: c.field,
              message: c.field
                ? `${c.field}: ${c.message ?? c.reason ?? 'invalid'}`
                : (c.message ?? 'invalid'),
            });
          }
        }
      }
    } finally {
      setBusy(false);
    }
    setMarkers(found);
    setResult(done.join('; ') || (found.length ? '' : 'nothing to apply'));
    if (found.length && area.current) {
      // Put the caret on the first error's line.
      const at = lines.slice(0, found[0].line - 1).join('\n').length + (found[0].line > 1 ? 1 : 0);
      area.current.focus();
      area.current.setSelectionRange(at, at);
    }
  };

  const onScroll = (e: UIEvent<HTMLTextAreaElement>) => setScrollTop(e.currentTarget.scrollTop);
  const describedBy = ['yaml-help', ...markers.map((m) => m.id)].join(' ');
  return (
    <section aria-labelledby="apply-title">
      <h1 id="apply-title">{path ? `Edit ${path}` : 'Create or edit with YAML'}</h1>
      <p id="yaml-help" className="hint">
        Applied with server-side apply (field manager <code>strata-dashboard</code>); several documents may be
        separated by <code>---</code>. The server's validation errors appear next to the field they name.
      </p>
      <label htmlFor="yaml">Manifest (YAML)</label>
      <div
        className="editor"
        style={{ height: `${Math.min(30, Math.max(12, lines.length + 1)) * LINE_HEIGHT + 16}px` }}
      >
        <div className="gutter" aria-hidden="true" style={{ transform: `translateY(${-scrollTop}px)` }}>
          {lines.map((_, i) => (
            <div key={i} className={markers.some((m) => m.line === i + 1) ? 'bad' : undefined}>
              {i + 1}
            </div>
          ))}
        </div>
        <textarea
          id="yaml"
          ref={area}
          spellCheck={false}
          wrap="off"
          value={text}
          onChange={(e) => setText(e.target.value)}
          onScroll={onScroll}
          aria-invalid={markers.length ? true : undefined}
          aria-describedby={describedBy}
        />
        <div className="markers" style={{ transform: `translateY(${-scrollTop}px)` }}>
          {markers.map((m) => (
            <div
              key={m.id}
              id={m.id}
              className="field-error"
              data-field={m.field ?? ''}
              data-line={m.line}
              style={{
                top: `${(m.line - 1) * LINE_HEIGHT + 8}px`,
                left: `calc(4.5em + ${(lines[m.line - 1] ?? '').length + 3}ch)`,
              }}
            >
              ⚠ {m.message}
            </div>
          ))}
        </div>
      </div>
      <p>
        <button type="button" onClick={apply} disabled={busy}>
          Apply
        </button>{' '}
        {!path && (
          <button type="button" onClick={() => (setText(EXAMPLE), setMarkers([]))}>
            Reset to the example
          </button>
        )}
      </p>
      {markers.length > 0 && (
        <div role="alert" className="error">
          <p>The server refused this manifest:</p>
          <ul>
            {markers.map((m) => (
              <li key={m.id}>
                line {m.line}: {m.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      {result && (
        <p role="status" className="ok">
          {result}
        </p>
      )}
    </section>
  );
}
