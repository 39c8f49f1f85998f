// `strata token create|list|delete`: join tokens, as `kubeadm token` manages them — bootstrap token
// Secrets in kube-system that a new node presents once to obtain its own certificate.
import type { Command } from 'commander';
import { kindFor } from '../api/index.ts';
import { caCertHash } from '../lib/ca-hash.ts';
import type { CliContext } from './context.ts';
import { seconds } from './duration.ts';
import { alignRows } from './printers.ts';
import {
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  TokenKey,
  expirationOf,
  formatToken,
  generateToken,
  isTokenId,
  parseToken,
  secretField,
  secretName,
  tokenSecret,
} from '../node/node-identity-token.ts';

const SECRET = kindFor('v1', 'Secret')!;

export interface CreateTokenOptions {
  /** Seconds until it expires; 0 = never. */
  ttlSeconds: number;
  description?: string;
  groups?: string[];
  /** Print the whole `strata agent` command, not only the token. */
  printJoinCommand?: boolean;
  /** The server URL the join command names (default: the kubeconfig's). */
  server?: string;
  /** A token to store instead of a generated one ("<id>.<secret>"). */
  token?: string;
}

/** Creates a token; returns what to print (the token, or the join command). */
export async function createToken(ctx: CliContext, o: CreateTokenOptions): Promise<string> {
  if (!Number.isFinite(o.ttlSeconds) || o.ttlSeconds < 0)
    throw new Error(`--ttl: expected a duration of 0 (never expires) or more`);
  const t = o.token !== undefined ? parseToken(o.token) : generateToken();
  if (!t) throw new Error(`token ${JSON.stringify(o.token)}: expected [a-z0-9]{6}.[a-z0-9]{16}`);
  const secret = tokenSecret(t, {
    ttlSeconds: o.ttlSeconds,
    description: o.description,
    extraGroups: o.groups,
  });
  await ctx.client.create(SECRET, secret, BOOTSTRAP_TOKEN_NAMESPACE);
  const token = formatToken(t);
  if (!o.printJoinCommand) return token;
  return joinCommand(o.server ?? ctx.client.server, token, ctx.client.transport.tls.ca);
}

/** What to run on the new host: the server, the token and the CA pin (kubeadm's --discovery-token-ca-cert-hash). */
export function joinCommand(server: string, token: string, caPem: string | undefined): string {
  const pin = caPem ? ` --ca-cert-hash ${caCertHash(caPem)}` : '';
  return `strata agent --server ${server} --token ${token}${pin}`;
}

function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s >= 86_400) return `${Math.floor(s / 86_400)}d`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h`;
  if (s >= 60) return `${Math.floor(s / 60)}m`;
  return `${s}s`;
}

/** kubeadm token list's table: TOKEN TTL EXPIRES USAGES DESCRIPTION EXTRA GROUPS. */
export async function listTokens(ctx: CliContext, now = Date.now()): Promise<string[]> {
  const list = await ctx.client.list(SECRET, BOOTSTRAP_TOKEN_NAMESPACE);
  const rows: string[][] = [['TOKEN', 'TTL', 'EXPIRES', 'USAGES', 'DESCRIPTION', 'EXTRA GROUPS']];
  for (const s of list.items) {
    if (s.type !== BOOTSTRAP_TOKEN_SECRET_TYPE) continue;
    const id = secretField(s, TokenKey.id) ?? '';
    const token = `${id}.${secretField(s, TokenKey.secret) ?? ''}`;
    const exp = expirationOf(s);
    const ttl = exp === undefined ? '<forever>' : exp <= now ? '<invalid>' : humanDuration(exp - now);
    const expires = exp === undefined ? '<never>' : new Date(exp).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const usages = [
      secretField(s, TokenKey.usageAuthentication) === 'true' ? 'authentication' : '',
      secretField(s, TokenKey.usageSigning) === 'true' ? 'signing' : '',
    ]
      .filter(Boolean)
      .join(',');
    rows.push([
      token,
      ttl,
      expires,
      usages || '<none>',
      secretField(s, TokenKey.description) ?? '<none>',
      secretField(s, TokenKey.extraGroups) ?? 'system:bootstrappers',
    ]);
  }
  return rows.length === 1 ? [] : alignRows(rows);
}

/** Deletes tokens by id or by whole token; returns the lines to print. */
export async function deleteTokens(ctx: CliContext, ids: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const arg of ids) {
    const id = parseToken(arg)?.id ?? arg;
    if (!isTokenId(id))
      throw new Error(`${JSON.stringify(arg)}: expected a token id ([a-z0-9]{6}) or a token`);
    await ctx.client.delete(SECRET, BOOTSTRAP_TOKEN_NAMESPACE, secretName(id));
    out.push(`bootstrap token "${id}" deleted`);
  }
  return out;
}

/** `strata token create|list|delete` (kubeadm token's commands). */
export function registerTokenCommands(
  program: Command,
  connect: () => CliContext,
  print: (s: string) => void,
): void {
  const token = program
    .command('token')
    .description('join tokens for new nodes (bootstrap tokens, as `kubeadm token` manages them)');
  token
    .command('create')
    .description('create a join token (prints it; --print-join-command prints the `strata agent` command)')
    .argument('[token]', 'the token to store ([a-z0-9]{6}.[a-z0-9]{16}); default: a random one')
    .option('--ttl <duration>', 'time until the token expires (0 = never)', seconds, 86_400)
    .option('--description <text>', 'a human-readable note kept with the token')
    .option('--groups <list>', 'extra groups (comma-separated, each system:bootstrappers:…)')
    .option('--print-join-command', 'print the whole join command: server, token and CA hash')
    .option('--server <url>', 'the server URL new nodes reach (default: the kubeconfig’s)')
    .action(async (value: string | undefined, o) =>
      print(
        await createToken(connect(), {
          token: value,
          ttlSeconds: o.ttl,
          description: o.description,
          groups: o.groups ? String(o.groups).split(',').filter(Boolean) : undefined,
          printJoinCommand: o.printJoinCommand,
          server: o.server,
        }),
      ),
    );
  token
    .command('list')
    .description('list join tokens')
    .action(async () => {
      const lines = await listTokens(connect());
      if (lines.length === 0) process.stderr.write('No join tokens.\n');
      for (const l of lines) print(l);
    });
  token
    .command('delete')
    .description('delete join tokens (by id or whole token); a deleted token stops authenticating at once')
    .argument('<ids...>')
    .action(async (ids: string[]) => {
      for (const l of await deleteTokens(connect(), ids)) print(l);
    });
}
