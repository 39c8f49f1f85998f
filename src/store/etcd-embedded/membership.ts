// Cluster membership through etcd's own API (Cluster service): a server joining with --join is added
// with `member add` before it starts its member with --initial-cluster-state=existing; a server leaving
// for good is removed with `member remove`. The initial-cluster string a new member needs lists every
// member by name, so a member added earlier that never started (no name yet) blocks further joins.
import type { Etcd3 } from 'etcd3';

export interface MemberInfo {
  id: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
}

export interface JoinPlan {
  /** name=peerURL,… including the new member. */
  initialCluster: string;
  /** Client URLs of the members that already run. */
  clientUrls: string[];
}

export async function listMembers(client: Etcd3): Promise<MemberInfo[]> {
  const res = await client.cluster.memberList({});
  return (res.members ?? []).map((m) => ({
    id: m.ID,
    name: m.name,
    peerUrls: m.peerURLs ?? [],
    clientUrls: m.clientURLs ?? [],
  }));
}

function plan(members: MemberInfo[], name: string, peerUrl: string): JoinPlan {
  const entries = members.map((m) => {
    const isNew = m.peerUrls.includes(peerUrl);
    if (!isNew && m.name === '')
      throw new Error(
        `etcd member ${m.id} (${m.peerUrls.join(',')}) was added but never started; start it or remove it (etcdctl member remove ${m.id}) first`,
      );
    return `${isNew ? name : m.name}=${isNew ? peerUrl : m.peerUrls[0]}`;
  });
  return { initialCluster: entries.join(','), clientUrls: members.flatMap((m) => m.clientUrls) };
}

/**
 * etcd refuses a membership change while its members have not all been connected for 5 s (the strict
 * reconfig check: "unhealthy cluster"; etcd3 then opens its circuit breaker for a while), e.g. right after
 * a member started: retry for up to 30 s.
 */
async function whenHealthy<T>(change: () => Promise<T>): Promise<T> {
  for (const deadline = Date.now() + 30_000; ;) {
    try {
      return await change();
    } catch (err) {
      if (!/unhealthy cluster|circuit breaker is open/.test((err as Error).message) || Date.now() > deadline)
        throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

/**
 * Adds `name` at `peerUrl`, or finds it added already (a join retried after the joiner died before its
 * member started). A different member on that peer URL, or the name on another URL, is refused.
 */
export async function addMember(client: Etcd3, name: string, peerUrl: string): Promise<JoinPlan> {
  let members = await listMembers(client);
  const same = members.find((m) => m.peerUrls.includes(peerUrl));
  if (same && same.name !== '' && same.name !== name)
    throw new Error(`peer URL ${peerUrl} belongs to etcd member ${same.name}`);
  const named = members.find((m) => m.name === name && !m.peerUrls.includes(peerUrl));
  if (named)
    throw new Error(`an etcd member named ${name} exists at ${named.peerUrls.join(',')}; remove it first`);
  if (!same) {
    await whenHealthy(() => client.cluster.memberAdd({ peerURLs: [peerUrl] }));
    members = await listMembers(client);
  }
  return plan(members, name, peerUrl);
}

/** Removes the member named `name`; false when there is none. */
export async function removeMember(client: Etcd3, name: string): Promise<boolean> {
  const m = (await listMembers(client)).find((x) => x.name === name);
  if (!m) return false;
  await whenHealthy(() => client.cluster.memberRemove({ ID: m.id }));
  return true;
}
