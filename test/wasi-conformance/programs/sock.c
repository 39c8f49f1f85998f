// sock_* on descriptors that are not sockets (preview1 guests get no sockets here, as with wasmtime
// without --tcplisten): NOTSOCK for a file or stdio, BADF for a closed descriptor.
#include "conformance.h"

int main(void) {
  make_file("f", "x");
  __wasi_fd_t f = open_at(NULL, DIR, 0, "f", 0, 0);
  __wasi_fd_t out;
  E("accept_file", __wasi_sock_accept(f, 0, &out));
  E("accept_stdin", __wasi_sock_accept(0, 0, &out));
  E("accept_bad_fd", __wasi_sock_accept(99, 0, &out));
  uint8_t b[4];
  __wasi_iovec_t iov = {b, sizeof b};
  __wasi_ciovec_t ciov = {b, sizeof b};
  __wasi_size_t n;
  __wasi_roflags_t ro;
  E("recv_file", __wasi_sock_recv(f, &iov, 1, 0, &n, &ro));
  E("recv_bad_fd", __wasi_sock_recv(99, &iov, 1, 0, &n, &ro));
  E("send_file", __wasi_sock_send(f, &ciov, 1, 0, &n));
  E("send_stdout", __wasi_sock_send(1, &ciov, 1, 0, &n));
  E("shutdown_file", __wasi_sock_shutdown(f, __WASI_SDFLAGS_RD));
  E("shutdown_bad_fd", __wasi_sock_shutdown(99, __WASI_SDFLAGS_WR));
  return 0;
}
