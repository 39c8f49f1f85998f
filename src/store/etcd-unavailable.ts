// What the Store says when etcd cannot answer: lost quorum, no leader, members down or a request past its
// deadline. The etcd3 client's own errors ("UNAVAILABLE: No connection established … ECONNREFUSED", "context
// deadline exceeded", "circuit breaker is open") name a random member or nothing at all; an operator needs
// "2 of 3 members unreachable, no quorum". So on such an error the Store asks the cluster what it can still
// see — the member list from any member that answers (etcd 3.4 serves it locally, without quorum) and each
// member's status on its own connection (does it answer, whom does it think leads) — and throws
// EtcdUnavailableError with that summary. The server turns it into a 503 Status (src/server/app.ts).
import {
  Etcd3,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  GRPCUnknownError,
  type IOptions,
} from 'etcd3';

/** etcd did not answer (no quorum, no leader, unreachable, or past the request deadline); nothing was confirmed. */
export class EtcdUnavailableError extends Error {
  /** Why, for an operator: quorum, leader and reachable members as seen right after the failure. */
  readonly diagnosis: string;
  constructor(op: string, diagnosis: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message.split('\n')[0]!.slice(0, 200) : String(cause);
    super(`etcd: ${diagnosis}; ${op} failed (${detail})`);
    this.name = 'EtcdUnavailableError';
    this.diagnosis = diagnosis;
  }
}

/** The client errors that mean "etcd could not answer", as opposed to an answer (conflict, not found, compacted). */
export function isUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError) return true;
  // etcd 3.4 reports a proposal that found no leader in time as UNKNOWN "context deadline exceeded".
  if (err instanceof GRPCUnknownError && /deadline|timed out|leader/i.test(err.message)) return true;
  // The client's per-member circuit breaker (open for 5 s after repeated failures) and etcd's own words.
  return /circuit breaker is open|etcdserver: (request timed out|no leader|leader changed)|Deadline exceeded/i.test(
    err.message,
  );
}

/**
 * The client refused the call without sending it: every member's circuit breaker is open (cockatiel's
 * BrokenCircuitError, which the etcd3 client rethrows as it is when no earlier attempt reached a member).
 */
export function isBrokenCircuit(err: unknown): boolean {
  return err instanceof Error && (err as { isBrokenCircuitError?: boolean }).isBrokenCircuitError === true;
}

export interface MemberHealth {
  name: string;
  url: string;
  reachable: boolean;
  /** The member this one believes leads ('' for none, or when unreachable). */
  leader: string;
}

/** Asks one member on a connection of its own (the Store's client may have its circuit breakers open). */
async function askMember<T>(
  url: string,
  options: Omit<IOptions, 'hosts'>,
  timeoutMs: number,
  ask: (c: Etcd3, deadline: number) => Promise<T>,
): Promise<T> {
  const one = new Etcd3({ ...options, hosts: [url], dialTimeout: timeoutMs });
  try {
    // An absolute deadline: the client's retries (same member) share it.
    return await ask(one, Date.now() + timeoutMs);
  } finally {
    one.close();
  }
}

/**
 * Whether each member answers and whom it sees as leader (`timeoutMs` per question, members asked in
 * parallel). The member list comes from the first of `endpoints` that answers (etcd 3.4 serves it without
 * quorum); undefined when none does.
 */
export async function memberHealth(
  endpoints: string[],
  options: Omit<IOptions, 'hosts'>,
  timeoutMs: number,
): Promise<MemberHealth[] | undefined> {
  let members: { ID: string; name: string; clientURLs: string[] }[];
  try {
    members = await Promise.any(
      endpoints.map((url) =>
        askMember(url, options, timeoutMs, async (c, deadline) => {
          return (await c.cluster.memberList({}, { deadline })).members ?? [];
        }),
      ),
    );
  } catch {
    return undefined;
  }
  const names = new Map(members.map((m) => [m.ID, m.name]));
  return Promise.all(
    members.map(async (m) => {
      const name = m.name || m.ID;
      const url = m.clientURLs[0] ?? '';
      try {
        if (!url) throw new Error('not started');
        const s = await askMember(url, options, timeoutMs, (c, deadline) =>
          c.maintenance.status({ deadline }),
        );
        const leader = s.leader && s.leader !== '0' ? (names.get(s.leader) ?? s.leader) : '';
        return { name, url, reachable: true, leader };
      } catch {
        return { name, url, reachable: false, leader: '' };
      }
    }),
  );
}

/** Whether a request can still be answered: a majority of members reachable and one of them sees a leader. */
export function hasQuorumAndLeader(members: MemberHealth[] | undefined): boolean {
  if (!members) return false;
  const up = members.filter((m) => m.reachable);
  return up.length >= Math.floor(members.length / 2) + 1 && up.some((m) => m.leader !== '');
}

/** One line: "no quorum: 1 of 3 members reachable (2 needed; down: a, b)" and the like. */
export function describeHealth(members: MemberHealth[] | undefined, endpoints: string[]): string {
  if (!members) return `no member answers (tried ${endpoints.join(', ')})`;
  const up = members.filter((m) => m.reachable);
  const down = members.filter((m) => !m.reachable).map((m) => m.name);
  const quorum = Math.floor(members.length / 2) + 1;
  const downText = down.length ? `; unreachable: ${down.join(', ')}` : '';
  if (up.length < quorum)
    return `no quorum: ${up.length} of ${members.length} members reachable, ${quorum} needed${downText}`;
  const leaders = new Set(up.map((m) => m.leader).filter((l) => l !== ''));
  if (leaders.size === 0)
    return `no leader: ${up.length} of ${members.length} members reachable, electing${downText}`;
  return `request timed out: ${up.length} of ${members.length} members reachable, leader ${[...leaders].join('/')}${downText}`;
}
