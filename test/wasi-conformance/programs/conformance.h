// Shared by the battery's programs: raw WASI preview1 calls (wasi/api.h, no libc translation, so the
// errno values are the host's own) and one `key=value` line per observation on stdout.
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

// The test mounts one writable volume at /data: the first preopen, fd 3.
#define DIR 3

static const char *const ERRNO_NAMES[] = {
    "SUCCESS", "2BIG", "ACCES", "ADDRINUSE", "ADDRNOTAVAIL", "AFNOSUPPORT", "AGAIN", "ALREADY",
    "BADF", "BADMSG", "BUSY", "CANCELED", "CHILD", "CONNABORTED", "CONNREFUSED", "CONNRESET",
    "DEADLK", "DESTADDRREQ", "DOM", "DQUOT", "EXIST", "FAULT", "FBIG", "HOSTUNREACH", "IDRM",
    "ILSEQ", "INPROGRESS", "INTR", "INVAL", "IO", "ISCONN", "ISDIR", "LOOP", "MFILE", "MLINK",
    "MSGSIZE", "MULTIHOP", "NAMETOOLONG", "NETDOWN", "NETRESET", "NETUNREACH", "NFILE", "NOBUFS",
    "NODEV", "NOENT", "NOEXEC", "NOLCK", "NOLINK", "NOMEM", "NOMSG", "NOPROTOOPT", "NOSPC", "NOSYS",
    "NOTCONN", "NOTDIR", "NOTEMPTY", "NOTRECOVERABLE", "NOTSOCK", "NOTSUP", "NOTTY", "NXIO",
    "OVERFLOW", "OWNERDEAD", "PERM", "PIPE", "PROTO", "PROTONOSUPPORT", "PROTOTYPE", "RANGE", "ROFS",
    "SPIPE", "SRCH", "STALE", "TIMEDOUT", "TXTBSY", "XDEV", "NOTCAPABLE"};

static void errno_line(const char *key, __wasi_errno_t e) {
  if (e < sizeof ERRNO_NAMES / sizeof *ERRNO_NAMES)
    printf("%s=%s\n", key, ERRNO_NAMES[e]);
  else
    printf("%s=errno%u\n", key, (unsigned)e);
}
#define E(key, call) errno_line(key, (call))
#define V(key, fmt, value) printf("%s=" fmt "\n", key, value)

// Every right preview1 defines (bits 0..29).
static const __wasi_rights_t ALL_RIGHTS = ((__wasi_rights_t)1 << 30) - 1;

/** What the directory lets its children have: asked for as wasi-libc's open() does. */
static __wasi_rights_t inheritable(__wasi_fd_t dir) {
  __wasi_fdstat_t st;
  if (__wasi_fd_fdstat_get(dir, &st) != 0) return ALL_RIGHTS;
  return st.fs_rights_inheriting;
}

/** Opens `path` under `dir` with every right it can pass on; the errno goes to `key` when given. */
static __wasi_fd_t open_at(const char *key, __wasi_fd_t dir, __wasi_lookupflags_t lf, const char *path,
                           __wasi_oflags_t of, __wasi_fdflags_t ff) {
  __wasi_fd_t fd = (__wasi_fd_t)-1;
  __wasi_rights_t r = inheritable(dir);
  // A directory is opened without write rights (a write right on a directory is EISDIR).
  if (of & __WASI_OFLAGS_DIRECTORY)
    r &= ~(__wasi_rights_t)(__WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_ALLOCATE |
                            __WASI_RIGHTS_FD_FILESTAT_SET_SIZE | __WASI_RIGHTS_FD_DATASYNC);
  __wasi_errno_t e = __wasi_path_open(dir, lf, path, of, r, r, ff, &fd);
  if (key) errno_line(key, e);
  return e == 0 ? fd : (__wasi_fd_t)-1;
}

static __wasi_errno_t write_all(__wasi_fd_t fd, const char *s) {
  __wasi_ciovec_t iov = {(const uint8_t *)s, strlen(s)};
  __wasi_size_t n;
  return __wasi_fd_write(fd, &iov, 1, &n);
}

static void make_file(const char *path, const char *content) {
  __wasi_fd_t fd = open_at(NULL, DIR, 0, path, __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, 0);
  if (fd != (__wasi_fd_t)-1) {
    (void)write_all(fd, content);
    (void)__wasi_fd_close(fd);
  }
}

static __wasi_filesize_t size_of(const char *path) {
  __wasi_filestat_t st;
  if (__wasi_path_filestat_get(DIR, 0, path, &st) != 0) return (__wasi_filesize_t)-1;
  return st.size;
}
