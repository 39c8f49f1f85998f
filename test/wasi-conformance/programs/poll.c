// poll_oneoff on clocks and stdio (wasmtime preview1_poll_oneoff_stdio, preview1_poll_oneoff_files),
// and the clocks themselves (preview1_clock_time_get).
#include "conformance.h"

int main(void) {
  __wasi_subscription_t sub[3];
  __wasi_event_t ev[3];
  __wasi_size_t n = 0;
  memset(sub, 0, sizeof sub);
  memset(ev, 0, sizeof ev);

  sub[0].userdata = 7;
  sub[0].u.tag = __WASI_EVENTTYPE_CLOCK;
  sub[0].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
  sub[0].u.u.clock.timeout = 5000000; // 5 ms
  __wasi_timestamp_t t0 = 0, t1 = 0;
  (void)__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t0);
  E("clock_relative", __wasi_poll_oneoff(sub, ev, 1, &n));
  (void)__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t1);
  V("clock_relative_events", "%u", (unsigned)n);
  V("clock_relative_userdata", "%llu", (unsigned long long)ev[0].userdata);
  V("clock_relative_error", "%u", (unsigned)ev[0].error);
  V("clock_relative_type", "%u", (unsigned)ev[0].type);
  V("clock_relative_waited", "%s", t1 - t0 >= 5000000 ? "yes" : "no");

  sub[0].u.u.clock.flags = __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME;
  (void)__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t0);
  sub[0].u.u.clock.timeout = t0 + 3000000;
  E("clock_absolute", __wasi_poll_oneoff(sub, ev, 1, &n));
  (void)__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t1);
  V("clock_absolute_waited", "%s", t1 >= t0 + 3000000 ? "yes" : "no");
  sub[0].u.u.clock.flags = 0;
  sub[0].u.u.clock.id = __WASI_CLOCKID_REALTIME;
  sub[0].u.u.clock.timeout = 1000000;
  E("clock_realtime", __wasi_poll_oneoff(sub, ev, 1, &n));

  // stdin (a file here, and empty) is readable at once; stdout is writable.
  sub[0].userdata = 1;
  sub[0].u.tag = __WASI_EVENTTYPE_FD_READ;
  sub[0].u.u.fd_read.file_descriptor = 0;
  sub[1].userdata = 2;
  sub[1].u.tag = __WASI_EVENTTYPE_FD_WRITE;
  sub[1].u.u.fd_write.file_descriptor = 1;
  sub[2].userdata = 3;
  sub[2].u.tag = __WASI_EVENTTYPE_CLOCK;
  sub[2].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
  sub[2].u.u.clock.timeout = 10000000000ull; // 10 s: must not be what ends the poll
  E("stdio", __wasi_poll_oneoff(sub, ev, 3, &n));
  int saw_read = 0, saw_write = 0, saw_clock = 0;
  for (unsigned i = 0; i < n; i++) {
    if (ev[i].userdata == 1 && ev[i].error == 0 && ev[i].type == __WASI_EVENTTYPE_FD_READ) saw_read = 1;
    if (ev[i].userdata == 2 && ev[i].error == 0 && ev[i].type == __WASI_EVENTTYPE_FD_WRITE) saw_write = 1;
    if (ev[i].userdata == 3) saw_clock = 1;
  }
  V("stdio_stdin_readable", "%s", saw_read ? "yes" : "no");
  V("stdio_stdout_writable", "%s", saw_write ? "yes" : "no");
  V("stdio_clock_fired", "%s", saw_clock ? "yes" : "no");

  // A descriptor that cannot be polled fails the whole call with BADF (wasmtime's
  // preview1_poll_oneoff_files test_fd_readwrite_invalid_fd): no events are reported.
  sub[0].userdata = 9;
  sub[0].u.tag = __WASI_EVENTTYPE_FD_READ;
  sub[0].u.u.fd_read.file_descriptor = 99;
  n = 0;
  E("bad_fd", __wasi_poll_oneoff(sub, ev, 1, &n));
  V("bad_fd_events", "%u", (unsigned)n);
  sub[0].u.u.fd_read.file_descriptor = DIR;
  E("dir_fd", __wasi_poll_oneoff(sub, ev, 1, &n));
  sub[0].u.u.fd_read.file_descriptor = 1;
  E("read_stdout", __wasi_poll_oneoff(sub, ev, 1, &n));
  sub[0].u.tag = __WASI_EVENTTYPE_FD_WRITE;
  sub[0].u.u.fd_write.file_descriptor = 0;
  E("write_stdin", __wasi_poll_oneoff(sub, ev, 1, &n));

  // Regular files are always ready, for reading and for writing.
  make_file("f", "x");
  __wasi_fd_t f = open_at(NULL, DIR, 0, "f", 0, 0);
  sub[0].userdata = 11;
  sub[0].u.tag = __WASI_EVENTTYPE_FD_READ;
  sub[0].u.u.fd_read.file_descriptor = f;
  sub[1].userdata = 12;
  sub[1].u.tag = __WASI_EVENTTYPE_FD_WRITE;
  sub[1].u.u.fd_write.file_descriptor = f;
  memset(ev, 0, sizeof ev);
  n = 0;
  E("file", __wasi_poll_oneoff(sub, ev, 2, &n));
  V("file_events", "%u", (unsigned)n);
  V("file_errors", "%u", (unsigned)(ev[0].error | ev[1].error));
  V("file_nbytes", "%llu", (unsigned long long)ev[0].fd_readwrite.nbytes);
  (void)__wasi_fd_close(f);
  sub[0].u.u.fd_read.file_descriptor = f;
  E("closed_fd", __wasi_poll_oneoff(sub, ev, 1, &n));

  E("zero_subscriptions", __wasi_poll_oneoff(sub, ev, 0, &n));

  __wasi_timestamp_t res = 0;
  E("clock_res_monotonic", __wasi_clock_res_get(__WASI_CLOCKID_MONOTONIC, &res));
  V("clock_res_positive", "%s", res > 0 ? "yes" : "no");
  E("clock_bad_id", __wasi_clock_time_get(99, 1, &t0));
  E("clock_process_cputime", __wasi_clock_time_get(__WASI_CLOCKID_PROCESS_CPUTIME_ID, 1, &t0));
  E("sched_yield", __wasi_sched_yield());
  return 0;
}
