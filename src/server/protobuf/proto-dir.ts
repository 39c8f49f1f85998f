import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the trimmed upstream generated.proto files live, under their upstream import paths. */
export const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'proto');
