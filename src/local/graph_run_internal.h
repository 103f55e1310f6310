// Private: one computation of a graph on the local scheduler.
//
// Prepare() turns the graph into flat arrays: dependency and user lists
// (GraphIndex), per-task counters of unfinished dependencies (`waiting_`)
// and of consumers still to read the result (`holders_`), and priorities
// from Order(). Root tasks are handed to the pool in priority order through
// WorkSource::Claim; when a task finishes, the worker decrements its users'
// counters, runs the most urgent newly-ready user itself (no queue round
// trip) and pushes the others on its own deque.
//
// Completion: every task is either executed or, after a failure or Cancel(),
// skipped (still propagated, so counters drain); the worker that brings
// `remaining_` to zero finishes the run. The run keeps itself alive
// (`self_`) until then, so a caller that stops waiting (timeout) is safe.
// The finishing worker drops `self_` *before* it signals `completion_` (a
// separate shared block): a waiter that wakes up then holds the last
// reference, so the run is destroyed in the caller's thread, never on a
// worker after the caller has moved on (its Env may be gone by then).
#pragma once

#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>

#include "local/result_store_internal.h"
#include "skein/local/observer.h"
#include "skein/local/scheduler.h"

namespace skein::internal {

class GraphRun final : public Computation, public Runnable, public WorkSource {
 public:
  /// `pool` null: run synchronously in Start().
  GraphRun(std::shared_ptr<const Graph> graph, std::vector<Key> outputs, ThreadPool* pool,
           const ComputeOptions& options);
  ~GraphRun() override;

  /// Validates, optimizes and orders (throwing graph errors), then starts.
  /// `self` is the shared_ptr owning this run.
  void Start(std::shared_ptr<GraphRun> self);

  // Computation
  const std::vector<Key>& outputs() const override { return outputs_; }
  bool done() const override;
  bool Wait(std::optional<Duration> timeout) const override;
  std::vector<Value> Results(std::optional<Duration> timeout) const override;
  void Cancel() override;
  std::vector<Key> RunningKeys() const override;
  void AddDoneCallback(std::function<void()> fn) override;
  Stats stats() const override;

  // Runnable / WorkSource
  void Run(uint64_t payload, Worker& worker) override;
  size_t Claim(WorkItem* out, size_t max) override;

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  void Prepare();
  void RunSync();
  /// Executes (or skips) one task and releases its inputs; returns the most
  /// urgent user made ready, pushing any others to `worker`.
  uint32_t Step(uint32_t id, int worker_index, Worker* worker);
  void Execute(uint32_t id, int worker_index);
  Value Evaluate(uint32_t id);
  void Fail(std::exception_ptr error);
  void Finish();

  std::shared_ptr<const Graph> graph_;
  std::vector<Key> outputs_;
  std::vector<uint32_t> output_ids_;
  ThreadPool* pool_;
  ComputeOptions options_;
  uint64_t run_id_;
  std::vector<std::shared_ptr<SchedulerObserver>> observers_;

  GraphIndex ix_;
  std::vector<uint32_t> priority_;  // position in Order(); UINT32_MAX if not needed
  size_t num_needed_ = 0;           // tasks the outputs need (after culling)
  std::vector<uint32_t> roots_;     // tasks without dependencies, by priority
  std::unique_ptr<std::atomic<uint32_t>[]> waiting_;
  std::unique_ptr<std::atomic<uint32_t>[]> holders_;
  std::optional<ResultStore> store_;

  alignas(64) std::atomic<size_t> root_cursor_{0};
  alignas(64) std::atomic<int64_t> remaining_{0};
  alignas(64) std::atomic<bool> stop_{false};

  struct alignas(64) RunningSlot {
    std::atomic<uint32_t> task{kNone};
  };
  std::unique_ptr<RunningSlot[]> running_;  // one per pool thread + the caller
  int num_slots_ = 1;

  struct Completion {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;  // guarded by mu
  };
  const std::shared_ptr<Completion> completion_ = std::make_shared<Completion>();

  mutable std::mutex mu_;
  bool finishing_ = false;            // guarded by mu_: callbacks were taken
  std::exception_ptr error_;          // guarded by mu_: first failure
  std::shared_ptr<GraphRun> self_;    // guarded by mu_: alive until finished
  std::vector<std::function<void()>> callbacks_;  // guarded by mu_
};

}  // namespace skein::internal
