// Multi-process clusters on loopback: a scheduler and worker processes
// started by LocalCluster, driven by a Client. The operations come from a
// library the client uploads (cluster_ops.cc); this test process does not
// register them, so every task proves the upload reached the workers.
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <thread>

#include "cluster_testing.h"
#include "distributed/protocol_internal.h"
#include "distributed/skein.grpc.pb.h"
#include "skein/api/client.h"
#include "skein/deploy/local_cluster.h"
#include "skein/distributed/session.h"

namespace skein {
namespace {

using namespace std::chrono_literals;

constexpr double kWait = 60;  // seconds any single result may take here

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new LocalCluster({.n_workers = 2, .threads_per_worker = 2});
    client_ = new Client(*cluster_);
    client_->upload_file(CLUSTER_OPS_LIBRARY);
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
  }
  static LocalCluster* cluster_;
  static Client* client_;
};
LocalCluster* ClusterTest::cluster_ = nullptr;
Client* ClusterTest::client_ = nullptr;

TEST_F(ClusterTest, SubmitMapAndGather) {
  Client& c = *client_;
  EXPECT_TRUE(c.is_distributed());
  EXPECT_EQ(c.workers().size(), 2u);
  Future one = c.submit("cluster.inc", 1);
  EXPECT_EQ(one.result(Duration(kWait)).as<int64_t>(), 2);
  std::vector<int64_t> xs(100);
  std::iota(xs.begin(), xs.end(), 0);
  std::vector<Future> incs = c.map("cluster.inc", xs);
  Future total = c.submit("cluster.sum", incs);
  EXPECT_EQ(total.result(Duration(kWait)).as<int64_t>(), 5050);
  std::vector<Value> all = c.gather(incs, Duration(kWait));
  ASSERT_EQ(all.size(), 100u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].as<int64_t>(), static_cast<int64_t>(i) + 1);
}

TEST_F(ClusterTest, SameKeysComputedAgainRightAfterRelease) {
  // Each get releases its result as it returns; the next get wants the same
  // key again, often before that release has left: the key must stay held.
  Graph g;
  std::vector<Arg> items;
  for (int64_t i = 0; i < 20; ++i) {
    Key k("again-leaf", {i});
    g.Add(k, Task::Call("cluster.inc", {Arg(i)}));
    items.push_back(Arg::Ref(k));
  }
  g.Add(Key("again-total"), Task::Call("cluster.sum", {Arg::List(items)}));
  for (int r = 0; r < 30; ++r) {
    ASSERT_EQ(client_->get(g, {Key("again-total")})[0].as<int64_t>(), 210) << "round " << r;
  }
}

TEST_F(ClusterTest, DelayedTreeRunsOnBothWorkersAndMovesData) {
  // 256 leaves reduced pairwise: most adds need an input from the other worker.
  auto inc = delayed("cluster.inc");
  auto add = delayed("cluster.add");
  auto pid = delayed("cluster.pid");
  std::vector<Delayed> level;
  for (int64_t i = 0; i < 256; ++i) level.push_back(inc(i));
  while (level.size() > 1) {
    std::vector<Delayed> next;
    for (size_t i = 0; i + 1 < level.size(); i += 2) next.push_back(add(level[i], level[i + 1]));
    level = next;
  }
  EXPECT_EQ(client_->compute(level[0]).result(Duration(kWait)).as<int64_t>(), 256 * 257 / 2);
  // Both workers take part (pids of independent tasks).
  std::vector<Delayed> pids;
  for (int64_t i = 0; i < 40; ++i) pids.push_back(pid(i));
  std::set<int64_t> seen;
  for (Future& f : client_->compute(pids)) seen.insert(f.result(Duration(kWait)).as<int64_t>());
  EXPECT_EQ(seen.size(), 2u);
}

