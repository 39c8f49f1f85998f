// The bearer token of the node `strata up` runs beside the server when the API is plain HTTP (loopback
// development): such a node has no certificate to present, and it must not borrow the admin's token — it
// gets its own identity, `system:node:NAME` in `system:nodes`, as a line of DATA/tokens (the server's
// static token file), so the Node authorizer and NodeRestriction hold it to what a node may do.
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, readFileSync } from 'node:fs';

const NODES_GROUP = 'system:nodes';

/** The token of `system:node:<nodeName>` in `tokensFile`, added (0600) when there is none. */
export function ensureLocalNodeToken(tokensFile: string, nodeName: string): string {
  const username = `system:node:${nodeName}`;
  if (existsSync(tokensFile)) {
    for (const line of readFileSync(tokensFile, 'utf8').split('\n')) {
      const [token, user] = line.trim().split(',');
      if (token && user === username) return token;
    }
  }
  const token = randomBytes(24).toString('hex');
  const text = existsSync(tokensFile) ? readFileSync(tokensFile, 'utf8') : '';
  appendFileSync(
    tokensFile,
    `${text && !text.endsWith('\n') ? '\n' : ''}${token},${username},${NODES_GROUP}\n`,
    {
      mode: 0o600,
    },
  );
  chmodSync(tokensFile, 0o600);
  return token;
}
