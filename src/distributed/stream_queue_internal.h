// Private: an outgoing message queue for one gRPC stream.
//
// gRPC's synchronous streams allow one writer at a time, and a write blocks
// while the peer is slow. So no thread that owns shared state ever writes:
// it pushes here, and the stream's own thread pops and writes. Close() wakes
// the writer, which then ends the stream.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace skein::distributed::internal {

/// Safe for concurrent use.
template <class Message>
class StreamQueue {
 public:
  void Push(Message m) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      queue_.push_back(std::move(m));
    }
    cv_.notify_one();
  }
  /// Waits for a message; false once closed and drained.
  bool Pop(Message* out) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !queue_.empty(); });
    if (queue_.empty()) return false;
    *out = std::move(queue_.front());
    queue_.pop_front();
    return true;
  }
  /// Stops accepting messages; the ones queued are still delivered.
  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> queue_;  // guarded by mu_
  bool closed_ = false;        // guarded by mu_
};

}  // namespace skein::distributed::internal
