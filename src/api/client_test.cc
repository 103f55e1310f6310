// Futures on a local Client.
#include "skein/api/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <set>

#include "testing/gate_internal.h"

namespace skein {
namespace {

using ::testing::HasSubstr;

SKEIN_REGISTER("test.client.double", [](int64_t x) { return 2 * x; });

TEST(Client, SubmitMapGather) {
  Client client;
  Future a = client.submit("test.client.double", 21);
  EXPECT_EQ(a.result(), Value(42));
  EXPECT_EQ(a.status(), "finished");
  auto fs = client.map([](int64_t x) { return x * x; }, std::vector<int64_t>{1, 2, 3, 4});
  auto values = client.gather(fs);
  EXPECT_EQ(values, (std::vector<Value>{1, 4, 9, 16}));
}

TEST(Client, FuturesAreArgumentsOfOtherTasks) {
  Client client;
  Future a = client.submit([](int64_t x) { return x + 1; }, 1);
  Future b = client.submit([](int64_t x, int64_t y) { return x * y; }, a, 10);
  auto parts = client.map("test.client.double", std::vector<int64_t>{1, 2, 3});
  Future total = client.submit([](std::vector<int64_t> xs) { return xs[0] + xs[1] + xs[2]; }, parts);
  EXPECT_EQ(b.result(), Value(20));
  EXPECT_EQ(total.result(), Value(12));
}

TEST(Client, ErrorsReachResultAndDependents) {
  Client client;
  Future bad = client.submit([](int64_t) -> int64_t { throw std::invalid_argument("no good"); }, 1);
  Future after = client.submit([](int64_t x) { return x; }, bad);
  try {
    after.result();
    FAIL();
  } catch (const TaskError& e) {
    EXPECT_EQ(e.key(), bad.key().ToString());
    EXPECT_EQ(e.type_name(), "std::invalid_argument");
  }
  EXPECT_EQ(bad.status(), "error");
  EXPECT_TRUE(bad.exception() != nullptr);
}

TEST(Client, RetriesRerunAFailingTask) {
  Client client;
  auto attempts = std::make_shared<std::atomic<int>>(0);
  Future f = client.submit(SubmitOptions{.retries = 2}, [attempts] {
    if (++*attempts < 3) throw std::runtime_error("flaky");
    return int64_t{7};
  });
  EXPECT_EQ(f.result(), Value(7));
  EXPECT_EQ(attempts->load(), 3);
  auto always = std::make_shared<std::atomic<int>>(0);
  Future g = client.submit(SubmitOptions{.retries = 1}, [always]() -> int64_t {
    ++*always;
    throw std::runtime_error("always");
  });
  EXPECT_THROW(g.result(), TaskError);
  EXPECT_EQ(always->load(), 2);
}

using Latch = testing::Gate;

TEST(Client, TimeoutsCancelAndWait) {
  LocalScheduler scheduler(2);
  Client client(scheduler);
  auto latch = std::make_shared<Latch>();
  Future slow = client.submit([latch] { latch->Wait(); return int64_t{1}; });
  Future waiting = client.submit([](int64_t x) { return x; }, slow);
  try {
    slow.result(std::chrono::milliseconds(50));
    FAIL();
  } catch (const TimeoutError& e) {
    EXPECT_THAT(e.what(), HasSubstr(slow.key().ToString()));
  }
  EXPECT_THROW(wait({slow, waiting}, std::chrono::milliseconds(50)), TimeoutError);
  EXPECT_TRUE(waiting.cancel());
  EXPECT_THROW(waiting.result(), CancelledError);
  EXPECT_FALSE(waiting.cancel());
  latch->Open();
  WaitResult r = wait({slow}, std::chrono::seconds(20));
  EXPECT_EQ(r.done.size(), 1u);
  EXPECT_EQ(slow.result(), Value(1));
  EXPECT_FALSE(slow.cancel());  // already finished
}

TEST(Client, AsCompletedYieldsEachFutureOnceInFinishingOrder) {
  LocalScheduler scheduler(2);
  Client client(scheduler);
  auto latch = std::make_shared<Latch>();
  Future late = client.submit([latch] { latch->Wait(); return int64_t{-1}; });
  auto quick = client.map([](int64_t x) { return x; }, std::vector<int64_t>{1, 2, 3});
  std::vector<Future> all = quick;
  all.insert(all.begin(), late);
  AsCompleted ac(all);
  std::set<int64_t> first_three;
  for (int i = 0; i < 3; ++i) first_three.insert(ac.next(std::chrono::seconds(20)).result().as<int64_t>());
  EXPECT_EQ(first_three, (std::set<int64_t>{1, 2, 3}));
  EXPECT_THROW(ac.next(std::chrono::milliseconds(20)), TimeoutError);
  latch->Open();
  EXPECT_EQ(ac.next(std::chrono::seconds(20)).result(), Value(-1));
  EXPECT_FALSE(ac.has_next());
  EXPECT_THROW(ac.next(), Error);
}

TEST(Client, ComputeDelayedGivesFutures) {
  Client client;
  Delayed d = delayed("test.client.double")(delayed("test.client.double")(3));
  Future f = client.compute(d);
  EXPECT_EQ(f.result(), Value(12));
  EXPECT_EQ(f.key(), d.key());
  EXPECT_THROW(Client("tcp://no-port"), CommError);  // cluster_test covers real connections
}

}  // namespace
}  // namespace skein
