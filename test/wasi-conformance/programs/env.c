// Arguments, environment, clocks' resolutions and random bytes (wasmtime preview1_big_random_buf,
// preview1_clock_time_get; the runner passes argv {"conformance", "a b", "", "ünï"} and the environment
// STRATA_CONF=yes, EMPTY=).
#include "conformance.h"
#include <stdlib.h>

static uint8_t big[1 << 20];

int main(void) {
  __wasi_size_t argc = 0, argv_size = 0;
  E("args_sizes", __wasi_args_sizes_get(&argc, &argv_size));
  V("argc", "%u", (unsigned)argc);
  V("argv_buf_size", "%u", (unsigned)argv_size);
  uint8_t **argv = calloc(argc + 1, sizeof *argv);
  uint8_t *argv_buf = malloc(argv_size);
  E("args_get", __wasi_args_get(argv, argv_buf));
  // Every argument NUL-terminated, back to back, exactly filling the buffer.
  size_t total = 0;
  for (unsigned i = 0; i < argc; i++) total += strlen((char *)argv[i]) + 1;
  V("args_fill_buffer", "%s", total == argv_size ? "yes" : "no");
  V("arg1", "%s", argc > 1 ? (char *)argv[1] : "(none)");
  V("arg2_len", "%u", argc > 2 ? (unsigned)strlen((char *)argv[2]) : 99u);
  V("arg3_bytes", "%u", argc > 3 ? (unsigned)strlen((char *)argv[3]) : 0u); // UTF-8: 5 bytes

  __wasi_size_t envc = 0, env_size = 0;
  E("environ_sizes", __wasi_environ_sizes_get(&envc, &env_size));
  V("envc", "%u", (unsigned)envc);
  V("environ_buf_size", "%u", (unsigned)env_size); // "STRATA_CONF=yes\0EMPTY=\0"
  uint8_t **env = calloc(envc + 1, sizeof *env);
  uint8_t *env_buf = malloc(env_size);
  E("environ_get", __wasi_environ_get(env, env_buf));
  int seen = 0;
  for (unsigned i = 0; i < envc; i++) {
    if (strcmp((char *)env[i], "STRATA_CONF=yes") == 0) seen |= 1;
    if (strcmp((char *)env[i], "EMPTY=") == 0) seen |= 2;
  }
  V("environ_entries", "%s", seen == 3 ? "yes" : "no");

  __wasi_timestamp_t res = 0, t = 0;
  E("clock_res_realtime", __wasi_clock_res_get(__WASI_CLOCKID_REALTIME, &res));
  V("clock_res_realtime_positive", "%s", res > 0 ? "yes" : "no");
  E("clock_res_process_cputime", __wasi_clock_res_get(__WASI_CLOCKID_PROCESS_CPUTIME_ID, &res));
  E("clock_res_bad_id", __wasi_clock_res_get(99, &res));
  E("clock_realtime", __wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 1, &t));
  V("clock_realtime_after_2020", "%s", t > 1577836800000000000ull ? "yes" : "no");

  // A megabyte of random bytes in one call: filled to the end, not a repeated pattern.
  memset(big, 0, sizeof big);
  E("random_big", __wasi_random_get(big, sizeof big));
  unsigned zero_tail = 0;
  for (size_t i = sizeof big - 64; i < sizeof big; i++) zero_tail += big[i] == 0;
  V("random_big_tail_filled", "%s", zero_tail < 16 ? "yes" : "no");
  V("random_big_halves_differ", "%s", memcmp(big, big + sizeof big / 2, 4096) != 0 ? "yes" : "no");
  E("random_empty", __wasi_random_get(big, 0));
  return 0;
}
