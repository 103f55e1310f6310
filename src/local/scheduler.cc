// LocalScheduler: the default pool and the entry points that start GraphRuns.
#include "skein/local/scheduler.h"

#include "local/graph_run_internal.h"
#include "skein/core/config.h"

namespace skein {

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
  std::string mode = options.scheduler.empty() ? config::Get<std::string>("scheduler") : options.scheduler;
  if (mode != "threads" && mode != "sync" && mode != "synchronous" && mode != "threading") {
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

std::vector<Value> Get(const Graph& graph, const std::vector<Key>& outputs, const ComputeOptions& options) {
  return LocalScheduler::Default().Get(graph, outputs, options);
}

}  // namespace skein
