// LocalCluster: `skein scheduler` and `skein worker` child processes (see
// skein/deploy/local_cluster.h).
//
// Each child prints one line with its tcp:// address on stdout when it is
// ready; we read that line through a pipe (with a deadline) and close the
// pipe. Children get --parent-pid so they exit if this process dies without
// closing them (no orphaned clusters after a crashed test).
#include "skein/deploy/local_cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "skein/core/error.h"
#include "skein/distributed/session.h"

extern char** environ;

namespace skein {
namespace {

using Clock = std::chrono::steady_clock;

std::string FindExecutable(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* e = std::getenv("SKEIN_EXECUTABLE"); e && *e) return e;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto next_to = self.parent_path() / "skein";
    if (std::filesystem::exists(next_to, ec) && next_to != self) return next_to.string();
  }
#ifdef SKEIN_DEFAULT_EXECUTABLE
  if (std::filesystem::exists(SKEIN_DEFAULT_EXECUTABLE, ec)) return SKEIN_DEFAULT_EXECUTABLE;
#endif
  throw Error("LocalCluster: cannot find the `skein` program; set LocalClusterOptions::executable or "
              "$SKEIN_EXECUTABLE");
}

int64_t PhysicalMemory() {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? static_cast<int64_t>(pages) * size : int64_t{8} << 30;
}

}  // namespace

LocalCluster::LocalCluster(LocalClusterOptions options) : options_(std::move(options)) {
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  if (options_.n_workers < 0) throw Error("LocalCluster: n_workers must be >= 0, got " + std::to_string(options_.n_workers));
  if (options_.n_workers == 0) options_.n_workers = std::max(1u, cores / 2);
  if (options_.threads_per_worker <= 0) {
    options_.threads_per_worker = std::max(1, static_cast<int>(cores) / options_.n_workers);
  }
  if (options_.memory_limit <= 0) options_.memory_limit = PhysicalMemory() / options_.n_workers;
  options_.executable = FindExecutable(options_.executable);
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/skein-cluster-XXXXXX";
  if (!mkdtemp(dir.data())) throw Error("LocalCluster: could not create a directory like " + dir + ": " + std::strerror(errno));
  directory_ = dir;
  std::vector<std::string> args = {"scheduler", "--host", options_.host, "--port",
                                   std::to_string(options_.scheduler_port), "--http-port",
                                   std::to_string(options_.http_port), "--allowed-failures",
                                   std::to_string(options_.allowed_failures)};
  try {
    scheduler_ = Spawn(args, "scheduler");
    scheduler_address_ = scheduler_.address;
    scale(options_.n_workers);
  } catch (...) {
    close();
    throw;
  }
}

LocalCluster::~LocalCluster() { close(); }

std::vector<pid_t> LocalCluster::worker_pids() const {
  std::vector<pid_t> out;
  for (const Process& p : workers_) out.push_back(p.pid);
  return out;
}

