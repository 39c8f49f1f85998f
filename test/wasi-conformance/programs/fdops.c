// Descriptor operations on a file (wasmtime preview1_file_seek_tell, preview1_file_pread_pwrite,
// preview1_file_allocate, preview1_fd_advise, preview1_fd_filestat_set, preview1_fdflags_sync,
// preview1_file_truncation, preview1_path_filestat).
#include "conformance.h"

int main(void) {
  __wasi_fd_t fd = open_at("open", DIR, 0, "f", __WASI_OFLAGS_CREAT, 0);
  __wasi_filesize_t pos = 99;
  E("tell_initial", __wasi_fd_tell(fd, &pos));
  V("tell_initial_pos", "%llu", (unsigned long long)pos);
  E("write", write_all(fd, "0123456789"));
  (void)__wasi_fd_tell(fd, &pos);
  V("tell_after_write", "%llu", (unsigned long long)pos);
  E("seek_set", __wasi_fd_seek(fd, 2, __WASI_WHENCE_SET, &pos));
  V("seek_set_pos", "%llu", (unsigned long long)pos);
  E("seek_cur", __wasi_fd_seek(fd, 3, __WASI_WHENCE_CUR, &pos));
  V("seek_cur_pos", "%llu", (unsigned long long)pos);
  E("seek_end", __wasi_fd_seek(fd, -1, __WASI_WHENCE_END, &pos));
  V("seek_end_pos", "%llu", (unsigned long long)pos);
  E("seek_negative", __wasi_fd_seek(fd, -100, __WASI_WHENCE_SET, &pos));
  E("seek_bad_whence", __wasi_fd_seek(fd, 0, 7, &pos));
  E("seek_beyond_end", __wasi_fd_seek(fd, 100, __WASI_WHENCE_SET, &pos));
  V("seek_beyond_end_pos", "%llu", (unsigned long long)pos);
  E("seek_stdout", __wasi_fd_seek(1, 0, __WASI_WHENCE_CUR, &pos));
  E("seek_dir", __wasi_fd_seek(DIR, 0, __WASI_WHENCE_CUR, &pos));

  // pread/pwrite leave the offset alone.
  (void)__wasi_fd_seek(fd, 1, __WASI_WHENCE_SET, &pos);
  uint8_t b[4] = {0};
  __wasi_iovec_t iov = {b, 3};
  __wasi_size_t n = 0;
  E("pread", __wasi_fd_pread(fd, &iov, 1, 5, &n));
  V("pread_data", "%.3s", (char *)b);
  __wasi_ciovec_t ciov = {(const uint8_t *)"AB", 2};
  E("pwrite", __wasi_fd_pwrite(fd, &ciov, 1, 0, &n));
  (void)__wasi_fd_tell(fd, &pos);
  V("offset_after_pread_pwrite", "%llu", (unsigned long long)pos);
  E("pwrite_stdout", __wasi_fd_pwrite(1, &ciov, 0, 0, &n));
  E("pread_dir", __wasi_fd_pread(DIR, &iov, 1, 0, &n));

  E("advise", __wasi_fd_advise(fd, 0, 10, __WASI_ADVICE_SEQUENTIAL));
  E("advise_bad", __wasi_fd_advise(fd, 0, 10, 99));
  E("advise_dir", __wasi_fd_advise(DIR, 0, 10, __WASI_ADVICE_NORMAL));

  __wasi_filestat_t st;
  E("allocate", __wasi_fd_allocate(fd, 0, 100));
  (void)__wasi_fd_filestat_get(fd, &st);
  V("allocate_size", "%llu", (unsigned long long)st.size);
  E("allocate_smaller_keeps", __wasi_fd_allocate(fd, 0, 10));
  (void)__wasi_fd_filestat_get(fd, &st);
  V("allocate_smaller_size", "%llu", (unsigned long long)st.size);
  E("set_size", __wasi_fd_filestat_set_size(fd, 4));
  (void)__wasi_fd_filestat_get(fd, &st);
  V("set_size_size", "%llu", (unsigned long long)st.size);
  V("filetype", "%u", (unsigned)st.filetype);
  V("nlink", "%llu", (unsigned long long)st.nlink);

  // Times: explicit values, then "now".
  E("set_times", __wasi_fd_filestat_set_times(fd, 1000000000ull * 1000, 2000000000ull * 1000,
                                              __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM));
  (void)__wasi_fd_filestat_get(fd, &st);
  V("set_times_atim", "%llu", (unsigned long long)st.atim);
  V("set_times_mtim", "%llu", (unsigned long long)st.mtim);
  E("set_times_both_now_and_value",
    __wasi_fd_filestat_set_times(fd, 0, 0, __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_ATIM_NOW));
  E("path_set_times", __wasi_path_filestat_set_times(DIR, 0, "f", 5000000000ull, 6000000000ull,
                                                     __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM));
  E("path_filestat", __wasi_path_filestat_get(DIR, 0, "f", &st));
  V("path_set_times_mtim", "%llu", (unsigned long long)st.mtim);
  E("path_set_times_mtim_only", __wasi_path_filestat_set_times(DIR, 0, "f", 0, 7000000000ull,
                                                              __WASI_FSTFLAGS_MTIM));
  (void)__wasi_path_filestat_get(DIR, 0, "f", &st);
  V("mtim_only_atim_kept", "%llu", (unsigned long long)st.atim);
  E("path_filestat_missing", __wasi_path_filestat_get(DIR, 0, "nope", &st));
  E("path_filestat_trailing_slash_file", __wasi_path_filestat_get(DIR, 0, "f/", &st));

  // fdstat: file type, flags, append.
  __wasi_fdstat_t fs;
  E("fdstat", __wasi_fd_fdstat_get(fd, &fs));
  V("fdstat_type", "%u", (unsigned)fs.fs_filetype);
  V("fdstat_flags", "%u", (unsigned)fs.fs_flags);
  E("fdstat_dir", __wasi_fd_fdstat_get(DIR, &fs));
  V("fdstat_dir_type", "%u", (unsigned)fs.fs_filetype);
  E("set_flags_append", __wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_APPEND));
  (void)__wasi_fd_fdstat_get(fd, &fs);
  V("fdstat_flags_after", "%u", (unsigned)fs.fs_flags);
  (void)__wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos);
  (void)write_all(fd, "Z");
  (void)__wasi_fd_filestat_get(fd, &st);
  V("append_size", "%llu", (unsigned long long)st.size);
  (void)__wasi_fd_close(fd);

  __wasi_fd_t a = open_at("open_append", DIR, 0, "f", 0, __WASI_FDFLAGS_APPEND);
  (void)write_all(a, "Q");
  (void)__wasi_fd_filestat_get(a, &st);
  V("open_append_size", "%llu", (unsigned long long)st.size);
  (void)__wasi_fd_close(a);

  // Rights: dropping fd_write makes writes NOTCAPABLE; rights cannot be regained.
  __wasi_fd_t r = open_at(NULL, DIR, 0, "f", 0, 0);
  (void)__wasi_fd_fdstat_get(r, &fs);
  E("set_rights_drop_write", __wasi_fd_fdstat_set_rights(r, fs.fs_rights_base & ~__WASI_RIGHTS_FD_WRITE,
                                                         fs.fs_rights_inheriting));
  E("write_without_right", write_all(r, "x"));
  E("set_rights_regain", __wasi_fd_fdstat_set_rights(r, ALL_RIGHTS, ALL_RIGHTS));
  (void)__wasi_fd_fdstat_get(r, &fs);
  V("rights_has_write", "%s", (fs.fs_rights_base & __WASI_RIGHTS_FD_WRITE) ? "yes" : "no");
  (void)__wasi_fd_close(r);
  // Opened with only fd_read: truncation needs fd_filestat_set_size.
  __wasi_fd_t ro;
  E("open_read_only", __wasi_path_open(DIR, 0, "f", 0, __WASI_RIGHTS_FD_READ, 0, 0, &ro));
  E("set_size_without_right", __wasi_fd_filestat_set_size(ro, 0));
  E("write_read_only", write_all(ro, "x"));
  (void)__wasi_fd_close(ro);
  E("sync_closed", __wasi_fd_sync(ro));

  // Past the end: reading gives nothing, writing leaves a hole of zeros; set_size grows with zeros and
  // leaves the offset alone.
  __wasi_fd_t g = open_at(NULL, DIR, 0, "grow", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, 0);
  (void)__wasi_fd_seek(g, 100, __WASI_WHENCE_SET, &pos);
  n = 99;
  E("read_beyond_end", __wasi_fd_read(g, &iov, 1, &n));
  V("read_beyond_end_nread", "%u", (unsigned)n);
  __wasi_ciovec_t z = {(const uint8_t *)"Z", 1};
  E("write_beyond_end", __wasi_fd_write(g, &z, 1, &n));
  V("write_beyond_end_size", "%lld", (long long)size_of("grow"));
  b[0] = 0xAA;
  (void)__wasi_fd_pread(g, &iov, 1, 50, &n);
  V("hole_reads_zero", "%s", b[0] == 0 ? "yes" : "no");
  E("set_size_grow", __wasi_fd_filestat_set_size(g, 1000));
  V("set_size_grow_size", "%lld", (long long)size_of("grow"));
  (void)__wasi_fd_tell(g, &pos);
  V("offset_after_set_size", "%llu", (unsigned long long)pos);
  b[0] = 0xAA;
  (void)__wasi_fd_pread(g, &iov, 1, 900, &n);
  V("grown_reads_zero", "%s", n == 3 && b[0] == 0 ? "yes" : "no");
  (void)__wasi_fd_close(g);

  // A directory is not a file (wasmtime's get_file: BADF): no reading, writing, syncing or sizing it;
  // a file is not a directory for path_* calls.
  __wasi_fd_t dfd = open_at(NULL, DIR, 0, ".", __WASI_OFLAGS_DIRECTORY, 0);
  n = 99;
  E("read_dir", __wasi_fd_read(dfd, &iov, 1, &n));
  E("write_dir", __wasi_fd_write(dfd, &z, 1, &n));
  E("set_size_dir", __wasi_fd_filestat_set_size(dfd, 0));
  E("allocate_dir", __wasi_fd_allocate(dfd, 0, 1));
  (void)__wasi_fd_close(dfd);
  __wasi_fd_t ff = open_at(NULL, DIR, 0, "grow", 0, 0);
  E("mkdir_file_dirfd", __wasi_path_create_directory(ff, "x"));
  E("filestat_file_dirfd", __wasi_path_filestat_get(ff, 0, "x", &st));
  E("unlink_file_dirfd", __wasi_path_unlink_file(ff, "x"));
  (void)__wasi_fd_close(ff);
  return 0;
}
