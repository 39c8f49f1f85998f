// Directories, rename, unlink (wasmtime preview1_remove_nonempty_directory, preview1_path_rename*,
// preview1_unlink_file_trailing_slashes, preview1_remove_directory).
#include "conformance.h"

int main(void) {
  E("mkdir", __wasi_path_create_directory(DIR, "d"));
  E("mkdir_exists", __wasi_path_create_directory(DIR, "d"));
  E("mkdir_trailing_slash", __wasi_path_create_directory(DIR, "e/"));
  make_file("d/f", "x");
  make_file("file", "x");
  E("mkdir_over_file", __wasi_path_create_directory(DIR, "file"));
  E("rmdir_nonempty", __wasi_path_remove_directory(DIR, "d"));
  E("rmdir_file", __wasi_path_remove_directory(DIR, "file"));
  E("rmdir_missing", __wasi_path_remove_directory(DIR, "nope"));
  E("rmdir_trailing_slash", __wasi_path_remove_directory(DIR, "e/"));
  E("unlink_dir", __wasi_path_unlink_file(DIR, "d"));
  E("unlink_file_trailing_slash", __wasi_path_unlink_file(DIR, "file/"));
  E("unlink_missing", __wasi_path_unlink_file(DIR, "nope"));

  E("rename_file", __wasi_path_rename(DIR, "file", DIR, "moved"));
  V("rename_old_gone", "%lld", (long long)size_of("file"));
  make_file("other", "yy");
  E("rename_over_file", __wasi_path_rename(DIR, "other", DIR, "moved"));
  V("rename_over_size", "%llu", (unsigned long long)size_of("moved"));
  E("rename_file_over_dir", __wasi_path_rename(DIR, "moved", DIR, "d"));
  E("mkdir_empty", __wasi_path_create_directory(DIR, "empty"));
  E("rename_dir_over_file", __wasi_path_rename(DIR, "empty", DIR, "moved"));
  E("rename_dir_over_nonempty", __wasi_path_rename(DIR, "empty", DIR, "d"));
  E("rename_dir_trailing_slashes", __wasi_path_rename(DIR, "empty/", DIR, "empty2/"));
  E("rename_file_trailing_slash", __wasi_path_rename(DIR, "moved/", DIR, "moved2"));
  E("rename_missing", __wasi_path_rename(DIR, "nope", DIR, "x"));
  E("rename_escape", __wasi_path_rename(DIR, "moved", DIR, "../moved"));
  E("rename_onto_itself", __wasi_path_rename(DIR, "moved", DIR, "moved"));
  (void)__wasi_path_create_directory(DIR, "src");
  make_file("src/kept", "k");
  (void)__wasi_path_create_directory(DIR, "dst");
  E("rename_dir_over_empty_dir", __wasi_path_rename(DIR, "src", DIR, "dst"));
  V("rename_dir_contents_moved", "%lld", (long long)size_of("dst/kept"));
  E("rename_dir_into_itself", __wasi_path_rename(DIR, "dst", DIR, "dst/inner"));
  E("rmdir_empty", __wasi_path_remove_directory(DIR, "empty2"));
  E("rmdir_dot", __wasi_path_remove_directory(DIR, "."));
  E("link", __wasi_path_link(DIR, 0, "moved", DIR, "hard"));
  E("link_exists", __wasi_path_link(DIR, 0, "moved", DIR, "hard"));
  E("link_dir", __wasi_path_link(DIR, 0, "d", DIR, "dlink"));
  return 0;
}
