// fd_readdir with cookies (wasmtime preview1_fd_readdir): every entry once, "." and ".." included,
// resuming from an entry's d_next yields exactly the entries after it.
#include "conformance.h"
#include <stdlib.h>

static uint8_t buf[4096];

/** Names in one call from `cookie`, the number of entries, and the d_next of the first one. */
static int list(__wasi_fd_t fd, __wasi_dircookie_t cookie, __wasi_dircookie_t *first_next, char *names) {
  __wasi_size_t used = 0;
  if (__wasi_fd_readdir(fd, buf, sizeof buf, cookie, &used) != 0) return -1;
  int n = 0;
  names[0] = 0;
  for (size_t off = 0; off + sizeof(__wasi_dirent_t) <= used;) {
    __wasi_dirent_t d;
    memcpy(&d, buf + off, sizeof d);
    off += sizeof d;
    if (off + d.d_namlen > used) break;
    if (n == 0 && first_next) *first_next = d.d_next;
    strncat(names, (char *)buf + off, d.d_namlen);
    strcat(names, d.d_type == __WASI_FILETYPE_DIRECTORY ? "/," : ",");
    off += d.d_namlen;
    n++;
  }
  return n;
}

int main(void) {
  (void)__wasi_path_create_directory(DIR, "r");
  make_file("r/a", "1");
  make_file("r/b", "22");
  (void)__wasi_path_create_directory(DIR, "r/c");
  __wasi_fd_t fd = open_at("open_dir", DIR, 0, "r", __WASI_OFLAGS_DIRECTORY, 0);
  char all[512], rest[512];
  __wasi_dircookie_t next = 0;
  int n = list(fd, 0, &next, all);
  V("entries", "%d", n);
  // Names sorted so the observation does not depend on the host directory's order.
  char *parts[16];
  int k = 0;
  char copy[512];
  strcpy(copy, all);
  for (char *t = strtok(copy, ","); t && k < 16; t = strtok(NULL, ",")) parts[k++] = t;
  for (int i = 0; i < k; i++)
    for (int j = i + 1; j < k; j++)
      if (strcmp(parts[i], parts[j]) > 0) {
        char *x = parts[i];
        parts[i] = parts[j];
        parts[j] = x;
      }
  printf("names=");
  for (int i = 0; i < k; i++) printf("%s%s", parts[i], i + 1 < k ? "," : "\n");
  int m = list(fd, next, NULL, rest);
  V("entries_after_first_cookie", "%d", m);
  V("resume_matches", "%s", strcmp(strchr(all, ',') + 1, rest) == 0 ? "yes" : "no");
  __wasi_size_t used = 99;
  E("readdir_past_end", __wasi_fd_readdir(fd, buf, sizeof buf, 1000000, &used));
  V("readdir_past_end_used", "%u", (unsigned)used);
  // A buffer too small for one entry is filled to the brim: the caller sees bufused == buf_len.
  E("readdir_small_buffer", __wasi_fd_readdir(fd, buf, 8, 0, &used));
  V("readdir_small_buffer_used", "%u", (unsigned)used);
  // d_ino is the entry's inode: "." (and, as in wasmtime, "..") the directory's own, a file its own.
  __wasi_filestat_t dst, fst;
  (void)__wasi_fd_filestat_get(fd, &dst);
  (void)__wasi_path_filestat_get(DIR, 0, "r/a", &fst);
  int dot_ok = 0, file_ok = 0, dot_first = 0;
  (void)__wasi_fd_readdir(fd, buf, sizeof buf, 0, &used);
  for (size_t off = 0; off + sizeof(__wasi_dirent_t) <= used;) {
    __wasi_dirent_t d;
    memcpy(&d, buf + off, sizeof d);
    off += sizeof d;
    if (off + d.d_namlen > used) break;
    if (d.d_namlen == 1 && buf[off] == '.') dot_ok = d.d_ino == dst.ino, dot_first = d.d_next == 1;
    if (d.d_namlen == 1 && buf[off] == 'a') file_ok = d.d_ino == fst.ino && d.d_type == __WASI_FILETYPE_REGULAR_FILE;
    off += d.d_namlen;
  }
  V("dot_ino_matches", "%s", dot_ok ? "yes" : "no");
  V("dot_cookie_first", "%s", dot_first ? "yes" : "no");
  V("file_ino_and_type", "%s", file_ok ? "yes" : "no");
  // An entry that appears later is listed by a fresh read from cookie 0.
  make_file("r/d", "4");
  V("entries_after_create", "%d", list(fd, 0, NULL, all));

  __wasi_fd_t f = open_at(NULL, DIR, 0, "r/a", 0, 0);
  E("readdir_on_file", __wasi_fd_readdir(f, buf, sizeof buf, 0, &used));
  E("readdir_bad_fd", __wasi_fd_readdir(99, buf, sizeof buf, 0, &used));
  return 0;
}
