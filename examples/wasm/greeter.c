// A WAGI HTTP handler (WebAssembly Gateway Interface: CGI for WASI). Strata runs one fresh instance of
// this module per request: the request line and headers arrive as CGI environment variables, the body on
// stdin, the query string's parts as arguments; what the module prints — headers, a blank line, the
// body — is the response. No sockets, no HTTP library: a plain WASI command.
//
//   GET  /            -> "hello from wasm, <pod name>" (plain text)
//   GET  /?name=Ada   -> "hello, Ada"
//   POST /echo        -> the request body back, with its length in a header
//   GET  /missing     -> 404 (the Status header)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env_or(const char *name, const char *fallback) {
  const char *v = getenv(name);
  return v && *v ? v : fallback;
}

int main(int argc, char **argv) {
  const char *method = env_or("REQUEST_METHOD", "GET");
  const char *path = env_or("PATH_INFO", "/");

  if (strcmp(path, "/echo") == 0 && strcmp(method, "POST") == 0) {
    static char body[65536];
    size_t n = fread(body, 1, sizeof body, stdin);
    printf("Content-Type: %s\n", env_or("CONTENT_TYPE", "application/octet-stream"));
    printf("X-Echo-Length: %zu\n\n", n);
    fwrite(body, 1, n, stdout);
    return 0;
  }
  if (strcmp(path, "/") != 0) {
    printf("Status: 404 Not Found\nContent-Type: text/plain\n\nno route for %s\n", path);
    return 0;
  }
  // The query string's parts are the arguments after the module's name (WAGI's convention).
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "name=", 5) == 0) {
      printf("Content-Type: text/plain\n\nhello, %s\n", argv[i] + 5);
      return 0;
    }
  }
  printf("Content-Type: text/plain\n\nhello from wasm, %s\n", env_or("POD_NAME", "a handler"));
  return 0;
}
