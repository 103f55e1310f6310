// skein/distributed/scheduler.h — the distributed scheduler, in process.
//
// `skein scheduler` runs one of these; tests and LocalCluster may too. It
// accepts workers and clients over gRPC, places tasks by data locality,
// queues root tasks so workers are not flooded, retries the tasks of
// workers that die and recomputes what only they held.
//
//   auto s = skein::distributed::Scheduler::Start({.port = 8786});
//   std::cout << s->address();     // tcp://127.0.0.1:8786
//   s->Wait();                     // until Stop() (e.g. on SIGTERM)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "skein/distributed/security.h"

namespace skein::distributed {

struct SchedulerOptions {
  /// Interface to listen on. Loopback by default.
  std::string host = "127.0.0.1";
  /// 0: any free port.
  int port = 0;
  /// HTTP status and /metrics port; 0: any free port; negative: none.
  int http_port = -1;
  /// Shared secret clients and workers must present ("" = none).
  std::string token;
  /// Mutual TLS (the address becomes tls://...). Required to listen on a
  /// non-loopback interface unless `allow_insecure`.
  Security security;
  bool allow_insecure = false;
  /// A worker silent (no heartbeat, no message) this long is removed.
  double worker_timeout_seconds = 10;
  /// A task whose workers died running it more often than this fails with
  /// KilledWorker.
  int allowed_failures = 3;
};

/// A running scheduler. Safe for concurrent use.
class Scheduler {
 public:
  /// Binds and starts serving; CommError naming the address if it cannot bind.
  static std::unique_ptr<Scheduler> Start(const SchedulerOptions& options);
  virtual ~Scheduler() = default;

  /// tcp://host:port clients and workers connect to.
  virtual std::string address() const = 0;
  /// http://host:port of the status page ("" if none).
  virtual std::string http_address() const = 0;
  /// Status as JSON (what GET /json/status serves).
  virtual std::string StatusJson() const = 0;
  /// Closes every connection and stops serving (idempotent); workers are
  /// told to shut down.
  virtual void Stop() = 0;
  /// Blocks until Stop().
  virtual void Wait() = 0;
};

}  // namespace skein::distributed
