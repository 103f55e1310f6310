// `skein`: the command-line entry point for cluster processes.
//
//   skein scheduler [--host H] [--port P] [--http-port P]
//   skein worker tcp://HOST:PORT [--nthreads N] [--memory-limit 4GiB]
//                [--local-directory DIR] [--name NAME] [--resources GPU=1]
//   skein certs DIR [--name NAME]      # cluster CA + member certificate
//
// With --tls-dir DIR (or --tls-ca/--tls-cert/--tls-key) every connection is
// mutual TLS and addresses are tls://; a non-loopback --host without TLS is
// refused unless --insecure.
// Each prints one line with its address when ready, and shuts down cleanly
// on SIGTERM or SIGINT. The shared token comes from --token or $SKEIN_TOKEN
// (the environment keeps it out of `ps`). The program exports its symbols,
// so libraries uploaded by clients link against this very copy of skein
// (their SKEIN_REGISTER ops land in the registry the worker runs from).
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "skein/core/config.h"
#include "skein/core/error.h"
#include "skein/distributed/scheduler.h"
#include "skein/distributed/security.h"
#include "skein/distributed/worker.h"

namespace {

// SIGTERM and SIGINT end the process cleanly (the worker removes its
// directory, the scheduler closes its connections). The signal is caught by
// a handler, not waited for with sigwait in signals blocked everywhere:
// libraries start threads before main (OpenBLAS's pool does), and the
// kernel gives a process's signal to any thread that does not block it, so
// such a thread took the default action and killed the process on the spot
// (skein worker exited 143 and left its /tmp/skein-worker-* behind). The
// handler only writes a byte to a pipe; a thread reading it calls `stop`.
int g_stop_pipe[2] = {-1, -1};

extern "C" void OnStopSignal(int) {
  const int saved = errno;
  const char byte = 1;
  [[maybe_unused]] ssize_t n = write(g_stop_pipe[1], &byte, 1);
  errno = saved;
}

// Installs the handler. Call at the top of main, before anything that could
// block on the way out: the signals are also unblocked here, in case
// whoever started us blocked them (the mask is inherited through exec).
void CatchStopSignals() {
  signal(SIGPIPE, SIG_IGN);
  if (pipe2(g_stop_pipe, O_CLOEXEC) != 0) {
    std::perror("skein: pipe2");
    std::exit(1);
  }
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

// Calls `stop` once a stop signal has arrived, or when the parent process
// `parent` (if nonzero) is gone.
void StopOnSignal(pid_t parent, std::function<void()> stop) {
  std::thread([stop] {
    char byte = 0;
    while (read(g_stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    stop();
  }).detach();
  if (parent > 0) {
    std::thread([parent, stop] {
      while (getppid() == parent) std::this_thread::sleep_for(std::chrono::milliseconds(250));
      stop();
    }).detach();
  }
}

// "GPU=1,FOO=2.5" -> {{"GPU",1},{"FOO",2.5}}.
std::map<std::string, double> ParseResources(const std::string& s) {
  std::map<std::string, double> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) throw std::invalid_argument("resource '" + item + "' is not NAME=AMOUNT");
    size_t pos = 0;
    double amount = std::stod(item.substr(eq + 1), &pos);
    if (pos != item.size() - eq - 1 || !(amount > 0)) {
      throw std::invalid_argument("resource '" + item + "' needs a positive amount");
    }
    out[item.substr(0, eq)] = amount;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string TokenFrom(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* e = std::getenv("SKEIN_TOKEN");
  return e ? e : "";
}

// --tls-dir DIR, or --tls-ca/--tls-cert/--tls-key, and --insecure.
struct TlsFlags {
  std::string dir;
  skein::distributed::Security security;
  bool insecure = false;

  void Add(CLI::App* app) {
    app->add_option("--tls-dir", dir, "Directory from `skein certs` (ca.pem, node.pem, node-key.pem)");
    app->add_option("--tls-ca", security.ca_file, "CA certificate (PEM) that signs every cluster member");
    app->add_option("--tls-cert", security.cert_file, "This process's certificate (PEM)");
    app->add_option("--tls-key", security.key_file, "This process's private key (PEM)");
    app->add_flag("--insecure", insecure, "Allow a non-loopback address without TLS");
  }
  skein::distributed::Security Get() const {
    return dir.empty() ? security : skein::distributed::Security::FromDirectory(dir);
  }
};

}  // namespace

int main(int argc, char** argv) {
  CatchStopSignals();
  CLI::App app{"skein: a parallel computing engine. Cluster processes."};
  app.require_subcommand(1);

  skein::distributed::SchedulerOptions so;
  std::string sched_token;
  pid_t parent = 0;
  CLI::App* sched = app.add_subcommand("scheduler", "Run a distributed scheduler");
  sched->add_option("--host", so.host, "Interface to listen on")->capture_default_str();
  sched->add_option("--port", so.port, "Port (0: any free)")->capture_default_str();
  sched->add_option("--http-port", so.http_port, "Status/metrics HTTP port (0: any free, -1: none)")
      ->capture_default_str();
  sched->add_option("--token", sched_token, "Shared secret (default: $SKEIN_TOKEN)");
  sched->add_option("--worker-timeout", so.worker_timeout_seconds, "Seconds before a silent worker is removed")
      ->capture_default_str();
  sched->add_option("--allowed-failures", so.allowed_failures, "Worker deaths a task may cause before it fails")
      ->capture_default_str();
  sched->add_option("--parent-pid", parent, "Exit when this process is gone");
  TlsFlags sched_tls;
  sched_tls.Add(sched);

  skein::distributed::WorkerOptions wo;
  std::string worker_token, memory = "0", resources;
  CLI::App* work = app.add_subcommand("worker", "Run a worker connected to a scheduler");
  work->add_option("scheduler", wo.scheduler, "Scheduler address, tcp://host:port")->required();
  work->add_option("--host", wo.host, "Interface to serve data on")->capture_default_str();
  work->add_option("--port", wo.port, "Port (0: any free)")->capture_default_str();
  work->add_option("--nthreads", wo.nthreads, "Threads running tasks (0: one per core)")->capture_default_str();
  work->add_option("--memory-limit", memory, "Memory limit, e.g. 4GiB (0: none)")->capture_default_str();
  work->add_option("--local-directory", wo.local_directory, "Directory for uploaded libraries and spill");
  work->add_option("--name", wo.name, "Name shown on the status page");
  work->add_option("--resources", resources, "Abstract resources, e.g. GPU=1,MEM=2");
  work->add_option("--token", worker_token, "Shared secret (default: $SKEIN_TOKEN)");
  work->add_option("--death-timeout", wo.death_timeout_seconds, "Seconds to retry a lost scheduler")
      ->capture_default_str();
  work->add_option("--parent-pid", parent, "Exit when this process is gone");
  TlsFlags worker_tls;
  worker_tls.Add(work);

  std::string certs_dir, certs_name = "node";
  int certs_days = 365;
  CLI::App* certs = app.add_subcommand("certs", "Create a cluster CA (once) and a member certificate for mutual TLS");
  certs->add_option("directory", certs_dir, "Where to write ca.pem, ca-key.pem, NAME.pem, NAME-key.pem")
      ->required();
  certs->add_option("--name", certs_name, "Certificate file name (another member signed by the same CA)")
      ->capture_default_str();
  certs->add_option("--days", certs_days, "Validity in days")->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  try {
    if (certs->parsed()) {
      auto files = skein::distributed::CreateCertificates(certs_dir, certs_name, certs_days);
      std::cout << "CA          " << files.ca_cert << "\nCA key      " << files.ca_key << " (keep it private)\n"
                << "certificate " << files.cert << "\nkey         " << files.key << std::endl;
      return 0;
    }
    if (sched->parsed()) {
      so.token = TokenFrom(sched_token);
      so.security = sched_tls.Get();
      so.allow_insecure = sched_tls.insecure;
      auto s = skein::distributed::Scheduler::Start(so);
      std::cout << "skein scheduler at " << s->address();
      if (!s->http_address().empty()) std::cout << " status " << s->http_address();
      std::cout << std::endl;
      skein::distributed::Scheduler* raw = s.get();
      StopOnSignal(parent, [raw] { raw->Stop(); });
      s->Wait();
      return 0;
    }
    wo.token = TokenFrom(worker_token);
    wo.security = worker_tls.Get();
    wo.allow_insecure = worker_tls.insecure;
    wo.memory_limit = skein::config::ParseBytes(memory, "--memory-limit");
    if (!resources.empty()) wo.resources = ParseResources(resources);
    // For what does not come from the memory pool: a fixed mmap threshold
    // at glibc's largest (32 MiB), so temporaries below it (a kernel's row
    // lists, the 4 MiB transfer chunks) are reused from the heap. At 8 MiB
    // every vector of a million rows was a fresh mapping, zeroed page by
    // page: q10 on a 2-worker cluster spent 13% of its time in page faults
    // and 9% in memset, and took 3.1-4.4 s against 2.6-2.8 s at 32 MiB
    // (A/B, same minutes). Freed heap above 64 MiB at the top goes back
    // (trim threshold), and the memory monitor trims the rest before it
    // spills, pauses or restarts, so freed blocks never make RSS look like
    // data. (Left to itself glibc raises the threshold after each large
    // free, which moves these costs around from run to run.)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    // Over the terminate threshold: become a fresh copy of this same worker
    // (Dask's nanny restarts it). The pid and arguments stay, so whoever
    // started it (LocalCluster, a batch system) still tracks it; the
    // scheduler sees the old connection close and a new worker join.
    std::vector<char*> self(argv, argv + argc);
    self.push_back(nullptr);
    wo.on_memory_terminate = [self]() mutable {
      std::fflush(nullptr);
      execv("/proc/self/exe", self.data());
      std::fprintf(stderr, "skein worker: restart failed (%s); exiting\n", std::strerror(errno));
      std::_Exit(70);
    };
    auto w = skein::distributed::Worker::Start(wo);
    std::cout << "skein worker at " << w->address() << std::endl;
    skein::distributed::Worker* raw = w.get();
    StopOnSignal(parent, [raw] { raw->Stop(); });
    w->Wait();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "skein: " << e.what() << std::endl;
    return 1;
  }
}
