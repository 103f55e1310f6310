// skein/local/observer.h — hooks into every computation (like dask callbacks).
//
// Observers see each computation start and finish and each task start and
// end; the progress bar and the profiler (skein/api/diagnostics.h) are
// observers. Register for a scope with ScopedObserver:
//
//   struct Counter : skein::SchedulerObserver {
//     std::atomic<int> n{0};
//     void OnTaskEnd(const skein::TaskEvent&) override { ++n; }
//   };
//   auto counter = std::make_shared<Counter>();
//   skein::ScopedObserver watch(counter);
//
// Callbacks come from worker threads concurrently: implementations must be
// safe for concurrent use and quick (they run on the task's thread).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "skein/core/key.h"

namespace skein {

struct RunEvent {
  uint64_t run_id;    ///< distinct per computation in this process
  size_t num_tasks;   ///< tasks the computation will run
};

struct TaskEvent {
  uint64_t run_id;
  const Key& key;
  int worker;         ///< pool thread index, -1 for the caller's thread
  bool ok;            ///< OnTaskEnd: false if the task raised
};

class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  virtual void OnRunStart(const RunEvent&) {}
  virtual void OnTaskStart(const TaskEvent&) {}
  virtual void OnTaskEnd(const TaskEvent&) {}
  /// `ok` false if the computation failed or was cancelled.
  virtual void OnRunEnd(const RunEvent&, bool ok) {}
};

/// Adds an observer for every later computation. Safe for concurrent use.
void AddObserver(std::shared_ptr<SchedulerObserver> observer);
void RemoveObserver(const std::shared_ptr<SchedulerObserver>& observer);
/// Snapshot taken by each computation when it starts.
std::vector<std::shared_ptr<SchedulerObserver>> CurrentObservers();

/// Adds an observer for the lifetime of this object.
class ScopedObserver {
 public:
  explicit ScopedObserver(std::shared_ptr<SchedulerObserver> o) : o_(std::move(o)) { AddObserver(o_); }
  ~ScopedObserver() { RemoveObserver(o_); }
  ScopedObserver(const ScopedObserver&) = delete;
  ScopedObserver& operator=(const ScopedObserver&) = delete;

 private:
  std::shared_ptr<SchedulerObserver> o_;
};

}  // namespace skein