LocalCluster::Process LocalCluster::Spawn(const std::vector<std::string>& args, const std::string& role) {
  std::vector<std::string> full = {options_.executable};
  full.insert(full.end(), args.begin(), args.end());
  const distributed::Security& sec = options_.security;
  if (sec.enabled()) {
    full.insert(full.end(), {"--tls-ca", sec.ca_file, "--tls-cert", sec.cert_file, "--tls-key", sec.key_file});
  }
  if (options_.allow_insecure) full.push_back("--insecure");
  full.push_back("--parent-pid");
  full.push_back(std::to_string(getpid()));
  std::vector<char*> argv;
  for (std::string& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "SKEIN_TOKEN=", 12) != 0 && std::strncmp(*e, "TMPDIR=", 7) != 0) env_storage.emplace_back(*e);
  }
  if (!options_.token.empty()) env_storage.push_back("SKEIN_TOKEN=" + options_.token);
  env_storage.push_back("TMPDIR=" + directory_);
  std::vector<char*> envp;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw Error("LocalCluster: pipe failed: " + std::string(std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  Process p;
  int rc = posix_spawn(&p.pid, options_.executable.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw Error("LocalCluster: could not start " + options_.executable + " " + role + ": " + std::strerror(rc));
  }
  // Read the ready line.
  std::string line;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(options_.start_timeout_seconds));
  bool eof = false;
  while (line.find('\n') == std::string::npos && !eof) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left <= 0) break;
    pollfd pfd{fds[0], POLLIN, 0};
    if (poll(&pfd, 1, left) <= 0) continue;
    char buf[512];
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) {
      eof = true;
    } else {
      line.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fds[0]);
  size_t at = line.find("tcp://");
  if (at == std::string::npos) at = line.find("tls://");
  if (at == std::string::npos) {
    Terminate(&p);
    throw Error("LocalCluster: the " + role + " (" + options_.executable + ") did not report an address within " +
                std::to_string(options_.start_timeout_seconds) + " s" + (eof ? " (it exited)" : ""));
  }
  size_t end = line.find_first_of(" \n", at);
  p.address = line.substr(at, end - at);
  if (size_t h = line.find("http://"); h != std::string::npos) {
    http_address_ = line.substr(h, line.find_first_of(" \n", h) - h);
  }
  return p;
}

void LocalCluster::Terminate(Process* p) {
  if (p->pid <= 0) return;
  kill(p->pid, SIGTERM);
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (true) {
    int status = 0;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid || (r < 0 && errno == ECHILD)) break;
    if (Clock::now() > deadline) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  p->pid = -1;
}

void LocalCluster::scale(int n) {
  if (n < 0) throw Error("LocalCluster::scale: n must be >= 0, got " + std::to_string(n));
  if (scheduler_.pid <= 0) throw Error("LocalCluster::scale: the cluster is closed");
  while (static_cast<int>(workers_.size()) > n) {
    Terminate(&workers_.back());
    workers_.pop_back();
  }
  while (static_cast<int>(workers_.size()) < n) {
    std::vector<std::string> args = {"worker", scheduler_address_, "--host", options_.host, "--nthreads",
                                     std::to_string(options_.threads_per_worker), "--memory-limit",
                                     std::to_string(options_.memory_limit), "--name",
                                     "worker-" + std::to_string(next_worker_++)};
    std::map<std::string, double> resources = options_.resources;
    size_t index = workers_.size();
    if (index < options_.worker_resources.size()) {
      for (const auto& [name, amount] : options_.worker_resources[index]) resources[name] += amount;
    }
    std::string res;
    for (const auto& [name, amount] : resources) {
      res += (res.empty() ? "" : ",") + name + "=" + std::to_string(amount);
    }
    if (!res.empty()) {
      args.push_back("--resources");
      args.push_back(res);
    }
    workers_.push_back(Spawn(args, "worker"));
  }
  WaitForWorkers(workers_.size());
}

void LocalCluster::WaitForWorkers(size_t n) {
  distributed::SessionOptions so;
  so.token = options_.token;
  so.security = options_.security;
  so.connect_timeout_seconds = options_.start_timeout_seconds;
  auto session = distributed::Session::Connect(scheduler_address_, so);
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(options_.start_timeout_seconds));
  size_t seen = 0;
  while (Clock::now() < deadline) {
    seen = session->Workers().size();
    if (seen == n) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw Error("LocalCluster: expected " + std::to_string(n) + " workers at " + scheduler_address_ + ", saw " +
              std::to_string(seen) + " after " + std::to_string(options_.start_timeout_seconds) + " s");
}

void LocalCluster::close() {
  // Signal every worker first so they stop in parallel, then reap them.
  for (Process& w : workers_) {
    if (w.pid > 0) kill(w.pid, SIGTERM);
  }
  for (auto it = workers_.rbegin(); it != workers_.rend(); ++it) Terminate(&*it);
  workers_.clear();
  Terminate(&scheduler_);
  if (!directory_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(directory_, ec);
    directory_.clear();
  }
}

}  // namespace skein
