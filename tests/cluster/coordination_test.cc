// Datasets, fire_and_forget and the coordination objects (Variable, Queue,
// Lock, Event) between several clients of a real multi-process cluster.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "skein/api/coordination.h"
#include "skein/deploy/local_cluster.h"

namespace skein {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
constexpr double kWait = 60;

class CoordinationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    LocalClusterOptions o;
    o.n_workers = 1;
    o.threads_per_worker = 2;
    cluster_ = new LocalCluster(o);
    a_ = new Client(*cluster_);
    b_ = new Client(*cluster_);
    a_->upload_file(CLUSTER_OPS_LIBRARY);
  }
  static void TearDownTestSuite() {
    delete b_;
    delete a_;
    delete cluster_;
  }
  static LocalCluster* cluster_;
  static Client* a_;
  static Client* b_;
};
LocalCluster* CoordinationTest::cluster_ = nullptr;
Client* CoordinationTest::a_ = nullptr;
Client* CoordinationTest::b_ = nullptr;

TEST_F(CoordinationTest, PublishedDatasetOutlivesItsPublisher) {
  {
    Client publisher(*cluster_);
    Future f = publisher.submit("cluster.inc", 41);
    f.result(Duration(kWait));
    publisher.publish_dataset("answer", f);
    EXPECT_THROW(publisher.publish_dataset("answer", f), CommError);  // name taken
  }  // the publisher and its future are gone; the dataset holds the result
  std::vector<std::string> names = b_->list_datasets();
  EXPECT_NE(std::find(names.begin(), names.end(), "answer"), names.end());
  Future got = b_->get_dataset("answer");
  EXPECT_EQ(got.result(Duration(kWait)).as<int64_t>(), 42);
  // Usable as a task input like any future.
  EXPECT_EQ(b_->submit("cluster.inc", got).result(Duration(kWait)).as<int64_t>(), 43);
  b_->unpublish_dataset("answer");
  try {
    b_->get_dataset("answer");
    FAIL() << "expected CommError";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("answer"), std::string::npos) << e.what();
  }
  EXPECT_THROW(b_->unpublish_dataset("answer"), CommError);
}

TEST_F(CoordinationTest, FireAndForgetRunsAfterEveryFutureIsGone) {
  std::string path = (std::filesystem::temp_directory_path() / ("skein-ff-" + std::to_string(getpid()))).string();
  std::filesystem::remove(path);
  {
    Future f = a_->submit("cluster.touch", path, 500);
    a_->fire_and_forget(f);
  }  // dropped at once: without fire_and_forget the task would be cancelled
  auto end = Clock::now() + 20s;
  while (!std::filesystem::exists(path) && Clock::now() < end) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(std::filesystem::exists(path));
  std::filesystem::remove(path);
}

TEST_F(CoordinationTest, VariableIsSharedAndHoldsFutures) {
  Variable va(*a_, "threshold"), vb(*b_, "threshold");
  EXPECT_THROW(vb.get(Duration(0.2)), TimeoutError);
  va.set(Value(std::string("high")));
  EXPECT_EQ(vb.get(Duration(kWait)).as<std::string>(), "high");
  // A reader waiting for the first set wakes when it comes.
  Variable late(*b_, "late");
  auto waiting = std::async(std::launch::async, [&] { return late.get(Duration(kWait)).as<int64_t>(); });
  std::this_thread::sleep_for(200ms);
  Variable(*a_, "late").set(Value(7));
  EXPECT_EQ(waiting.get(), 7);
  {
    Future f = a_->submit("cluster.inc", 9);
    va.set(f);
  }  // the variable holds the result now
  EXPECT_EQ(vb.get(Duration(kWait)).as<int64_t>(), 10);
  vb.remove();
  EXPECT_THROW(va.get(Duration(0.1)), TimeoutError);
}

TEST_F(CoordinationTest, QueueIsFifoAcrossClientsAndWaits) {
  Queue qa(*a_, "jobs"), qb(*b_, "jobs");
  auto first = std::async(std::launch::async, [&] { return qb.get(Duration(kWait)).as<int64_t>(); });
  std::this_thread::sleep_for(200ms);
  qa.put(Value(1));
  qa.put(Value(2));
  qa.put(a_->submit("cluster.inc", 2));  // a future: its value comes out
  EXPECT_EQ(first.get(), 1);
  EXPECT_EQ(qb.qsize(), 2);
  EXPECT_EQ(qb.get(Duration(kWait)).as<int64_t>(), 2);
  EXPECT_EQ(qb.get(Duration(kWait)).as<int64_t>(), 3);
  auto t0 = Clock::now();
  EXPECT_THROW(qb.get(Duration(0.3)), TimeoutError);
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - t0).count(), 0.25);
  EXPECT_EQ(qa.qsize(), 0);
}

TEST_F(CoordinationTest, LockExcludesAndIsGivenBackWhenItsClientLeaves) {
  Lock la(*a_, "model"), lb(*b_, "model");
  EXPECT_TRUE(la.acquire(Duration(kWait)));
  EXPECT_FALSE(lb.acquire(Duration(0.3)));
  EXPECT_THROW(lb.release(), CommError);  // not the holder
  auto waiting = std::async(std::launch::async, [&] { return lb.acquire(Duration(kWait)); });
  std::this_thread::sleep_for(200ms);
  la.release();
  EXPECT_TRUE(waiting.get());
  lb.release();
  { std::lock_guard hold(la); }  // BasicLockable: acquired and given back
  // A holder whose client disconnects gives the lock back.
  {
    Client leaving(*cluster_);
    Lock lc(leaving, "model");
    EXPECT_TRUE(lc.acquire(Duration(kWait)));
    EXPECT_FALSE(la.acquire(Duration(0.2)));
  }
  EXPECT_TRUE(la.acquire(Duration(kWait)));
  la.release();
}

TEST_F(CoordinationTest, EventWakesWaiters) {
  Event ea(*a_, "ready"), eb(*b_, "ready");
  EXPECT_FALSE(eb.wait(Duration(0.2)));
  EXPECT_FALSE(eb.is_set());
  auto waiting = std::async(std::launch::async, [&] { return eb.wait(Duration(kWait)); });
  std::this_thread::sleep_for(200ms);
  ea.set();
  EXPECT_TRUE(waiting.get());
  EXPECT_TRUE(eb.is_set());
  ea.clear();
  EXPECT_FALSE(eb.is_set());
}

TEST(CoordinationLocal, NeedsADistributedClient) {
  Client local;
  try {
    Variable(local, "v").set(Value(1));
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("distributed Client"), std::string::npos) << e.what();
  }
  EXPECT_THROW(local.list_datasets(), Error);
}

}  // namespace
}  // namespace skein
