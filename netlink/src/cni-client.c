/*
 * berth's thin CNI client. One executable under the names of berth's plugins (berth, berth-bridge,
 * berth-bandwidth, berth-dns, berth-ipam, berth-loopback, berth-macvlan, berth-portmap): it knows its plugin by the name it was run by. It holds
 * no CNI logic; the plugins are TypeScript and run in one of two places:
 *
 *   - the berth daemon of this netns and this folder, over /run/berth/cni-<netns inode>-<folder
 *     tag>.sock (daemon/protocol.ts has the frames, daemon/paths.ts the names): the env and stdin
 *     go there, the answer's stdout, stderr and exit code come back;
 *   - in-process, by exec of <folder>/<name>.js, when the daemon is off (BERTH_DAEMON=0, or
 *     "daemon": false in the config) or is not there. When it is not there, the client first starts
 *     it, detached, so the next call finds it; this call never waits for it.
 *
 * VERSION it answers itself, as the TypeScript skel does (plugins/skel/skel.ts, version.ts).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define RUN_DIR "/run/berth"
#define DAEMON_BUNDLE "berth-daemon.js"
#define DEFAULT_VERSION "1.1.0"
#define SUPPORTED_VERSIONS "[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]"

/* The frames of daemon/protocol.ts, and its caps. */
#define PROTOCOL_VERSION 1
#define HEADER_BYTES 12
#define KIND_CALL 1
#define KIND_ANSWER 2
#define KIND_GREETING 3
#define MAX_STDIN (16u << 20)
#define MAX_ENV_ENTRIES 4096u
#define MAX_ENV_BYTES (1u << 20)
#define MAX_OUTPUT (16u << 20)
#define MAX_PAYLOAD (34u << 20)
#define MAX_PLUGIN_NAME 64u

#define CODE_TRY_AGAIN 11
#define CODE_INTERNAL 999

struct buf {
  unsigned char *data;
  size_t len, cap;
};

/* The answer version of errors: the config's, as the skel does. */
static const char *answer_version = DEFAULT_VERSION;

static void fail(int code, const char *details, const char *fmt, ...);

static void buf_reserve(struct buf *b, size_t more) {
  if (b->len + more <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more) cap *= 2;
  unsigned char *data = realloc(b->data, cap);
  if (!data) fail(CODE_INTERNAL, "", "berth's CNI client is out of memory");
  b->data = data;
  b->cap = cap;
}

static void buf_add(struct buf *b, const void *data, size_t n) {
  buf_reserve(b, n);
  memcpy(b->data + b->len, data, n);
  b->len += n;
}

