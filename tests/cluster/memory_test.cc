// Worker memory management and work stealing on real multi-process
// clusters: results spill to disk past 60% of the memory limit and come
// back exact, a worker past 80% starts nothing new, one past 95% restarts,
// and an idle worker takes queued tasks from a busy one.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "cluster_testing.h"
#include "skein/api/client.h"
#include "skein/deploy/local_cluster.h"
#include "skein/distributed/session.h"

namespace skein {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr double kWait = 60;
constexpr int64_t kMiB = 1 << 20;

struct WorkerView {
  int64_t id = 0, memory = 0, spilled = 0, rss = 0, memory_limit = 0;
  bool paused = false;
};

struct StatusView {
  std::vector<WorkerView> workers;
  int64_t steals = 0;
};

StatusView Status(const LocalCluster& cluster) {
  httplib::Client http(cluster.http_address());
  auto res = http.Get("/json/status");
  if (!res || res->status != 200) throw std::runtime_error("no status from " + cluster.http_address());
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(res->body);
  StatusView v;
  v.steals = doc["steals"].get_int64();
  for (simdjson::dom::element w : doc["workers"].get_array()) {
    WorkerView wv;
    wv.id = w["id"].get_int64();
    wv.memory = w["memory"].get_int64();
    wv.spilled = w["spilled"].get_int64();
    wv.rss = w["rss"].get_int64();
    wv.memory_limit = w["memory_limit"].get_int64();
    wv.paused = w["paused"].get_bool();
    v.workers.push_back(wv);
  }
  return v;
}

// One worker process with `threads` threads and a memory limit.
LocalClusterOptions OneWorker(int threads, int64_t memory_limit, int allowed_failures = 3) {
  LocalClusterOptions o;
  o.n_workers = 1;
  o.threads_per_worker = threads;
  o.memory_limit = memory_limit;
  o.allowed_failures = allowed_failures;
  return o;
}

// Polls the status until `pred` holds (heartbeats arrive each second).
template <class Pred>
bool WaitForStatus(const LocalCluster& cluster, Pred pred, double seconds = 20) {
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    StatusView s = Status(cluster);
    if (pred(s)) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST(WorkerMemory, ResultsPastTheTargetSpillAndComeBackExact) {
  LocalCluster cluster(OneWorker(1, 256 * kMiB));
  Client client(cluster);
  client.upload_file(CLUSTER_OPS_LIBRARY);
  // 32 x 8 MiB held = 256 MiB, all of the limit: the target (60%) keeps at
  // most ~154 MiB in memory, the rest goes to compressed files. (16 x 16
  // MiB had the worker restarted now and then under load: the process's
  // own ~40 MiB, 154 MiB held, and a value being made, serialized and
  // compressed at once came within a few MiB of 95%.)
  const int64_t worker_id = Status(cluster).workers.at(0).id;
  std::vector<Future> blocks;
  for (int64_t i = 0; i < 32; ++i) blocks.push_back(client.submit("cluster.bytes", 8 * kMiB + i));
  skein::wait(blocks, Duration(kWait));
  // The status comes from heartbeats (one a second): wait until one was sent
  // after the last result was stored and its spill, if any, was done (under
  // load a heartbeat from mid-spill counted 11 of the 16 values).
  const int64_t total = 32 * 8 * kMiB + 496;
  ASSERT_TRUE(WaitForStatus(cluster, [&](const StatusView& s) {
    return s.workers[0].spilled > 0 && s.workers[0].memory + s.workers[0].spilled >= total;
  }));
  StatusView s = Status(cluster);
  EXPECT_LE(s.workers[0].memory, static_cast<int64_t>(0.6 * 256 * kMiB) + 8 * kMiB);
  EXPECT_GE(s.workers[0].memory + s.workers[0].spilled, total);
  EXPECT_LE(s.workers[0].memory + s.workers[0].spilled, total + 32 * 64);  // + per-value overhead
  // Tasks read spilled inputs back; the client gets spilled values too.
  std::vector<Future> lens;
  for (Future& b : blocks) lens.push_back(client.submit("cluster.len", b));
  for (int64_t i = 0; i < 32; ++i) EXPECT_EQ(lens[i].result(Duration(kWait)).as<int64_t>(), 8 * kMiB + i);
  Value first = blocks[0].result(Duration(kWait));
  const auto& v = first.get<std::vector<uint8_t>>();
  ASSERT_EQ(v.size(), static_cast<size_t>(8 * kMiB));
  EXPECT_EQ(v.front(), 7);
  EXPECT_EQ(v.back(), 7);
  // Released results leave disk and memory.
  blocks.clear();
  lens.clear();
  first = Value();
  EXPECT_TRUE(WaitForStatus(cluster, [](const StatusView& s) { return s.workers[0].spilled == 0; }));
  // All of it without a restart (the same worker, never over 95%).
  StatusView end = Status(cluster);
  ASSERT_EQ(end.workers.size(), 1u);
  EXPECT_EQ(end.workers[0].id, worker_id);
}

TEST(WorkerMemory, PausedWorkerStartsNothingUntilMemoryFalls) {
  LocalCluster cluster(OneWorker(2, 512 * kMiB));
  Client client(cluster);
  client.upload_file(CLUSTER_OPS_LIBRARY);
  client.submit("cluster.inc", 0).result(Duration(kWait));
  ASSERT_TRUE(WaitForStatus(cluster, [](const StatusView& s) { return s.workers[0].rss > 0; }));
  int64_t base = Status(cluster).workers[0].rss;
  // Process memory to ~87% of the limit for 3 s: over pause, under terminate.
  int64_t hog = static_cast<int64_t>(0.87 * 512 * kMiB) - base;
  Future held = client.submit("cluster.hog", hog, 3000);
  ASSERT_TRUE(WaitForStatus(cluster, [](const StatusView& s) { return s.workers[0].paused; }, 10));
  auto t0 = Clock::now();
  Future later = client.submit("cluster.inc", 41);
  // A free thread, but paused: nothing starts while the hog holds memory.
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(later.done());
  EXPECT_EQ(later.result(Duration(kWait)).as<int64_t>(), 42);
  EXPECT_EQ(held.result(Duration(kWait)).as<int64_t>(), hog);
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - t0).count(), 1.0);
  EXPECT_TRUE(WaitForStatus(cluster, [](const StatusView& s) { return !s.workers[0].paused; }));
}

