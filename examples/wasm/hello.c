// The first wasm workload a newcomer runs: greets, echoes its arguments and one environment
// variable, and exits with the code given in EXIT_CODE (so Job success/failure can be tried).
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  printf("Hello from Strata wasm!\n");
  for (int i = 0; i < argc; i++) {
    printf("argv[%d] = %s\n", i, argv[i]);
  }
  const char *greeting = getenv("GREETING");
  printf("GREETING = %s\n", greeting ? greeting : "(unset)");
  const char *code = getenv("EXIT_CODE");
  return code ? atoi(code) : 0;
}
