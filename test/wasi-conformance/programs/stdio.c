// stdin, stdout and stderr as a program sees them when they are not a terminal (wasmtime's
// preview1.rs fd_fdstat_get and get_seekable for stdio; preview1_stdio): streams with one right each.
#include "conformance.h"
#include <unistd.h>

static const char *const NAMES[] = {"stdin", "stdout", "stderr"};

int main(void) {
  char key[64];
  for (int fd = 0; fd < 3; fd++) {
    __wasi_fdstat_t st;
    memset(&st, 0xff, sizeof st);
    snprintf(key, sizeof key, "fdstat_%s", NAMES[fd]);
    E(key, __wasi_fd_fdstat_get(fd, &st));
    snprintf(key, sizeof key, "%s_filetype", NAMES[fd]);
    V(key, "%u", (unsigned)st.fs_filetype);
    snprintf(key, sizeof key, "%s_flags", NAMES[fd]);
    V(key, "%u", (unsigned)st.fs_flags);
    snprintf(key, sizeof key, "%s_rights", NAMES[fd]);
    V(key, "%llu", (unsigned long long)st.fs_rights_base);
    snprintf(key, sizeof key, "%s_isatty", NAMES[fd]);
    V(key, "%d", isatty(fd));
  }
  __wasi_filesize_t pos;
  E("seek_stdin", __wasi_fd_seek(0, 0, __WASI_WHENCE_CUR, &pos));
  E("tell_stdin", __wasi_fd_tell(0, &pos));
  E("tell_stdout", __wasi_fd_tell(1, &pos));
  uint8_t b[4];
  __wasi_iovec_t iov = {b, sizeof b};
  __wasi_size_t n = 99;
  E("pread_stdin", __wasi_fd_pread(0, &iov, 1, 0, &n));
  n = 99;
  E("read_stdin", __wasi_fd_read(0, &iov, 1, &n));
  V("read_stdin_nread", "%u", (unsigned)n); // empty stdin: end of file
  return 0;
}
