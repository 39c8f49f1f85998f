// The slice of the WASI preview1 ABI the host wrappers need: errno values, rights bits, flags and
// struct layouts (from WebAssembly/WASI phases/snapshot/witx/typenames.witx).

export const Errno = {
  SUCCESS: 0,
  ACCES: 2,
  BADF: 8,
  EXIST: 20,
  FAULT: 21,
  INVAL: 28,
  ISDIR: 31,
  LOOP: 32,
  NAMETOOLONG: 37,
  NOBUFS: 42,
  NOENT: 44,
  NOSPC: 51,
  NOSYS: 52,
  NOTDIR: 54,
  NOTSOCK: 57,
  NOTSUP: 58,
  PERM: 63,
  ROFS: 69,
  SPIPE: 70,
  NOTCAPABLE: 76,
} as const;

/** Single rights bits (witx `rights`). */
export const Rights = { FD_READ: 1n << 1n, FD_WRITE: 1n << 6n } as const;

/** Rights that let a path_open'ed descriptor change file contents (what uvwasi maps to O_WRONLY/O_RDWR). */
export const WRITE_RIGHTS =
  (1n << 0n) | // fd_datasync
  (1n << 6n) | // fd_write
  (1n << 8n) | // fd_allocate
  (1n << 22n); // fd_filestat_set_size

/** fdflags (witx) and the Linux open(2) bits uvwasi reports in their place. */
export const Fdflags = { APPEND: 1, DSYNC: 2, NONBLOCK: 4, RSYNC: 8, SYNC: 16 } as const;
export const LINUX_O = { APPEND: 0o2000, NONBLOCK: 0o4000, DSYNC: 0o10000, SYNC: 0o4010000 } as const;

export const Filetype = {
  UNKNOWN: 0,
  BLOCK_DEVICE: 1,
  CHARACTER_DEVICE: 2,
  DIRECTORY: 3,
  REGULAR_FILE: 4,
  SOCKET_DGRAM: 5,
  SOCKET_STREAM: 6,
  SYMBOLIC_LINK: 7,
} as const;

export const Oflags = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const;
export const LOOKUP_SYMLINK_FOLLOW = 1;

export const Clock = { REALTIME: 0, MONOTONIC: 1, PROCESS_CPUTIME: 2, THREAD_CPUTIME: 3 } as const;
export const EventType = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const;
export const SUBCLOCKFLAG_ABSTIME = 1;

/** sizeof(subscription) and sizeof(event) in wasm32. */
export const SUBSCRIPTION_SIZE = 48;
export const EVENT_SIZE = 32;
/** sizeof(fdstat): fs_filetype u8, fs_flags u16 @2, fs_rights_base u64 @8, fs_rights_inheriting u64 @16. */
export const FDSTAT_SIZE = 24;
/** sizeof(dirent): d_next u64, d_ino u64, d_namlen u32, d_type u8, 3 bytes of padding. */
export const DIRENT_SIZE = 24;

/**
 * Which arguments of each function are descriptors, in the guest's numbering (host-imports translates
 * them when the guest has renumbered a file onto stdio). fd_close and fd_renumber take the guest's own
 * numbers (fs-guard), poll_oneoff's are inside its subscriptions.
 */
export const FD_ARGS: Readonly<Record<string, readonly number[]>> = {
  fd_advise: [0],
  fd_allocate: [0],
  fd_datasync: [0],
  fd_fdstat_get: [0],
  fd_fdstat_set_flags: [0],
  fd_fdstat_set_rights: [0],
  fd_filestat_get: [0],
  fd_filestat_set_size: [0],
  fd_filestat_set_times: [0],
  fd_pread: [0],
  fd_prestat_get: [0],
  fd_prestat_dir_name: [0],
  fd_pwrite: [0],
  fd_read: [0],
  fd_readdir: [0],
  fd_seek: [0],
  fd_sync: [0],
  fd_tell: [0],
  fd_write: [0],
  path_create_directory: [0],
  path_filestat_get: [0],
  path_filestat_set_times: [0],
  path_link: [0, 4], // old_fd, old_flags, old_path (ptr, len), new_fd
  path_open: [0],
  path_readlink: [0],
  path_remove_directory: [0],
  path_rename: [0, 3],
  path_symlink: [2],
  path_unlink_file: [0],
  sock_accept: [0],
  sock_recv: [0],
  sock_send: [0],
  sock_shutdown: [0],
};

/** The import module every preview1 guest links against. */
export const WASI_MODULE = 'wasi_snapshot_preview1';

/** Every function of wasi_snapshot_preview1 (all of them are provided, some refused by wrappers). */
export const PREVIEW1_FUNCTIONS: ReadonlySet<string> = new Set([
  'args_get',
  'args_sizes_get',
  'environ_get',
  'environ_sizes_get',
  'clock_res_get',
  'clock_time_get',
  'fd_advise',
  'fd_allocate',
  'fd_close',
  'fd_datasync',
  'fd_fdstat_get',
  'fd_fdstat_set_flags',
  'fd_fdstat_set_rights',
  'fd_filestat_get',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_pread',
  'fd_prestat_get',
  'fd_prestat_dir_name',
  'fd_pwrite',
  'fd_read',
  'fd_readdir',
  'fd_renumber',
  'fd_seek',
  'fd_sync',
  'fd_tell',
  'fd_write',
  'path_create_directory',
  'path_filestat_get',
  'path_filestat_set_times',
  'path_link',
  'path_open',
  'path_readlink',
  'path_remove_directory',
  'path_rename',
  'path_symlink',
  'path_unlink_file',
  'poll_oneoff',
  'proc_exit',
  'proc_raise',
  'sched_yield',
  'random_get',
  'sock_accept',
  'sock_recv',
  'sock_send',
  'sock_shutdown',
]);
