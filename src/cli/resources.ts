// apply, get, delete: the kubectl verbs over the HTTP API.
import YAML from 'yaml';
import { kindFor, type KindInfo } from '../api/index.ts';
import { ClientError } from '../client/client.ts';
import { type CliContext, kindArg, splitTypeName } from './context.ts';
import { readManifests } from './manifests.ts';
import { tableRows } from './printers.ts';

function ref(kind: KindInfo, name: string): string {
  return `${kind.kind.toLowerCase()}${kind.group ? `.${kind.group}` : ''}/${name}`;
}

/** The field manager of `strata apply` (kubectl's own server-side apply uses "kubectl"). */
const APPLY_MANAGER = 'strata';

export async function apply(ctx: CliContext, files: string[], out: (s: string) => void): Promise<number> {
  const manifests = readManifests(files);
  if (manifests.length === 0) throw new Error(`no objects passed to apply`);
  let failures = 0;
  for (const m of manifests) {
    const obj = m.object;
    const kind = kindFor(obj.apiVersion, obj.kind);
    if (!kind) {
      console.error(`error: ${m.source}: unknown kind ${obj.apiVersion}/${obj.kind}`);
      failures++;
      continue;
    }
    const ns = kind.namespaced
      ? ctx.explicitNamespace
        ? ctx.namespace
        : (obj.metadata?.namespace ?? ctx.namespace)
      : undefined;
    if (
      kind.namespaced &&
      obj.metadata?.namespace &&
      ctx.explicitNamespace &&
      obj.metadata.namespace !== ctx.namespace
    ) {
      console.error(
        `error: ${m.source}: the namespace from the manifest (${obj.metadata.namespace}) does not match -n ${ctx.namespace}`,
      );
      failures++;
      continue;
    }
    const name = obj.metadata?.name;
    try {
      if (!name) throw new Error('metadata.name is required by apply');
      // Server-side apply: the fields this manifest sets are Strata's CLI's; what the server, controllers
      // or other commands wrote (a node name, a cluster IP, a revision annotation) stays theirs.
      const current = await ctx.client.find(kind, ns, name);
      // As kubectl does, the body names its namespace (the server matches it against the URL's).
      const body = ns ? { ...obj, metadata: { ...obj.metadata, namespace: ns } } : obj;
      const applied = await ctx.client.serverSideApply(kind, body, ns, {
        fieldManager: APPLY_MANAGER,
        force: true,
      });
      const verb = !current
        ? 'created'
        : applied.metadata.resourceVersion === current.metadata.resourceVersion
          ? 'unchanged'
          : 'configured';
      out(`${ref(kind, name)} ${verb}`);
    } catch (err) {
      failures++;
      console.error(`error: ${m.source}: ${(err as Error).message}`);
    }
  }
  return failures ? 1 : 0;
}

export interface GetOptions {
  output?: string;
  watch?: boolean;
  selector?: string;
  fieldSelector?: string;
  allNamespaces?: boolean;
}

function render(kind: KindInfo, items: any[], o: GetOptions, single: boolean, headers = true): string {
  switch (o.output) {
    case 'json':
      return JSON.stringify(single ? items[0] : { apiVersion: 'v1', kind: 'List', items }, null, 2);
    case 'yaml':
      return YAML.stringify(single ? items[0] : { apiVersion: 'v1', kind: 'List', items }).trimEnd();
    case 'name':
      return items.map((i) => ref(kind, i.metadata.name)).join('\n');
    case undefined:
    case 'wide':
      return tableRows(kind, items, {
        wide: o.output === 'wide',
        withNamespace: o.allNamespaces && kind.namespaced,
        headers,
      }).join('\n');
    default:
      throw new Error(`unknown output format "${o.output}": use one of wide, yaml, json, name`);
  }
}

