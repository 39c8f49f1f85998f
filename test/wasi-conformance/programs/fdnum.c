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
  // Only the source must be open (wasmtime): renumbering onto an unused number moves it there.
  __wasi_errno_t e = __wasi_fd_renumber(b, 99);
  errno_line("renumber_onto_unused", e);
  if (e == 0) b = 99;
  E("renumber_self", __wasi_fd_renumber(b, b));
  E("renumber_self_bad", __wasi_fd_renumber(98, 98));

  __wasi_fdstat_t fs;
  E("fdstat_stdin", __wasi_fd_fdstat_get(0, &fs));
  E("fdstat_stderr", __wasi_fd_fdstat_get(2, &fs));

  // Point stderr at a file: what the guest then writes to fd 2 lands in it (wasmtime allows this); the
  // file's own number is closed.
  __wasi_fd_t c = open_at(NULL, DIR, 0, "c", __WASI_OFLAGS_CREAT, 0);
  e = __wasi_fd_renumber(c, 2);
  errno_line("renumber_onto_stderr", e);
  if (e == 0) (void)write_all(2, "to-file");
  V("stderr_redirected_bytes", "%lld", (long long)size_of("c"));
  E("renumbered_onto_stderr_source_closed", __wasi_fd_filestat_get(c, &st));
  (void)__wasi_fd_fdstat_get(2, &fs);
  V("stderr_filetype", "%u", (unsigned)fs.fs_filetype);
  E("stderr_tell", __wasi_fd_tell(2, &st.size));
  E("close_redirected_stderr", __wasi_fd_close(2));
  E("stderr_after_close", __wasi_fd_fdstat_get(2, &fs));
  // A new descriptor does not take a number that is in use.
  __wasi_fd_t d = open_at(NULL, DIR, 0, "d", __WASI_OFLAGS_CREAT, 0);
  V("new_fd_distinct", "%s", d > 1 && d != b && d != DIR ? "yes" : "no");
  (void)__wasi_fd_close(d);

  // Move stdout away and back: both renumbers succeed and stdout still works.
  __wasi_fd_t s = open_at(NULL, DIR, 0, "s", __WASI_OFLAGS_CREAT, 0);
  fflush(stdout);
  __wasi_errno_t away = __wasi_fd_renumber(1, s), back = away;
  __wasi_ciovec_t iov = {(const uint8_t *)"", 0};
  __wasi_size_t nw = 0;
  __wasi_errno_t moved_write = __wasi_fd_write(1, &iov, 1, &nw);
  if (away == 0) back = __wasi_fd_renumber(s, 1);
  errno_line("renumber_stdout_away", away);
  errno_line("write_moved_stdout", moved_write);
  errno_line("renumber_stdout_back", back);
  V("s_still_empty", "%lld", (long long)size_of("s"));
  // Numbers are mapped now: path_* still work (a 2-byte path, like fd 2 that is gone, is a length).
  make_file("xy", "xy");
  E("link_while_mapped", __wasi_path_link(DIR, 0, "xy", DIR, "xy2"));
  E("rename_while_mapped", __wasi_path_rename(DIR, "xy2", DIR, "xy3"));
  V("renamed_size", "%lld", (long long)size_of("xy3"));

  __wasi_prestat_t ps;
  E("prestat_stdin", __wasi_fd_prestat_get(0, &ps));
  E("prestat_preopen", __wasi_fd_prestat_get(DIR, &ps));
  V("prestat_len", "%u", (unsigned)ps.u.dir.pr_name_len);
  E("prestat_after_last", __wasi_fd_prestat_get(DIR + 1, &ps));
  // Opened now: the preopen is closed below.
  __wasi_fd_t r = open_at(NULL, DIR, 0, "stdout-redirect", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, 0);
  E("close_file", __wasi_fd_close(b));
  E("close_twice", __wasi_fd_close(b));
  E("close_bad", __wasi_fd_close(1234));
  E("close_preopen", __wasi_fd_close(DIR));
  E("preopen_after_close", __wasi_fd_prestat_get(DIR, &ps));
  E("open_after_close", __wasi_path_open(DIR, 0, "a", 0, 0, 0, 0, &a));

  // Last, stdout onto a file: what the program prints from here on lands in /data/stdout-redirect,
  // which the runner reads back as `redirected.<key>` observations.
  fflush(stdout);
  e = __wasi_fd_renumber(r, 1);
  errno_line("renumber_onto_stdout", e);
  (void)__wasi_fd_fdstat_get(1, &fs);
  V("stdout_filetype", "%u", (unsigned)fs.fs_filetype);
  E("renumbered_onto_stdout_source_closed", __wasi_fd_filestat_get(r, &st));
  return 0;
}