static void buf_u32(struct buf *b, uint32_t v) {
  unsigned char be[4] = {v >> 24, v >> 16, v >> 8, v};
  buf_add(b, be, 4);
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int write_all(int fd, const void *data, size_t n) {
  const unsigned char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* A JSON string literal of s, on stdout. */
static void put_json_string(struct buf *out, const char *s) {
  buf_add(out, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      buf_add(out, esc, 2);
    } else if (c < 0x20) {
      char esc[7];
      snprintf(esc, sizeof esc, "\\u%04x", c);
      buf_add(out, esc, 6);
    } else {
      buf_add(out, &c, 1);
    }
  }
  buf_add(out, "\"", 1);
}

/* Prints a CNI error object on stdout, as the skel words its own, and exits 1. */
static void fail(int code, const char *details, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  static struct buf out;
  static int failing;
  if (failing) _exit(1); /* out of memory while saying so */
  failing = 1;
  char head[96];
  int n = snprintf(head, sizeof head, "{\n  \"cniVersion\": \"%s\",\n  \"code\": %d,\n  \"msg\": ", answer_version, code);
  buf_add(&out, head, (size_t)n);
  put_json_string(&out, msg);
  if (details[0]) {
    buf_add(&out, ",\n  \"details\": ", 14);
    put_json_string(&out, details);
  }
  buf_add(&out, "\n}\n", 3);
  write_all(1, out.data, out.len);
  exit(1);
}

/* All of stdin. A terminal or /dev/null is no config, as for the skel. */
static void read_stdin(struct buf *in) {
  struct stat st;
  if (fstat(0, &st) != 0 || S_ISCHR(st.st_mode)) return;
  for (;;) {
    buf_reserve(in, 65536);
    ssize_t r = read(0, in->data + in->len, in->cap - in->len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(5, "", "could not read the network configuration from stdin: %s", strerror(errno));
    if (r == 0) return;
    in->len += (size_t)r;
  }
}

/*
 * A JSON scanner for the two top-level keys the client reads: "cniVersion" (the version of the
 * answer) and "daemon" (false keeps the call in-process). It checks the whole text the way
 * JSON.parse does, so a text the skel cannot read gives no version here either.
 */
struct scan {
  const unsigned char *p, *end;
  char version[64];
  int has_version; /* the last top-level cniVersion is a string of the x.y.z shape */
  int daemon_off;  /* the last top-level "daemon" is false */
};

#define MAX_DEPTH 512

static void skip_ws(struct scan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static int hex(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/*
 * A string at s->p (its opening quote). Its ASCII content goes into out (NUL-terminated) when it
 * fits; anything else (a non-ASCII character, too long) makes *ascii 0. Returns 0, or -1 when it
 * is not a JSON string.
 */
static int scan_string(struct scan *s, char *out, size_t outsz, int *ascii) {
  size_t n = 0;
  *ascii = 1;
  if (s->p >= s->end || *s->p != '"') return -1;
  s->p++;
  while (s->p < s->end) {
    unsigned char c = *s->p++;
    if (c == '"') {
      if (out) out[n < outsz ? n : outsz - 1] = 0;
      return 0;
    }
    if (c < 0x20) return -1;
    if (c == '\\') {
      if (s->p >= s->end) return -1;
      unsigned char e = *s->p++;
      switch (e) {
        case '"': case '\\': case '/': c = e; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
          if (s->end - s->p < 4) return -1;
          int v = 0;
          for (int i = 0; i < 4; i++) {
            int h = hex(s->p[i]);
            if (h < 0) return -1;
            v = v * 16 + h;
          }
          s->p += 4;
          if (v >= 0x80 || v == 0) *ascii = 0;
          c = (unsigned char)v;
          break;
        }
        default: return -1;
      }
    } else if (c >= 0x80) {
      *ascii = 0;
    }
    if (out && n + 1 < outsz) out[n] = (char)c;
    else *ascii = 0;
    n++;
  }
  return -1;
}

static int scan_digits(struct scan *s) {
  const unsigned char *start = s->p;
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
  return s->p > start ? 0 : -1;
}

static int scan_number(struct scan *s) {
  if (s->p < s->end && *s->p == '-') s->p++;
  if (s->p < s->end && *s->p == '0') s->p++;
  else if (scan_digits(s) != 0) return -1;
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    if (scan_digits(s) != 0) return -1;
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
    if (scan_digits(s) != 0) return -1;
  }
  return 0;
}

static int scan_literal(struct scan *s, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) return -1;
  s->p += n;
  return 0;
}

static int looks_like_version(const char *v) {
  for (int part = 0; part < 3; part++) {
    if (*v < '0' || *v > '9') return 0;
    while (*v >= '0' && *v <= '9') v++;
    if (part < 2 && *v++ != '.') return 0;
  }
  return *v == 0;
}

static int scan_value(struct scan *s, int depth);

/* An object; at depth 0 it is the config, whose two keys are noted. */
static int scan_object(struct scan *s, int depth) {
  s->p++;
  skip_ws(s);
  if (s->p < s->end && *s->p == '}') {
    s->p++;
    return 0;
  }
  for (;;) {
    char key[16];
    int ascii;
    skip_ws(s);
    if (scan_string(s, key, sizeof key, &ascii) != 0) return -1;
    skip_ws(s);
    if (s->p >= s->end || *s->p++ != ':') return -1;
    skip_ws(s);
    int top = depth == 0 && ascii;
    if (top && strcmp(key, "cniVersion") == 0) {
      char v[sizeof s->version];
      int v_ascii;
      if (s->p < s->end && *s->p == '"') {
        if (scan_string(s, v, sizeof v, &v_ascii) != 0) return -1;
        s->has_version = v_ascii && looks_like_version(v);
        if (s->has_version) memcpy(s->version, v, sizeof v);
      } else {
        if (scan_value(s, depth + 1) != 0) return -1;
        s->has_version = 0;
      }
    } else if (top && strcmp(key, "daemon") == 0) {
      const unsigned char *start = s->p;
      if (scan_value(s, depth + 1) != 0) return -1;
      s->daemon_off = s->p - start == 5 && memcmp(start, "false", 5) == 0;
    } else if (scan_value(s, depth + 1) != 0) {
      return -1;
    }
    skip_ws(s);
    if (s->p >= s->end) return -1;
    if (*s->p == ',') {
      s->p++;
      continue;
    }
    if (*s->p++ != '}') return -1;
    return 0;
  }
}

static int scan_array(struct scan *s, int depth) {
  s->p++;
  skip_ws(s);
  if (s->p < s->end && *s->p == ']') {
    s->p++;
    return 0;
  }
  for (;;) {
    if (scan_value(s, depth + 1) != 0) return -1;
    skip_ws(s);
    if (s->p >= s->end) return -1;
    if (*s->p == ',') {
      s->p++;
      continue;
    }
    return *s->p++ == ']' ? 0 : -1;
  }
}

static int scan_value(struct scan *s, int depth) {
  int ascii;
  if (depth > MAX_DEPTH) return -1;
  skip_ws(s);
  if (s->p >= s->end) return -1;
  switch (*s->p) {
    case '{': return scan_object(s, depth);
    case '[': return scan_array(s, depth);
    case '"': return scan_string(s, NULL, 0, &ascii);
    case 't': return scan_literal(s, "true");
    case 'f': return scan_literal(s, "false");
    case 'n': return scan_literal(s, "null");
    default: return scan_number(s);
  }
}

/* What the config says of the version and the daemon; nothing of either when it is not JSON. */
static struct scan scan_config(const struct buf *in) {
  struct scan s = {0};
  s.p = in->data;
  s.end = in->data + in->len;
  if (s.end - s.p >= 3 && memcmp(s.p, "\xef\xbb\xbf", 3) == 0) s.p += 3; /* the skel drops a BOM */
  int ok = scan_value(&s, 0) == 0;
  if (ok) {
    skip_ws(&s);
    ok = s.p == s.end;
  }
  if (!ok) {
    s.has_version = 0;
    s.daemon_off = 0;
  }
  return s;
}

static void answer_version_command(const struct scan *sc) {
  char out[160];
  int n = snprintf(out, sizeof out, "{\"cniVersion\":\"%s\",\"supportedVersions\":" SUPPORTED_VERSIONS "}\n",
                   sc->has_version ? sc->version : DEFAULT_VERSION);
  exit(write_all(1, out, (size_t)n) == 0 ? 0 : 1);
}

/* The folder of this executable, symlinks resolved: where its bundles are, and what names its daemon. */
static void own_dir(char *dir) {
  char exe[PATH_MAX];
  if (!realpath("/proc/self/exe", exe)) fail(CODE_INTERNAL, "", "berth's CNI client cannot find itself: %s", strerror(errno));
  strcpy(dir, dirname(exe));
}

static const char *own_name(const char *argv0) {
  const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
  const char *name = slash ? slash + 1 : argv0;
  return name && *name ? name : "berth";
}

struct daemon_paths {
  char socket[PATH_MAX], lock[PATH_MAX], log[PATH_MAX];
};

/* daemon/paths.ts: cni-<netns inode>-<FNV-1a of the folder>. */
static int daemon_paths(const char *dir, struct daemon_paths *p) {
  struct stat st;
  if (stat("/proc/self/ns/net", &st) != 0) return -1;
  uint32_t h = 0x811c9dc5u;
  for (const unsigned char *c = (const unsigned char *)dir; *c; c++) h = (h ^ *c) * 0x01000193u;
  char base[128];
  snprintf(base, sizeof base, RUN_DIR "/cni-%llu-%08x", (unsigned long long)st.st_ino, h);
  snprintf(p->socket, sizeof p->socket, "%s.sock", base);
  snprintf(p->lock, sizeof p->lock, "%s.lock", base);
  snprintf(p->log, sizeof p->log, "%s.log", base);
  return 0;
}

/* Execs <dir>/<name>.js with the config on stdin: from a memory file when this process read it. */
static void run_in_process(const char *dir, const char *name, char **argv, const struct buf *in) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s.js", dir, name);
  if (in) {
    int fd = memfd_create("berth-stdin", 0);
    if (fd < 0 || write_all(fd, in->data, in->len) != 0 || lseek(fd, 0, SEEK_SET) != 0 || dup2(fd, 0) < 0) {
      fail(CODE_INTERNAL, "", "berth's CNI client could not pass the config on: %s", strerror(errno));
    }
    if (fd != 0) close(fd);
  }
  argv[0] = path;
  execv(path, argv);
  fail(CODE_INTERNAL, "the plugins' files belong together: copy all of berth's dist/cni, or run berth install-plugins",
       "the berth daemon is not there and %s cannot run: %s", path, strerror(errno));
}

