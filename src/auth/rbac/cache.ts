// The RBAC objects as the authorizer reads them: four informer caches, plus an index of bindings by
// subject, so that a request looks at the handful of bindings naming its user, its groups or its service
// account — not at all 2,000 of them. Role lookups go straight to the informers' caches (by key).
import type { ClusterRole, ClusterRoleBinding, Role, RoleBinding, Subject } from '../../api/kinds/rbac.ts';
import type { InformerHandlers } from '../../lib/informer.ts';
import type { UserInfo } from '../identities.ts';

/** What the cache needs of an informer (src/lib/informer.ts). */
export interface CachedObjects<T> {
  get(key: string): T | undefined;
  values(): IterableIterator<T>;
  addHandler(handlers: InformerHandlers<T>): () => void;
}

export interface RbacInformers {
  roles: CachedObjects<Role>;
  clusterRoles: CachedObjects<ClusterRole>;
  roleBindings: CachedObjects<RoleBinding>;
  clusterRoleBindings: CachedObjects<ClusterRoleBinding>;
}

export const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';

/** `system:serviceaccount:NS:NAME` → [NS, NAME]; undefined for other users. */
export function serviceAccountOf(username: string): [string, string] | undefined {
  if (!username.startsWith(SERVICE_ACCOUNT_PREFIX)) return undefined;
  const rest = username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
  return rest.length === 2 && rest[0] && rest[1] ? [rest[0], rest[1]] : undefined;
}

/**
 * The index key of a subject. A RoleBinding's service account without a namespace is one of the
 * binding's namespace (as kube's appliesToUser reads it).
 */
export function subjectKey(s: Subject, bindingNamespace?: string): string {
  if (s.kind === 'ServiceAccount') return `sa:${s.namespace || bindingNamespace || ''}:${s.name}`;
  return `${s.kind === 'Group' ? 'g' : 'u'}:${s.name}`;
}

/** Every key under which a binding could name this user. */
export function userKeys(user: Pick<UserInfo, 'username' | 'groups'>): string[] {
  const keys = [`u:${user.username}`, ...user.groups.map((g) => `g:${g}`)];
  const sa = serviceAccountOf(user.username);
  if (sa) keys.push(`sa:${sa[0]}:${sa[1]}`);
  return keys;
}

type AnyBinding = RoleBinding | ClusterRoleBinding;

/** subject key → bindings (by namespace/name key, so an update replaces the old version). */
class BindingIndex<B extends AnyBinding> {
  private readonly bySubject = new Map<string, Map<string, B>>();

  constructor(source: CachedObjects<B>) {
    source.addHandler({
      onAdd: (b) => this.add(b),
      onUpdate: (old, b) => {
        this.remove(old);
        this.add(b);
      },
      onDelete: (b) => this.remove(b),
    });
  }

  private static id(b: AnyBinding): string {
    return `${b.metadata.namespace ?? ''}/${b.metadata.name}`;
  }

  // RoleBindings are indexed under `NS|key`, so a lookup touches only the request's namespace.
  private keysOf(b: B): Set<string> {
    const ns = b.metadata.namespace;
    return new Set((b.subjects ?? []).map((s) => (ns ? `${ns}|` : '') + subjectKey(s, ns)));
  }

  private add(b: B): void {
    for (const k of this.keysOf(b)) {
      let m = this.bySubject.get(k);
      if (!m) this.bySubject.set(k, (m = new Map()));
      m.set(BindingIndex.id(b), b);
    }
  }

  private remove(b: B): void {
    for (const k of this.keysOf(b)) {
      const m = this.bySubject.get(k);
      m?.delete(BindingIndex.id(b));
      if (m?.size === 0) this.bySubject.delete(k);
    }
  }

  /** The bindings naming any of these keys (of one namespace, for RoleBindings), each once. */
  find(keys: readonly string[], namespace?: string): B[] {
    const out = new Map<string, B>();
    const prefix = namespace ? `${namespace}|` : '';
    for (const k of keys) for (const [id, b] of this.bySubject.get(prefix + k) ?? []) out.set(id, b);
    return [...out.values()];
  }
}

export class RbacCache {
  private readonly informers: RbacInformers;
  private readonly roleBindingIndex: BindingIndex<RoleBinding>;
  private readonly clusterRoleBindingIndex: BindingIndex<ClusterRoleBinding>;

  constructor(informers: RbacInformers) {
    this.informers = informers;
    this.roleBindingIndex = new BindingIndex(informers.roleBindings);
    this.clusterRoleBindingIndex = new BindingIndex(informers.clusterRoleBindings);
  }

  role(namespace: string, name: string): Role | undefined {
    return this.informers.roles.get(`${namespace}/${name}`);
  }

  clusterRole(name: string): ClusterRole | undefined {
    return this.informers.clusterRoles.get(name);
  }

  clusterRoles(): IterableIterator<ClusterRole> {
    return this.informers.clusterRoles.values();
  }

  clusterRoleBindingsFor(user: Pick<UserInfo, 'username' | 'groups'>): ClusterRoleBinding[] {
    return this.clusterRoleBindingIndex.find(userKeys(user));
  }

  roleBindingsFor(user: Pick<UserInfo, 'username' | 'groups'>, namespace: string): RoleBinding[] {
    return this.roleBindingIndex.find(userKeys(user), namespace);
  }
}
