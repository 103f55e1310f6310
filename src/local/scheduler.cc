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

// True when `options` may send the graph to the route ("auto" once a route
// is installed, or "distributed").
bool Distributed(const ComputeOptions& options) {
  std::string mode = Mode(options);
  if (mode == "distributed" && !route.load()) NoCluster();
  return (mode == "distributed" || mode == "auto") && route.load();
}
}  // namespace

void internal::SetGraphRoute(GraphRoute* r) { route.store(r); }

std::vector<Value> Get(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options) {
  if (Distributed(options)) {
    std::vector<Value> results;
    if (route.load()->Get(graph, outputs, options, &results)) return results;
    if (Mode(options) == "distributed") NoCluster();
  }
  return LocalScheduler::Default().Get(graph, outputs, options);
}

std::vector<Task> Persist(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options) {
  std::vector<Task> held;
  if (Distributed(options)) {
    if (route.load()->Persist(graph, outputs, options, &held)) return held;
    if (Mode(options) == "distributed") NoCluster();
  }
  for (Value& v : LocalScheduler::Default().Get(graph, outputs, options)) held.push_back(Task::FromValue(std::move(v)));
  return held;
}

}  // namespace skein
