// The local scheduler: results, release, errors, cancellation, timeouts,
// spilling — under 1, 2 and 8 threads and in synchronous mode.
#include "skein/local/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "skein/core/reduction.h"
#include "skein/core/serialize.h"
#include "testing/gate_internal.h"
#include "skein/local/observer.h"

namespace skein {
namespace {

using ::testing::HasSubstr;

// A value that counts live instances: shows when results are released.
struct Tracked {
  static std::atomic<int> live;
  static std::atomic<int> peak;
  int64_t v;
  explicit Tracked(int64_t x) : v(x) { Bump(); }
  Tracked(const Tracked& o) : v(o.v) { Bump(); }
  ~Tracked() { --live; }
  static void Bump() {
    int now = ++live;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {}
  }
};
std::atomic<int> Tracked::live{0};
std::atomic<int> Tracked::peak{0};

struct NoSerializer {
  std::string payload;
  size_t nbytes() const { return payload.size(); }
};

SKEIN_REGISTER("test.sched.inc", [](int64_t x) { return x + 1; });
SKEIN_REGISTER("test.sched.add", [](int64_t a, int64_t b) { return a + b; });
SKEIN_REGISTER("test.sched.sum", [](std::vector<int64_t> xs) {
  int64_t s = 0;
  for (int64_t x : xs) s += x;
  return s;
});
SKEIN_REGISTER("test.sched.tracked", [](int64_t x) { return Value::From(Tracked(x)); });
SKEIN_REGISTER("test.sched.untrack", [](const Tracked& t) { return t.v; });
SKEIN_REGISTER("test.sched.fail", [](int64_t x) -> int64_t { throw std::out_of_range("bad index " + std::to_string(x)); });
SKEIN_REGISTER("test.sched.blob", [](int64_t i) { return std::string(4096, static_cast<char>('a' + i % 26)); });
SKEIN_REGISTER("test.sched.lens", [](const ValueList& l) {
  int64_t n = 0;
  for (const Value& v : l) n += static_cast<int64_t>(v.get<std::string>().size()) + (v.get<std::string>()[0] - 'a');
  return n;
});
SKEIN_REGISTER("test.sched.opaque", [](int64_t i) { return Value::From(NoSerializer{std::string(4096, 'x')}); });
SKEIN_REGISTER("test.sched.opaque_len", [](const ValueList& l) { return static_cast<int64_t>(l.size()); });

// Tree reduction over n leaves (leaf i = i): the answer is n(n-1)/2.
Key BuildTree(Graph* g, int64_t n, int fan_in = 8) {
  Key leaf("leaf");
  std::vector<Key> leaves;
  for (int64_t i = 0; i < n; ++i) {
    leaves.push_back(leaf.At({i}));
    g->Add(leaves.back(), Task::FromValue(i));
  }
  return AddTreeReduction(g, leaves, OpRegistry::Global().Find("test.sched.sum"), "sum", fan_in);
}

// Parameter: number of threads; 0 means the synchronous scheduler.
class SchedulerTest : public ::testing::TestWithParam<int> {
 protected:
  SchedulerTest() : scheduler_(GetParam() == 0 ? 1 : GetParam()) {
    if (GetParam() == 0) options_.scheduler = "sync";
  }
  std::vector<Value> Run(const Graph& g, std::vector<Key> keys) { return scheduler_.Get(g, keys, options_); }
  LocalScheduler scheduler_;
  ComputeOptions options_;
};

TEST_P(SchedulerTest, ComputesADiamond) {
  Graph g;
  g.Add("x", Task::FromValue(1));
  g.Add("a", Task::Call("test.sched.inc", {Arg::Ref("x")}));
  g.Add("b", Task::Call("test.sched.inc", {Arg::Ref("a")}));
  g.Add("c", Task::Call("test.sched.add", {Arg::Ref("a"), Arg::Ref("b")}));
  auto r = Run(g, {"c", "a", "c"});
  EXPECT_EQ(r[0], Value(5));
  EXPECT_EQ(r[1], Value(2));
  EXPECT_EQ(r[2], Value(5));
}

TEST_P(SchedulerTest, ComputesALargeTreeReduction) {
  Graph g;
  Key root = BuildTree(&g, 20000);
  EXPECT_EQ(Run(g, {root})[0], Value(int64_t{20000} * 19999 / 2));
}

TEST_P(SchedulerTest, EmptyOutputsAndCulledTasksDoNotRun) {
  Graph g;
  g.Add("boom", Task::Call("test.sched.fail", {Arg(1)}));
  g.Add("fine", Task::FromValue(3));
  EXPECT_EQ(Run(g, {"fine"})[0], Value(3));  // "boom" is culled, never runs
  EXPECT_TRUE(Run(g, {}).empty());
}

TEST_P(SchedulerTest, InliningALiteralSharedWithUnneededTasksKeepsTheGraphWhole) {
  // "data" is inlined into "a"; "b" also reads it but is not needed. The
  // rewritten graph must not keep "b" pointing at the vanished literal.
  Graph g;
  g.Add("data", Task::FromValue(5));
  g.Add("a", Task::Call("test.sched.inc", {Arg::Ref("data")}));
  g.Add("b", Task::Call("test.sched.inc", {Arg::Ref("data")}));
  EXPECT_EQ(Run(g, {"a"})[0], Value(6));
}

TEST_P(SchedulerTest, ReleasesResultsAsSoonAsNoTaskNeedsThem) {
  // 200 independent tracked -> untrack pairs, summed: depth-first order and
  // early release keep only a few Tracked objects alive at any moment.
  Graph g;
  std::vector<Arg> refs;
  for (int64_t i = 0; i < 200; ++i) {
    g.Add(Key("t", {i}), Task::Call("test.sched.tracked", {Arg(i)}));
    g.Add(Key("u", {i}), Task::Call("test.sched.untrack", {Arg::Ref(Key("t", {i}))}));
    refs.push_back(Arg::Ref(Key("u", {i})));
  }
  g.Add("total", Task::Call("test.sched.sum", {Arg::List(refs)}));
  Tracked::peak = 0;
  ComputeOptions o = options_;
  o.optimize = OptimizeOptions{.fuse = false};  // keep the pairs as separate tasks
  EXPECT_EQ(scheduler_.Get(g, {"total"}, o)[0], Value(199 * 200 / 2));
  EXPECT_EQ(Tracked::live.load(), 0);
  EXPECT_LE(Tracked::peak.load(), 4 * std::max(1, GetParam()) + 8);
}

TEST_P(SchedulerTest, FailingTaskStopsTheRunWithItsKeyTypeAndMessage) {
  Graph g;
  Key root = BuildTree(&g, 1000);
  g.Add("bad", Task::Call("test.sched.fail", {Arg(7)}));
  g.Add("after", Task::Call("test.sched.inc", {Arg::Ref("bad")}));
  try {
    Run(g, {root, "after"});
    FAIL() << "expected TaskError";
  } catch (const TaskError& e) {
    EXPECT_EQ(e.key(), "bad");
    EXPECT_EQ(e.type_name(), "std::out_of_range");
    EXPECT_EQ(e.message(), "bad index 7");
    EXPECT_THAT(e.what(), HasSubstr("task bad raised std::out_of_range: bad index 7"));
    EXPECT_THROW(e.RethrowOriginal(), std::out_of_range);
  }
  // The same scheduler keeps working.
  Graph ok;
  Key r2 = BuildTree(&ok, 100);
  EXPECT_EQ(Run(ok, {r2})[0], Value(4950));
}

TEST_P(SchedulerTest, GraphErrorsComeBeforeAnythingRuns) {
  Graph missing;
  missing.Add("a", Task::Call("test.sched.inc", {Arg::Ref("ghost")}));
  EXPECT_THROW(Run(missing, {"a"}), GraphError);
  Graph cycle;
  cycle.Add("a", Task::Call("test.sched.inc", {Arg::Ref("b")}));
  cycle.Add("b", Task::Call("test.sched.inc", {Arg::Ref("a")}));
  EXPECT_THROW(Run(cycle, {"a"}), GraphError);
  Graph unregistered;
  unregistered.Add("a", Task::Call("test.sched.never_registered", {}));
  try {
    Run(unregistered, {"a"});
    FAIL();
  } catch (const OpError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'test.sched.never_registered'"));
  }
  EXPECT_THROW(Run(unregistered, {"not-a-key"}), KeyError);
}

INSTANTIATE_TEST_SUITE_P(Threads, SchedulerTest, ::testing::Values(0, 1, 2, 8),
                         [](const auto& info) { return info.param == 0 ? std::string("sync") : std::to_string(info.param); });

using testing::Gate;

TEST(Scheduler, TimeoutNamesTheTaskStillRunningAndCancelStopsTheRest) {
  LocalScheduler scheduler(2);
  auto gate = std::make_shared<Gate>();
  std::atomic<int> ran{0};
  Graph g;
  g.Add("slow", Task::Call(LocalOp([gate] { gate->Wait(); return int64_t{1}; }, "slow"), {}));
  for (int i = 0; i < 50; ++i) {
    g.Add(Key("later", {i}), Task::Call(LocalOp([&ran](int64_t x) { ++ran; return x; }, "later"), {Arg::Ref("slow")}));
  }
  std::vector<Key> outs;
  for (int i = 0; i < 50; ++i) outs.push_back(Key("later", {i}));
  auto run = scheduler.Submit(std::make_shared<const Graph>(std::move(g)), outs);
  try {
    run->Results(std::chrono::milliseconds(100));
    FAIL() << "expected TimeoutError";
  } catch (const TimeoutError& e) {
    EXPECT_THAT(e.what(), HasSubstr("still running: slow"));
  }
  EXPECT_FALSE(run->done());
  run->Cancel();
  gate->Open();
  ASSERT_TRUE(run->Wait(std::chrono::seconds(20)));
  EXPECT_THROW(run->Results(), CancelledError);
  EXPECT_EQ(ran.load(), 0);  // nothing after the cancel ran
}

TEST(Scheduler, DroppedHandleOfARunningComputationIsSafe) {
  LocalScheduler scheduler(2);
  auto gate = std::make_shared<Gate>();
  Graph g;
  g.Add("slow", Task::Call(LocalOp([gate] { gate->Wait(); return int64_t{1}; }, "slow"), {}));
  {
    auto run = scheduler.Submit(std::make_shared<const Graph>(std::move(g)), {"slow"});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (gate->entered() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }  // handle dropped while the task runs
  gate->Open();
  Graph ok;
  ok.Add("x", Task::FromValue(5));
  EXPECT_EQ(scheduler.Get(ok, {"x"})[0], Value(5));
}

TEST(Scheduler, ObserversSeeEveryTask) {
  struct Count : SchedulerObserver {
    std::atomic<int> starts{0}, ends{0}, runs{0};
    void OnTaskStart(const TaskEvent&) override { ++starts; }
    void OnTaskEnd(const TaskEvent&) override { ++ends; }
    void OnRunEnd(const RunEvent&, bool ok) override { runs += ok; }
  };
  auto c = std::make_shared<Count>();
  ScopedObserver watch(c);
  Graph g;
  Key root = BuildTree(&g, 64);
  ComputeOptions o;
  o.optimize = OptimizeOptions{.inline_cheap = false};
  EXPECT_EQ(Get(g, {root}, o)[0], Value(64 * 63 / 2));
  EXPECT_EQ(c->starts.load(), static_cast<int>(g.size()));
  EXPECT_EQ(c->ends.load(), static_cast<int>(g.size()));
  EXPECT_EQ(c->runs.load(), 1);
}

// ---- spilling -----------------------------------------------------------------

// 100 blobs of 4 KiB all needed by one task: under a 16 KiB limit most spill.
Graph BlobGraph(const char* op = "test.sched.blob", const char* reduce = "test.sched.lens") {
  Graph g;
  std::vector<Arg> refs;
  for (int64_t i = 0; i < 100; ++i) {
    g.Add(Key("blob", {i}), Task::Call(op, {Arg(i)}));
    refs.push_back(Arg::Ref(Key("blob", {i})));
  }
  g.Add("all", Task::Call(reduce, {Arg::List(refs)}));
  return g;
}

int64_t ExpectedLens() {
  int64_t n = 0;
  for (int64_t i = 0; i < 100; ++i) n += 4096 + i % 26;
  return n;
}

class SpillTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SpillTest, ResultsSpillUnderAMemoryLimitAndReadBackExactly) {
  std::string dir = ::testing::TempDir() + "/skein-spill-test-" + GetParam();
  std::filesystem::remove_all(dir);
  ComputeOptions o;
  o.memory_limit = 16 << 10;
  o.spill_directory = dir;
  o.spill_compression = GetParam();
  auto run = LocalScheduler::Default().Submit(std::make_shared<const Graph>(BlobGraph()), {"all"}, o);
  EXPECT_EQ(run->Results()[0], Value(ExpectedLens()));
  Computation::Stats s = run->stats();
  EXPECT_GT(s.spilled, 50);
  EXPECT_GT(s.unspilled, 0);
  run.reset();  // spill files go with the computation
  EXPECT_TRUE(!std::filesystem::exists(dir) || std::filesystem::is_empty(dir));
}

TEST(Spill, HeldResultsStayNearTheLimit) {
  // All 100 blobs are outputs, so all must be kept: memory stays near the
  // limit while they are produced, the rest waits on disk.
  Graph g = BlobGraph();
  std::vector<Key> outs;
  for (int64_t i = 0; i < 100; ++i) outs.push_back(Key("blob", {i}));
  auto mem = NewMemEnv();
  ComputeOptions o;
  o.memory_limit = 32 << 10;
  o.env = mem.get();
  auto run = LocalScheduler::Default().Submit(std::make_shared<const Graph>(g), outs, o);
  ASSERT_TRUE(run->Wait(std::chrono::seconds(30)));
  EXPECT_LE(run->stats().peak_memory, (32 << 10) + 4 * 4200);  // limit + a blob per thread in flight
  std::vector<Value> r = run->Results();
  for (int64_t i = 0; i < 100; ++i) ASSERT_EQ(r[i].get<std::string>(), std::string(4096, static_cast<char>('a' + i % 26)));
}

INSTANTIATE_TEST_SUITE_P(Codecs, SpillTest, ::testing::Values("lz4", "zstd", "none"));

TEST(Spill, ValueWithoutSerializerIsAClearErrorNamingTheKey) {
  auto mem = NewMemEnv();
  ComputeOptions o;
  o.memory_limit = 16 << 10;
  o.env = mem.get();
  try {
    Get(BlobGraph("test.sched.opaque", "test.sched.opaque_len"), {"all"}, o);
    FAIL() << "expected SpillError";
  } catch (const SpillError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot spill the result of task ('blob', "));
    EXPECT_THAT(e.what(), HasSubstr("NoSerializer"));
  }
  // Without a limit nothing needs to spill and the same graph works.
  EXPECT_EQ(Get(BlobGraph("test.sched.opaque", "test.sched.opaque_len"), {"all"})[0], Value(100));
}

// Remembers which files exist, to check that nothing is left behind.
class LiveFiles : public EnvWrapper {
 public:
  using EnvWrapper::EnvWrapper;
  void WriteFile(const std::string& p, std::string_view d) override {
    EnvWrapper::WriteFile(p, d);
    std::lock_guard lock(mu_);
    live_.insert(p);
  }
  void RemoveFile(const std::string& p) override {
    EnvWrapper::RemoveFile(p);
    std::lock_guard lock(mu_);
    live_.erase(p);
  }
  void RemoveDirAll(const std::string& dir) override {
    EnvWrapper::RemoveDirAll(dir);
    std::lock_guard lock(mu_);
    std::erase_if(live_, [&](const std::string& p) { return p.starts_with(dir + "/"); });
  }
  size_t live() {
    std::lock_guard lock(mu_);
    return live_.size();
  }

 private:
  std::mutex mu_;
  std::set<std::string> live_;
};

TEST(Spill, FullDiskIsAClearErrorAndNothingIsLeftBehind) {
  auto mem = NewMemEnv();
  LiveFiles files(mem.get());
  FaultInjectionEnv disk(&files);
  disk.FailWritesAfter(20000, ENOSPC);
  ComputeOptions o;
  o.memory_limit = 16 << 10;
  o.env = &disk;
  o.spill_directory = "/spill";
  o.spill_compression = "none";  // 4 KiB per file: the budget runs out after a few
  try {
    Get(BlobGraph(), {"all"}, o);
    FAIL() << "expected SpillError";
  } catch (const SpillError& e) {
    EXPECT_THAT(e.what(), HasSubstr("No space left on device"));
    EXPECT_THAT(e.what(), HasSubstr("kept in memory"));
  }
  EXPECT_GT(disk.files_written(), 0);
  EXPECT_EQ(files.live(), 0u);  // the computation's spill folder went with it
}

TEST(Spill, UnreadableSpillFileIsAClearError) {
  auto mem = NewMemEnv();
  FaultInjectionEnv disk(mem.get());
  disk.FailReads(EIO);
  ComputeOptions o;
  o.memory_limit = 16 << 10;
  o.env = &disk;
  try {
    Get(BlobGraph(), {"all"}, o);
    FAIL() << "expected SpillError";
  } catch (const SpillError& e) {
    EXPECT_THAT(e.what(), HasSubstr("reading back the spilled result of task ('blob', "));
    EXPECT_THAT(e.what(), HasSubstr("Input/output error"));
  }
}

}  // namespace
}  // namespace skein
