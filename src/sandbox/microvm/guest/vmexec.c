/*
 * strata-vmexec: the guest side of `strata exec` on a microVM (built static by ../exec-helper.ts,
 * shipped in the initramfs, started by the Strata init once the workload's root is mounted).
 *
 * It serves one virtio-serial port (the host end is a unix socket only the agent opens) carrying
 * framed, multiplexed sessions, so that probes and several `exec`s share it:
 *
 *   frame = type (1 byte) | channel (u32 BE) | length (u32 BE) | payload
 *   host -> guest: 'O' open   flags u8 (1 tty, 2 stdin) | cols u16 | rows u16 | argv as NUL-ended strings
 *                  'I' stdin bytes   'C' stdin closed   'K' signal (u8)   'R' resize (cols u16, rows u16)
 *   guest -> host: 'o' stdout bytes  'e' stderr bytes   'x' exit (i32 BE: the code, 128+N for signal N)
 *
 * Each session's command runs as the workload does: chrooted into the workload's root, in its working
 * directory, as its uid/gid, with its environment (this process's own, set by the init). 'x' is sent
 * after the command's output has been read to its end, so the host never loses a tail.
 *
 * When the host end disconnects (the agent restarted), every session is killed, as `docker exec`
 * sessions die with their client. Writes never block on an absent host: the port is non-blocking.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_SESSIONS 32
#define MAX_FRAME (1 << 20)
#define CHUNK 32768

struct session {
  int used;
  uint32_t ch;
  pid_t pid;
  int in;   /* child's stdin (pipe write end or the pty master), -1 when closed */
  int out;  /* stdout pipe or pty master */
  int err;  /* stderr pipe, -1 with a tty */
  int tty;
  int exited;
  int code;
  long long exited_at;
};

static struct session sessions[MAX_SESSIONS];
static int port = -1;
static const char *root, *workdir;
static uid_t uid;
static gid_t gid;
static int connected;

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}
static uint32_t get32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Writes all of buf to the port; -1 once the host is gone (then the caller drops the sessions). */
static int port_write(const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(port, p, n);
    if (w > 0) { p += w; n -= (size_t)w; continue; }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN) return -1;
    struct pollfd pf = { .fd = port, .events = POLLOUT };
    int r = poll(&pf, 1, 5000);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || ((pf.revents & (POLLHUP | POLLERR)) && !(pf.revents & POLLOUT))) return -1;
  }
  return 0;
}

