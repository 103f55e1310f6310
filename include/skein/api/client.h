// skein/api/client.h — futures, as in dask.distributed and concurrent.futures.
//
// A Client with no address runs tasks on the local scheduler's pool, in this
// process. Futures can be passed as arguments to other submissions; result()
// rethrows the task's error (TaskError with the key and original exception).
//
//   skein::Client client;                                   // local, all cores
//   skein::Future a = client.submit([](int64_t x) { return x + 1; }, 10);
//   skein::Future b = client.submit("myapp.double", a);      // registered op
//   std::vector<skein::Future> fs = client.map([](int64_t x) { return x * x; },
//                                              std::vector<int64_t>{1, 2, 3});
//   for (skein::Future f : skein::as_completed(fs)) std::cout << f.result();
//   std::vector<skein::Value> all = client.gather(fs);
//   client.submit(skein::SubmitOptions{.retries = 3}, flaky_fn, 1);
//
// The same program runs on a cluster by connecting elsewhere; there only
// registered operations (SKEIN_REGISTER, names) can be submitted, and a
// shared library of them is shipped with upload_file:
//
//   skein::LocalCluster cluster({.n_workers = 2});
//   skein::Client client(cluster);                 // or Client("tcp://host:8786")
//   client.upload_file("libmyops.so");
//   skein::Future f = client.submit("myapp.inc", 1);
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "skein/api/delayed.h"
#include "skein/distributed/security.h"
#include "skein/local/scheduler.h"

namespace skein {

class LocalCluster;
namespace distributed {
class Session;
struct WorkerInfo;
struct CoordinationRequest;
struct CoordinationReply;
}  // namespace distributed

namespace internal {
class FutureState;
class ClientRoute;
}

/// A handle on a result being computed. Copies share the same state. Safe for
/// concurrent use.
class Future {
 public:
  Future() = default;
  explicit Future(std::shared_ptr<internal::FutureState> s) : state_(std::move(s)) {}

  const Key& key() const;
  /// "pending", "running", "finished", "error" or "cancelled".
  std::string status() const;
  bool done() const;
  bool cancelled() const;
  /// The value; rethrows the task's error (TaskError, CancelledError).
  /// TimeoutError naming the key if it is not done within `timeout`.
  Value result(std::optional<Duration> timeout = std::nullopt) const;
  /// The error, or null if none (waits like result()).
  std::exception_ptr exception(std::optional<Duration> timeout = std::nullopt) const;
  /// Cancels a pending or running task; false if it had already finished.
  bool cancel();
  /// Calls fn(*this) once done (at once if already done), from the thread
  /// that finished it.
  void add_done_callback(std::function<void(const Future&)> fn) const;

  const std::shared_ptr<internal::FutureState>& state() const { return state_; }