TEST_F(ClusterTest, LargeValueCrossesWorkersAndReachesClient) {
  int64_t n = int64_t{96} << 20;  // 96 MiB: many chunks
  Future bytes = client_->submit("cluster.bytes", n);
  Future len = client_->submit("cluster.len", bytes);
  EXPECT_EQ(len.result(Duration(kWait)).as<int64_t>(), n);
  Value v = bytes.result(Duration(kWait));
  const auto& b = v.get<std::vector<uint8_t>>();
  ASSERT_EQ(static_cast<int64_t>(b.size()), n);
  EXPECT_EQ(b.front(), 7);
  EXPECT_EQ(b.back(), 7);
}

TEST_F(ClusterTest, TaskErrorsKeepTypeMessageAndKey) {
  Future bad = client_->submit(SubmitOptions{.key = "bad-one"}, "cluster.fail", 3);
  Future after = client_->submit("cluster.inc", bad);
  try {
    bad.result(Duration(kWait));
    FAIL() << "expected TaskError";
  } catch (const TaskError& e) {
    EXPECT_EQ(e.key(), "bad-one");
    EXPECT_EQ(e.type_name(), "std::invalid_argument");
    EXPECT_EQ(e.message(), "cluster.fail got 3");
  }
  try {
    after.result(Duration(kWait));
    FAIL() << "expected TaskError";
  } catch (const TaskError& e) {
    EXPECT_EQ(e.key(), "bad-one");  // the task that raised
  }
  EXPECT_EQ(after.status(), "error");
}

TEST_F(ClusterTest, UnknownOperationIsAClearError) {
  Future f = client_->submit("no.such.op", 1);
  try {
    f.result(Duration(kWait));
    FAIL() << "expected TaskError";
  } catch (const TaskError& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.op"), std::string::npos) << e.what();
    EXPECT_EQ(e.type_name(), "skein::OpError");
  }
}

TEST_F(ClusterTest, LambdasAreRefusedBeforeSending) {
  EXPECT_THROW(client_->submit([](int64_t x) { return x; }, 1), OpError);
}

TEST_F(ClusterTest, ScatterRetriesAndCancel) {
  Future s = client_->scatter(Value(int64_t{41}));
  EXPECT_EQ(client_->submit("cluster.inc", s).result(Duration(kWait)).as<int64_t>(), 42);
  EXPECT_EQ(s.result(Duration(kWait)).as<int64_t>(), 41);
  Future slow = client_->submit("cluster.slow", 1, 5000);
  EXPECT_TRUE(slow.cancel());
  EXPECT_TRUE(slow.cancelled());
  EXPECT_THROW(slow.result(Duration(kWait)), CancelledError);
}

TEST_F(ClusterTest, AsCompletedAndWait) {
  std::vector<Future> fs;
  for (int64_t ms : {300, 10, 150}) fs.push_back(client_->submit("cluster.slow", ms, ms));
  std::vector<int64_t> order;
  for (Future f : as_completed(fs)) order.push_back(f.result().as<int64_t>());
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order.front(), 10);
  WaitResult w = wait(fs, Duration(kWait));
  EXPECT_EQ(w.done.size(), 3u);
}

TEST_F(ClusterTest, StatusJsonAndPrometheusMetrics) {
  ASSERT_FALSE(cluster_->http_address().empty());
  client_->submit("cluster.inc", 5).result(Duration(kWait));
  httplib::Client http(cluster_->http_address());
  auto status = http.Get("/json/status");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200);
  EXPECT_NE(status->body.find("\"workers\":[{"), std::string::npos) << status->body;
  EXPECT_NE(status->body.find("\"nthreads\":2"), std::string::npos);
  EXPECT_NE(status->body.find("\"prefixes\""), std::string::npos);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("skein_scheduler_workers 2"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("skein_scheduler_tasks_done_total"), std::string::npos);
}

