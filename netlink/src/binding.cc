// The few things JavaScript cannot do: netlink sockets opened inside a chosen
// network namespace, one request's exchange off the event loop's thread, setns around a synchronous callback, named netns
// creation the way `ip netns add` does it, flock with a timeout, and for berth run's
// command a mount namespace with bind mounts, then exec.
// Everything else (the netlink protocol itself) lives in TypeScript.
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

namespace {

const char* ErrnoCode(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ENOBUFS: return "ENOBUFS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETUNREACH: return "ENETUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EMSGSIZE: return "EMSGSIZE";
    default: return "UNKNOWN";
  }
}

// An Error shaped like Node's own: code, errno (negative), syscall, path.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& path = "") {
  std::string msg = std::string(ErrnoCode(err)) + ": " + strerror(err) + ", " + syscall;
  if (!path.empty()) msg += " '" + path + "'";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoCode(err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) e.Set("path", Napi::String::New(env, path));
  return e;
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path = "") {
  ErrnoError(env, err, syscall, path).ThrowAsJavaScriptException();
}

void ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
}

// Runs fn with the calling thread inside the netns at `path` (empty: stay),
// then moves the thread back. Returns 0 or an errno, with *syscall set.
template <typename Fn>
int InNetns(const std::string& path, const char** syscall, Fn fn) {
  if (path.empty()) return fn();
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) { *syscall = "open"; return errno; }
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) { int e = errno; close(self); *syscall = "open"; return e; }
  if (setns(target, CLONE_NEWNET) != 0) {
    int e = errno; close(target); close(self); *syscall = "setns"; return e;
  }
  close(target);
  int rc = fn();
  if (setns(self, CLONE_NEWNET) != 0) {
    // The thread is stuck in a foreign netns: nothing after this is safe.
    fprintf(stderr, "berth: cannot return to the original netns: %s\n", strerror(errno));
    abort();
  }
  close(self);
  return rc;
}

std::string OptString(const Napi::Value& v) {
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  return "";
}

// openSocket(protocol: number, netnsPath?: string, groups?: number): number
Napi::Value OpenSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) { ThrowType(env, "protocol must be a number"); return env.Null(); }
  int protocol = info[0].As<Napi::Number>().Int32Value();
  std::string path = info.Length() > 1 ? OptString(info[1]) : "";
  uint32_t groups = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 0;
  int fd = -1;
  const char* syscall = "socket";
  int rc = InNetns(path, &syscall, [&]() -> int {
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (fd < 0) { syscall = "socket"; return errno; }
    struct sockaddr_nl addr;
    memset(&addr, 0, sizeof addr);
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = groups;
    if (bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
      int e = errno; close(fd); fd = -1; syscall = "bind"; return e;
    }
    int one = 1;
    // Extended ACKs carry the kernel's own error text; strict checking makes dump filters real.
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
    int bufsize = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
    return 0;
  });
  if (rc != 0) { ThrowErrno(env, rc, syscall, path); return env.Null(); }
  return Napi::Number::New(env, fd);
}

// send(fd: number, data: Buffer): number
Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBuffer()) { ThrowType(env, "send(fd, buffer)"); return env.Null(); }
  int fd = info[0].As<Napi::Number>().Int32Value();
  auto buf = info[1].As<Napi::Buffer<uint8_t>>();
  struct sockaddr_nl addr;
  memset(&addr, 0, sizeof addr);
  addr.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = sendto(fd, buf.Data(), buf.Length(), 0, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) { ThrowErrno(env, errno, "sendto"); return env.Null(); }
  return Napi::Number::New(env, static_cast<double>(n));
}

// recv(fd: number, timeoutMs: number): Buffer | null  (null on timeout)
Napi::Value Recv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) { ThrowType(env, "recv(fd, timeoutMs)"); return env.Null(); }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int timeout = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
  struct pollfd p = {fd, POLLIN, 0};
  int r;
  do { r = poll(&p, 1, timeout); } while (r < 0 && errno == EINTR);
  if (r < 0) { ThrowErrno(env, errno, "poll"); return env.Null(); }
  if (r == 0) return env.Null();
  // Peek the size first so a large dump message is never truncated.
  ssize_t size;
  do { size = recv(fd, nullptr, 0, MSG_PEEK | MSG_TRUNC); } while (size < 0 && errno == EINTR);
  if (size < 0) { ThrowErrno(env, errno, "recv"); return env.Null(); }
  auto out = Napi::Buffer<uint8_t>::New(env, size > 0 ? static_cast<size_t>(size) : 1);
  ssize_t n;
  do { n = recv(fd, out.Data(), out.Length(), 0); } while (n < 0 && errno == EINTR);
  if (n < 0) { ThrowErrno(env, errno, "recv"); return env.Null(); }
  return Napi::Buffer<uint8_t>::Copy(env, out.Data(), static_cast<size_t>(n));
}

