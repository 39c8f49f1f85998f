// NodeRestriction admission, after kube's (plugin/pkg/admission/noderestriction): what the Node
// authorizer cannot see on a create — the name in the body — is checked here, so a node registers only
// itself, takes only its own Lease and publishes only its own kube-dns EndpointSlice, and never creates
// pods. Other callers pass untouched.
import { statusFailure, type KindInfo } from '../api/index.ts';
import { ApiError, type CreateHook, type UpdateHook } from '../store/objects.ts';
import { kubeDnsSliceNameFor, nodeNameOf } from './node-authorizer.ts';

function forbidden(kind: KindInfo, name: string, why: string): ApiError {
  return new ApiError(
    statusFailure(403, 'Forbidden', `${kind.plural} "${name}" is forbidden: ${why}`, {
      name,
      group: kind.group,
      kind: kind.plural,
    }),
  );
}

export const nodeRestrictionOnCreate: CreateHook = (obj, kind, opts) => {
  const node = opts.user ? nodeNameOf(opts.user) : undefined;
  if (!node) return;
  const name: string = obj.metadata?.name ?? '';
  const id = `${kind.group}/${kind.kind}`;
  if (id === '/Node' && name !== node)
    throw forbidden(kind, name, `node "${node}" is not allowed to modify node "${name}"`);
  if (id === 'coordination.k8s.io/Lease' && name !== node)
    throw forbidden(kind, name, `node "${node}" is not allowed to modify lease "${name}"`);
  if (id === 'discovery.k8s.io/EndpointSlice' && name !== kubeDnsSliceNameFor(node))
    throw forbidden(
      kind,
      name,
      `node "${node}" may only publish the EndpointSlice "${kubeDnsSliceNameFor(node)}"`,
    );
  if (id === '/Pod') throw forbidden(kind, name, `node "${node}" can not create pods`);
};

export const nodeRestrictionOnUpdate: UpdateHook = (next, current, kind, opts) => {
  const node = opts.user ? nodeNameOf(opts.user) : undefined;
  if (!node) return;
  // A node may not move a pod (nor anything else) by renaming; the authorizer already limited which
  // objects it may write. Here: its own Node may not claim another node's name through the body.
  if (kind.kind === 'Node' && !kind.group && next.metadata?.name !== node)
    throw forbidden(
      kind,
      current.metadata.name,
      `node "${node}" is not allowed to modify node "${current.metadata.name}"`,
    );
};
