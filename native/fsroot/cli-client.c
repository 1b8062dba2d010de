/*
 * berth-cli: the resident CLI's client. bin/berth execs it (when built) as
 *
 *   berth-cli /path/to/bin/berth ARGS...
 *
 * It asks the user's CLI server (src/cli/resident/server.ts, a Node process
 * that keeps the bundled CLI warm in worker threads) to run the command and
 * relays the answer: framed stdout/stderr chunks, then the exit code. The
 * server decides what it serves (an allow-list of read-only commands); for
 * anything else, or when there is no server, this program execs Node on the
 * normal path (`node -- bin/berth ARGS...`, NODE_EXTRA_CA_CERTS moved aside
 * as bin/berth's sh line does), so behaviour never depends on the server.
 * When no server answered, one is started in the background for next time
 * (own session, stdio on /dev/null).
 *
 * Socket: $BERTH_CLI_SOCKET, else $XDG_RUNTIME_DIR/berth-cli.sock, else
 * /tmp/berth-cli-<uid>/sock. Its directory must be ours and closed to
 * group and others (0700): the server hears argv and the environment, and
 * only the owner may talk to it.
 *
 * Request: u32 length (big-endian), then NUL-terminated strings:
 *   "1", install root, cwd, tty flags ("01": stdout, stderr), argc, ARGS...,
 *   then the whole environment as KEY=VALUE.
 * Answer frames: 1 type byte, u32 length, payload. 'o' stdout, 'e' stderr,
 * 'x' exit code (ASCII), 'f' not served (payload "spawn" when a new server
 * should be started, e.g. the old one saw a changed bundle and exited).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

extern char **environ;

static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static char root[PATH_MAX];
static char script[PATH_MAX];

/* `node -- bin/berth ARGS...`, as bin/berth's sh line runs it. */
static void __attribute__((noreturn)) exec_node(int argc, char **argv) {
  const char *ca = getenv("NODE_EXTRA_CA_CERTS");
  if (ca && *ca) {
    if (setenv("BERTH_EXTRA_CA_CERTS", ca, 1) != 0 || unsetenv("NODE_EXTRA_CA_CERTS") != 0) {
      perror("berth");
      exit(127);
    }
  }
  char **av = calloc((size_t)argc + 3, sizeof(char *));
  if (!av) {
    perror("berth");
    exit(127);
  }
  av[0] = "node";
  av[1] = "--";
  av[2] = argv[1];
  for (int i = 2; i < argc; i++) av[i + 1] = argv[i];
  av[argc + 1] = NULL;
  signal(SIGPIPE, SIG_DFL);
  execvp("node", av);
  fprintf(stderr, "berth: node: %s\n", strerror(errno));
  exit(127);
}

/* PATH lookup done before fork: the child only calls async-signal-safe functions. */
static int find_node(char *out, size_t n) {
  const char *p = getenv("PATH");
  if (!p) p = "/usr/local/bin:/usr/bin:/bin";
  while (*p) {
    const char *e = strchr(p, ':');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len > 0 && len + 6 < n) {
      memcpy(out, p, len);
      memcpy(out + len, "/node", 6);
      if (access(out, X_OK) == 0) return 0;
    }
    if (!e) break;
    p = e + 1;
  }
  return -1;
}

/* Start the server for next time: double fork, own session, stdio on /dev/null. */
static void spawn_server(void) {
  char node[PATH_MAX], server[PATH_MAX];
  /* A server would keep these options (a -r hook, a debugger) for every later command. */
  const char *opts = getenv("NODE_OPTIONS");
  if (opts && *opts) return;
  if (find_node(node, sizeof node) != 0) return;
  if (snprintf(server, sizeof server, "%s/dist/src/cli/resident/server.js", root) >= (int)sizeof server) return;
  if (access(server, R_OK) != 0) return;
  char bundle[PATH_MAX];
  if (snprintf(bundle, sizeof bundle, "%s/dist/berth.js", root) >= (int)sizeof bundle || access(bundle, R_OK) != 0) return;
  /* Node would parse these certificates at start (~60 ms); the server needs
     none of its own: each request brings the client's environment. The
     normal path that follows (exec_node) reads the moved name as well. */
  const char *ca = getenv("NODE_EXTRA_CA_CERTS");
  if (ca && *ca) {
    if (setenv("BERTH_EXTRA_CA_CERTS", ca, 1) != 0 || unsetenv("NODE_EXTRA_CA_CERTS") != 0) return;
  }
  char *av[] = {node, server, sock_path, NULL};
  pid_t pid = fork();
  if (pid < 0) return;
  if (pid == 0) {
    if (setsid() < 0) _exit(1);
    pid_t g = fork();
    if (g != 0) _exit(g < 0 ? 1 : 0);
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0) _exit(1);
    if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(1);
    if (fd > 2) close(fd);
    if (chdir("/") != 0) _exit(1);
    signal(SIGPIPE, SIG_DFL);
    execve(node, av, environ);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

/* The socket's directory: ours, a directory, nothing for group or others. */
static int dir_ok(const char *dir) {
  struct stat st;
  if (lstat(dir, &st) != 0) return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) return -1;
  return 1;
}

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* 1: read n bytes; 0: EOF before any; -1: error or short read. */
static int read_all(int fd, void *buf, size_t n) {
  char *p = buf;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) return got == 0 ? 0 : -1;
    got += (size_t)r;
  }
  return 1;
}

