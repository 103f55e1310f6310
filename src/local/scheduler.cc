// LocalScheduler: the default pool and the entry points that start GraphRuns.
#include "skein/local/scheduler.h"

#include <atomic>

#include "local/graph_run_internal.h"
#include "skein/core/config.h"

namespace skein {
namespace {
std::string Mode(const ComputeOptions& options) {
  return options.scheduler.empty() ? config::Get<std::string>("scheduler") : options.scheduler;
}
}  // namespace

LocalScheduler::LocalScheduler(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(config::Get<int64_t>("num-workers", 0));
  pool_ = std::make_unique<ThreadPool>(num_threads);
}

LocalScheduler::~LocalScheduler() = default;

LocalScheduler& LocalScheduler::Default() {
  // Never destroyed: computations may still be finishing during static teardown.
  static LocalScheduler* s = new LocalScheduler();
  return *s;
}

std::shared_ptr<Computation> LocalScheduler::Submit(std::shared_ptr<const Graph> graph, std::vector<Key> outputs,
                                                    const ComputeOptions& options) {
  std::string mode = Mode(options);
  if (mode != "threads" && mode != "sync" && mode != "synchronous" && mode != "threading" && mode != "auto") {
    throw ConfigError("unknown local scheduler '" + mode + "' (use threads or sync)");
  }
  bool sync = mode == "sync" || mode == "synchronous";
  auto run = std::make_shared<internal::GraphRun>(std::move(graph), std::move(outputs), sync ? nullptr : pool_.get(),
                                                  options);
  run->Start(run);
  return run;
}

std::vector<Value> LocalScheduler::Get(const Graph& graph, const std::vector<Key>& outputs,
                                       const ComputeOptions& options) {
  // Not owning: we wait until the computation has fully drained.
  std::shared_ptr<const Graph> view(&graph, [](const Graph*) {});
  auto run = Submit(view, std::vector<Key>(outputs.begin(), outputs.end()), options);
  run->Wait();
  return run->Results();
}

namespace {
std::atomic<internal::GraphRoute*> route{nullptr};

[[noreturn]] void NoCluster() {
  throw ConfigError("scheduler=distributed, but no distributed Client is connected (connect one: skein::Client(address))");
}

// Where `options` send a graph: a route to try ("auto" once one is
// installed, or "distributed"), or null to run here. `required`: the route
// must take it ("distributed").
internal::GraphRoute* RouteFor(const ComputeOptions& options, bool* required) {
  const std::string mode = Mode(options);
  internal::GraphRoute* r = route.load();
  *required = mode == "distributed";
  if (*required && !r) NoCluster();
  return *required || mode == "auto" ? r : nullptr;
}
}  // namespace

void internal::SetGraphRoute(GraphRoute* r) { route.store(r); }

ComputeOptions RunHere(ComputeOptions options) {
  if (Mode(options) == "auto") options.scheduler = "threads";
  return options;
}

std::vector<Value> Get(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options) {
  bool required = false;
  if (internal::GraphRoute* r = RouteFor(options, &required)) {
    std::vector<Value> results;
    if (r->Get(graph, outputs, options, &results)) return results;
    if (required) NoCluster();
  }
  return LocalScheduler::Default().Get(graph, outputs, options);
}

std::optional<std::vector<LentValuePtr>> GetLent(const Graph& graph, const std::vector<Key>& outputs,
                                                 const ComputeOptions& options) {
  bool required = false;
  if (internal::GraphRoute* r = RouteFor(options, &required)) {
    std::vector<LentValuePtr> lent;
    if (r->GetLent(graph, outputs, options, &lent)) return lent;
    if (required) NoCluster();
  }
  return std::nullopt;
}

std::vector<Task> Persist(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options) {
  std::vector<Task> held;
  bool required = false;
  if (internal::GraphRoute* r = RouteFor(options, &required)) {
    if (r->Persist(graph, outputs, options, &held)) return held;
    if (required) NoCluster();
  }
  for (Value& v : LocalScheduler::Default().Get(graph, outputs, options)) held.push_back(Task::FromValue(std::move(v)));
  return held;
}

}  // namespace skein
