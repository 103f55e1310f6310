// quickstart — the main job on the local default (what `make demo` runs).
//
// Estimates pi by Monte Carlo in 256 independent chunks on every core, sums
// them with a tree reduction, shows the same work through futures, then
// measures the scheduler's per-task overhead on a million-task graph.
#include <skein/skein.h>

#include <chrono>
#include <cstdio>
#include <random>

// A registered operation: graphs that use it can run anywhere skein runs.
SKEIN_REGISTER("quickstart.count_inside", [](int64_t seed, int64_t samples) {
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  int64_t inside = 0;
  for (int64_t i = 0; i < samples; ++i) {
    double x = u(rng), y = u(rng);
    inside += (x * x + y * y <= 1.0);
  }
  return inside;
});

SKEIN_REGISTER("quickstart.sum", [](std::vector<int64_t> parts) {
  int64_t total = 0;
  for (int64_t p : parts) total += p;
  return total;
});

int main() {
  using Clock = std::chrono::steady_clock;
  const int64_t chunks = 256, per_chunk = 400'000;
  std::printf("skein quickstart: %d worker threads\n", skein::LocalScheduler::Default().num_threads());

  // 1. delayed: lazy calls, a tree reduction, one compute.
  auto count = skein::delayed("quickstart.count_inside");
  auto sum = skein::delayed("quickstart.sum");
  std::vector<skein::Delayed> level;
  for (int64_t i = 0; i < chunks; ++i) level.push_back(count(i, per_chunk));
  while (level.size() > 1) {  // sum 16 at a time
    std::vector<skein::Delayed> next;
    for (size_t i = 0; i < level.size(); i += 16) {
      next.push_back(sum(std::vector<skein::Delayed>(level.begin() + i, level.begin() + std::min(level.size(), i + 16))));
    }
    level = next;
  }
  auto t0 = Clock::now();
  int64_t inside;
  {
    skein::ProgressBar bar;  // shown on a terminal when the run takes over a second
    inside = level[0].compute().as<int64_t>();
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("pi ~= %.6f from %lld samples in %.2f s (delayed, %zu tasks)\n",
              4.0 * static_cast<double>(inside) / static_cast<double>(chunks * per_chunk),
              static_cast<long long>(chunks * per_chunk), secs, level[0].graph().size());

  // 2. futures: submit, map, gather.
  skein::Client client;
  std::vector<int64_t> seeds(16);
  for (int64_t i = 0; i < 16; ++i) seeds[i] = 1000 + i;
  auto parts = client.map([per_chunk](int64_t seed) {
    std::mt19937_64 rng(static_cast<uint64_t>(seed));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    int64_t in = 0;
    for (int64_t i = 0; i < per_chunk; ++i) {
      double x = u(rng), y = u(rng);
      in += (x * x + y * y <= 1.0);
    }
    return in;
  }, seeds);
  skein::Future total = client.submit("quickstart.sum", parts);
  std::printf("pi ~= %.6f (futures, %zu tasks)\n",
              4.0 * static_cast<double>(total.result().as<int64_t>()) / static_cast<double>(16 * per_chunk),
              parts.size() + 1);

  // 3. scheduler overhead: a million no-op tasks plus a tree reduction.
  skein::OpPtr noop = skein::RegisterOp("quickstart.noop", [] {});
  skein::OpPtr join = skein::RegisterOp("quickstart.join", [](std::span<const skein::Value>, const skein::OpContext&) { return skein::Value(); });
  skein::Graph g;
  const int64_t n = 1'000'000;
  g.Reserve(n + n / 7);
  skein::Key leaf("leaf");
  std::vector<skein::Key> leaves;
  leaves.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    leaves.push_back(leaf.At({i}));
    g.Add(leaves.back(), skein::Task::Call(noop, {}));
  }
  skein::Key root = skein::AddTreeReduction(&g, leaves, join, "join", 8);
  t0 = Clock::now();
  skein::Get(g, {root});
  secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%zu no-op tasks in %.3f s: %.2f us per task (validate + order + run)\n", g.size(), secs,
              secs / static_cast<double>(g.size()) * 1e6);
  return 0;
}
