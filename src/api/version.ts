// Versions: Strata's own, and the Kubernetes API version its dialect follows (what /version reports, so
// kubectl prints no version-skew warning and tools that check kubeVersion work).
export const STRATA_VERSION = '0.1.0';
export const KUBERNETES_VERSION = { major: '1', minor: '32', patch: '0' } as const;

/** `v1.32.0+strata.0.1.0`: Kubernetes-shaped, with Strata's version as build metadata. */
export const GIT_VERSION = `v${KUBERNETES_VERSION.major}.${KUBERNETES_VERSION.minor}.${KUBERNETES_VERSION.patch}+strata.${STRATA_VERSION}`;