TEST_F(ClusterTest, WrongProtocolVersionIsRefusedAndSchedulerKeepsRunning) {
  auto channel = grpc::CreateChannel(cluster_->scheduler_address().substr(6), grpc::InsecureChannelCredentials());
  auto stub = wire::Scheduler::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->ClientStream(&ctx);
  wire::ClientToScheduler hello;
  hello.mutable_hello()->set_protocol(999);
  ASSERT_TRUE(stream->Write(hello));
  wire::SchedulerToClient reply;
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_NE(reply.error().find("protocol version 999"), std::string::npos) << reply.error();
  stream->WritesDone();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // A worker that says it finished a task it was never given is ignored.
  grpc::ClientContext wctx;
  auto ws = stub->WorkerStream(&wctx);
  wire::WorkerToScheduler wh;
  wh.mutable_hello()->set_protocol(distributed::internal::kProtocolVersion);
  wh.mutable_hello()->set_address("tcp://127.0.0.1:1");
  wh.mutable_hello()->set_nthreads(1);
  ASSERT_TRUE(ws->Write(wh));
  wire::WorkerToScheduler lie;
  lie.add_done()->set_key("not-a-task");
  ASSERT_TRUE(ws->Write(lie));
  ws->WritesDone();
  ctx.TryCancel();
  wctx.TryCancel();
  ws->Finish();
  EXPECT_EQ(client_->submit("cluster.inc", 7).result(Duration(kWait)).as<int64_t>(), 8);
}

