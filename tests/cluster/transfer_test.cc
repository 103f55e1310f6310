// Moving values between processes of one host: worker to worker and worker
// to client, read out of the sender's memory when both ends may (the
// default), through shared memory when memory reads are off
// (SKEIN_CMA_TRANSFER=0), over the stream when the sender's side turns
// shared memory off too (SKEIN_SHM_TRANSFER=0): the same exact bytes every
// way, counted by way in the status, and no inbox file left behind in
// /dev/shm.
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "skein/api/client.h"
#include "skein/dataframe/dataframe.h"
#include "skein/deploy/local_cluster.h"

namespace skein {
namespace {

using namespace std::chrono_literals;
constexpr double kWait = 60;

struct Served {
  int64_t memory_read = 0, shared_memory = 0, streamed = 0;
};

// Values the workers served so far, by way (their last heartbeats).
Served ServedSoFar(const LocalCluster& cluster) {
  httplib::Client http(cluster.http_address());
  auto res = http.Get("/json/status");
  if (!res || res->status != 200) throw std::runtime_error("no status from " + cluster.http_address());
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(res->body);
  Served s;
  for (simdjson::dom::element w : doc["workers"].get_array()) {
    s.memory_read += w["transfer"]["served_memory_read"].get_int64();
    s.shared_memory += w["transfer"]["served_shared_memory"].get_int64();
    s.streamed += w["transfer"]["served_streamed"].get_int64();
  }
  return s;
}

// Waits (bounded) until the heartbeats report `want` values served in all.
Served WaitForServed(const LocalCluster& cluster, int64_t want) {
  Served s;
  for (auto end = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < end;) {
    s = ServedSoFar(cluster);
    if (s.memory_read + s.shared_memory + s.streamed >= want) break;
    std::this_thread::sleep_for(100ms);
  }
  return s;
}

// Inbox files this test process created (their names start with its pid).
int InboxesLeft() {
  const std::string mine = "skein-inbox-" + std::to_string(getpid()) + "-";
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ec)) {
    n += e.path().filename().string().rfind(mine, 0) == 0;
  }
  return n;
}

// A 48 MiB value made on worker A, read by a task on worker B and then by
// this client, and the 8-byte length B computed, read by this client:
// three values served. Returns what the workers counted.
Served MoveAValue() {
  LocalClusterOptions o;
  o.n_workers = 2;
  o.threads_per_worker = 1;
  o.worker_resources = {{{"A", 1}}, {{"B", 1}}};
  LocalCluster cluster(o);
  Client client(cluster);
  client.upload_file(CLUSTER_OPS_LIBRARY);
  const int64_t n = int64_t{48} << 20;
  Future made = client.submit(SubmitOptions{.resources = {{"A", 1}}}, "cluster.bytes", n);
  Future len = client.submit(SubmitOptions{.resources = {{"B", 1}}}, "cluster.len", made);
  EXPECT_EQ(len.result(Duration(kWait)).as<int64_t>(), n);
  Value v = made.result(Duration(kWait));
  const auto& bytes = v.get<std::vector<uint8_t>>();
  EXPECT_EQ(static_cast<int64_t>(bytes.size()), n);
  EXPECT_EQ(std::count(bytes.begin(), bytes.end(), uint8_t{7}), n);
  return WaitForServed(cluster, 3);
}

// Whether this process may read a child's memory (no seccomp filter or
// kernel setting forbids process_vm_readv here).
bool MemoryReadsWork() {
  static int probe = 41;
  pid_t child = fork();
  if (child == 0) {
    probe = 42;
    pause();
    _exit(0);
  }
  int got = 0;
  iovec local{&got, sizeof(got)}, remote{&probe, sizeof(probe)};
  const bool ok = process_vm_readv(child, &local, 1, &remote, 1, 0) == sizeof(got);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  return ok;
}

TEST(SameHostTransfer, IsReadOutOfTheSendersMemoryAndLeavesNoFiles) {
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm here";
  if (!MemoryReadsWork()) GTEST_SKIP() << "process_vm_readv is refused here";
  Served s = MoveAValue();
  EXPECT_EQ(s.memory_read, 2) << "worker to worker and worker to client";
  EXPECT_EQ(s.shared_memory, 0);
  EXPECT_EQ(s.streamed, 1) << "values under kShmMinBytes are streamed";
  EXPECT_EQ(InboxesLeft(), 0);  // offered, unused, removed
}

