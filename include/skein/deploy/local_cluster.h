// skein/deploy/local_cluster.h — a scheduler and worker processes on this machine.
//
// Like dask.distributed.LocalCluster: starts `skein scheduler` and N
// `skein worker` processes on loopback, waits until every worker has
// joined, and stops them all on destruction. Their directories (spill
// files, uploaded libraries) are in one of the cluster's own under $TMPDIR
// (skein-cluster-*), removed when it closes, so a worker killed outright
// leaves nothing behind either.
//
//   skein::LocalCluster cluster({.n_workers = 2, .threads_per_worker = 1});
//   skein::Client client(cluster);
//   cluster.scale(4);                   // two more workers
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "skein/distributed/security.h"

namespace skein {

struct LocalClusterOptions {
  /// Worker processes; 0: one per two cores (at least one).
  int n_workers = 0;
  /// Threads per worker; 0: cores / n_workers (at least one).
  int threads_per_worker = 0;
  /// Bytes per worker; 0: physical memory / n_workers.
  int64_t memory_limit = 0;
  /// Loopback by default: nothing outside this machine can connect.
  std::string host = "127.0.0.1";
  int scheduler_port = 0;
  /// Scheduler status/metrics HTTP port; 0: any free; negative: none.
  int http_port = 0;
  /// Shared secret; passed to the processes through the environment.
  std::string token;
  /// Mutual TLS between every process (and the clients): addresses become
  /// tls://. Needed to bind a non-loopback `host` unless `allow_insecure`.
  distributed::Security security;
  bool allow_insecure = false;
  /// Worker deaths a task may cause before it fails with KilledWorker.
  int allowed_failures = 3;
  /// Resources every worker advertises, e.g. {{"GPU", 1}}.
  std::map<std::string, double> resources;
  /// More resources for worker i (in start order), added to `resources`:
  /// a heterogeneous cluster, e.g. one worker with a GPU.
  std::vector<std::map<std::string, double>> worker_resources;
  /// The `skein` program. Empty: $SKEIN_EXECUTABLE, then `skein` next to
  /// this program, then the one this library was built with.
  std::string executable;
  /// Seconds to wait for the scheduler and each scale() to be ready.
  double start_timeout_seconds = 30;
};

/// Not thread-safe: one thread manages a cluster.
class LocalCluster {
 public:
  /// Starts the scheduler and workers; Error naming what failed to start.
  explicit LocalCluster(LocalClusterOptions options = {});
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  const std::string& scheduler_address() const { return scheduler_address_; }
  const std::string& http_address() const { return http_address_; }
  const std::string& token() const { return options_.token; }
  const distributed::Security& security() const { return options_.security; }
  /// Starts or stops workers until there are `n`, and waits until the
  /// scheduler counts exactly that many.
  void scale(int n);
  int num_workers() const { return static_cast<int>(workers_.size()); }
  /// Process ids of the workers (tests kill them).
  std::vector<pid_t> worker_pids() const;
  pid_t scheduler_pid() const { return scheduler_.pid; }
  /// Stops every process (idempotent; also done on destruction).
  void close();

 private:
  struct Process {
    pid_t pid = -1;
    std::string address;
  };
  Process Spawn(const std::vector<std::string>& args, const std::string& role);
  void Terminate(Process* p);
  void WaitForWorkers(size_t n);

  LocalClusterOptions options_;
  std::string scheduler_address_, http_address_;
  Process scheduler_;
  std::vector<Process> workers_;
  // Made at start under $TMPDIR (or /tmp) and the $TMPDIR of every process
  // started, so their directories are in it; removed by close(), with what
  // a worker killed by SIGKILL (or lost otherwise) could not remove itself.
  std::string directory_;
  int next_worker_ = 0;
};

}  // namespace skein
