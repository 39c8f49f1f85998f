// The container tier's public API (see README.md).
export {
  ContainerDriver,
  normalizeSignal,
  type ContainerDriverOptions,
  type ContainerStats,
} from './driver.ts';
export {
  containerArgs,
  imageConfigPath,
  parseImageConfig,
  readImageConfig,
  IMAGE_CONFIG_FILE,
  type ContainerImageConfig,
} from './image-config.ts';
export { containerOptions, type ContainerOptions, type ContainerSandboxSpec } from './options.ts';
export { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, type SecurityContext } from './security.ts';
export { defaultSeccompProfile, DENIED_SYSCALLS } from './seccomp.ts';
export type { InteractiveExec, InteractiveOptions } from './exec.ts';
export { detectCgroups, type CgroupLayout, type CgroupMode } from './cgroups.ts';
export type { RuntimeName } from './runtime.ts';
