// The part of the OCI runtime specification (config.json, v1.0.2) that Strata writes.
// https://github.com/opencontainers/runtime-spec/blob/v1.0.2/config.md and config-linux.md

import type { SeccompProfile } from './seccomp.ts';

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface OciProcess {
  terminal: boolean;
  user: { uid: number; gid: number; additionalGids?: number[] };
  args: string[];
  env: string[];
  cwd: string;
  capabilities: {
    bounding: string[];
    effective: string[];
    permitted: string[];
    inheritable: string[];
    ambient: string[];
  };
  rlimits: Array<{ type: string; hard: number; soft: number }>;
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
}

export interface OciResources {
  devices: Array<{ allow: boolean; access?: string; type?: string; major?: number; minor?: number }>;
  memory?: { limit?: number; swap?: number; disableOOMKiller?: boolean };
  cpu?: { shares?: number; quota?: number; period?: number };
  pids?: { limit: number };
}

export interface OciSpec {
  ociVersion: string;
  process: OciProcess;
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  annotations: Record<string, string>;
  linux: {
    namespaces: Array<{ type: string; path?: string }>;
    cgroupsPath: string;
    resources: OciResources;
    sysctl?: Record<string, string>;
    seccomp?: SeccompProfile;
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}
