// skein/local/scheduler.h — the local scheduler, skein's default.
//
// Runs a graph on a work-stealing pool over all cores (or synchronously in
// the caller's thread, for debugging). Before running it validates the graph
// (missing keys, cycles, unregistered ops are errors naming the keys),
// optimizes it (cull, inline, fuse), and orders it depth first. Each result
// is released as soon as no remaining task needs it; with a memory limit,
// finished results beyond it spill to disk (lz4 or zstd) and are read back
// transparently. A failing task stops the computation: the caller gets a
// TaskError with the task's key and the original exception.
//
//   skein::Graph g = ...;
//   std::vector<skein::Value> out = skein::Get(g, {skein::Key("total")});
//
//   auto run = skein::LocalScheduler::Default().Submit(graph_ptr, {"total"});
//   if (!run->Wait(std::chrono::seconds(5))) run->Cancel();
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "skein/core/env.h"
#include "skein/core/graph.h"
#include "skein/core/lent_value.h"
#include "skein/core/optimize.h"
#include "skein/local/thread_pool.h"

namespace skein {

/// Per-computation settings; unset fields come from the configuration.
struct ComputeOptions {
  /// "threads" or "sync" (one thread, the caller's) run here; "distributed"
  /// runs on the default Client's cluster (Error if none is connected);
  /// "auto" is the cluster when a Client is connected, else "threads".
  /// Empty: config "scheduler" (default "auto"). Memory and spill settings
  /// below are the local scheduler's; a cluster's workers have their own.
  std::string scheduler;
  /// Bytes of finished results held in memory before spilling. 0: config
  /// "memory-limit" (unset there = no limit); negative: no limit.
  int64_t memory_limit = 0;
  /// Where spill files go. Empty: config "temporary-directory", $TMPDIR, /tmp.
  std::string spill_directory;
  /// "lz4", "zstd" or "none". Empty: config "spill.compression".
  std::string spill_compression;
  /// Unset: OptimizeOptions::FromConfig().
  std::optional<OptimizeOptions> optimize;
  /// File system for spilling (tests inject faults). Null: Env::Default().
  Env* env = nullptr;
};

using Duration = std::chrono::duration<double>;

/// A computation in progress. Safe for concurrent use.
class Computation {
 public:
  virtual ~Computation() = default;

  virtual const std::vector<Key>& outputs() const = 0;
  virtual bool done() const = 0;
  /// Blocks until finished; false if `timeout` passed first.
  virtual bool Wait(std::optional<Duration> timeout = std::nullopt) const = 0;
  /// Results in `outputs()` order. Rethrows the computation's error
  /// (TaskError, CancelledError, SpillError). TimeoutError naming the keys
  /// still running if not done within `timeout` (the computation goes on).
  virtual std::vector<Value> Results(std::optional<Duration> timeout = std::nullopt) const = 0;
  /// Stops scheduling new tasks; running tasks finish; Results() then throws
  /// CancelledError. No effect once done.
  virtual void Cancel() = 0;
  /// Calls `fn` once the computation is done (at once if it already is), on
  /// the thread that finished it. `fn` must not block.
  virtual void AddDoneCallback(std::function<void()> fn) = 0;
  /// Keys of tasks running right now.
  virtual std::vector<Key> RunningKeys() const = 0;

  struct Stats {
    size_t num_tasks = 0;         ///< tasks scheduled after optimization
    int64_t spilled = 0;          ///< results written to disk
    int64_t spilled_bytes = 0;    ///< bytes written to disk (compressed)
    int64_t unspilled = 0;        ///< results read back from disk
    int64_t peak_memory = 0;      ///< most bytes of results held at once (spilling runs)
  };
  virtual Stats stats() const = 0;
};

/// A work-stealing pool plus the logic to run graphs on it. Safe for
/// concurrent use: several computations may share one scheduler.
class LocalScheduler {
 public:
  /// `num_threads` <= 0: config "num-workers", or one per core when that is 0.
  explicit LocalScheduler(int num_threads = 0);
  ~LocalScheduler();

  /// The process-wide scheduler used by compute(), Get() and local Clients.
  static LocalScheduler& Default();

  int num_threads() const { return pool_->size(); }
  ThreadPool& pool() { return *pool_; }

  /// Validates, optimizes and starts computing `outputs`. Graph errors
  /// (missing keys, cycles, unregistered ops) throw here, before anything runs.
  std::shared_ptr<Computation> Submit(std::shared_ptr<const Graph> graph, std::vector<Key> outputs,
                                      const ComputeOptions& options = {});
  /// Submit and wait for the results (the graph is not copied).
  std::vector<Value> Get(const Graph& graph, const std::vector<Key>& outputs,
                         const ComputeOptions& options = {});

 private:
  std::unique_ptr<ThreadPool> pool_;
};

/// Computes `outputs` of `graph` (dask.get): on the default local scheduler,
/// or on the connected Client's cluster (see ComputeOptions::scheduler).
/// Collections' compute() comes here.
std::vector<Value> Get(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options = {});

/// Computes `outputs` on the connected Client's cluster, where Get would,
/// and lends the results (skein/core/lent_value.h) instead of fetching
/// them, for a caller that copies them anyway (compute() concatenating a
/// dataframe's partitions reads each straight to its place); nullopt where
/// Get would compute here. The results stay held on the cluster while their
/// lent values live.
std::optional<std::vector<LentValuePtr>> GetLent(const Graph& graph, const std::vector<Key>& outputs,
                                                 const ComputeOptions& options = {});

/// Computes `outputs` and keeps them (collections' persist()): one task per
/// output that yields its result. Locally that is the value itself; on a
/// cluster it is a handle on the result the workers keep, which graphs sent
/// to that cluster reference without moving it.
std::vector<Task> Persist(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options = {});

/// `options` for a graph that must run in this process (its ops hold objects
/// that live here, as store()'s writers do): "auto" becomes "threads".
ComputeOptions RunHere(ComputeOptions options);

namespace internal {
/// Another place graphs can run: the api layer installs one (a connected
/// Client's cluster), so collections reach a cluster without depending on it.
class GraphRoute {
 public:
  virtual ~GraphRoute() = default;
  /// False when there is nowhere to run (no Client connected): the caller
  /// computes locally, or refuses if "distributed" was asked for.
  virtual bool Get(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options,
                   std::vector<Value>* results) = 0;
  virtual bool Persist(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options,
                       std::vector<Task>* held) = 0;
  /// As Get, the results lent (see skein::GetLent).
  virtual bool GetLent(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options,
                       std::vector<LentValuePtr>* results) = 0;
};
/// Installs `route` (not owned; it must live for the rest of the process).
void SetGraphRoute(GraphRoute* route);
}  // namespace internal

}  // namespace skein
