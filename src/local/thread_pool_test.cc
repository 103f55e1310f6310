// The work-stealing pool: every item runs once, sources drain in order.
#include "skein/local/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace skein {
namespace {

struct Counter : Runnable {
  std::atomic<int64_t> sum{0};
  std::atomic<int> count{0};
  void Run(uint64_t payload, Worker&) override {
    sum += static_cast<int64_t>(payload);
    ++count;
  }
};

// Each item spawns two children until depth 0: exercises local pushes and stealing.
struct Tree : Runnable {
  std::atomic<int> count{0};
  void Run(uint64_t depth, Worker& w) override {
    ++count;
    if (depth == 0) return;
    w.Push({this, depth - 1});
    w.Push({this, depth - 1});
  }
};

bool WaitFor(const std::atomic<int>& n, int want) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (n.load() < want && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return n.load() == want;
}

class ThreadPoolTest : public ::testing::TestWithParam<int> {};

TEST_P(ThreadPoolTest, RunsEveryItemPushedFromOutside) {
  ThreadPool pool(GetParam());
  Counter c;
  for (uint64_t i = 1; i <= 1000; ++i) pool.Push({&c, i});
  ASSERT_TRUE(WaitFor(c.count, 1000));
  EXPECT_EQ(c.sum.load(), 500500);
}

TEST_P(ThreadPoolTest, WorkersPushAndStealRecursively) {
  ThreadPool pool(GetParam());
  Tree t;
  pool.Push({&t, 14});
  ASSERT_TRUE(WaitFor(t.count, (1 << 15) - 1));
}

struct Ordered : WorkSource, Runnable {
  std::atomic<size_t> next{0};
  size_t total = 0;
  std::mutex mu;
  std::vector<uint64_t> seen;
  std::atomic<int> count{0};
  size_t Claim(WorkItem* out, size_t max) override {
    size_t start = next.fetch_add(max);
    if (start >= total) return 0;
    size_t end = std::min(total, start + max);
    for (size_t i = start; i < end; ++i) out[i - start] = {this, i};
    return end - start;
  }
  void Run(uint64_t i, Worker&) override {
    {
      std::lock_guard lock(mu);
      seen.push_back(i);
    }
    ++count;
  }
};

TEST_P(ThreadPoolTest, SourcesAreDrainedCompletely) {
  ThreadPool pool(GetParam());
  Ordered src;
  src.total = 5000;
  pool.AddSource(&src);
  ASSERT_TRUE(WaitFor(src.count, 5000));
  pool.RemoveSource(&src);
  std::sort(src.seen.begin(), src.seen.end());
  for (size_t i = 0; i < src.seen.size(); ++i) ASSERT_EQ(src.seen[i], i);
}

TEST(ThreadPool, SingleWorkerRunsSourceInOrder) {
  ThreadPool pool(1);
  Ordered src;
  src.total = 100;
  pool.AddSource(&src);
  ASSERT_TRUE(WaitFor(src.count, 100));
  pool.RemoveSource(&src);
  for (size_t i = 0; i < 100; ++i) EXPECT_EQ(src.seen[i], i);
}

TEST(ThreadPool, DestructorJoinsIdleWorkers) {
  for (int i = 0; i < 20; ++i) {
    ThreadPool pool(4);
    EXPECT_EQ(pool.size(), 4);
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, ThreadPoolTest, ::testing::Values(1, 2, 8));

}  // namespace
}  // namespace skein