export async function get(
  ctx: CliContext,
  kindName: string,
  names: string[],
  o: GetOptions,
  out: (s: string) => void,
): Promise<void> {
  let kind: KindInfo;
  const typed = splitTypeName(kindName);
  if (typed) {
    kind = typed.kind;
    names = [typed.name, ...names];
  } else {
    kind = kindArg(kindName);
  }
  const ns = kind.namespaced && !o.allNamespaces ? ctx.namespace : undefined;
  render(kind, [], o, false); // validates -o before any request
  if (names.length) {
    const items = [];
    for (const n of names) items.push(await ctx.client.get(kind, ns, n));
    out(render(kind, items, o, names.length === 1));
    if (!o.watch) return;
  }
  const list = await ctx.client.list(kind, ns, { labelSelector: o.selector, fieldSelector: o.fieldSelector });
  if (!names.length) {
    if (list.items.length === 0 && !o.output?.match(/json|yaml/)) {
      console.error(ns ? `No resources found in ${ns} namespace.` : 'No resources found');
    } else {
      out(render(kind, list.items, o, false));
    }
  }
  if (!o.watch) return;
  await new Promise<void>((resolve, reject) => {
    void ctx.client
      .watch(
        kind,
        ns,
        {
          resourceVersion: list.metadata.resourceVersion,
          labelSelector: o.selector,
          fieldSelector: o.fieldSelector,
        },
        (ev) => {
          if (ev.type === 'BOOKMARK') return;
          if (ev.type === 'ERROR') return reject(new Error(ev.object?.message ?? 'watch failed'));
          if (names.length && !names.includes(ev.object.metadata.name)) return;
          if (o.output === 'json' || o.output === 'yaml')
            out(render(kind, [ev.object], o, true) + (o.output === 'yaml' ? '\n---' : ''));
          else out(render(kind, [ev.object], o, false, false));
        },
        (err) => (err ? reject(err) : resolve()),
      )
      .catch(reject);
  });
}

export interface DeleteOptions {
  filename?: string[];
  gracePeriod?: number;
  force?: boolean;
  wait?: boolean;
  ignoreNotFound?: boolean;
}

async function waitGone(
  ctx: CliContext,
  kind: KindInfo,
  ns: string | undefined,
  name: string,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await ctx.client.find(kind, ns, name))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${ref(kind, name)} to be deleted`);
}

export async function del(
  ctx: CliContext,
  args: string[],
  o: DeleteOptions,
  out: (s: string) => void,
): Promise<number> {
  const targets: Array<{ kind: KindInfo; ns?: string; name: string }> = [];
  if (o.filename?.length) {
    for (const m of readManifests(o.filename).reverse()) {
      const kind = kindFor(m.object.apiVersion, m.object.kind);
      if (!kind) throw new Error(`${m.source}: unknown kind ${m.object.apiVersion}/${m.object.kind}`);
      targets.push({
        kind,
        ns: kind.namespaced ? (m.object.metadata?.namespace ?? ctx.namespace) : undefined,
        name: m.object.metadata?.name,
      });
    }
  } else {
    if (args.length === 0)
      throw new Error('specify a kind and names (strata delete pod NAME), TYPE/NAME, or -f FILE');
    const typed = args.map(splitTypeName);
    if (typed.every((t) => t)) {
      for (const t of typed)
        targets.push({ kind: t!.kind, ns: t!.kind.namespaced ? ctx.namespace : undefined, name: t!.name });
    } else {
      const kind = kindArg(args[0]);
      if (args.length < 2) throw new Error(`specify the name of the ${kind.singular} to delete`);
      for (const name of args.slice(1))
        targets.push({ kind, ns: kind.namespaced ? ctx.namespace : undefined, name });
    }
  }
  const grace = o.force ? 0 : o.gracePeriod !== undefined && o.gracePeriod >= 0 ? o.gracePeriod : undefined;
  let failures = 0;
  for (const t of targets) {
    try {
      await ctx.client.delete(t.kind, t.ns, t.name, { gracePeriodSeconds: grace });
      out(`${ref(t.kind, t.name)} deleted`);
      if (o.wait !== false) await waitGone(ctx, t.kind, t.ns, t.name);
    } catch (err) {
      if (err instanceof ClientError && err.code === 404 && o.ignoreNotFound) continue;
      failures++;
      console.error(`error: ${(err as Error).message}`);
    }
  }
  return failures ? 1 : 0;
}