TEST(WorkerMemory, WorkerPastTerminateRestartsAndTheTaskIsMarkedBad) {
  // The worker's directory is under $TMPDIR (in the cluster's): the
  // restarted copy makes a new one, and the old one must go.
  const std::string tmp = cluster_testing::MakeTempDirectory("skein-restart");
  std::unique_ptr<LocalCluster> owned = cluster_testing::ClusterUnder(tmp, OneWorker(1, 256 * kMiB, /*allowed_failures=*/1));
  LocalCluster& cluster = *owned;
  Client client(cluster);
  client.upload_file(CLUSTER_OPS_LIBRARY);
  pid_t pid = cluster.worker_pids()[0];
  Future f = client.submit(SubmitOptions{.key = "memory-hog"}, "cluster.hog", 300 * kMiB, 5000);
  try {
    f.result(Duration(kWait));
    FAIL() << "expected KilledWorker";
  } catch (const TaskError& e) {
    EXPECT_EQ(e.type_name(), "skein::KilledWorker");
    EXPECT_NE(e.message().find("memory-hog"), std::string::npos) << e.message();
  }
  // The same process, fresh: it rejoined, got the library again and works.
  EXPECT_EQ(cluster.worker_pids()[0], pid);
  EXPECT_EQ(kill(pid, 0), 0);
  EXPECT_EQ(client.submit("cluster.inc", 1).result(Duration(kWait)).as<int64_t>(), 2);
  EXPECT_EQ(client.workers().size(), 1u);
  EXPECT_EQ(cluster_testing::WorkerDirectoriesIn(tmp), 1u) << "the worker before the restart left its directory";
  cluster.close();
  EXPECT_EQ(cluster_testing::WorkerDirectoriesIn(tmp), 0u);
  std::filesystem::remove_all(tmp);
}

TEST(WorkStealing, IdleWorkerTakesQueuedTasksFromABusyOne) {
  LocalCluster cluster({.n_workers = 2, .threads_per_worker = 1});
  Client client(cluster);
  client.upload_file(CLUSTER_OPS_LIBRARY);
  // One 1 MiB input, and a first task of the kind that reads it finishing
  // at once: the scheduler then expects the next ones to be quick, and
  // locality puts every one of them on the input's holder.
  Future input = client.submit("cluster.bytes", kMiB);
  input.result(Duration(kWait));
  client.submit("cluster.pid_after", input, 0).result(Duration(kWait));
  auto t0 = Clock::now();
  std::vector<Future> runs;
  for (int64_t i = 0; i < 8; ++i) runs.push_back(client.submit("cluster.pid_after", input, 250 + i));
  std::set<int64_t> pids;
  for (Future& r : runs) pids.insert(r.result(Duration(kWait)).as<int64_t>());
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(pids.size(), 2u) << "all tasks ran on one worker";
  EXPECT_LT(seconds, 8 * 0.25) << "no faster than one worker alone";
  EXPECT_GT(Status(cluster).steals, 0);
}

}  // namespace
}  // namespace skein
