// The default Client: collections' compute() and persist() reach a cluster
// through it. Like dask.distributed, the newest connected Client is the
// default while any copy of it lives (then the one before it); with none,
// graphs run on the local scheduler. Persisted results stay on the workers
// as "held" tasks: a graph that references them sends only their keys.
#include "api/default_client_internal.h"

#include <mutex>

#include "skein/api/client.h"
#include "skein/distributed/session.h"

namespace skein::internal {

namespace {

// A persisted result on a cluster: the task's parameters. Holding the
// future keeps the result on the workers for as long as a graph names it.
struct HeldResult {
  Future future;
  std::weak_ptr<distributed::Session> session;
};

// Connected clients, newest last: the default is the newest still open
// (closing it makes the one before the default again).
std::mutex default_mu;
std::vector<std::weak_ptr<distributed::Session>> sessions;  // guarded by default_mu

std::shared_ptr<distributed::Session> DefaultSession() {
  std::lock_guard lock(default_mu);
  while (!sessions.empty()) {
    if (std::shared_ptr<distributed::Session> s = sessions.back().lock()) return s;
    sessions.pop_back();
  }
  return nullptr;
}

}  // namespace

const OpPtr& HeldOp() {
  // Run here only when a graph with held results is computed locally (the
  // default Client changed or closed): fetch the value from the cluster.
  static const OpPtr op = RegisterOp("skein.held", [](std::span<const Value>, const OpContext& ctx) {
    return ctx.params.get<HeldResult>().future.result();
  });
  return op;
}

bool HeldOn(const Task& task, const std::shared_ptr<distributed::Session>& session, const Key& key) {
  if (task.op() != HeldOp()) return false;
  std::shared_ptr<distributed::Session> owner = task.params().get<HeldResult>().session.lock();
  if (owner != session) {
    throw Error("result " + key.ToString() + " was persisted on " + (owner ? owner->address() : "a closed Client") +
                ", not on " + session->address() + " where this graph is sent; compute it there or persist it again");
  }
  return true;
}

Task HeldTask(const Future& future, const std::shared_ptr<distributed::Session>& session) {
  return Task::Call(HeldOp(), {}, Value::From(HeldResult{future, session}));
}

class ClientRoute final : public GraphRoute {
 public:
  bool Get(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options,
           std::vector<Value>* results) override {
    std::shared_ptr<distributed::Session> s = DefaultSession();
    if (!s) return false;
    Client client(s);
    *results = client.get(graph, outputs, options);
    return true;
  }
  bool Persist(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options,
               std::vector<Task>* held) override {
    std::shared_ptr<distributed::Session> s = DefaultSession();
    if (!s) return false;
    Client client(s);
    std::vector<Future> futures = client.ComputeRemote(graph, outputs, options);
    // As the local persist does: finished (errors raised here) when it returns.
    for (const Future& f : futures) {
      if (std::exception_ptr e = f.exception()) std::rethrow_exception(e);
    }
    held->clear();
    for (const Future& f : futures) held->push_back(HeldTask(f, s));
    return true;
  }
  bool GetLent(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options,
               std::vector<LentValuePtr>* results) override {
    std::shared_ptr<distributed::Session> s = DefaultSession();
    if (!s) return false;
    Client client(s);
    auto futures = std::make_shared<const std::vector<Future>>(client.ComputeRemote(graph, outputs, options));
    for (const Future& f : *futures) {
      if (std::exception_ptr e = f.exception()) std::rethrow_exception(e);
    }
    *results = s->Borrow(outputs);
    // Each lent value keeps the futures, so the cluster keeps the results.
    struct Kept {
      LentValuePtr lent;
      std::shared_ptr<const std::vector<Future>> futures;
    };
    for (LentValuePtr& l : *results) {
      auto kept = std::make_shared<Kept>(Kept{std::move(l), futures});
      l = LentValuePtr(kept, kept->lent.get());
    }
    return true;
  }
};

void MakeDefault(const std::shared_ptr<distributed::Session>& session) {
  static ClientRoute route;
  {
    std::lock_guard lock(default_mu);
    std::erase_if(sessions, [](const auto& w) { return w.expired(); });
    sessions.push_back(session);
  }
  SetGraphRoute(&route);
}

}  // namespace skein::internal