TEST(SameHostTransfer, GoesThroughSharedMemoryWhenMemoryReadsAreOff) {
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm here";
  ASSERT_EQ(setenv("SKEIN_CMA_TRANSFER", "0", 1), 0);
  Served s = MoveAValue();
  unsetenv("SKEIN_CMA_TRANSFER");
  EXPECT_EQ(s.memory_read, 0);
  EXPECT_EQ(s.shared_memory, 2) << "worker to worker and worker to client";
  EXPECT_EQ(s.streamed, 1) << "values under kShmMinBytes are streamed";
  EXPECT_EQ(InboxesLeft(), 0);
}

TEST(SameHostTransfer, StreamsWhenTheWorkersTurnSharedMemoryOff) {
  // The workers inherit the setting; this client still offers its inbox,
  // and the worker answering over the stream instead is the fallback.
  ASSERT_EQ(setenv("SKEIN_SHM_TRANSFER", "0", 1), 0);
  ASSERT_EQ(setenv("SKEIN_CMA_TRANSFER", "0", 1), 0);
  Served s = MoveAValue();
  unsetenv("SKEIN_SHM_TRANSFER");
  unsetenv("SKEIN_CMA_TRANSFER");
  EXPECT_EQ(s.memory_read, 0);
  EXPECT_EQ(s.shared_memory, 0);
  EXPECT_EQ(s.streamed, 3);
  EXPECT_EQ(InboxesLeft(), 0);  // offered, unused, removed all the same
}

// compute() of a dataframe on the cluster: the partitions are lent, and
// each is read once, straight to its place in the result (columns of fixed
// width) or brought here and concatenated (nulls, strings), and the result
// is what the local scheduler gives.
TEST(SameHostTransfer, ADataFrameComputedHereReadsEachPartitionOutOfTheWorkersOnce) {
  if (!MemoryReadsWork()) GTEST_SKIP() << "process_vm_readv is refused here";
  LocalCluster cluster({.n_workers = 2, .threads_per_worker = 1});
  Client client(cluster);
  const int64_t rows = 200'000;
  std::vector<int64_t> ints(rows);
  std::vector<double> floats(rows);
  std::vector<bool> valid(rows);
  std::vector<int32_t> codes(rows);
  std::vector<std::optional<std::string>> strings(rows);
  for (int64_t i = 0; i < rows; ++i) {
    const size_t r = static_cast<size_t>(i);
    ints[r] = i * 7 - 3;
    floats[r] = static_cast<double>(i) / 3;
    valid[r] = i % 11 != 0;
    codes[r] = static_cast<int32_t>(i % 3);
    if (i % 13) strings[r] = "s" + std::to_string(i % 1000);
  }
  auto labels = std::make_shared<const Column>(Column::FromStrings({"red", "green", "blue"}));
  const Table t({{"i", Column::FromVector(ints)},
                 {"f", Column::FromVector(floats, valid)},
                 {"k", Column::Make(TypeId::kCategory, rows, {}, Column::FromVector(codes).values(), {}, labels, true)},
                 {"s", Column::FromStrings(strings)}});
  DataFrame df = from_table(t, 4).assign("j", col("i") * 2);
  ComputeOptions here;
  here.scheduler = "threads";
  const Table want = df.compute(here);
  const Served before = ServedSoFar(cluster);
  const Table got = df.compute();
  EXPECT_EQ(got, want);
  EXPECT_TRUE(got.column("k").categories_known());
  const int64_t before_total = before.memory_read + before.shared_memory + before.streamed;
  const Served after = WaitForServed(cluster, before_total + 4);
  EXPECT_EQ(after.memory_read - before.memory_read, 4) << "each partition lent by address";
  EXPECT_EQ(after.streamed + after.shared_memory, before.streamed + before.shared_memory);
  // Again: the workers let go of what they lent, and lend it again.
  EXPECT_EQ(df.compute(), want);
  EXPECT_EQ(df[col("i") < 0].compute().num_rows(), 1);
}

}  // namespace
}  // namespace skein