TEST_F(ClusterTest, OversizedMessagesAreRefusedAndNothingElseIsLost) {
  const std::string big(300u << 20, 'x');  // over the 256 MiB message limit
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  // A raw client that sends one huge message: its stream fails; the scheduler goes on.
  {
    auto channel = grpc::CreateCustomChannel(cluster_->scheduler_address().substr(6),
                                             grpc::InsecureChannelCredentials(), args);
    auto stub = wire::Scheduler::NewStub(channel);
    grpc::ClientContext ctx;
    auto stream = stub->ClientStream(&ctx);
    wire::ClientToScheduler hello;
    hello.mutable_hello()->set_protocol(distributed::internal::kProtocolVersion);
    ASSERT_TRUE(stream->Write(hello));
    wire::ClientToScheduler huge;
    huge.mutable_upload()->set_name("huge.so");
    huge.mutable_upload()->set_content(big);
    stream->Write(huge);
    stream->WritesDone();
    wire::SchedulerToClient reply;
    while (stream->Read(&reply)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  // The same to a worker's data endpoint.
  {
    std::string worker = client_->workers().at(0).address;
    auto channel = grpc::CreateCustomChannel(worker.substr(6), grpc::InsecureChannelCredentials(), args);
    auto stub = wire::Worker::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.AddMetadata("skein-protocol", std::to_string(distributed::internal::kProtocolVersion));
    wire::PutDataReply reply;
    auto writer = stub->PutData(&ctx, &reply);
    wire::DataChunk chunk;
    chunk.set_key("huge");
    chunk.set_data(big);
    writer->Write(chunk);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  // Through the API: refused before sending, naming the task or file; the
  // connection stays up.
  try {
    client_->submit("cluster.len", std::vector<uint8_t>(big.size(), 1));
    FAIL() << "a 300 MiB task was sent";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("scatter"), std::string::npos) << e.what();
  }
  std::string path = ::testing::TempDir() + "/huge_upload.so";
  std::ofstream(path, std::ios::binary) << big;
  try {
    client_->upload_file(path);
    FAIL() << "a 300 MiB library was sent";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("huge_upload.so"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
  EXPECT_EQ(client_->submit("cluster.inc", 7).result(Duration(kWait)).as<int64_t>(), 8);
  // A large graph (over 100 MiB of literals) travels in parts and is
  // applied whole.
  auto len = delayed("cluster.len");
  auto sum = delayed("cluster.sum");
  std::vector<Delayed> lens;
  for (int i = 0; i < 100; ++i) lens.push_back(len(std::vector<uint8_t>(1u << 20, static_cast<uint8_t>(i))));
  EXPECT_EQ(client_->compute(sum(lens)).result(Duration(kWait)).as<int64_t>(), int64_t{100} << 20);
}

TEST(ClusterResilience, KilledWorkerMidComputationGivesExactResult) {
  LocalCluster cluster({.n_workers = 3, .threads_per_worker = 1});
  Client client(cluster);
  client.upload_file(CLUSTER_OPS_LIBRARY);
  // Results land on every worker, then slow tasks that use them are running
  // when one worker is killed: its running tasks and the results only it
  // held must be recomputed elsewhere.
  std::vector<Future> firsts;
  for (int64_t i = 0; i < 12; ++i) firsts.push_back(client.submit("cluster.inc", i));
  client.gather(firsts, Duration(kWait));
  std::vector<Future> slows;
  for (int64_t i = 0; i < 12; ++i) slows.push_back(client.submit("cluster.slow", firsts[i], 300));
  firsts.clear();  // only the slow tasks still need them
  Future total = client.submit("cluster.sum", slows);
  std::this_thread::sleep_for(150ms);
  pid_t victim = cluster.worker_pids()[0];
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  EXPECT_EQ(total.result(Duration(kWait)).as<int64_t>(), 78);  // 1 + ... + 12
  EXPECT_EQ(client.workers().size(), 2u);
}

TEST(ClusterResilience, TaskThatKillsWorkersIsMarkedBad) {
  LocalCluster cluster({.n_workers = 3, .threads_per_worker = 1, .allowed_failures = 1});
  Client client(cluster);
  client.upload_file(CLUSTER_OPS_LIBRARY);
  Future f = client.submit(SubmitOptions{.key = "crasher"}, "cluster.crash", 1);
  try {
    f.result(Duration(kWait));
    FAIL() << "expected TaskError";
  } catch (const TaskError& e) {
    EXPECT_EQ(e.type_name(), "skein::KilledWorker");
    EXPECT_NE(e.message().find("crasher"), std::string::npos) << e.message();
  }
  // The survivor still works.
  EXPECT_EQ(client.submit("cluster.inc", 1).result(Duration(kWait)).as<int64_t>(), 2);
}

TEST(ClusterSecurity, TokenIsRequired) {
  LocalCluster cluster({.n_workers = 1, .threads_per_worker = 1, .token = "s3cret"});
  EXPECT_THROW(Client(cluster.scheduler_address()), CommError);
  EXPECT_THROW(Client(cluster.scheduler_address(), "wrong"), CommError);
  Client ok(cluster);
  EXPECT_EQ(ok.workers().size(), 1u);
}

TEST(ClusterScale, ScaleUpAndDown) {
  LocalCluster cluster({.n_workers = 1, .threads_per_worker = 1});
  Client client(cluster);
  cluster.scale(3);
  EXPECT_EQ(client.workers().size(), 3u);
  client.upload_file(CLUSTER_OPS_LIBRARY);  // reaches all three
  cluster.scale(1);
  EXPECT_EQ(client.workers().size(), 1u);
  EXPECT_EQ(client.submit("cluster.inc", 1).result(Duration(kWait)).as<int64_t>(), 2);
  cluster.scale(2);  // a worker joining later gets the library too
  std::vector<Future> pids;
  for (int64_t i = 0; i < 20; ++i) pids.push_back(client.submit("cluster.slow", i, 20));
  for (Future& f : pids) f.result(Duration(kWait));
  EXPECT_EQ(client.workers().size(), 2u);
}

TEST(ClusterRebalance, ResultsOfOneWorkerSpreadOverTwoAndStayExact) {
  LocalCluster cluster({.n_workers = 1, .threads_per_worker = 1});
  Client client(cluster);
  // Eight 4 MiB values, all on the only worker.
  std::vector<Future> parts;
  for (int i = 0; i < 8; ++i) parts.push_back(client.scatter(Value(std::string(4 << 20, static_cast<char>('a' + i)))));
  cluster.scale(2);
  ASSERT_EQ(client.workers().size(), 2u);
  EXPECT_EQ(client.rebalance(), 4);
  EXPECT_EQ(client.rebalance(), 0);  // even already
  // Each worker reports about half the bytes (heartbeats; polled, bounded).
  bool even = false;
  for (int i = 0; i < 100 && !even; ++i) {
    std::vector<distributed::WorkerInfo> ws = client.workers();
    even = ws.size() == 2 && ws[0].memory >= (15 << 20) && ws[1].memory >= (15 << 20) &&
           ws[0].memory <= (17 << 20) && ws[1].memory <= (17 << 20);
    if (!even) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(even) << "workers hold " << client.workers()[0].memory << " and " << client.workers()[1].memory;
  std::vector<Value> back = client.gather(parts, Duration(kWait));
  ASSERT_EQ(back.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(back[i].get<std::string>(), std::string(4 << 20, static_cast<char>('a' + i)));
}

// How `pid` (a child of this process) ended, waiting at most 10 s; "still
// running" if it did not.
std::string ExitOf(pid_t pid) {
  for (int i = 0; i < 1000; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
      if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
      return "status " + std::to_string(status);
    }
    std::this_thread::sleep_for(10ms);
  }
  return "still running";
}

TEST(ClusterShutdown, SigtermEndsWorkerAndSchedulerCleanlyAndTheWorkerDirectoryGoes) {
  // The cluster makes its directory under $TMPDIR, and its processes make
  // theirs in that one.
  const std::string base = cluster_testing::MakeTempDirectory("skein-sigterm");
  std::unique_ptr<LocalCluster> owned = cluster_testing::ClusterUnder(base, {.n_workers = 3, .threads_per_worker = 1});
  LocalCluster& cluster = *owned;
  Client client(cluster);
  client.upload_file(CLUSTER_OPS_LIBRARY);
  EXPECT_EQ(client.submit("cluster.inc", 1).result(Duration(kWait)).as<int64_t>(), 2);
  EXPECT_EQ(cluster_testing::WorkerDirectoriesIn(base), 3u);
  // A worker killed outright cannot remove its directory...
  ASSERT_EQ(kill(cluster.worker_pids()[2], SIGKILL), 0);
  EXPECT_EQ(ExitOf(cluster.worker_pids()[2]), "signal 9");
  EXPECT_EQ(cluster_testing::WorkerDirectoriesIn(base), 3u);
  // A worker told to stop exits 0 (not killed by the signal) and removes
  // its directory; the other one and the scheduler go on.
  pid_t worker = cluster.worker_pids()[0];
  ASSERT_EQ(kill(worker, SIGTERM), 0);
  EXPECT_EQ(ExitOf(worker), "exit 0");
  EXPECT_EQ(cluster_testing::WorkerDirectoriesIn(base), 2u);
  EXPECT_EQ(client.submit("cluster.inc", 2).result(Duration(kWait)).as<int64_t>(), 3);
  ASSERT_EQ(kill(cluster.worker_pids()[1], SIGINT), 0);
  EXPECT_EQ(ExitOf(cluster.worker_pids()[1]), "exit 0");
  EXPECT_EQ(cluster_testing::WorkerDirectoriesIn(base), 1u);
  ASSERT_EQ(kill(cluster.scheduler_pid(), SIGTERM), 0);
  EXPECT_EQ(ExitOf(cluster.scheduler_pid()), "exit 0");
  // ... so closing the cluster removes the cluster's directory, with it.
  cluster.close();
  EXPECT_TRUE(std::filesystem::is_empty(base));
  std::filesystem::remove_all(base);
}

TEST(ClusterErrors, UnreachableSchedulerAndBadAddress) {
  EXPECT_THROW(Client("tcp://127.0.0.1:1"), CommError);
  EXPECT_THROW(Client("http://x"), CommError);
}

}  // namespace
}  // namespace skein