int64_t NowMs() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

// Whether a datagram holds the message that ends the exchange of request `seq`: its ACK or error
// (NLMSG_ERROR), the end of its dump (NLMSG_DONE) or an overrun. Only the walk over headers is
// here; what the messages mean is read in TypeScript (netlink/socket.ts).
bool EndsExchange(const std::vector<uint8_t>& d, uint32_t seq) {
  size_t at = 0;
  while (at + sizeof(struct nlmsghdr) <= d.size()) {
    struct nlmsghdr h;
    memcpy(&h, d.data() + at, sizeof h);
    if (h.nlmsg_len < sizeof h || at + h.nlmsg_len > d.size()) return true;  // malformed: let TypeScript say so
    if (h.nlmsg_seq == seq &&
        (h.nlmsg_type == NLMSG_ERROR || h.nlmsg_type == NLMSG_DONE || h.nlmsg_type == NLMSG_OVERRUN)) {
      return true;
    }
    at += NLMSG_ALIGN(h.nlmsg_len);
  }
  return false;
}

// One request and its replies on a libuv pool thread: sendto, then every datagram until the one
// that ends the exchange, or the deadline. The caller keeps one exchange in flight per socket.
class ExchangeWorker : public Napi::AsyncWorker {
 public:
  ExchangeWorker(Napi::Env env, int fd, const uint8_t* data, size_t size, uint32_t seq, int timeout)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), fd_(fd),
        request_(data, data + size), seq_(seq), timeout_(timeout) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    struct sockaddr_nl addr;
    memset(&addr, 0, sizeof addr);
    addr.nl_family = AF_NETLINK;
    ssize_t n;
    do {
      n = sendto(fd_, request_.data(), request_.size(), 0, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
    } while (n < 0 && errno == EINTR);
    if (n < 0) { Fail(errno, "sendto"); return; }
    int64_t deadline = NowMs() + timeout_;
    for (;;) {
      int64_t left = deadline - NowMs();
      if (left <= 0) return;  // timed out: TypeScript finds the end missing and says so
      struct pollfd p = {fd_, POLLIN, 0};
      int r;
      do { r = poll(&p, 1, static_cast<int>(left)); } while (r < 0 && errno == EINTR);
      if (r < 0) { Fail(errno, "poll"); return; }
      if (r == 0) return;
      ssize_t size;
      do { size = recv(fd_, nullptr, 0, MSG_PEEK | MSG_TRUNC); } while (size < 0 && errno == EINTR);
      if (size < 0) { Fail(errno, "recv"); return; }
      std::vector<uint8_t> d(size > 0 ? static_cast<size_t>(size) : 1);
      do { n = recv(fd_, d.data(), d.size(), 0); } while (n < 0 && errno == EINTR);
      if (n < 0) { Fail(errno, "recv"); return; }
      d.resize(static_cast<size_t>(n));
      replies_.push_back(std::move(d));
      if (EndsExchange(replies_.back(), seq_)) return;
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env, replies_.size());
    for (size_t i = 0; i < replies_.size(); i++) {
      out.Set(i, Napi::Buffer<uint8_t>::Copy(env, replies_[i].data(), replies_[i].size()));
    }
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error&) override {
    deferred_.Reject(ErrnoError(Env(), err_, syscall_).Value());
  }

 private:
  void Fail(int err, const char* syscall) {
    err_ = err;
    syscall_ = syscall;
    SetError(syscall);
  }

  Napi::Promise::Deferred deferred_;
  int fd_;
  std::vector<uint8_t> request_;
  uint32_t seq_;
  int timeout_;
  std::vector<std::vector<uint8_t>> replies_;
  int err_ = 0;
  const char* syscall_ = "";
};

