// The generated OCI config, field by field: what the container tier promises in bundle.ts.
import { describe, expect, it } from 'vitest';
import { SandboxError } from '../driver.ts';
import { buildRuntimeSpec, INIT_PATH, nofileLimit, type BundleInput } from './bundle.ts';
import { defaultSeccompProfile, DENIED_SYSCALLS } from './seccomp.ts';
import { ALL_CAPABILITIES, capabilitySet, DEFAULT_CAPABILITIES } from './security.ts';
import { containerSpec } from './test-support.ts';

function input(over: Partial<BundleInput> = {}): BundleInput {
  return {
    spec: containerSpec({
      id: 'pod1-main-0',
      podUid: 'pod1',
      podName: 'web',
      args: ['httpd', '-f'],
      env: { B: 'pod' },
    }),
    options: {},
    image: { entrypoint: ['/ep'], cmd: ['x'], env: { A: 'img', B: 'img' } },
    rootfs: '/images/busybox/rootfs',
    user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
    cgroupsPath: '/strata/pod1-main-0',
    hostname: 'web',
    etcFiles: { hosts: '/b/hosts', hostname: '/b/hostname', resolvConf: '/b/resolv.conf' },
    initBinary: '/usr/bin/catatonit',
    arch: 'x64',
    nofile: 20000,
    ...over,
  };
}

describe('buildRuntimeSpec', () => {
  it('puts catatonit in front of the workload, with env, cwd and user', () => {
    const s = buildRuntimeSpec(input({ spec: { ...input().spec, workingDir: '/srv' } }));
    expect(s.process.args).toEqual([INIT_PATH, '--', 'httpd', '-f']);
    expect(s.process.env).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'HOSTNAME=web',
      'HOME=/root',
      'A=img',
      'B=pod',
    ]);
    expect(s.process.cwd).toBe('/srv');
    expect(s.process.terminal).toBe(false);
    expect(s.process.user).toEqual({ uid: 0, gid: 0 });
    expect(s.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }]);
    expect(s.mounts.find((m) => m.destination === INIT_PATH)).toMatchObject({
      source: '/usr/bin/catatonit',
      options: expect.arrayContaining(['ro']),
    });
    expect(s.hostname).toBe('web');
    expect(s.annotations['io.strata.pod.uid']).toBe('pod1');
  });

  it('uses the image entrypoint+cmd for empty args, and no init for an init or when disabled', () => {
    const noArgs = input({ spec: { ...input().spec, args: [] } });
    expect(buildRuntimeSpec(noArgs).process.args).toEqual([INIT_PATH, '--', '/ep', 'x']);
    expect(
      buildRuntimeSpec(input({ spec: { ...input().spec, args: ['/sbin/tini', '--', 'app'] } })).process.args,
    ).toEqual(['/sbin/tini', '--', 'app']);
    const off = buildRuntimeSpec(input({ options: { init: false } }));
    expect(off.process.args).toEqual(['httpd', '-f']);
    expect(off.mounts.some((m) => m.destination === INIT_PATH)).toBe(false);
  });

  it('joins the pod network namespace when given, and creates the others', () => {
    const s = buildRuntimeSpec(input({ netnsPath: '/run/netns/strata-pod1' }));
    expect(s.linux.namespaces).toEqual([
      { type: 'pid' },
      { type: 'ipc' },
      { type: 'uts' },
      { type: 'mount' },
      { type: 'cgroup' },
      { type: 'network', path: '/run/netns/strata-pod1' },
    ]);
    expect(buildRuntimeSpec(input()).linux.namespaces.at(-1)).toEqual({ type: 'network' });
    expect(s.linux.cgroupsPath).toBe('/strata/pod1-main-0');
  });

  it('mounts proc, sys read-only, dev, shm, mqueue, volumes and the per-pod /etc files', () => {
    const s = buildRuntimeSpec(
      input({
        spec: {
          ...input().spec,
          mounts: [
            { hostPath: '/data/cfg', guestPath: '/etc/app', readOnly: true },
            { hostPath: '/data/cache', guestPath: '/cache', readOnly: false },
          ],
        },
      }),
    );
    const byDest = Object.fromEntries(s.mounts.map((m) => [m.destination, m]));
    expect(byDest['/proc'].type).toBe('proc');
    expect(byDest['/sys'].options).toContain('ro');
    expect(byDest['/sys/fs/cgroup'].options).toContain('ro');
    expect(byDest['/dev'].type).toBe('tmpfs');
    expect(byDest['/dev/pts'].type).toBe('devpts');
    expect(byDest['/dev/shm'].options).toContain(`size=${64 * 1024 * 1024}`);
    expect(byDest['/dev/mqueue'].type).toBe('mqueue');
    expect(byDest['/etc/app']).toEqual({
      destination: '/etc/app',
      type: 'bind',
      source: '/data/cfg',
      options: ['rbind', 'ro', 'nosuid', 'nodev', 'rprivate'],
    });
    expect(byDest['/cache'].options).toContain('rw');
    expect(byDest['/etc/hosts'].source).toBe('/b/hosts');
    expect(byDest['/etc/hostname'].source).toBe('/b/hostname');
    expect(byDest['/etc/resolv.conf'].source).toBe('/b/resolv.conf');
  });

  it('sets memory (swap = limit), cpu shares and quota, pids, devices', () => {
    const s = buildRuntimeSpec(
      input({
        spec: { ...input().spec, limits: { memoryBytes: 128 * 1024 * 1024, cpu: 0.5 } },
        options: { cpuRequest: 0.25, pidsLimit: 100 },
      }),
    );
    expect(s.linux.resources).toEqual({
      devices: [{ allow: false, access: 'rwm' }],
      memory: { limit: 128 * 1024 * 1024, swap: 128 * 1024 * 1024 },
      cpu: { period: 100000, quota: 50000, shares: 256 },
      pids: { limit: 100 },
    });
    const defaults = buildRuntimeSpec(input()).linux.resources;
    expect(defaults).toEqual({ devices: [{ allow: false, access: 'rwm' }], pids: { limit: 1024 } });
    expect(
      buildRuntimeSpec(input({ spec: { ...input().spec, limits: { cpu: 2 } } })).linux.resources.cpu,
    ).toEqual({
      period: 100000,
      quota: 200000,
      shares: 2048,
    });
    expect(buildRuntimeSpec(input({ options: { pidsLimit: -1 } })).linux.resources.pids).toBeUndefined();
  });

  it('is locked down by default: capabilities, no new privileges, masks, seccomp, sysctls', () => {
    const s = buildRuntimeSpec(input());
    expect(s.process.capabilities.bounding).toEqual([...DEFAULT_CAPABILITIES].sort());
    expect(s.process.capabilities.bounding).not.toContain('CAP_NET_RAW');
    expect(s.process.capabilities.bounding).not.toContain('CAP_SYS_ADMIN');
    expect(s.process.capabilities.inheritable).toEqual([]);
    expect(s.process.capabilities.ambient).toEqual([]);
    expect(s.process.noNewPrivileges).toBe(true);
    expect(s.root).toEqual({ path: '/images/busybox/rootfs', readonly: false });
    expect(s.linux.maskedPaths).toContain('/proc/kcore');
    expect(s.linux.readonlyPaths).toContain('/proc/sys');
    expect(s.linux.seccomp).toEqual(defaultSeccompProfile('x64'));
    expect(s.linux.sysctl).toEqual({
      'net.ipv4.ping_group_range': '0 2147483647',
      'net.ipv4.ip_unprivileged_port_start': '0',
    });
  });

  it('applies securityContext', () => {
    const s = buildRuntimeSpec(
      input({
        options: {
          securityContext: {
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: true,
            capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
            seccompProfile: { type: 'Unconfined' },
          },
        },
      }),
    );
    expect(s.root.readonly).toBe(true);
    expect(s.process.noNewPrivileges).toBe(false);
    expect(s.process.capabilities.effective).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(s.linux.seccomp).toBeUndefined();
    expect(capabilitySet({ capabilities: { add: ['ALL'] } })).toHaveLength(ALL_CAPABILITIES.length);
    expect(capabilitySet({ capabilities: { drop: ['chown', 'CAP_KILL'] } })).not.toContain('CAP_CHOWN');
  });

  it('refuses what it cannot honour, as CreateContainerConfigError naming the problem', () => {
    const bad = (over: Partial<BundleInput>, re: RegExp) => {
      try {
        buildRuntimeSpec(input(over));
      } catch (err) {
        expect(err).toBeInstanceOf(SandboxError);
        expect(err).toMatchObject({
          reason: 'CreateContainerConfigError',
          message: expect.stringMatching(re),
        });
        return;
      }
      throw new Error('accepted');
    };
    const spec = input().spec;
    bad({ options: { securityContext: { runAsNonRoot: true } } }, /runAsNonRoot/);
    bad({ spec: { ...spec, args: [] }, image: { entrypoint: [], cmd: [], env: {} } }, /no command/);
    bad({ spec: { ...spec, workingDir: 'rel' } }, /workingDir/);
    bad({ spec: { ...spec, env: { 'A=B': 'x' } } }, /environment variable/);
    bad({ spec: { ...spec, limits: { memoryBytes: 1024 } } }, /memory limit/);
    bad({ spec: { ...spec, limits: { cpu: 0 } } }, /cpu limit/);
    bad({ spec: { ...spec, mounts: [{ hostPath: '/x', guestPath: 'rel', readOnly: false }] } }, /absolute/);
    bad(
      { spec: { ...spec, mounts: [{ hostPath: '/x', guestPath: '/a/../proc', readOnly: false }] } },
      /normalised/,
    );
    bad({ spec: { ...spec, mounts: [{ hostPath: '/x', guestPath: '/dev', readOnly: false }] } }, /reserved/);
    bad({ options: { securityContext: { capabilities: { add: ['CAP_BOGUS'] } } } }, /unknown capability/);
    bad({ options: { pidsLimit: 0 } }, /pids limit/);
  });
});

