// A long-running service: one numbered, timestamped line per second, forever. It sleeps through
// WASI poll_oneoff, so it shows that a wasm guest can be idle cheaply and still be stopped at once.
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void) {
  for (unsigned long n = 1;; n++) {
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("tick %lu %s\n", n, stamp);
    // stdout is not a terminal, so libc buffers fully; flush so each tick reaches the log now.
    fflush(stdout);
    sleep(1);
  }
}
