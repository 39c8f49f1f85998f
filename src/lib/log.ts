// The logging surface the controllers and the scheduler need: pino's (obj, msg) call shape, so the
// server passes its pino logger (or a child of it) straight in. The default stays quiet except for
// problems, which go to stderr.
export interface Log {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const defaultLog: Log = {
  debug: () => {},
  info: () => {},
  warn: (obj, msg) => console.warn(msg, obj),
  error: (obj, msg) => console.error(msg, obj),
};

/** Status code of an ApiError-like error (404, 409, 410, ...), if any. */
export function errorCode(err: unknown): number | undefined {
  const e = err as any;
  return typeof e?.code === 'number' ? e.code : undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Await `p`, treating "not found" (the object went away meanwhile) as undefined. */
export async function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (errorCode(err) === 404) return undefined;
    throw err;
  }
}
