export { PolicyEnforcer, type PolicyEnforcerOptions, type PolicySources } from './policy-enforcer.ts';
export { PolicyDataPlane, type PolicyDataPlaneOptions, type PolicySyncReport } from './data-plane.ts';
export { planPolicies, type PolicyPlan } from './plan.ts';
export { TABLE as POLICY_TABLE } from './ruleset.ts';
