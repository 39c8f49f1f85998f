// One error type for everything under src/image, with a stable code the agent maps to a Kubernetes
// waiting reason (ErrImagePull, InvalidImageDigest, ...) and the CLI prints as one line.

export type ImageErrorCode =
  | 'InvalidReference'
  | 'InvalidDigest'
  | 'DigestMismatch'
  | 'SizeMismatch'
  | 'NotFound'
  | 'InvalidManifest'
  | 'Unsupported'
  | 'UnsafeLayer'
  | 'InvalidLayer'
  | 'TooLarge'
  | 'NoMatchingPlatform'
  | 'Unauthorized'
  | 'Registry'
  | 'Conflict'
  | 'Mount';

export class ImageError extends Error {
  readonly code: ImageErrorCode;
  constructor(code: ImageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageError';
    this.code = code;
  }
}

export function isImageError(err: unknown, code?: ImageErrorCode): err is ImageError {
  return err instanceof ImageError && (code === undefined || err.code === code);
}
