// The parts of Client that connect somewhere: a tcp:// scheduler (through a
// distributed::Session) or a LocalCluster; plus scatter, upload_file and
// workers, which mean something both locally and on a cluster.
#include <atomic>
#include <dlfcn.h>

#include "api/default_client_internal.h"
#include "api/future_state_internal.h"
#include "skein/api/client.h"
#include "skein/core/optimize.h"
#include "skein/core/order.h"
#include "skein/deploy/local_cluster.h"
#include "skein/distributed/session.h"

namespace skein {

Graph MergedGraph(const std::vector<Delayed>& ds);  // delayed.cc

using internal::FutureState;

Client::Client(const std::string& address, const std::string& token)
    : Client(address, token, distributed::Security{}) {}

Client::Client(const std::string& address, const std::string& token, const distributed::Security& security)
    : Client() {
  if (address.empty() || address == "local" || address == "local://") return;
  distributed::SessionOptions o;
  o.token = token;
  o.security = security;
  session_ = distributed::Session::Connect(address, o);
  internal::MakeDefault(session_);
}

Client::Client(std::shared_ptr<distributed::Session> session) : Client() { session_ = std::move(session); }

Client::Client(const LocalCluster& cluster)
    : Client(cluster.scheduler_address(), cluster.token(), cluster.security()) {}

std::string Client::address() const { return session_ ? session_->address() : "local"; }

Future Client::RemoteFuture(const Key& key) {
  auto state = std::make_shared<FutureState>(key, nullptr);
  // Weak: the Client owns the connection (a future outliving its client
  // cannot fetch), so the session is never destroyed on its own reader
  // thread while it delivers an outcome.
  std::weak_ptr<distributed::Session> session = session_;
  state->fetch = [session, key] {
    std::shared_ptr<distributed::Session> s = session.lock();
    if (!s) throw CommError("future " + key.ToString() + ": its Client was closed, so its value cannot be fetched");
    return s->Fetch(key);
  };
  state->on_cancel = [session, key] {
    if (auto s = session.lock()) s->Cancel(key);
  };
  state->on_release = [session, key] {
    if (auto s = session.lock()) s->Release(key);
  };
  std::weak_ptr<FutureState> weak = state;
  session_->Listen(key, [weak, key](const distributed::KeyEvent& e) {
    std::shared_ptr<FutureState> s = weak.lock();
    if (!s) return;
    switch (e.kind) {
      case distributed::KeyEvent::kFinished:
        s->Complete(FutureState::kFinished, Value(), nullptr);
        break;
      case distributed::KeyEvent::kErred: {
        std::string where = e.failed_key.empty() ? key.ToString() : e.failed_key;
        auto original = std::make_exception_ptr(RemoteError(e.type, e.message));
        s->Complete(FutureState::kError, Value(), std::make_exception_ptr(TaskError(where, original)));
        break;
      }
      case distributed::KeyEvent::kCancelled:
        s->Complete(FutureState::kCancelled, Value(),
                    std::make_exception_ptr(CancelledError("future " + key.ToString() + " was cancelled")));
        break;
      case distributed::KeyEvent::kDisconnected:
        s->Complete(FutureState::kError, Value(), std::make_exception_ptr(CommError(e.message)));
        break;
      case distributed::KeyEvent::kLost:
        break;  // being recomputed: the scheduler says when it is back
    }
  });
  return Future(state);
}

Future Client::SubmitRemote(OpPtr op, internal::SubmitArgs args, const SubmitOptions& options) {
  std::string name = options.key.empty() ? internal::NewKeyName(op->name()) : options.key;
  Key key(name);
  distributed::TaskSubmission t;
  t.key = key;
  t.task = Task::Call(op, std::move(args.args));
  t.retries = options.retries;
  t.resources = options.resources;
  // Submissions batched into one message to the scheduler keep their order
  // (otherwise they tie, and the scheduler would take them in any order).
  static std::atomic<int64_t> submitted{0};
  t.priority = submitted.fetch_add(1, std::memory_order_relaxed);
  session_->Submit({t}, {key});
  return RemoteFuture(key);
}

std::vector<Future> Client::ComputeRemote(const Graph& g, const std::vector<Key>& keys,
                                          const ComputeOptions& options) {
  // Results persisted on this cluster stay there: they are kept whole
  // through optimization (as outputs) and sent as keys only.
  std::vector<Key> keep = keys;
  for (uint32_t i = 0; i < g.size(); ++i) {
    if (internal::HeldOn(g.task(i), session_, g.key(i))) keep.push_back(g.key(i));
  }
  // The client optimizes, as dask's does: fewer, larger tasks cross the wire.
  OptimizeOptions opt = options.optimize ? *options.optimize : OptimizeOptions::FromConfig();
  Graph optimized = Optimize(g, keep, opt);
  GraphIndex ix = GraphIndex::Build(optimized);
  std::vector<uint32_t> outs;
  for (const Key& k : keys) outs.push_back(optimized.IndexOf(k));
  std::vector<uint32_t> sequence = Order(optimized, ix, outs);
  std::vector<distributed::TaskSubmission> tasks;
  tasks.reserve(sequence.size());
  for (size_t rank = 0; rank < sequence.size(); ++rank) {
    uint32_t i = sequence[rank];
    if (optimized.task(i).op() == internal::HeldOp()) continue;
    distributed::TaskSubmission t;
    t.key = optimized.key(i);
    t.task = optimized.task(i);
    t.priority = static_cast<int64_t>(rank);
    tasks.push_back(std::move(t));
  }
  session_->Submit(tasks, keys);
  std::vector<Future> out;
  for (const Key& k : keys) out.push_back(RemoteFuture(k));
  return out;
}

std::vector<Value> Client::get(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options) {
  if (!session_) return scheduler_->Get(graph, outputs, options);
  return gather(ComputeRemote(graph, outputs, options));
}

Future Client::scatter(Value value, std::string key) {
  if (key.empty()) key = internal::NewKeyName("scatter");
  if (!session_) {
    auto state = std::make_shared<FutureState>(Key(key), &scheduler_->pool());
    state->Complete(FutureState::kFinished, std::move(value), nullptr);
    return Future(state);
  }
  session_->Scatter(Key(key), value);
  return RemoteFuture(Key(key));
}

void Client::upload_file(const std::string& path) {
  if (session_) {
    session_->UploadFile(path);
    return;
  }
  if (!dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
    throw IOError("upload_file: could not load " + path + ": " + dlerror());
  }
}

std::vector<distributed::WorkerInfo> Client::workers() const {
  if (!session_) return {};
  return session_->Workers();
}

int64_t Client::rebalance(Duration timeout) {
  if (!session_) return 0;
  return session_->Rebalance(std::chrono::duration<double>(timeout).count());
}

}  // namespace skein