/* The daemon's lock, held by the client that starts it, reaches the daemon as this fd. */
#define LOCK_FD 3

/* The client's environment without the CNI_* of this call, and where the daemon finds its lock. */
static char **daemon_env(void) {
  size_t n = 0;
  while (environ[n]) n++;
  char **env = calloc(n + 2, sizeof *env);
  if (!env) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (strncmp(environ[i], "CNI_", 4) != 0 && strncmp(environ[i], "BERTH_DAEMON_LOCK_FD=", 21) != 0) {
      env[k++] = environ[i];
    }
  }
  env[k] = "BERTH_DAEMON_LOCK_FD=3";
  return env;
}

/*
 * Starts <dir>/berth-daemon.js detached (its own session, stdio on its log, no fd of the runtime's),
 * unless a daemon holds the instance lock (running, starting or stopping). The client takes the
 * lock and hands it to the daemon it starts: of many clients that find no daemon at once, one
 * starts it. Does not wait for it.
 */
static void start_daemon(const char *dir, const struct daemon_paths *p) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/" DAEMON_BUNDLE, dir);
  if (access(path, X_OK) != 0) return;
  mkdir(RUN_DIR, 0700);
  int opened = open(p->lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (opened < 0) return;
  /* Above the fds the child sets up, so none of them lands on it. */
  int lock = fcntl(opened, F_DUPFD_CLOEXEC, 10);
  close(opened);
  if (lock < 0) return;
  if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
    close(lock);
    return;
  }
  char **env = daemon_env();
  if (!env) {
    close(lock);
    return;
  }
  pid_t child = fork();
  if (child < 0) {
    close(lock);
    return;
  }
  if (child == 0) {
    if (setsid() < 0) _exit(1);
    pid_t grandchild = fork();
    if (grandchild != 0) _exit(grandchild < 0);
    int null = open("/dev/null", O_RDWR);
    int log = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
    if (null < 0) _exit(1);
    if (log < 0) log = null;
    if (dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0 || dup2(lock, LOCK_FD) < 0) _exit(1);
#ifdef SYS_close_range
    if (syscall(SYS_close_range, LOCK_FD + 1, ~0u, 0) != 0)
#endif
      for (int fd = LOCK_FD + 1; fd < 1024; fd++) close(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    if (chdir("/") != 0) _exit(1);
    char *args[] = {path, NULL};
    execve(path, args, env);
    _exit(127);
  }
  free(env);
  /* The daemon has its own copy of the lock now (or the start failed and it is free again). */
  close(lock);
  while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
  }
}

