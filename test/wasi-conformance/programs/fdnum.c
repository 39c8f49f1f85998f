// Descriptor numbers: renumber (incl. stdio), closing preopens and closed descriptors
// (wasmtime preview1_renumber, preview1_close_preopen, preview1_stdio).
#include "conformance.h"

int main(void) {
  make_file("a", "aaa");
  make_file("b", "b");
  __wasi_fd_t a = open_at(NULL, DIR, 0, "a", 0, 0);
  __wasi_fd_t b = open_at(NULL, DIR, 0, "b", 0, 0);
  E("renumber", __wasi_fd_renumber(a, b));
  __wasi_filestat_t st;
  (void)__wasi_fd_filestat_get(b, &st);
  V("renumber_target_is_source", "%llu", (unsigned long long)st.size);
  E("renumbered_source_closed", __wasi_fd_filestat_get(a, &st));
  E("renumber_bad_source", __wasi_fd_renumber(99, b));
  E("renumber_bad_target", __wasi_fd_renumber(b, 99));
  E("renumber_self", __wasi_fd_renumber(b, b));

  // Point stdout at the file: what the guest then writes to fd 1 lands in it (wasmtime allows this).
  __wasi_fd_t c = open_at(NULL, DIR, 0, "c", __WASI_OFLAGS_CREAT, 0);
  fflush(stdout);
  __wasi_errno_t e = __wasi_fd_renumber(c, 1);
  if (e == 0) (void)write_all(1, "to-file");
  errno_line("renumber_onto_stdout", e);
  V("stdout_redirected_bytes", "%lld", (long long)size_of("c"));

  __wasi_fdstat_t fs;
  E("fdstat_stdin", __wasi_fd_fdstat_get(0, &fs));
  E("fdstat_stderr", __wasi_fd_fdstat_get(2, &fs));
  __wasi_prestat_t ps;
  E("prestat_stdin", __wasi_fd_prestat_get(0, &ps));
  E("prestat_preopen", __wasi_fd_prestat_get(DIR, &ps));
  V("prestat_len", "%u", (unsigned)ps.u.dir.pr_name_len);
  E("prestat_after_last", __wasi_fd_prestat_get(DIR + 1, &ps));
  E("close_file", __wasi_fd_close(b));
  E("close_twice", __wasi_fd_close(b));
  E("close_bad", __wasi_fd_close(1234));
  E("close_preopen", __wasi_fd_close(DIR));
  E("preopen_after_close", __wasi_fd_prestat_get(DIR, &ps));
  E("open_after_close", __wasi_path_open(DIR, 0, "a", 0, 0, 0, 0, &a));
  return 0;
}
