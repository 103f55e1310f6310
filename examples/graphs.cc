// graphs — a hand-built task graph: validation errors, optimization, DOT,
// spilling under a memory limit, and a Chrome trace of the run.
#include <skein/skein.h>

#include <cstdio>

SKEIN_REGISTER("graphs.make", [](int64_t i) { return std::string(1 << 16, static_cast<char>('a' + i % 26)); });
SKEIN_REGISTER("graphs.size", [](const std::string& s) { return static_cast<int64_t>(s.size()); });
SKEIN_REGISTER("graphs.total", [](std::vector<int64_t> xs) {
  int64_t t = 0;
  for (int64_t x : xs) t += x;
  return t;
});
// Needs every blob at once, so they must all be held (or spilled) until it runs.
SKEIN_REGISTER("graphs.distinct_first_letters", [](const skein::ValueList& blobs) {
  std::string seen;
  for (const skein::Value& b : blobs) {
    char c = b.get<std::string>()[0];
    if (seen.find(c) == std::string::npos) seen += c;
  }
  return static_cast<int64_t>(seen.size());
});

int main() {
  using skein::Arg;
  using skein::Task;
  skein::Graph g;
  skein::Key blob("blob"), size("size");
  std::vector<Arg> sizes, blobs;
  for (int64_t i = 0; i < 64; ++i) {
    g.Add(blob.At({i}), Task::Call("graphs.make", {Arg(i)}));
    g.Add(size.At({i}), Task::Call("graphs.size", {Arg::Ref(blob.At({i}))}));
    sizes.push_back(Arg::Ref(size.At({i})));
    blobs.push_back(Arg::Ref(blob.At({i})));
  }
  g.Add("total", Task::Call("graphs.total", {Arg::List(sizes)}));
  g.Add("letters", Task::Call("graphs.distinct_first_letters", {Arg::List(blobs)}));

  // make -> size chains fuse into one task each.
  // Alone, "total" needs only the make -> size chains, which fuse.
  skein::Graph fused = skein::Optimize(g, {skein::Key("total")}, skein::OptimizeOptions{});
  std::printf("%zu tasks; for \"total\": %zu after culling and fusing chains\n", g.size(), fused.size());

  // "letters" holds all 64 blobs (4 MiB) at once; under a 256 KiB limit most spill.
  skein::Profiler profiler;
  skein::ComputeOptions opts;
  opts.memory_limit = 256 << 10;
  opts.optimize = skein::OptimizeOptions{.fuse = false};
  auto run = skein::LocalScheduler::Default().Submit(std::make_shared<const skein::Graph>(g), {"total", "letters"}, opts);
  std::vector<skein::Value> results = run->Results();
  std::printf("total = %s, letters = %s, spilled %lld results\n", results[0].ToString().c_str(),
              results[1].ToString().c_str(), static_cast<long long>(run->stats().spilled));
  if (results[1].as<int64_t>() != 26 || run->stats().spilled == 0) return 1;
  profiler.WriteChromeTrace("graphs-trace.json");
  std::printf("trace of %zu tasks written to graphs-trace.json\n", profiler.records().size());

  // A cycle is caught before anything runs, naming the keys.
  skein::Graph cyclic;
  cyclic.Add("a", Task::Call("graphs.size", {Arg::Ref("b")}));
  cyclic.Add("b", Task::Call("graphs.size", {Arg::Ref("a")}));
  try {
    skein::Get(cyclic, {skein::Key("a")});
  } catch (const skein::GraphError& e) {
    std::printf("rejected: %s\n", e.what());
  }
  return 0;
}