static int send_frame(char type, uint32_t ch, const void *data, uint32_t len) {
  unsigned char h[9];
  h[0] = (unsigned char)type;
  put32(h + 1, ch);
  put32(h + 5, len);
  if (port_write(h, 9) < 0) return -1;
  return len ? port_write(data, len) : 0;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void drop_session(struct session *s) {
  if (!s->exited && s->pid > 0) kill(s->tty ? -s->pid : s->pid, SIGKILL);
  close_fd(&s->in);
  close_fd(&s->out);
  close_fd(&s->err);
  if (!s->exited && s->pid > 0) waitpid(s->pid, NULL, 0);
  memset(s, 0, sizeof(*s));
  s->in = s->out = s->err = -1;
}

static void drop_all(void) {
  for (int i = 0; i < MAX_SESSIONS; i++)
    if (sessions[i].used) drop_session(&sessions[i]);
  connected = 0;
}

static struct session *find(uint32_t ch) {
  for (int i = 0; i < MAX_SESSIONS; i++)
    if (sessions[i].used && sessions[i].ch == ch) return &sessions[i];
  return NULL;
}

static void fail_open(uint32_t ch, const char *msg, int code) {
  unsigned char c[4];
  send_frame('e', ch, msg, (uint32_t)strlen(msg));
  put32(c, (uint32_t)code);
  send_frame('x', ch, c, 4);
}

/* In the child: enter the workload's root, directory and ids, then exec. */
static void child_exec(char **argv) {
  if (chroot(root) < 0 || chdir("/") < 0) { perror("strata-vmexec: chroot"); _exit(126); }
  if (chdir(workdir) < 0) chdir("/");
  if (setgroups(0, NULL) < 0 && uid != 0) { perror("strata-vmexec: setgroups"); _exit(126); }
  if (setgid(gid) < 0 || setuid(uid) < 0) { perror("strata-vmexec: setuid"); _exit(126); }
  signal(SIGPIPE, SIG_DFL);
  execvp(argv[0], argv);
  int e = errno;
  fprintf(stderr, "strata-vmexec: %s: %s\n", argv[0], strerror(e));
  _exit(e == ENOENT ? 127 : 126);
}

static void open_session(uint32_t ch, const unsigned char *p, uint32_t len) {
  if (find(ch)) { fail_open(ch, "strata-vmexec: channel in use\n", 126); return; }
  struct session *s = NULL;
  for (int i = 0; i < MAX_SESSIONS; i++) if (!sessions[i].used) { s = &sessions[i]; break; }
  if (!s) { fail_open(ch, "strata-vmexec: too many exec sessions\n", 126); return; }
  if (len < 6 || p[len - 1] != 0) { fail_open(ch, "strata-vmexec: bad open frame\n", 126); return; }
  int flags = p[0];
  unsigned short cols = (unsigned short)(p[1] << 8 | p[2]), rows = (unsigned short)(p[3] << 8 | p[4]);
  char *argv[256];
  int argc = 0;
  for (uint32_t off = 5; off < len && argc < 255;) {
    argv[argc++] = (char *)p + off;
    off += (uint32_t)strlen((const char *)p + off) + 1;
  }
  argv[argc] = NULL;
  if (argc == 0 || !argv[0][0]) { fail_open(ch, "strata-vmexec: empty command\n", 126); return; }

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, master = -1;
  char slave[128];
  if (flags & 1) {
    char ptmx[4096];
    snprintf(ptmx, sizeof ptmx, "%s/dev/pts/ptmx", root);
    master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
    unsigned int n;
    int unlock = 0;
    if (master < 0 || ioctl(master, TIOCGPTN, &n) < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0) {
      fail_open(ch, "strata-vmexec: cannot allocate a terminal\n", 126);
      if (master >= 0) close(master);
      return;
    }
    snprintf(slave, sizeof slave, "%s/dev/pts/%u", root, n);
    struct winsize ws = { .ws_row = rows ? rows : 24, .ws_col = cols ? cols : 80 };
    ioctl(master, TIOCSWINSZ, &ws);
  } else if (((flags & 2) && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 ||
             pipe2(err, O_CLOEXEC) < 0) {
    fail_open(ch, "strata-vmexec: pipe failed\n", 126);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    if (master >= 0) {
      setsid();
      int sl = open(slave, O_RDWR);
      if (sl < 0) _exit(126);
      ioctl(sl, TIOCSCTTY, 0);
      dup2(sl, 0); dup2(sl, 1); dup2(sl, 2);
      if (sl > 2) close(sl);
    } else {
      int devnull = -1;
      if (!(flags & 2)) {
        char dn[4096];
        snprintf(dn, sizeof dn, "%s/dev/null", root);
        devnull = open(dn, O_RDONLY);
      }
      dup2(flags & 2 ? in[0] : devnull, 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
    }
    child_exec(argv);
  }
  if (pid < 0) {
    close_fd(&master); close_fd(&in[0]); close_fd(&in[1]); close_fd(&out[0]); close_fd(&out[1]);
    close_fd(&err[0]); close_fd(&err[1]);
    fail_open(ch, "strata-vmexec: fork failed\n", 126);
    return;
  }
  memset(s, 0, sizeof(*s));
  s->used = 1;
  s->ch = ch;
  s->pid = pid;
  s->tty = master >= 0;
  if (master >= 0) {
    s->in = dup(master);
    s->out = master;
    s->err = -1;
  } else {
    close_fd(&in[0]); close_fd(&out[1]); close_fd(&err[1]);
    s->in = in[1];
    s->out = out[0];
    s->err = err[0];
  }
}

static void handle_frame(char type, uint32_t ch, const unsigned char *p, uint32_t len) {
  if (type == 'O') { open_session(ch, p, len); return; }
  struct session *s = find(ch);
  if (!s) return;
  if (type == 'I' && s->in >= 0) {
    /* Blocking: a command that does not read its input holds only its own session up. */
    const unsigned char *q = p;
    uint32_t n = len;
    while (n > 0) {
      ssize_t w = write(s->in, q, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) { close_fd(&s->in); break; }
      q += w; n -= (uint32_t)w;
    }
  } else if (type == 'C') {
    if (s->tty && s->in >= 0) {
      /* A terminal has no EOF of its own: send the line discipline's end-of-file character. */
      char eof = 4;
      if (write(s->in, &eof, 1) < 0) {}
    } else {
      close_fd(&s->in);
    }
  } else if (type == 'K' && len >= 1 && !s->exited) {
    kill(s->tty ? -s->pid : s->pid, p[0]);
  } else if (type == 'R' && len >= 4 && s->tty) {
    struct winsize ws = { .ws_row = (unsigned short)(p[2] << 8 | p[3]), .ws_col = (unsigned short)(p[0] << 8 | p[1]) };
    ioctl(s->out, TIOCSWINSZ, &ws);
  }
}

static unsigned char *rbuf;
static size_t rlen;

static void read_port(void) {
  ssize_t n = read(port, rbuf + rlen, MAX_FRAME + 9 - rlen);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    /* No host end (yet, or any more): sessions die with their client. */
    if (connected) drop_all();
    rlen = 0;
    usleep(50000);
    return;
  }
  connected = 1;
  rlen += (size_t)n;
  size_t off = 0;
  while (rlen - off >= 9) {
    uint32_t len = get32(rbuf + off + 5);
    if (len > MAX_FRAME) { drop_all(); rlen = 0; return; }
    if (rlen - off < 9 + len) break;
    handle_frame((char)rbuf[off], get32(rbuf + off + 1), rbuf + off + 9, len);
    off += 9 + len;
  }
  memmove(rbuf, rbuf + off, rlen - off);
  rlen -= off;
}

static void pump(struct session *s, int *fd, char type) {
  static char buf[CHUNK];
  ssize_t n = read(*fd, buf, sizeof buf);
  if (n < 0 && errno == EINTR) return;
  if (n <= 0) {
    /* EOF, or EIO on a pty master once the terminal's last user is gone. */
    if (s->tty) close_fd(&s->in);
    close_fd(fd);
    return;
  }
  if (send_frame(type, s->ch, buf, (uint32_t)n) < 0) drop_all();
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_SESSIONS; i++) {
      struct session *s = &sessions[i];
      if (!s->used || s->pid != pid) continue;
      s->exited = 1;
      s->exited_at = now_ms();
      s->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: strata-vmexec PORT ROOT WORKDIR UID GID\n");
    return 2;
  }
  root = argv[2];
  workdir = argv[3];
  uid = (uid_t)atoi(argv[4]);
  gid = (gid_t)atoi(argv[5]);
  signal(SIGPIPE, SIG_IGN);
  for (int i = 0; i < MAX_SESSIONS; i++) sessions[i].in = sessions[i].out = sessions[i].err = -1;
  rbuf = malloc(MAX_FRAME + 9);
  port = open(argv[1], O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (!rbuf || port < 0) { perror("strata-vmexec: port"); return 1; }
  for (;;) {
    struct pollfd pf[1 + 2 * MAX_SESSIONS];
    struct { struct session *s; int *fd; char type; } who[1 + 2 * MAX_SESSIONS];
    int n = 0;
    pf[n].fd = port; pf[n].events = POLLIN; pf[n].revents = 0; n++;
    for (int i = 0; i < MAX_SESSIONS; i++) {
      struct session *s = &sessions[i];
      if (!s->used) continue;
      if (s->out >= 0) { who[n].s = s; who[n].fd = &s->out; who[n].type = 'o'; pf[n].fd = s->out; pf[n].events = POLLIN; pf[n].revents = 0; n++; }
      if (s->err >= 0) { who[n].s = s; who[n].fd = &s->err; who[n].type = 'e'; pf[n].fd = s->err; pf[n].events = POLLIN; pf[n].revents = 0; n++; }
    }
    int r = poll(pf, (nfds_t)n, 100);
    if (r < 0 && errno != EINTR) return 1;
    if (pf[0].revents & POLLIN) read_port();
    else if (pf[0].revents & (POLLHUP | POLLERR)) {
      if (connected) drop_all();
      usleep(50000);
    }
    for (int i = 1; i < n; i++) {
      if (!who[i].s->used || *who[i].fd != pf[i].fd) continue;
      if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) pump(who[i].s, who[i].fd, who[i].type);
    }
    reap();
    long long t = now_ms();
    for (int i = 0; i < MAX_SESSIONS; i++) {
      struct session *s = &sessions[i];
      /* Output read to its end, or a background process still holds it a second after the exit. */
      if (!s->used || !s->exited || ((s->out >= 0 || s->err >= 0) && t - s->exited_at < 1000)) continue;
      unsigned char c[4];
      put32(c, (uint32_t)s->code);
      int ok = send_frame('x', s->ch, c, 4);
      s->pid = 0;
      drop_session(s);
      if (ok < 0) drop_all();
    }
  }
}
