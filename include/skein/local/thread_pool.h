// skein/local/thread_pool.h — the work-stealing pool under the local scheduler.
//
// Work items are (Runnable*, payload) pairs — 16 bytes, no allocation per
// task. Each worker owns a deque: it pushes and pops at the back (LIFO, so a
// task's freshly-ready dependents run next, depth first, while their inputs
// are hot in cache) and idle workers steal from the front. "Sources" feed
// root tasks in priority order (root-task queuing: roots are claimed in small
// batches only when a worker runs dry, so a million ready leaves never flood
// the deques). Workers with nothing to do sleep; pushes wake them.
//
//   skein::ThreadPool pool(4);
//   struct Hello : skein::Runnable {
//     void Run(uint64_t i, skein::Worker&) override { std::printf("%lu\n", i); }
//   } hello;
//   pool.Push({&hello, 1});
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace skein {

class Worker;

/// Something that executes work items. Run() is called from pool threads,
/// concurrently for different items: implementations must be safe for that.
class Runnable {
 public:
  virtual ~Runnable() = default;
  virtual void Run(uint64_t payload, Worker& worker) = 0;
};

struct WorkItem {
  Runnable* runnable = nullptr;
  uint64_t payload = 0;
};

/// Hands out root work in order. Claim() is called by workers concurrently.
class WorkSource {
 public:
  virtual ~WorkSource() = default;
  /// Writes up to `max` items to `out`; returns how many. 0 means exhausted
  /// for good: the pool then drops the source.
  virtual size_t Claim(WorkItem* out, size_t max) = 0;
};

class ThreadPool;

/// A pool thread's view of the pool; only that thread touches it.
class Worker {
 public:
  /// Pushes onto this worker's own deque (popped LIFO).
  void Push(WorkItem item);
  int index() const noexcept { return index_; }
  ThreadPool& pool() noexcept { return *pool_; }

 private:
  friend class ThreadPool;
  Worker(ThreadPool* pool, int index) : pool_(pool), index_(index) {}
  ThreadPool* pool_;
  int index_;
};

/// Fixed set of worker threads. Safe for concurrent use; the destructor waits
/// for queued work to be run and joins every thread.
class ThreadPool {
 public:
  /// `num_threads` <= 0 means one per core.
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const noexcept { return static_cast<int>(threads_.size()); }
  /// From a pool thread: onto its own deque. From any other thread: onto the
  /// shared injection queue.
  void Push(WorkItem item);
  /// Registers a source of root work; it stays until exhausted or removed.
  /// Claim() runs under the pool's source lock, so once RemoveSource returns
  /// no worker is inside the source's Claim().
  void AddSource(WorkSource* source);
  void RemoveSource(WorkSource* source);

  /// Index of the calling pool thread in the current pool, or -1.
  static int CurrentWorkerIndex();

 private:
  friend class Worker;
  struct alignas(64) Deque;  // own cache line each: workers hammer their own

  void WorkerLoop(int index);
  bool FindWork(int index, WorkItem* out);
  bool HasWork();
  void PushLocal(int index, WorkItem item);
  void WakeOne();
  void WakeAll();

  std::vector<std::unique_ptr<Deque>> deques_;
  std::vector<std::thread> threads_;

  std::mutex inject_mu_;
  std::vector<WorkItem> injected_;  // guarded by inject_mu_
  std::atomic<size_t> injected_count_{0};

  std::mutex sources_mu_;
  std::vector<WorkSource*> sources_;  // guarded by sources_mu_
  std::atomic<int> sources_count_{0};

  // Sleeping: a sleeper bumps sleepers_ then re-checks for work; a pusher
  // publishes its item then checks sleepers_ (Dekker-style, both sides fenced),
  // so a wake-up can't be lost. epoch_ changes under sleep_mu_ on every wake.
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  uint64_t epoch_ = 0;  // guarded by sleep_mu_
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace skein
