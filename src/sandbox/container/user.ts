// Which uid/gid a container runs as: the image's User ("name", "uid", "name:group", "uid:gid") resolved
// against the image's own /etc/passwd and /etc/group, then securityContext.runAsUser/runAsGroup and
// supplementalGroups over it — the rules of containerd's CRI plugin:
//   a numeric uid without a passwd entry runs with gid 0; a name must exist; the primary gid is the
//   passwd entry's unless a group is given; supplementary groups are the /etc/group memberships of
//   the user name plus supplementalGroups.
//
// The image's files are read through the host's filesystem: a symlink in the rootfs could point at a
// host file (/etc/passwd -> /etc/shadow). Files whose real path leaves the rootfs are ignored.

import { closeSync, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** From the passwd entry; "/" when there is none (Docker's default HOME). */
  home: string;
  /** The user name, when the passwd file knows the uid. */
  name?: string;
}

export interface UserOverrides {
  runAsUser?: number;
  runAsGroup?: number;
  supplementalGroups?: number[];
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 32 - 2;

export function resolveUser(
  rootfs: string,
  imageUser: string | undefined,
  o: UserOverrides = {},
): ResolvedUser {
  const passwd = parsePasswd(readConfined(rootfs, 'etc/passwd'));
  const groups = parseGroup(readConfined(rootfs, 'etc/group'));
  const [userPart, groupPart] = splitUser(imageUser ?? '');

  let entry: PasswdEntry | undefined;
  let uid: number;
  if (o.runAsUser !== undefined) {
    uid = checkId(o.runAsUser, 'runAsUser');
    entry = passwd.find((p) => p.uid === uid);
  } else if (userPart === '') {
    uid = 0;
    entry = passwd.find((p) => p.uid === 0);
  } else if (/^\d+$/.test(userPart)) {
    uid = checkId(Number(userPart), 'image user');
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw new Error(`image user "${userPart}" not found in the image's /etc/passwd`);
    uid = entry.uid;
  }

  let gid: number;
  if (o.runAsGroup !== undefined) gid = checkId(o.runAsGroup, 'runAsGroup');
  else if (groupPart !== undefined && /^\d+$/.test(groupPart))
    gid = checkId(Number(groupPart), 'image group');
  else if (groupPart !== undefined) {
    const g = groups.find((x) => x.name === groupPart);
    if (!g) throw new Error(`image group "${groupPart}" not found in the image's /etc/group`);
    gid = g.gid;
  } else gid = entry?.gid ?? 0;

  const additional = new Set<number>();
  if (entry)
    for (const g of groups) if (g.members.includes(entry.name) && g.gid !== gid) additional.add(g.gid);
  for (const g of o.supplementalGroups ?? []) additional.add(checkId(g, 'supplementalGroups'));
  additional.delete(gid);
  return {
    uid,
    gid,
    additionalGids: [...additional].sort((a, b) => a - b),
    home: entry?.home || '/',
    ...(entry ? { name: entry.name } : {}),
  };
}

function splitUser(s: string): [string, string | undefined] {
  const i = s.indexOf(':');
  return i < 0 ? [s.trim(), undefined] : [s.slice(0, i).trim(), s.slice(i + 1).trim()];
}

function checkId(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_ID) throw new Error(`${what} ${n}: not a valid id`);
  return n;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0], uid, gid, home: f[5] });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0], gid, members: f[3].split(',').filter(Boolean) });
  }
  return out;
}

/** A small file of the rootfs, or '' when missing, too big, or resolving outside the rootfs. */
function readConfined(rootfs: string, rel: string): string {
  let real: string;
  let root: string;
  try {
    root = realpathSync(rootfs);
    real = realpathSync(join(rootfs, rel));
  } catch {
    return '';
  }
  if (!real.startsWith(root + sep)) return '';
  const fd = openSync(real, 'r');
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 4 * 1024 * 1024) return '';
    const buf = Buffer.alloc(st.size);
    const n = readSync(fd, buf, 0, st.size, 0);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
