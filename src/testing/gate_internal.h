// Private test helper: a task body that blocks until the test opens the gate
// (stands in for "a task that never finishes"). Waits are bounded (30 s) so a
// broken test cannot hang the suite.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace skein::testing {

class Gate {
 public:
  /// Blocks until Open() (or 30 s). Counts callers in entered().
  void Wait() {
    ++entered_;
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [&] { return open_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int entered() const { return entered_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;  // guarded by mu_
  std::atomic<int> entered_{0};
};

}  // namespace skein::testing
