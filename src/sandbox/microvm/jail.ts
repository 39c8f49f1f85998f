// QEMU confined as Firecracker's jailer confines its VMM: QEMU opens what it needs (kernel, initrd,
// disks, the tap, its sockets) as root, then — just before the guest starts — chroots into an empty
// directory (`-chroot`) and becomes an unprivileged user (`-runas`, the `strata-vmm` system user, made
// when missing). It starts in mount and IPC namespaces of its own (`unshare`), in the pod's network
// namespace when the pod is networked, under its seccomp filter (`-sandbox`, qemu.ts), in its own cgroup
// (cgroup.ts). A QEMU taken over by its guest thus holds only its open files, as nobody, with no path
// to the host's filesystem and no host network interface.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { which } from '../../lib/command.ts';

export const VMM_USER = 'strata-vmm';

/** The uid of `name` from /etc/passwd, if it exists. */
export function userId(name: string, passwd = readPasswd()): number | undefined {
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 7) return Number(f[2]);
  }
  return undefined;
}

function readPasswd(): string {
  try {
    return readFileSync('/etc/passwd', 'utf8');
  } catch {
    return '';
  }
}

/** The VMM user's uid, creating the system user (no home, no shell) when it does not exist. */
export function ensureVmmUser(name = VMM_USER): number {
  const existing = userId(name);
  if (existing !== undefined) return existing;
  const useradd = which('useradd');
  if (!useradd) throw new Error(`user ${name} does not exist and useradd is not available to create it`);
  try {
    execFileSync(
      useradd,
      ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } catch (err) {
    // Another agent may have made it meanwhile.
    const again = userId(name);
    if (again !== undefined) return again;
    throw new Error(`useradd ${name}: ${(err as { stderr?: Buffer }).stderr?.toString().trim() ?? err}`);
  }
  const uid = userId(name);
  if (uid === undefined) throw new Error(`useradd ${name} succeeded but the user is not in /etc/passwd`);
  return uid;
}

/** An empty directory, root's, that QEMU chroots into (shared by every VM: nothing is ever in it). */
export function emptyJail(runDir: string): string {
  const dir = `${runDir}/jail`;
  mkdirSync(dir, { recursive: true, mode: 0o555 });
  return dir;
}

/** The argv prefix that starts QEMU in namespaces of its own (and the pod's network namespace). */
export function namespacePrefix(netnsPath: string | undefined): string[] {
  const unshare = which('unshare') ?? 'unshare';
  return [
    ...(netnsPath ? [which('nsenter') ?? 'nsenter', `--net=${netnsPath}`, '--'] : []),
    unshare,
    '--mount',
    '--ipc',
    '--propagation',
    'private',
    '--',
  ];
}

/** QEMU's own options for the drop: chroot, then the user. */
export function jailArgs(jailDir: string, user: string): string[] {
  return ['-chroot', jailDir, '-runas', user];
}