struct buf { char *p; size_t len, cap; };

static int put(struct buf *b, const char *s) {
  size_t n = strlen(s) + 1;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) return -1;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: berth-cli /path/to/bin/berth [ARGS...]\n");
    return 125;
  }
  if (strlen(argv[1]) >= sizeof script) exec_node(argc, argv);
  strcpy(script, argv[1]);
  /* bin/berth's install root: dirname(dirname(script)). */
  strcpy(root, script);
  for (int k = 0; k < 2; k++) {
    char *s = strrchr(root, '/');
    if (!s) {
      strcpy(root, k == 0 ? ".." : ".");
      break;
    }
    *s = '\0';
    if (root[0] == '\0') strcpy(root, "/");
  }
  if (root[0] != '/') {
    char cwd[PATH_MAX], abs[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd) || snprintf(abs, sizeof abs, "%s/%s", cwd, root) >= (int)sizeof abs) exec_node(argc, argv);
    strcpy(root, abs);
  }
  char real[PATH_MAX];
  if (realpath(root, real)) strcpy(root, real);

  const char *off = getenv("BERTH_CLI_SERVER");
  if (off && strcmp(off, "0") == 0) exec_node(argc, argv);

  /* Where the socket lives. */
  char dir[PATH_MAX];
  const char *env_sock = getenv("BERTH_CLI_SOCKET");
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  int n;
  if (env_sock && *env_sock) n = snprintf(sock_path, sizeof sock_path, "%s", env_sock);
  else if (xdg && xdg[0] == '/') n = snprintf(sock_path, sizeof sock_path, "%s/berth-cli.sock", xdg);
  else n = snprintf(sock_path, sizeof sock_path, "/tmp/berth-cli-%u/sock", (unsigned)geteuid());
  if (n < 0 || n >= (int)sizeof sock_path || sock_path[0] != '/') exec_node(argc, argv);
  strcpy(dir, sock_path);
  *strrchr(dir, '/') = '\0';
  if (dir[0] == '\0') exec_node(argc, argv);
  int ok = dir_ok(dir);
  if (ok < 0) exec_node(argc, argv); /* someone else's directory: never talk to it */
  if (ok == 0) {
    spawn_server();
    exec_node(argc, argv);
  }

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) exec_node(argc, argv);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  strcpy(sa.sun_path, sock_path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    spawn_server();
    exec_node(argc, argv);
  }

  /* The request. */
  struct buf b = {0};
  char cwd[PATH_MAX], num[16], tty[3];
  if (!getcwd(cwd, sizeof cwd)) cwd[0] = '\0';
  tty[0] = isatty(1) ? '1' : '0';
  tty[1] = isatty(2) ? '1' : '0';
  tty[2] = '\0';
  snprintf(num, sizeof num, "%d", argc - 2);
  b.len = 4;
  b.cap = 4096;
  b.p = malloc(b.cap);
  if (!b.p) exec_node(argc, argv);
  int bad = put(&b, "1") || put(&b, root) || put(&b, cwd) || put(&b, tty) || put(&b, num);
  for (int i = 2; i < argc && !bad; i++) bad = put(&b, argv[i]);
  for (char **e = environ; *e && !bad; e++) bad = put(&b, *e);
  if (bad || b.len > (1u << 24)) exec_node(argc, argv);
  uint32_t len = (uint32_t)(b.len - 4);
  b.p[0] = (char)(len >> 24);
  b.p[1] = (char)(len >> 16);
  b.p[2] = (char)(len >> 8);
  b.p[3] = (char)len;
  signal(SIGPIPE, SIG_IGN);
  if (write_all(fd, b.p, b.len) != 0) {
    close(fd);
    exec_node(argc, argv);
  }
  free(b.p);

  /* The answer. */
  int relayed = 0;
  char *payload = NULL;
  size_t pcap = 0;
  for (;;) {
    unsigned char h[5];
    int r = read_all(fd, h, sizeof h);
    if (r <= 0) break;
    uint32_t plen = ((uint32_t)h[1] << 24) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 8) | h[4];
    if (plen > (1u << 24)) break;
    if (plen + 1 > pcap) {
      char *q = realloc(payload, plen + 1);
      if (!q) break;
      payload = q;
      pcap = plen + 1;
    }
    if (plen > 0 && read_all(fd, payload, plen) != 1) break;
    payload[plen] = '\0';
    switch (h[0]) {
      case 'o':
        relayed = 1;
        /* A closed pipe (berth ps | head) ends quietly, as Node's path does. */
        if (write_all(1, payload, plen) != 0 && errno == EPIPE) return 0;
        break;
      case 'e':
        relayed = 1;
        if (write_all(2, payload, plen) != 0 && errno == EPIPE) return 0;
        break;
      case 'x':
        return atoi(payload) & 0xff;
      case 'f':
        if (relayed) goto broken;
        close(fd);
        if (strcmp(payload, "spawn") == 0) spawn_server();
        exec_node(argc, argv);
      default:
        goto broken;
    }
  }
broken:
  /* The server went away: before any output the normal path can still answer. */
  close(fd);
  if (!relayed) exec_node(argc, argv);
  fprintf(stderr, "berth: the CLI server ended the command early\n");
  return 1;
}