// exchange(fd: number, request: Buffer, seq: number, timeoutMs: number): Promise<Buffer[]>
Napi::Value Exchange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsBuffer() || !info[2].IsNumber() || !info[3].IsNumber()) {
    ThrowType(env, "exchange(fd, buffer, seq, timeoutMs)");
    return env.Null();
  }
  auto buf = info[1].As<Napi::Buffer<uint8_t>>();
  auto* worker = new ExchangeWorker(env, info[0].As<Napi::Number>().Int32Value(), buf.Data(), buf.Length(),
                                    info[2].As<Napi::Number>().Uint32Value(), info[3].As<Napi::Number>().Int32Value());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// close(fd: number): void
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) { ThrowType(env, "close(fd)"); return env.Null(); }
  if (close(info[0].As<Napi::Number>().Int32Value()) != 0) ThrowErrno(env, errno, "close");
  return env.Undefined();
}

// runInNetns(netnsPath: string, fn: () => T): T
// The callback runs synchronously with the thread in the target netns, so
// what it starts synchronously (a child process fork, a socket) lands there.
Napi::Value RunInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsFunction()) { ThrowType(env, "runInNetns(path, fn)"); return env.Null(); }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Function fn = info[1].As<Napi::Function>();
  Napi::Value result = env.Undefined();
  const char* syscall = "setns";
  int rc = InNetns(path, &syscall, [&]() -> int {
    result = fn.Call({});
    return 0;
  });
  if (rc != 0) { ThrowErrno(env, rc, syscall, path); return env.Null(); }
  return result;  // a pending JS exception from fn propagates as is
}

// writeFileInNetns(netnsPath: string, file: string, data: string): void
// /proc/sys/net resolves against the opener's netns, so the open happens inside.
Napi::Value WriteFileInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[1].IsString() || !info[2].IsString()) { ThrowType(env, "writeFileInNetns(netns, file, data)"); return env.Null(); }
  std::string path = OptString(info[0]);
  std::string file = info[1].As<Napi::String>().Utf8Value();
  std::string data = info[2].As<Napi::String>().Utf8Value();
  const char* syscall = "open";
  int rc = InNetns(path, &syscall, [&]() -> int {
    int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) { syscall = "open"; return errno; }
    ssize_t n = write(fd, data.data(), data.size());
    int e = n < 0 ? errno : 0;
    close(fd);
    if (e) { syscall = "write"; return e; }
    return 0;
  });
  if (rc != 0) { ThrowErrno(env, rc, syscall, file); return env.Null(); }
  return env.Undefined();
}

// readFileInNetns(netnsPath: string, file: string): string
Napi::Value ReadFileInNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsString()) { ThrowType(env, "readFileInNetns(netns, file)"); return env.Null(); }
  std::string path = OptString(info[0]);
  std::string file = info[1].As<Napi::String>().Utf8Value();
  std::string out;
  const char* syscall = "open";
  int rc = InNetns(path, &syscall, [&]() -> int {
    int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) { syscall = "open"; return errno; }
    char buf[4096];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0) { int e = errno; close(fd); syscall = "read"; return e; }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return 0;
  });
  if (rc != 0) { ThrowErrno(env, rc, syscall, file); return env.Null(); }
  return Napi::String::New(env, out);
}

int EnsureNetnsDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return errno;
  // As `ip netns add`: make the directory a shared mount point so the bind
  // mounts inside propagate to mount namespaces created later.
  if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL) return errno;
    if (mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) return errno;
    if (mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) return errno;
  }
  return 0;
}

// createNetns(dir: string, name: string): string  (the namespace file's path)
Napi::Value CreateNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) { ThrowType(env, "createNetns(dir, name)"); return env.Null(); }
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  std::string path = dir + "/" + name;
  int e = EnsureNetnsDir(dir);
  if (e) { ThrowErrno(env, e, "mount", dir); return env.Null(); }
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) { ThrowErrno(env, errno, "open", path); return env.Null(); }
  close(fd);
  // A throwaway thread unshares, so no thread of Node's ever changes netns.
  int err = 0;
  const char* syscall = "unshare";
  std::thread t([&]() {
    if (unshare(CLONE_NEWNET) != 0) { err = errno; syscall = "unshare"; return; }
    if (mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
      err = errno; syscall = "mount";
    }
  });
  t.join();
  if (err) {
    unlink(path.c_str());
    ThrowErrno(env, err, syscall, path);
    return env.Null();
  }
  return Napi::String::New(env, path);
}

