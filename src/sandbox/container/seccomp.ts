// The default seccomp profile: a deny-list. Everything is allowed except the system calls below, which
// fail with EPERM (clone3 with ENOSYS, see below).
//
// Why a deny-list rather than Docker's allow-list of ~350 calls: it does not break new programs that use
// new harmless calls, and it is short enough to review. It covers what Docker's profile exists to block
// (it lists the same calls in its "requires CAP_SYS_ADMIN / not namespaced / dangerous" groups):
//   - mounting and namespaces: mount, umount2, pivot_root, the new mount API, unshare, setns, and clone
//     with any CLONE_NEW* flag — unprivileged user namespaces are the door to most container escapes
//   - kernel code and images: init_module, finit_module, delete_module, kexec_load, kexec_file_load, bpf
//   - other processes' memory: ptrace, process_vm_readv/writev, kcmp, perf_event_open
//   - the host's clock, swap, accounting, reboot, syslog, quotas, keyrings (not namespaced), open_by_handle_at
//     (the "shocker" escape), userfaultfd (a race amplifier in exploits), io_uring (its own syscall path
//     bypasses seccomp for the operations it performs), legacy and NUMA calls
// clone3 passes its flags in a struct seccomp cannot read, so it fails with ENOSYS: libc then falls back
// to clone, whose flags are checked (Docker does the same).
//
// Capabilities already stop much of this for root in the container (no CAP_SYS_ADMIN); the profile is
// the second wall, and the only one for calls that need no capability (unshare(CLONE_NEWUSER),
// userfaultfd, io_uring, keyctl).

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: 'SCMP_CMP_MASKED_EQ' | 'SCMP_CMP_EQ' | 'SCMP_CMP_NE';
}

export interface SeccompRule {
  names: string[];
  action: 'SCMP_ACT_ERRNO' | 'SCMP_ACT_ALLOW';
  errnoRet?: number;
  args?: SeccompArg[];
}

export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  architectures: string[];
  syscalls: SeccompRule[];
}

const EPERM = 1;
const ENOSYS = 38;

export const DENIED_SYSCALLS = [
  // mounts and namespaces
  'mount',
  'umount2',
  'pivot_root',
  'open_tree',
  'move_mount',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
  'unshare',
  'setns',
  // kernel code
  'init_module',
  'finit_module',
  'delete_module',
  'create_module',
  'kexec_load',
  'kexec_file_load',
  'bpf',
  // other processes
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'kcmp',
  'perf_event_open',
  'lookup_dcookie',
  // host state that is not namespaced
  'reboot',
  'swapon',
  'swapoff',
  'acct',
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'stime',
  'syslog',
  'quotactl',
  'quotactl_fd',
  'nfsservctl',
  'keyctl',
  'add_key',
  'request_key',
  'open_by_handle_at',
  'userfaultfd',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  // legacy, and NUMA placement (another tenant's memory bandwidth)
  'uselib',
  'ustat',
  'sysfs',
  '_sysctl',
  'vm86',
  'vm86old',
  'iopl',
  'ioperm',
  'get_kernel_syms',
  'query_module',
  'mbind',
  'set_mempolicy',
  'move_pages',
];

/** CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
export const CLONE_NAMESPACE_FLAGS = [
  0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
];

/** Architectures whose system calls the filter covers (the native ABI and its compat ABIs). */
export function seccompArchitectures(arch: string = process.arch): string[] {
  switch (arch) {
    case 'x64':
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'arm64':
      return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    case 'ia32':
      return ['SCMP_ARCH_X86'];
    case 'arm':
      return ['SCMP_ARCH_ARM'];
    default:
      throw new Error(`no default seccomp profile for architecture ${arch}`);
  }
}

export function defaultSeccompProfile(arch: string = process.arch): SeccompProfile {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: seccompArchitectures(arch),
    syscalls: [
      { names: DENIED_SYSCALLS, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
      // One rule per flag: the conditions of one rule are ANDed, separate rules are ORed.
      ...CLONE_NAMESPACE_FLAGS.map((flag): SeccompRule => ({
        names: ['clone'],
        action: 'SCMP_ACT_ERRNO',
        errnoRet: EPERM,
        args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
      })),
    ],
  };
}
