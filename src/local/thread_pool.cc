// Work-stealing pool: per-worker deques, sources of roots, sleeping workers.
#include "skein/local/thread_pool.h"

#include <algorithm>
#include <deque>

#if defined(__x86_64__)
#include <immintrin.h>
#define SKEIN_CPU_RELAX() _mm_pause()
#else
#define SKEIN_CPU_RELAX() std::this_thread::yield()
#endif

namespace skein {
namespace {
thread_local ThreadPool* tl_pool = nullptr;
thread_local int tl_index = -1;

// Test-and-test-and-set spin lock: the deques' critical sections are a few
// instructions, where a futex-based mutex costs more than the work it guards.
class SpinLock {
 public:
  void lock() {
    while (flag_.exchange(true, std::memory_order_acquire)) {
      while (flag_.load(std::memory_order_relaxed)) SKEIN_CPU_RELAX();
    }
  }
  bool try_lock() { return !flag_.load(std::memory_order_relaxed) && !flag_.exchange(true, std::memory_order_acquire); }
  void unlock() { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};
}  // namespace

struct alignas(64) ThreadPool::Deque {
  SpinLock lock;
  std::deque<WorkItem> items;     // guarded by lock; owner at back, thieves at front
  std::atomic<size_t> size{0};    // racy hint so thieves skip empty deques without locking
};

void Worker::Push(WorkItem item) { pool_->PushLocal(index_, item); }

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < num_threads; ++i) deques_.push_back(std::make_unique<Deque>());
  for (int i = 0; i < num_threads; ++i) threads_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  WakeAll();
  for (auto& t : threads_) t.join();
}

int ThreadPool::CurrentWorkerIndex() { return tl_index; }

void ThreadPool::PushLocal(int index, WorkItem item) {
  Deque& d = *deques_[index];
  d.lock.lock();
  d.items.push_back(item);
  d.size.store(d.items.size(), std::memory_order_relaxed);
  d.lock.unlock();
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_relaxed) > 0) WakeOne();
}

void ThreadPool::Push(WorkItem item) {
  if (tl_pool == this) {
    PushLocal(tl_index, item);
    return;
  }
  {
    std::lock_guard lock(inject_mu_);
    injected_.push_back(item);
    injected_count_.store(injected_.size(), std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_relaxed) > 0) WakeOne();
}

void ThreadPool::AddSource(WorkSource* source) {
  {
    std::lock_guard lock(sources_mu_);
    sources_.push_back(source);
    sources_count_.store(static_cast<int>(sources_.size()));
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_relaxed) > 0) WakeAll();
}

void ThreadPool::RemoveSource(WorkSource* source) {
  std::unique_lock lock(sources_mu_);
  auto it = std::find(sources_.begin(), sources_.end(), source);
  if (it != sources_.end()) {
    sources_.erase(it);
    sources_count_.store(static_cast<int>(sources_.size()));
  }
}

void ThreadPool::WakeOne() {
  {
    std::lock_guard lock(sleep_mu_);
    ++epoch_;
  }
  sleep_cv_.notify_one();
}

void ThreadPool::WakeAll() {
  {
    std::lock_guard lock(sleep_mu_);
    ++epoch_;
  }
  sleep_cv_.notify_all();
}

bool ThreadPool::HasWork() {
  if (injected_count_.load(std::memory_order_relaxed) > 0) return true;
  if (sources_count_.load(std::memory_order_relaxed) > 0) return true;
  for (auto& d : deques_) {
    if (d->size.load(std::memory_order_relaxed) > 0) return true;
  }
  return false;
}

bool ThreadPool::FindWork(int index, WorkItem* out) {
  // 1. Own deque, newest first.
  Deque& own = *deques_[index];
  if (own.size.load(std::memory_order_relaxed) > 0) {
    own.lock.lock();
    if (!own.items.empty()) {
      *out = own.items.back();
      own.items.pop_back();
      own.size.store(own.items.size(), std::memory_order_relaxed);
      own.lock.unlock();
      return true;
    }
    own.lock.unlock();
  }
  // 2. Steal the oldest item of another worker.
  const int n = static_cast<int>(deques_.size());
  for (int k = 1; k < n; ++k) {
    Deque& victim = *deques_[(index + k) % n];
    if (victim.size.load(std::memory_order_relaxed) == 0) continue;
    if (!victim.lock.try_lock()) continue;
    if (!victim.items.empty()) {
      *out = victim.items.front();
      victim.items.pop_front();
      victim.size.store(victim.items.size(), std::memory_order_relaxed);
      victim.lock.unlock();
      return true;
    }
    victim.lock.unlock();
  }
  // 3. Items pushed from outside the pool.
  if (injected_count_.load(std::memory_order_relaxed) > 0) {
    std::lock_guard lock(inject_mu_);
    if (!injected_.empty()) {
      *out = injected_.front();
      injected_.erase(injected_.begin());
      injected_count_.store(injected_.size(), std::memory_order_relaxed);
      return true;
    }
  }
  // 4. Root work from sources, in a small batch: the first item runs now, the
  //    rest go to our deque (pushed in reverse so they pop in source order).
  if (sources_count_.load(std::memory_order_relaxed) > 0) {
    constexpr size_t kBatch = 8;
    WorkItem batch[kBatch];
    std::unique_lock lock(sources_mu_);
    for (size_t s = 0; s < sources_.size();) {
      size_t got = sources_[s]->Claim(batch, kBatch);
      if (got == 0) {  // exhausted for good: drop it
        sources_.erase(sources_.begin() + static_cast<ptrdiff_t>(s));
        sources_count_.store(static_cast<int>(sources_.size()));
        continue;
      }
      lock.unlock();
      own.lock.lock();
      for (size_t i = got; i-- > 1;) own.items.push_back(batch[i]);
      own.size.store(own.items.size(), std::memory_order_relaxed);
      own.lock.unlock();
      if (got > 1) {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (sleepers_.load(std::memory_order_relaxed) > 0) WakeOne();
      }
      *out = batch[0];
      return true;
    }
  }
  return false;
}

void ThreadPool::WorkerLoop(int index) {
  tl_pool = this;
  tl_index = index;
  Worker worker(this, index);
  WorkItem item;
  while (true) {
    if (FindWork(index, &item)) {
      item.runnable->Run(item.payload, worker);
      continue;
    }
    // Spin briefly: new work often appears within microseconds.
    bool found = false;
    for (int spin = 0; spin < 64 && !found; ++spin) {
      for (int k = 0; k < 32; ++k) SKEIN_CPU_RELAX();
      found = HasWork();
    }
    if (found) continue;
    if (stop_.load()) break;
    uint64_t seen;
    {
      std::lock_guard lock(sleep_mu_);
      seen = epoch_;
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (HasWork() || stop_.load()) {
      sleepers_.fetch_sub(1);
      if (stop_.load() && !HasWork()) break;
      continue;
    }
    {
      std::unique_lock lock(sleep_mu_);
      sleep_cv_.wait(lock, [&] { return epoch_ != seen || stop_.load(); });
    }
    sleepers_.fetch_sub(1);
  }
  tl_pool = nullptr;
  tl_index = -1;
}

}  // namespace skein
