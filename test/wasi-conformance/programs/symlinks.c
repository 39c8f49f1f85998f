// Symlinks the guest makes in its own volume (wasmtime preview1_readlink, preview1_nofollow_errors,
// preview1_dangling_symlink, preview1_symlink_create), and the escapes that stay impossible.
#include "conformance.h"

int main(void) {
  make_file("target", "target!");
  E("create_directory", __wasi_path_create_directory(DIR, "sub"));
  E("symlink_inside", __wasi_path_symlink("target", DIR, "link"));
  E("symlink_inside_nested", __wasi_path_symlink("../target", DIR, "sub/uplink"));
  E("symlink_to_dir", __wasi_path_symlink("sub", DIR, "dirlink"));
  E("symlink_exists", __wasi_path_symlink("target", DIR, "target"));

  uint8_t buf[16];
  memset(buf, 0, sizeof buf);
  __wasi_size_t used = 0;
  E("readlink", __wasi_path_readlink(DIR, "link", buf, sizeof buf, &used));
  V("readlink_used", "%u", (unsigned)used);
  V("readlink_text", "%s", (char *)buf);
  E("readlink_not_link", __wasi_path_readlink(DIR, "target", buf, sizeof buf, &used));
  // wasmtime preview1_readlink: a buffer too small truncates silently (bufused == buf_len), an empty
  // one is fine, and bytes past the link's text are left untouched.
  memset(buf, 0xAA, sizeof buf);
  E("readlink_small", __wasi_path_readlink(DIR, "link", buf, 4, &used));
  V("readlink_small_used", "%u", (unsigned)used);
  V("readlink_small_text", "%.4s", (char *)buf);
  V("readlink_small_untouched", "%s", buf[4] == 0xAA ? "yes" : "no");
  used = 99;
  E("readlink_zero_buffer", __wasi_path_readlink(DIR, "link", buf, 0, &used));
  V("readlink_zero_used", "%u", (unsigned)used);
  E("readlink_escape", __wasi_path_readlink(DIR, "../x", buf, sizeof buf, &used));
  E("readlink_missing", __wasi_path_readlink(DIR, "nope", buf, sizeof buf, &used));

  __wasi_fd_t fd = open_at("open_follow", DIR, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "link", 0, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);
  fd = open_at("open_follow_nested", DIR, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "sub/uplink", 0, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);
  open_at("open_nofollow", DIR, 0, "link", 0, 0);
  open_at("open_nofollow_directory", DIR, 0, "dirlink", __WASI_OFLAGS_DIRECTORY, 0);
  fd = open_at("open_through_dirlink", DIR, 0, "dirlink/", __WASI_OFLAGS_DIRECTORY, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);

  __wasi_filestat_t st;
  E("filestat_nofollow", __wasi_path_filestat_get(DIR, 0, "link", &st));
  V("filestat_nofollow_type", "%u", (unsigned)st.filetype);
  E("filestat_follow", __wasi_path_filestat_get(DIR, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "link", &st));
  V("filestat_follow_type", "%u", (unsigned)st.filetype);

  E("dangling_create", __wasi_path_symlink("nowhere", DIR, "dangling"));
  open_at("dangling_open_follow", DIR, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "dangling", 0, 0);
  fd = open_at("dangling_creat_follow", DIR, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "dangling",
               __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, 0);
  if (fd != (__wasi_fd_t)-1) (void)__wasi_fd_close(fd);

  // Escapes: a link whose target leaves the volume is refused, or at least can never be followed.
  __wasi_errno_t abs = __wasi_path_symlink("/etc/passwd", DIR, "abs");
  errno_line("symlink_absolute", abs);
  __wasi_errno_t up = __wasi_path_symlink("../../../../etc/passwd", DIR, "up");
  errno_line("symlink_escape", up);
  if (abs == 0) open_at("open_absolute_link", DIR, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "abs", 0, 0);
  if (up == 0) open_at("open_escape_link", DIR, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "up", 0, 0);

  // The link itself may not be placed outside the volume either.
  E("symlink_link_outside", __wasi_path_symlink("target", DIR, "../evil"));
  E("symlink_link_absolute", __wasi_path_symlink("target", DIR, "/evil"));

  E("unlink_link", __wasi_path_unlink_file(DIR, "link"));
  V("target_survives", "%llu", (unsigned long long)size_of("target"));
  E("unlink_dirlink", __wasi_path_unlink_file(DIR, "dirlink"));
  E("symlink_trailing_slash", __wasi_path_symlink("target", DIR, "slashed/"));
  return 0;
}