describe('seccomp and limits', () => {
  it('denies the dangerous calls with EPERM, clone3 with ENOSYS, and namespace flags of clone', () => {
    const p = defaultSeccompProfile('x64');
    expect(p.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(p.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    for (const call of [
      'mount',
      'umount2',
      'kexec_load',
      'init_module',
      'ptrace',
      'bpf',
      'unshare',
      'reboot',
      'swapon',
      'keyctl',
    ]) {
      expect(DENIED_SYSCALLS).toContain(call);
    }
    expect(p.syscalls[0]).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
    expect(p.syscalls[1]).toEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    const cloneUser = p.syscalls.find((r) => r.names[0] === 'clone' && r.args?.[0].value === 0x10000000);
    expect(cloneUser).toMatchObject({
      errnoRet: 1,
      args: [{ index: 0, value: 0x10000000, valueTwo: 0x10000000, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    expect(defaultSeccompProfile('arm64').architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(() => defaultSeccompProfile('mips')).toThrow(/architecture/);
  });

  it('caps RLIMIT_NOFILE at the agent’s hard limit', () => {
    expect(nofileLimit('Max open files            1024                 20000                files\n')).toBe(
      20000,
    );
    expect(nofileLimit('Max open files            1024                 unlimited            files\n')).toBe(
      1048576,
    );
    expect(nofileLimit('Max open files            1024                 4194304              files\n')).toBe(
      1048576,
    );
  });
});