// deleteNetns(path: string): void
Napi::Value DeleteNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) { ThrowType(env, "deleteNetns(path)"); return env.Null(); }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    ThrowErrno(env, errno, "umount2", path);
    return env.Null();
  }
  if (unlink(path.c_str()) != 0) { ThrowErrno(env, errno, "unlink", path); return env.Null(); }
  return env.Undefined();
}

// flock(fd: number, exclusive: boolean, timeoutMs: number): void  (ETIMEDOUT when not had in time; 0 tries once)
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber()) { ThrowType(env, "flock(fd, exclusive, timeoutMs)"); return env.Null(); }
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool exclusive = info[1].ToBoolean().Value();
  int64_t timeout = info[2].As<Napi::Number>().Int64Value();
  int op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long sleep_us = 200;
  for (;;) {
    if (flock(fd, op) == 0) return env.Undefined();
    if (errno != EWOULDBLOCK && errno != EINTR) { ThrowErrno(env, errno, "flock"); return env.Null(); }
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (timeout >= 0 && elapsed >= timeout) { ThrowErrno(env, ETIMEDOUT, "flock"); return env.Null(); }
    usleep(sleep_us);
    if (sleep_us < 5000) sleep_us *= 2;
  }
}

// funlock(fd: number): void
Napi::Value Funlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) { ThrowType(env, "funlock(fd)"); return env.Null(); }
  if (flock(info[0].As<Napi::Number>().Int32Value(), LOCK_UN) != 0) ThrowErrno(env, errno, "flock");
  return env.Undefined();
}

// unshareMountNamespace(): void
// Gives the calling thread a mount namespace of its own, with every mount in it made a slave of
// the host's: mounts made here never reach the host, and the host's later mounts still show.
// For a process about to exec (berth run's command), not for Node's own threads.
Napi::Value UnshareMountNamespace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (unshare(CLONE_NEWNS) != 0) { ThrowErrno(env, errno, "unshare"); return env.Null(); }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) { ThrowErrno(env, errno, "mount", "/"); return env.Null(); }
  return env.Undefined();
}

// bindMount(source: string, target: string): void
Napi::Value BindMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) { ThrowType(env, "bindMount(source, target)"); return env.Null(); }
  std::string source = info[0].As<Napi::String>().Utf8Value();
  std::string target = info[1].As<Napi::String>().Utf8Value();
  if (mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) { ThrowErrno(env, errno, "mount", target); return env.Null(); }
  return env.Undefined();
}

// exec(file: string, argv: string[]): never returns; throws when execvp fails.
// Stdio stays open, and signal dispositions and the mask go back to the defaults first, as a
// freshly spawned process has them (Node ignores SIGPIPE, and an ignored signal stays ignored
// across exec).
Napi::Value Exec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsArray()) { ThrowType(env, "exec(file, argv)"); return env.Null(); }
  std::string file = info[0].As<Napi::String>().Utf8Value();
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<std::string> args;
  for (uint32_t i = 0; i < list.Length(); i++) args.push_back(list.Get(i).ToString().Utf8Value());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // Node marks its stdio close-on-exec; the command must keep them.
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  execvp(file.c_str(), argv.data());
  ThrowErrno(env, errno, "execvp", file);
  return env.Null();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("openSocket", Napi::Function::New(env, OpenSocket));
  exports.Set("send", Napi::Function::New(env, Send));
  exports.Set("recv", Napi::Function::New(env, Recv));
  exports.Set("exchange", Napi::Function::New(env, Exchange));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("runInNetns", Napi::Function::New(env, RunInNetns));
  exports.Set("writeFileInNetns", Napi::Function::New(env, WriteFileInNetns));
  exports.Set("readFileInNetns", Napi::Function::New(env, ReadFileInNetns));
  exports.Set("createNetns", Napi::Function::New(env, CreateNetns));
  exports.Set("deleteNetns", Napi::Function::New(env, DeleteNetns));
  exports.Set("flock", Napi::Function::New(env, Flock));
  exports.Set("funlock", Napi::Function::New(env, Funlock));
  exports.Set("unshareMountNamespace", Napi::Function::New(env, UnshareMountNamespace));
  exports.Set("bindMount", Napi::Function::New(env, BindMount));
  exports.Set("exec", Napi::Function::New(env, Exec));
  return exports;
}

}  // namespace

NODE_API_MODULE(berth_netlink, Init)
