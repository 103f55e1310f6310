// Futures on the local pool: FutureState, Client, wait and as_completed.
#include "skein/api/client.h"

#include "api/future_state_internal.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

namespace skein {

using internal::FutureState;

namespace {
// Values a distributed gather fetches at once.
constexpr size_t kGatherStreams = 4;

FutureState& StateOf(const std::shared_ptr<FutureState>& s) {
  if (!s) throw Error("empty (default-constructed) Future");
  return *s;
}
}  // namespace

const Key& Future::key() const { return StateOf(state_).key; }

std::string Future::status() const {
  switch (StateOf(state_).status()) {
    case FutureState::kPending: return "pending";
    case FutureState::kRunning: return "running";
    case FutureState::kFinished: return "finished";
    case FutureState::kError: return "error";
    case FutureState::kCancelled: return "cancelled";
  }
  return "unknown";
}

bool Future::done() const {
  auto s = StateOf(state_).status();
  return s == FutureState::kFinished || s == FutureState::kError || s == FutureState::kCancelled;
}

bool Future::cancelled() const { return StateOf(state_).status() == FutureState::kCancelled; }

std::exception_ptr Future::exception(std::optional<Duration> timeout) const {
  FutureState& s = StateOf(state_);
  if (!s.Wait(timeout)) {
    throw TimeoutError("timed out after " + std::to_string(timeout->count()) + " s waiting for future " +
                       s.key.ToString() + " (status " + status() + ")");
  }
  return s.error();
}

Value Future::result(std::optional<Duration> timeout) const {
  if (std::exception_ptr e = exception(timeout)) std::rethrow_exception(e);
  return state_->value();
}

bool Future::cancel() { return StateOf(state_).Cancel(); }

void Future::add_done_callback(std::function<void(const Future&)> fn) const {
  Future self = *this;
  StateOf(state_).AddCallback([fn = std::move(fn), self] { fn(self); });
}

Client::Client() : scheduler_(&LocalScheduler::Default()) {}
Client::Client(LocalScheduler& scheduler) : scheduler_(&scheduler) {}
Client::~Client() = default;

LocalScheduler& Client::scheduler() const {
  if (session_) throw Error("Client::scheduler(): this client is connected to " + address() + ", not local");
  return *scheduler_;
}

Future Client::SubmitOp(OpPtr op, internal::SubmitArgs args, const SubmitOptions& options) {
  if (options.retries < 0) throw Error("submit: retries must be >= 0, got " + std::to_string(options.retries));
  if (session_) return SubmitRemote(std::move(op), std::move(args), options);
  if (!op->resolved()) {
    throw OpError("submit(\"" + op->name() + "\"): no operation of that name is registered (register it with "
                  "SKEIN_REGISTER, or upload_file the library that does)");
  }
  std::string name = options.key.empty() ? internal::NewKeyName(op->name()) : options.key;
  auto state = std::make_shared<FutureState>(Key(name), &scheduler_->pool());
  state->op = std::move(op);
  state->args = std::move(args.args);
  state->deps = std::move(args.deps);
  state->retries_left = options.retries;
  state->Start();
  return Future(state);
}

std::vector<Future> Client::compute(const std::vector<Delayed>& ds, const ComputeOptions& options) {
  if (session_) {
    std::vector<Key> keys;
    for (const Delayed& d : ds) keys.push_back(d.key());
    return ComputeRemote(MergedGraph(ds), keys, options);
  }
  std::vector<Key> keys;
  for (const Delayed& d : ds) keys.push_back(d.key());
  auto graph = std::make_shared<const Graph>(MergedGraph(ds));
  std::shared_ptr<Computation> run = scheduler_->Submit(graph, keys, options);
  std::vector<Future> out;
  for (size_t i = 0; i < ds.size(); ++i) {
    auto state = std::make_shared<FutureState>(keys[i], &scheduler_->pool());
    if (ds.size() == 1) state->computation = run;  // cancelling the future cancels the run
    // The callback holds the run until it has finished (the run lets go of
    // its callbacks then, so this is no lasting cycle).
    run->AddDoneCallback([state, run, i] {
      try {
        state->Complete(FutureState::kFinished, run->Results()[i], nullptr);
      } catch (...) {
        state->Complete(FutureState::kError, Value(), std::current_exception());
      }
    });
    out.emplace_back(state);
  }
  return out;
}

Future Client::compute(const Delayed& d, const ComputeOptions& options) { return compute(std::vector<Delayed>{d}, options)[0]; }

std::vector<Value> Client::gather(const std::vector<Future>& futures, std::optional<Duration> timeout) const {
  auto deadline = std::chrono::steady_clock::now() + (timeout ? *timeout : Duration(0));
  std::vector<Value> out(futures.size());
  std::vector<std::exception_ptr> errors(futures.size());
  auto one = [&](size_t i) {
    std::optional<Duration> left;
    if (timeout) left = std::max(Duration(0), std::chrono::duration_cast<Duration>(deadline - std::chrono::steady_clock::now()));
    try {
      out[i] = futures[i].result(left);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
  // On a cluster, values come from workers: several fetches at once, each
  // starting as soon as its task finishes, so transfers overlap each other
  // and the computing that is still going on.
  const size_t streams = session_ ? std::min<size_t>(futures.size(), kGatherStreams) : 1;
  if (streams <= 1) {
    for (size_t i = 0; i < futures.size(); ++i) one(i);
  } else {
    std::atomic<size_t> next{0};
    std::vector<std::thread> threads;
    for (size_t t = 0; t < streams; ++t) {
      threads.emplace_back([&] {
        for (size_t i; (i = next.fetch_add(1)) < futures.size();) one(i);
      });
    }
    for (std::thread& t : threads) t.join();
  }
  // The first error in order, as a sequential gather would raise it.
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return out;
}

void Client::cancel(const std::vector<Future>& futures) {
  for (Future f : futures) f.cancel();
}

WaitResult wait(const std::vector<Future>& futures, std::optional<Duration> timeout, ReturnWhen when) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    size_t finished = 0;
  };
  auto shared = std::make_shared<Shared>();
  for (const Future& f : futures) {
    f.add_done_callback([shared](const Future&) {
      std::lock_guard lock(shared->mu);
      ++shared->finished;
      shared->cv.notify_all();
    });
  }
  size_t need = futures.empty() ? 0 : (when == ReturnWhen::kAllCompleted ? futures.size() : 1);
  {
    std::unique_lock lock(shared->mu);
    auto ready = [&] { return shared->finished >= need; };
    if (!timeout) {
      shared->cv.wait(lock, ready);
    } else if (!shared->cv.wait_for(lock, *timeout, ready)) {
      std::string pending;
      for (const Future& f : futures) {
        if (!f.done()) pending += (pending.empty() ? "" : ", ") + f.key().ToString();
      }
      throw TimeoutError("wait timed out after " + std::to_string(timeout->count()) + " s; not done: " + pending);
    }
  }
  WaitResult r;
  for (const Future& f : futures) (f.done() ? r.done : r.not_done).push_back(f);
  return r;
}

AsCompleted::AsCompleted(const std::vector<Future>& futures) : shared_(std::make_shared<Shared>()) {
  for (const Future& f : futures) add(f);
}

void AsCompleted::add(const Future& f) {
  {
    std::lock_guard lock(shared_->mu);
    ++shared_->pending;
  }
  auto shared = shared_;
  f.add_done_callback([shared](const Future& done) {
    std::lock_guard lock(shared->mu);
    shared->finished.push_back(done);
    shared->cv.notify_all();
  });
}

bool AsCompleted::has_next() const {
  std::lock_guard lock(shared_->mu);
  return shared_->pending > 0;
}

Future AsCompleted::next(std::optional<Duration> timeout) {
  std::unique_lock lock(shared_->mu);
  if (shared_->pending == 0) throw Error("as_completed: no futures left");
  auto ready = [&] { return !shared_->finished.empty(); };
  if (!timeout) {
    shared_->cv.wait(lock, ready);
  } else if (!shared_->cv.wait_for(lock, *timeout, ready)) {
    throw TimeoutError("as_completed: no future finished within " + std::to_string(timeout->count()) + " s");
  }
  Future f = shared_->finished.front();
  shared_->finished.pop_front();
  --shared_->pending;
  return f;
}

}  // namespace skein
