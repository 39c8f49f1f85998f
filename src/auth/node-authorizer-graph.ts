// What each node may read, as kube's Node authorizer keeps it in its graph: the Secrets, ConfigMaps,
// PersistentVolumeClaims and ServiceAccounts that pods bound to the node refer to. Kept up to date from
// pod events (an informer's handlers), so every authorization is a map lookup.

/** The objects a pod refers to, as `kind/namespace/name` keys. */
export function podReferences(pod: any): string[] {
  const ns: string = pod?.metadata?.namespace ?? 'default';
  const spec = pod?.spec ?? {};
  const out = new Set<string>();
  const add = (kind: string, name: unknown) => {
    if (typeof name === 'string' && name) out.add(`${kind}/${ns}/${name}`);
  };
  add('serviceaccounts', spec.serviceAccountName ?? 'default');
  for (const s of spec.imagePullSecrets ?? []) add('secrets', s?.name);
  for (const v of spec.volumes ?? []) {
    add('secrets', v?.secret?.secretName);
    add('configmaps', v?.configMap?.name);
    add('persistentvolumeclaims', v?.persistentVolumeClaim?.claimName);
    if (v?.ephemeral) add('persistentvolumeclaims', `${pod?.metadata?.name}-${v.name}`);
    for (const src of v?.projected?.sources ?? []) {
      add('secrets', src?.secret?.name);
      add('configmaps', src?.configMap?.name);
    }
  }
  const containers = [
    ...(spec.containers ?? []),
    ...(spec.initContainers ?? []),
    ...(spec.ephemeralContainers ?? []),
  ];
  for (const c of containers) {
    for (const e of c?.env ?? []) {
      add('secrets', e?.valueFrom?.secretKeyRef?.name);
      add('configmaps', e?.valueFrom?.configMapKeyRef?.name);
    }
    for (const e of c?.envFrom ?? []) {
      add('secrets', e?.secretRef?.name);
      add('configmaps', e?.configMapRef?.name);
    }
  }
  return [...out];
}

const podKey = (pod: any) => `${pod?.metadata?.namespace}/${pod?.metadata?.name}`;

export class NodeGraph {
  /** pod key → the node it is bound to and what it refers to. */
  private readonly pods = new Map<string, { node: string; refs: string[] }>();
  /** `node|kind/ns/name` → how many of the node's pods refer to it. */
  private readonly counts = new Map<string, number>();

  /** A pod was added or changed (pods without a node refer to nothing yet). */
  setPod(pod: any): void {
    this.deletePod(pod);
    const node: string | undefined = pod?.spec?.nodeName;
    if (!node) return;
    const refs = podReferences(pod);
    this.pods.set(podKey(pod), { node, refs });
    for (const r of refs) this.counts.set(`${node}|${r}`, (this.counts.get(`${node}|${r}`) ?? 0) + 1);
  }

  deletePod(pod: any): void {
    const key = podKey(pod);
    const had = this.pods.get(key);
    if (!had) return;
    this.pods.delete(key);
    for (const r of had.refs) {
      const k = `${had.node}|${r}`;
      const n = (this.counts.get(k) ?? 1) - 1;
      if (n > 0) this.counts.set(k, n);
      else this.counts.delete(k);
    }
  }

  /** Whether a pod bound to `node` refers to this object (resource is the plural, e.g. 'secrets'). */
  refers(node: string, resource: string, namespace: string, name: string): boolean {
    return this.counts.has(`${node}|${resource}/${namespace}/${name}`);
  }

  /** The node a pod is bound to (as the graph last saw it). */
  nodeOf(namespace: string, name: string): string | undefined {
    return this.pods.get(`${namespace}/${name}`)?.node;
  }
}