/* Reads exactly n bytes; -1 on an end or error before them. */
static int read_full(int fd, unsigned char *data, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, data, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0) errno = EPIPE;
      return -1;
    }
    data += r;
    n -= (size_t)r;
  }
  return 0;
}

static int send_all(int fd, const void *data, size_t n) {
  const unsigned char *p = data;
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Checks a header: 0 and the payload length when it is this kind, -1 otherwise. */
static int read_header(int fd, int kind, uint32_t *length) {
  unsigned char h[HEADER_BYTES];
  if (read_full(fd, h, sizeof h) != 0) return -1;
  if (memcmp(h, "BRTH", 4) != 0 || h[4] != PROTOCOL_VERSION || h[5] != kind || h[6] || h[7]) {
    errno = EPROTO;
    return -1;
  }
  *length = get_u32(h + 8);
  if (*length > MAX_PAYLOAD) {
    errno = EMSGSIZE;
    return -1;
  }
  return 0;
}

/* A connection to the daemon that has greeted; -1 when there is none, with errno saying why. */
static int connect_daemon(const char *socket_path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(socket_path) >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(addr.sun_path, socket_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  uint32_t length;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || read_header(fd, KIND_GREETING, &length) != 0 ||
      length != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* The call frame without stdin's bytes (sent after it, from where they are). */
static int encode_call(struct buf *msg, const char *name, size_t stdin_len) {
  size_t count = 0, env_bytes = 0;
  for (char **e = environ; *e; e++, count++) env_bytes += strlen(*e);
  if (count > MAX_ENV_ENTRIES || env_bytes > MAX_ENV_BYTES || strlen(name) > MAX_PLUGIN_NAME) return -1;
  uint32_t payload = (uint32_t)(4 + strlen(name) + 4 + 4 * count + env_bytes + 4 + stdin_len);
  buf_add(msg, "BRTH", 4);
  unsigned char kind[4] = {PROTOCOL_VERSION, KIND_CALL, 0, 0};
  buf_add(msg, kind, 4);
  buf_u32(msg, payload);
  buf_u32(msg, (uint32_t)strlen(name));
  buf_add(msg, name, strlen(name));
  buf_u32(msg, (uint32_t)count);
  for (char **e = environ; *e; e++) {
    buf_u32(msg, (uint32_t)strlen(*e));
    buf_add(msg, *e, strlen(*e));
  }
  buf_u32(msg, (uint32_t)stdin_len);
  return 0;
}

static void daemon_lost(const char *socket_path, const char *what) {
  fail(CODE_TRY_AGAIN,
       "the call may have been done in part or in whole; it is safe to repeat (the next call starts a new daemon), "
       "and BERTH_DAEMON=0 runs it without one",
       "the berth daemon at %s %s: %s", socket_path, what, strerror(errno));
}

/* Prints the answer's stdout and stderr and exits with its code. */
static void relay_answer(int fd, const char *socket_path) {
  uint32_t length;
  if (read_header(fd, KIND_ANSWER, &length) != 0) daemon_lost(socket_path, "ended the connection before its answer");
  struct buf a = {0};
  buf_reserve(&a, length);
  if (read_full(fd, a.data, length) != 0) daemon_lost(socket_path, "ended the connection in the middle of its answer");
  const unsigned char *p = a.data, *end = a.data + length;
  uint32_t code, out_len, err_len;
  errno = EPROTO;
  if (end - p < 8) daemon_lost(socket_path, "sent a malformed answer");
  code = get_u32(p);
  out_len = get_u32(p + 4);
  p += 8;
  if (out_len > MAX_OUTPUT || (size_t)(end - p) < (size_t)out_len + 4) daemon_lost(socket_path, "sent a malformed answer");
  const unsigned char *out = p;
  p += out_len;
  err_len = get_u32(p);
  p += 4;
  if (err_len > MAX_OUTPUT || (size_t)(end - p) != err_len) daemon_lost(socket_path, "sent a malformed answer");
  int ok = write_all(1, out, out_len) == 0;
  write_all(2, p, err_len);
  exit(!ok ? 1 : code > 255 ? 255 : (int)code);
}

int main(int argc, char **argv) {
  (void)argc;
  const char *name = own_name(argv[0]);
  char dir[PATH_MAX];
  own_dir(dir);
  const char *command = getenv("CNI_COMMAND");
  const char *switch_ = getenv("BERTH_DAEMON");
  int off = switch_ && strcmp(switch_, "0") == 0;
  if (off && !(command && strcmp(command, "VERSION") == 0)) run_in_process(dir, name, argv, NULL);

  struct buf in = {0};
  read_stdin(&in);
  struct scan sc = scan_config(&in);
  if (sc.has_version) answer_version = sc.version;
  if (command && strcmp(command, "VERSION") == 0) answer_version_command(&sc);
  if (sc.daemon_off || in.len > MAX_STDIN) run_in_process(dir, name, argv, &in);

  struct daemon_paths paths;
  if (daemon_paths(dir, &paths) != 0) run_in_process(dir, name, argv, &in);
  int fd = connect_daemon(paths.socket);
  if (fd < 0) {
    /* No socket, or one nobody listens on (a killed daemon's), or a daemon closing: start one. */
    if (errno == ENOENT || errno == ECONNREFUSED || errno == EPIPE || errno == ECONNRESET) start_daemon(dir, &paths);
    run_in_process(dir, name, argv, &in);
  }
  struct buf msg = {0};
  if (encode_call(&msg, name, in.len) != 0) {
    close(fd);
    run_in_process(dir, name, argv, &in);
  }
  /* Until the whole call is sent the daemon cannot have started it: a failure here is no call made. */
  if (send_all(fd, msg.data, msg.len) != 0 || send_all(fd, in.data, in.len) != 0) {
    close(fd);
    run_in_process(dir, name, argv, &in);
  }
  relay_answer(fd, paths.socket);
  return 1;
}
