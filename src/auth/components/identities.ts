// Who the control plane's own components are when they act on the API (kube's names): the controller
// manager and the scheduler each carry one identity, bound by the default ClusterRoleBindings in
// rbac/bootstrap-policy.ts to roles that hold only what they do.
import { AUTHENTICATED_GROUP, type UserInfo } from '../identities.ts';
import { CONTROLLER_MANAGER_USER, SCHEDULER_USER } from '../rbac/bootstrap-policy.ts';

export { CONTROLLER_MANAGER_USER, SCHEDULER_USER };

/**
 * In kube these authenticate with client certificates (CN = the user); in-process they need no proof, but
 * they are named the same way so RBAC, audit and admission see the same user as they would in kube.
 */
function component(username: string): UserInfo {
  return { username, groups: [AUTHENTICATED_GROUP], via: 'x509' };
}

export const CONTROLLER_MANAGER: UserInfo = Object.freeze(component(CONTROLLER_MANAGER_USER));
export const SCHEDULER: UserInfo = Object.freeze(component(SCHEDULER_USER));
