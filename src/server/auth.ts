// Bearer-token authentication. The admin token is generated at first start into a 0600 file in the data
// directory; further tokens (one per line, "token,username") can be listed in `tokens` beside it.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface User {
  username: string;
}

export const ADMIN_TOKEN_FILE = 'admin.token';

/** Returns the admin token, creating it (0600) on first start. */
export function loadOrCreateAdminToken(dataDir: string): { token: string; path: string } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  if (!existsSync(path)) {
    writeFileSync(path, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  }
  chmodSync(path, 0o600);
  const token = readFileSync(path, 'utf8').trim();
  if (token.length < 16) throw new Error(`${path}: token is too short (at least 16 characters)`);
  return { token, path };
}

// Tokens are compared through their sha256 so comparison time leaks nothing about the token.
function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

export class TokenAuthenticator {
  private readonly entries: Array<{ digest: Buffer; user: User }> = [];

  add(token: string, username: string): void {
    this.entries.push({ digest: digest(token), user: { username } });
  }

  /** Loads extra "token,username" lines from a file if it exists. */
  loadFile(path: string): void {
    if (!existsSync(path)) return;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const [token, username] = line.trim().split(',');
      if (token && username) this.add(token, username);
    }
  }

  authenticate(header: string | undefined): User | undefined {
    if (!header) return undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) return undefined;
    return this.authenticateToken(m[1]);
  }

  authenticateToken(token: string): User | undefined {
    const d = digest(token);
    let found: User | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, d)) found = e.user;
    return found;
  }
}
