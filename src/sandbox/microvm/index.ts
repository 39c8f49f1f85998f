// The microvm tier's public API (see README.md).
export { MicrovmDriver, type MicrovmDriverOptions } from './driver.ts';
export type { MicrovmOptions, MicrovmSandboxSpec } from './options.ts';
export type { AccelSetting } from './accel.ts';
