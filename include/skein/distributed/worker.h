// skein/distributed/worker.h — a distributed worker, in process.
//
// `skein worker ADDRESS` runs one of these. It connects to the scheduler,
// runs the tasks it is given on `nthreads` threads, fetches their inputs
// from other workers, serves its results to workers and clients, and loads
// the shared libraries clients upload (their SKEIN_REGISTER ops become
// available here). If the scheduler goes away it tries to reconnect for
// `death_timeout_seconds`, then stops.
//
//   auto w = skein::distributed::Worker::Start({.scheduler = "tcp://127.0.0.1:8786",
//                                               .nthreads = 2});
//   w->Wait();
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "skein/distributed/security.h"

namespace skein::distributed {

/// Fractions of the memory limit at which a worker acts (Dask's
/// distributed.worker.memory.{target,spill,pause,terminate}).
struct MemoryThresholds {
  /// Results in memory beyond this are spilled to disk, least recently used first.
  double target = 0.60;
  /// Process memory (RSS) beyond this: spill until back near `target`.
  double spill = 0.70;
  /// Process memory beyond this: start no new task until it falls back.
  double pause = 0.80;
  /// Process memory beyond this: restart (see on_memory_terminate).
  double terminate = 0.95;
};

struct WorkerOptions {
  /// tcp://host:port of the scheduler.
  std::string scheduler;
  /// Interface this worker serves its data on (peers connect here).
  std::string host = "127.0.0.1";
  int port = 0;
  /// Threads running tasks; <= 0: one per core.
  int nthreads = 0;
  /// Bytes of memory this worker may use (0 = none). With a limit, results
  /// spill to compressed files under local_directory and the thresholds
  /// below apply.
  int64_t memory_limit = 0;
  MemoryThresholds memory_thresholds;
  /// Called (on the monitor thread) when process memory passes
  /// `memory_thresholds.terminate`. The `skein worker` command re-executes
  /// itself, a fresh process (Dask's nanny restart). Default: Stop().
  std::function<void()> on_memory_terminate;
  /// Where uploaded libraries and spill files go. Empty: a fresh directory
  /// under $TMPDIR (removed on exit).
  std::string local_directory;
  std::string name;
  /// Abstract resources, e.g. {{"GPU", 1}}: tasks asking for them run only
  /// where they are free.
  std::map<std::string, double> resources;
  std::string token;
  /// Mutual TLS, for the scheduler connection, peers and its own data
  /// server. Required to serve a non-loopback interface unless `allow_insecure`.
  Security security;
  bool allow_insecure = false;
  /// Seconds to keep trying to reach a lost scheduler before stopping.
  double death_timeout_seconds = 60;
  /// Seconds between heartbeats.
  double heartbeat_seconds = 1;
};

/// A running worker. Safe for concurrent use.
class Worker {
 public:
  /// Starts serving and connecting; CommError if it cannot listen.
  static std::unique_ptr<Worker> Start(const WorkerOptions& options);
  virtual ~Worker() = default;

  /// tcp://host:port where this worker serves data.
  virtual std::string address() const = 0;
  /// Stops running tasks, closes connections (idempotent).
  virtual void Stop() = 0;
  /// Blocks until stopped (by Stop(), the scheduler, or death timeout).
  virtual void Wait() = 0;
  /// Number of results held right now.
  virtual size_t num_keys() const = 0;
};

}  // namespace skein::distributed