 private:
  std::shared_ptr<internal::FutureState> state_;
};

struct SubmitOptions {
  /// Run again this many times if the task raises (dask's retries=).
  int retries = 0;
  /// Key of the result; default: "<function name>-<token>".
  std::string key;
  /// Abstract resources the task needs on a cluster, e.g. {{"GPU", 1}}: it
  /// runs only on a worker that has them free.
  std::map<std::string, double> resources;
};

namespace internal {

/// Arguments of a submitted task: literals, futures, lists of futures.
struct SubmitArgs {
  std::vector<Arg> args;
  std::vector<std::shared_ptr<FutureState>> deps;
};
inline void AddSubmitArg(SubmitArgs* s, const Future& f) {
  if (!f.state()) throw Error("an empty (default-constructed) Future was passed as an argument");
  s->deps.push_back(f.state());
  s->args.push_back(Arg::Ref(f.key()));
}
inline void AddSubmitArg(SubmitArgs* s, const std::vector<Future>& fs) {
  std::vector<Arg> items;
  for (const Future& f : fs) {
    if (!f.state()) throw Error("an empty (default-constructed) Future was passed as an argument");
    s->deps.push_back(f.state());
    items.push_back(Arg::Ref(f.key()));
  }
  s->args.push_back(Arg::List(std::move(items)));
}
template <class T>
  requires(!std::is_same_v<std::decay_t<T>, Future> && !std::is_same_v<std::decay_t<T>, std::vector<Future>>)
void AddSubmitArg(SubmitArgs* s, T&& v) {
  s->args.push_back(Arg(Value::From(std::forward<T>(v))));
}

// A name becomes the registered op, or an unresolved placeholder (a cluster
// may know it from an uploaded library; the local path refuses it).
template <class F>
OpPtr ToOp(F&& fn) {
  if constexpr (std::is_convertible_v<F, std::string_view>) {
    return OpRegistry::Global().Lookup(std::string_view(fn));
  } else {
    return LocalOp(std::forward<F>(fn), "lambda");
  }
}
}  // namespace internal

/// Entry point for futures. A default Client runs on the in-process local
/// scheduler. Safe for concurrent use.
class Client {
 public:
  /// Local, in-process, on LocalScheduler::Default().
  Client();
  /// Local, on the given scheduler (which must outlive the client).
  explicit Client(LocalScheduler& scheduler);
  /// "" or "local" for in-process; "tcp://host:port" connects to a
  /// distributed scheduler (CommError if it is unreachable or refuses).
  /// A connected Client becomes the default, as in dask.distributed:
  /// collections' compute() and persist() run on its cluster while it (or
  /// a copy) lives and config "scheduler" is "auto".
  explicit Client(const std::string& address, const std::string& token = "");
  /// A tls:// scheduler: the cluster's certificates (mutual TLS).
  Client(const std::string& address, const std::string& token, const distributed::Security& security);
  /// Connects to a LocalCluster's scheduler.
  explicit Client(const LocalCluster& cluster);
  ~Client();

  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, SubmitOptions>)
  Future submit(F&& fn, Args&&... args) {
    return submit(SubmitOptions{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  Future submit(const SubmitOptions& options, F&& fn, Args&&... args) {
    internal::SubmitArgs s;
    (internal::AddSubmitArg(&s, std::forward<Args>(args)), ...);
    return SubmitOp(internal::ToOp(std::forward<F>(fn)), std::move(s), options);
  }
  /// One task per item: fn(item).
  template <class F, class Range>
  std::vector<Future> map(F&& fn, const Range& items, const SubmitOptions& options = {}) {
    OpPtr op = internal::ToOp(std::forward<F>(fn));
    std::vector<Future> out;
    for (const auto& item : items) {
      internal::SubmitArgs s;
      internal::AddSubmitArg(&s, item);
      SubmitOptions o = options;
      if (!o.key.empty()) o.key += "-" + std::to_string(out.size());
      out.push_back(SubmitOp(op, std::move(s), o));
    }
    return out;
  }

  /// Results in order; rethrows the first error.
  std::vector<Value> gather(const std::vector<Future>& futures,
                            std::optional<Duration> timeout = std::nullopt) const;
  /// Starts computing delayed results on the scheduler; one future each.
  Future compute(const Delayed& d, const ComputeOptions& options = {});
  std::vector<Future> compute(const std::vector<Delayed>& ds, const ComputeOptions& options = {});
  void cancel(const std::vector<Future>& futures);
  /// Computes `outputs` of a raw graph and waits for them (dask's client.get).
  std::vector<Value> get(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options = {});

  /// Places `value` on a worker (or keeps it, locally) and returns a future
  /// on it, to pass to tasks (dask's scatter).
  Future scatter(Value value, std::string key = "");
  /// Sends a shared library to every worker, including ones that join later;
  /// each loads it, so its SKEIN_REGISTER operations run there (dask's
  /// upload_file). Locally, loads it into this process.
  void upload_file(const std::string& path);
  /// The workers of the cluster (empty locally).
  std::vector<distributed::WorkerInfo> workers() const;
  /// Moves results between workers so that each holds about the same
  /// bytes (Dask's client.rebalance): after a persist that landed unevenly,
  /// the tasks that read it then run evenly. Waits for the moves; returns
  /// how many results moved (0 locally). TimeoutError after `timeout`.
  int64_t rebalance(Duration timeout = std::chrono::minutes(10));

  /// Starts computing and returns futures, results kept on the cluster
  /// (Dask's client.persist; the same as compute in this API).
  std::vector<Future> persist(const std::vector<Delayed>& ds, const ComputeOptions& options = {}) {
    return compute(ds, options);
  }
  /// Names `future`'s result on the scheduler, for any client to get (it
  /// stays in memory until unpublished). Error if the name is taken. These
  /// and the coordination objects (skein/api/coordination.h) need a
  /// distributed Client.
  void publish_dataset(const std::string& name, const Future& future);
  /// A future on a published dataset; CommError if there is none by that name.
  Future get_dataset(const std::string& name);
  std::vector<std::string> list_datasets();
  void unpublish_dataset(const std::string& name);
  /// Lets the task run to completion even when every future on it is gone
  /// (then its result is released): for side effects.
  void fire_and_forget(const Future& future);

  /// True when connected to a distributed scheduler.
  bool is_distributed() const { return session_ != nullptr; }
  /// "local", or the scheduler's tcp:// address.
  std::string address() const;
  /// The local scheduler; Error on a distributed client.
  LocalScheduler& scheduler() const;

 private:
  Future SubmitOp(OpPtr op, internal::SubmitArgs args, const SubmitOptions& options);
  Future SubmitRemote(OpPtr op, internal::SubmitArgs args, const SubmitOptions& options);
  std::vector<Future> ComputeRemote(const Graph& graph, const std::vector<Key>& keys, const ComputeOptions& options);
  /// A future on `key`, held on the cluster, completed by the session's events.
  Future RemoteFuture(const Key& key);
  // A client on an existing connection (the default client's route).
  explicit Client(std::shared_ptr<distributed::Session> session);
  friend class internal::ClientRoute;
  // For datasets and the coordination objects.
  friend class Variable;
  friend class Queue;
  friend class Lock;
  friend class Event;
  distributed::CoordinationReply Coordinate(const distributed::CoordinationRequest& request);
  /// A future on a key the scheduler just handed this client.
  Future AdoptKey(const Key& key);
  /// A blocking item request: the value (a future's result), or
  /// TimeoutError(`what`) if the scheduler answered "timed out".
  Value ReceiveItem(const distributed::CoordinationRequest& request, const std::string& what);
  LocalScheduler* scheduler_;
  std::shared_ptr<distributed::Session> session_;
};

enum class ReturnWhen { kAllCompleted, kFirstCompleted };
struct WaitResult {
  std::vector<Future> done;
  std::vector<Future> not_done;
};
/// Waits like concurrent.futures.wait; TimeoutError naming unfinished keys
/// if `timeout` passes before the condition holds.
WaitResult wait(const std::vector<Future>& futures, std::optional<Duration> timeout = std::nullopt,
                ReturnWhen when = ReturnWhen::kAllCompleted);

/// Futures in the order they finish. Iterate with range-for, or next().
class AsCompleted {
 public:
  explicit AsCompleted(const std::vector<Future>& futures);
  /// Adds another future to wait on.
  void add(const Future& f);
  bool has_next() const;
  /// The next finished future; TimeoutError if none finishes in time;
  /// Error if none is left.
  Future next(std::optional<Duration> timeout = std::nullopt);

  class iterator {
   public:
    explicit iterator(AsCompleted* ac) : ac_(ac) { Advance(); }
    Future operator*() const { return current_; }
    iterator& operator++() {
      Advance();
      return *this;
    }
    bool operator!=(const iterator& o) const { return ac_ != o.ac_; }

   private:
    void Advance() {
      if (ac_ && ac_->has_next()) {
        current_ = ac_->next();
      } else {
        ac_ = nullptr;
      }
    }
    AsCompleted* ac_;
    Future current_;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(nullptr); }

 private:
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Future> finished;  // guarded by mu
    size_t pending = 0;           // guarded by mu
  };
  std::shared_ptr<Shared> shared_;
};
inline AsCompleted as_completed(const std::vector<Future>& futures) { return AsCompleted(futures); }

}  // namespace skein
