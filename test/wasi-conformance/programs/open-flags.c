// path_open's oflags and trailing slashes (wasmtime preview1_path_open_*, preview1_interesting_paths).
#include "conformance.h"

int main(void) {
  make_file("file", "hello");
  E("create_directory", __wasi_path_create_directory(DIR, "dir"));
  __wasi_fd_t fd;

  fd = open_at("open_missing", DIR, 0, "missing", 0, 0);
  fd = open_at("creat_new", DIR, 0, "new", __WASI_OFLAGS_CREAT, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);
  fd = open_at("creat_existing", DIR, 0, "file", __WASI_OFLAGS_CREAT, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);
  V("creat_existing_keeps_size", "%llu", (unsigned long long)size_of("file"));
  open_at("creat_excl_existing", DIR, 0, "file", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, 0);
  fd = open_at("creat_excl_new", DIR, 0, "excl", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);
  fd = open_at("trunc", DIR, 0, "file", __WASI_OFLAGS_TRUNC, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);
  V("trunc_size", "%llu", (unsigned long long)size_of("file"));
  make_file("file", "hello");

  fd = open_at("directory_on_dir", DIR, 0, "dir", __WASI_OFLAGS_DIRECTORY, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);
  open_at("directory_on_file", DIR, 0, "file", __WASI_OFLAGS_DIRECTORY, 0);
  open_at("directory_creat", DIR, 0, "newdir", __WASI_OFLAGS_DIRECTORY | __WASI_OFLAGS_CREAT, 0);

  // A directory opened for writing: EISDIR.
  __wasi_fd_t wfd;
  E("dir_with_write_right",
    __wasi_path_open(DIR, 0, "dir", 0, __WASI_RIGHTS_FD_WRITE, 0, 0, &wfd));
  // Trailing slashes: a file named with one is not a directory; a directory may carry one.
  open_at("trailing_slash_file", DIR, 0, "file/", 0, 0);
  fd = open_at("trailing_slash_dir", DIR, 0, "dir/", __WASI_OFLAGS_DIRECTORY, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);
  open_at("trailing_slash_creat", DIR, 0, "slashed/", __WASI_OFLAGS_CREAT, 0);
  fd = open_at("dot", DIR, 0, ".", __WASI_OFLAGS_DIRECTORY, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);
  open_at("dotdot_escape", DIR, 0, "..", 0, 0);
  open_at("absolute", DIR, 0, "/data/file", 0, 0);
  fd = open_at("dir_dotdot_inside", DIR, 0, "dir/../file", 0, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);
  open_at("empty_path", DIR, 0, "", 0, 0);
  open_at("creat_excl_dir", DIR, 0, "dir", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, 0);
  open_at("creat_in_missing_dir", DIR, 0, "nodir/x", __WASI_OFLAGS_CREAT, 0);
  open_at("file_slash_dot", DIR, 0, "file/.", 0, 0);
  fd = open_at(NULL, DIR, 0, "file", 0, 0);
  open_at("file_as_dirfd", fd, 0, "x", 0, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);
  open_at("bad_dirfd", 77, 0, "x", 0, 0);
  return 0;
}
