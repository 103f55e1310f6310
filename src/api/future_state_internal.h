// Private: the shared state behind a skein::Future (local and cluster).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "skein/api/client.h"

namespace skein {
namespace internal {

// The shared state behind a Future. A submitted task waits for its futures
// arguments (callbacks count them down), then runs as a pool work item; a
// computed Delayed follows a Computation's done-callback instead.
class FutureState final : public Runnable, public std::enable_shared_from_this<FutureState> {
 public:
  enum Status { kPending, kRunning, kFinished, kError, kCancelled };

  FutureState(Key k, ThreadPool* pool) : key(std::move(k)), pool_(pool) {}
  ~FutureState() override {
    if (on_release) on_release();
  }

  const Key key;

  // Submitted task (null op for computed delayed results).
  OpPtr op;
  std::vector<Arg> args;
  std::vector<std::shared_ptr<FutureState>> deps;
  int retries_left = 0;
  // Computed delayed result.
  std::shared_ptr<Computation> computation;
  // A key held on a cluster: the value is fetched on first use; cancel and
  // release tell the scheduler. Set before the state is shared.
  std::function<Value()> fetch;
  std::function<void()> on_cancel;
  std::function<void()> on_release;

  void Start() {
    waiting_.store(deps.size() + 1);  // +1: released below, after all callbacks are in
    auto self = shared_from_this();
    for (auto& d : deps) d->AddCallback([self] { self->DepDone(); });
    DepDone();
  }

  void Run(uint64_t, Worker&) override {
    std::shared_ptr<FutureState> keep;
    {
      std::lock_guard lock(mu_);
      keep = std::move(queued_self_);  // may be our last reference: released on return
      if (status_ == kCancelled) return;
      status_ = kRunning;
    }
    std::vector<Value> values;
    Value result;
    try {
      values.reserve(args.size());
      for (const Arg& a : args) values.push_back(Resolve(a));
      result = (*op)(values, OpContext{key, Value()});
    } catch (...) {
      std::exception_ptr e = std::current_exception();
      bool retry = false;
      {
        std::lock_guard lock(mu_);
        if (retries_left > 0 && status_ == kRunning) {
          --retries_left;
          status_ = kPending;
          queued_self_ = keep;
          retry = true;
        }
      }
      if (retry) {
        pool_->Push({this, 0});
      } else {
        Complete(kError, Value(), std::make_exception_ptr(TaskError(key.ToString(), e)));
      }
      return;
    }
    Complete(kFinished, std::move(result), nullptr);
  }

  void Complete(Status s, Value v, std::exception_ptr e) {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(mu_);
      if (status_ == kFinished || status_ == kError || status_ == kCancelled) return;
      status_ = s;
      value_ = std::move(v);
      error_ = std::move(e);
      callbacks.swap(callbacks_);
      deps.clear();  // inputs are no longer needed
      args.clear();
      cv_.notify_all();
    }
    for (auto& fn : callbacks) fn();
  }

  bool Cancel() {
    {
      std::lock_guard lock(mu_);
      if (status_ == kFinished || status_ == kError || status_ == kCancelled) return false;
    }
    if (computation) computation->Cancel();
    if (on_cancel) on_cancel();
    Complete(kCancelled, Value(), std::make_exception_ptr(CancelledError("future " + key.ToString() + " was cancelled")));
    return true;
  }

  void AddCallback(std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      if (!IsDone()) {
        callbacks_.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }

  bool Wait(std::optional<Duration> timeout) {
    std::unique_lock lock(mu_);
    if (!timeout) {
      cv_.wait(lock, [&] { return IsDone(); });
      return true;
    }
    return cv_.wait_for(lock, *timeout, [&] { return IsDone(); });
  }

  Status status() {
    std::lock_guard lock(mu_);
    return status_;
  }
  Value value() {
    std::function<Value()> f;
    {
      std::lock_guard lock(mu_);
      if (!fetch || fetched_ || status_ != kFinished) return value_;
      f = fetch;
    }
    Value v = f();  // from a worker; no lock held meanwhile
    std::lock_guard lock(mu_);
    value_ = v;
    fetched_ = true;
    return v;
  }
  std::exception_ptr error() {
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  bool IsDone() const { return status_ == kFinished || status_ == kError || status_ == kCancelled; }

  void DepDone() {
    if (waiting_.fetch_sub(1) != 1) return;
    // Every input is done: fail with the first failed input, or run.
    for (auto& d : deps) {
      if (d->status() == kError) return Complete(kError, Value(), d->error());
      if (d->status() == kCancelled) {
        return Complete(kError, Value(),
                        std::make_exception_ptr(CancelledError("input " + d->key.ToString() + " of " +
                                                               key.ToString() + " was cancelled")));
      }
    }
    {
      std::lock_guard lock(mu_);
      if (status_ == kCancelled) return;
      queued_self_ = shared_from_this();
    }
    pool_->Push({this, 0});
  }

  Value Resolve(const Arg& a) {
    if (a.is_literal()) return a.literal();
    if (a.is_ref()) {
      for (auto& d : deps) {
        if (d->key == a.ref()) return d->value();
      }
      throw KeyError("future " + key.ToString() + " has no input " + a.ref().ToString());
    }
    ValueList items;
    for (const Arg& x : a.list()) items.push_back(Resolve(x));
    return Value(std::move(items));
  }

  ThreadPool* pool_;
  std::atomic<size_t> waiting_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  Status status_ = kPending;                         // guarded by mu_
  Value value_;                                      // guarded by mu_
  bool fetched_ = false;                             // guarded by mu_
  std::exception_ptr error_;                         // guarded by mu_
  std::vector<std::function<void()>> callbacks_;     // guarded by mu_
  std::shared_ptr<FutureState> queued_self_;         // guarded by mu_: alive while queued
};

}  // namespace internal

}  // namespace skein
