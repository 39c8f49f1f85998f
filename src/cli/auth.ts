// `strata auth can-i VERB RESOURCE[/NAME] | URL [-n NS] [-A] [--subresource S] [--as USER] [--as-group G]`
// and `strata auth can-i --list`: the questions of `kubectl auth can-i`, asked of the server's
// authorizer through authorization.k8s.io/v1 reviews. Prints yes/no (exit 0/1), as kubectl does.
// With --as, the question is a SubjectAccessReview about that user (which needs the right to create
// SubjectAccessReviews, as an administrator has) rather than kubectl's impersonation of them.
import type { Command } from 'commander';
import { resolveKind } from '../api/index.ts';
import type { CliContext } from './context.ts';
import { alignRows } from './printers.ts';

const GV = 'authorization.k8s.io/v1';

export interface CanIOptions {
  allNamespaces?: boolean;
  subresource?: string;
  as?: string;
  asGroup?: string[];
  list?: boolean;
}

/** The resourceAttributes or nonResourceAttributes of `VERB RESOURCE[/NAME]` or `VERB /path`. */
export function canIAttributes(
  verb: string,
  target: string,
  namespace: string | undefined,
  subresource?: string,
): { resourceAttributes?: Record<string, string>; nonResourceAttributes?: Record<string, string> } {
  if (target.startsWith('/')) return { nonResourceAttributes: { verb, path: target } };
  const [type, name] = target.split('/', 2);
  // kubectl's names (pods, po, deployments.apps, deploy) resolve through the registry; an unknown name (or
  // `*`) is asked as written, in the group after its first dot.
  const kind = resolveKind(type);
  const dot = type.indexOf('.');
  const resource = kind ? kind.plural : dot > 0 ? type.slice(0, dot) : type;
  const group = kind ? kind.group : dot > 0 ? type.slice(dot + 1) : '';
  const attrs: Record<string, string> = { verb, resource, group };
  if (kind?.namespaced !== false && namespace) attrs.namespace = namespace;
  if (name) attrs.name = name;
  if (subresource) attrs.subresource = subresource;
  return { resourceAttributes: attrs };
}

export async function canI(ctx: CliContext, verb: string, target: string, o: CanIOptions): Promise<boolean> {
  const ns = o.allNamespaces ? undefined : ctx.namespace;
  const spec = canIAttributes(verb, target, ns, o.subresource);
  const review =
    o.as || o.asGroup?.length
      ? {
          apiVersion: GV,
          kind: 'SubjectAccessReview',
          spec: { ...spec, user: o.as ?? '', groups: o.asGroup ?? [] },
        }
      : { apiVersion: GV, kind: 'SelfSubjectAccessReview', spec };
  const plural = review.kind === 'SubjectAccessReview' ? 'subjectaccessreviews' : 'selfsubjectaccessreviews';
  const r = await ctx.client.json('POST', `/apis/${GV}/${plural}`, { body: review });
  return r.status?.allowed === true;
}

/** `--list`: the rules one holds in the namespace, as kubectl prints them. */
export async function canIList(ctx: CliContext): Promise<string> {
  const r = await ctx.client.json('POST', `/apis/${GV}/selfsubjectrulesreviews`, {
    body: { apiVersion: GV, kind: 'SelfSubjectRulesReview', spec: { namespace: ctx.namespace } },
  });
  const list = (l: string[] | undefined) => `[${(l ?? []).join(' ')}]`;
  const rows: string[][] = [['Resources', 'Non-Resource URLs', 'Resource Names', 'Verbs']];
  for (const rule of r.status?.resourceRules ?? []) {
    for (const res of rule.resources ?? []) {
      const groups: string[] = rule.apiGroups ?? [''];
      for (const g of groups)
        rows.push([g ? `${res}.${g}` : res, '[]', list(rule.resourceNames), list(rule.verbs)]);
    }
  }
  for (const rule of r.status?.nonResourceRules ?? [])
    rows.push(['', list(rule.nonResourceURLs), '[]', list(rule.verbs)]);
  let out = alignRows(rows).join('\n');
  if (r.status?.incomplete) out += `\nwarning: the list may be incomplete: ${r.status.evaluationError ?? ''}`;
  return out;
}

export function registerAuthCommands(
  program: Command,
  connect: () => CliContext,
  print: (s: string) => void,
  setExitCode: (code: number) => void,
): void {
  const auth = program.command('auth').description('inspect authorization');
  auth
    .command('can-i')
    .description('check whether an action is allowed (VERB RESOURCE[/NAME] or VERB /url), or --list what is')
    .argument('[verb]', 'get, list, watch, create, update, patch, delete, exec …')
    .argument('[resource]', 'a resource (pods, deployments.apps, pods/NAME) or a non-resource URL (/healthz)')
    .option('-A, --all-namespaces', 'ask about every namespace')
    .option('--subresource <name>', 'a subresource (log, exec, status …)')
    .option('--as <user>', 'ask about another user (a SubjectAccessReview)')
    .option('--as-group <group>', 'a group of that user (repeatable)', (v: string, p: string[] = []) => [
      ...p,
      v,
    ])
    .option('--list', 'list what one may do in the namespace')
    .action(async (verb: string | undefined, resource: string | undefined, o: CanIOptions) => {
      const ctx = connect();
      if (o.list) return print(await canIList(ctx));
      if (!verb || !resource)
        throw new Error('you must specify two arguments: verb resource or verb resource/name');
      const allowed = await canI(ctx, verb, resource, o);
      print(allowed ? 'yes' : 'no');
      setExitCode(allowed ? 0 : 1);
    });
}
