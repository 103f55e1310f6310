// The scheduler's rules, event by event, without a network.
#include "distributed/scheduler_state_internal.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "skein/core/wire.h"

namespace skein::distributed::internal {
namespace {

using Status = SchedulerState::TaskStatus;

class StateTest : public ::testing::Test {
 protected:
  WorkerId AddWorker(const std::string& addr, int nthreads = 1, std::map<std::string, double> res = {}) {
    WorkerSpec spec;
    spec.address = addr;
    spec.nthreads = nthreads;
    spec.resources = std::move(res);
    return state_.AddWorker(spec, 0);
  }
  // Submits tasks "name" -> deps (all wanted by `client` if `want`).
  void Submit(ClientId client, const std::vector<std::pair<std::string, std::vector<std::string>>>& tasks,
              const std::vector<std::string>& wanted, std::map<std::string, double> res = {}) {
    wire::ClientToScheduler m;
    int64_t prio = 0;
    for (const auto& [name, deps] : tasks) {
      wire::TaskSpec* s = m.add_tasks();
      s->set_key(EncodeKey(Key(name)));
      s->set_spec("spec-" + name);
      s->set_priority(prio++);
      for (const std::string& d : deps) s->add_deps(EncodeKey(Key(d)));
      for (const auto& [k, v] : res) (*s->mutable_resources())[k] = v;
    }
    for (const std::string& w : wanted) m.add_wanted(EncodeKey(Key(w)));
    state_.UpdateGraph(client, m);
  }
  // Keys sent to `w` to compute since the last call.
  std::vector<std::string> Computed(WorkerId w) {
    std::vector<std::string> out;
    auto it = out_.workers.find(w);
    if (it == out_.workers.end()) return out;
    for (const wire::ComputeTask& c : it->second.compute()) out.push_back(DecodeKey(c.key(), "k").ToString());
    it->second.clear_compute();
    return out;
  }
  void Finish(WorkerId w, const std::string& key, int64_t nbytes = 8, double seconds = 1.0) {
    wire::TaskDone d;
    d.set_key(EncodeKey(Key(key)));
    d.set_nbytes(nbytes);
    d.set_seconds(seconds);
    state_.TaskFinished(w, d);
  }
  Status StatusOf(const std::string& key) {
    const SchedulerState::Task* t = state_.FindTask(EncodeKey(Key(key)));
    return t ? t->status : Status::kReleased;
  }
  bool Known(const std::string& key) { return state_.FindTask(EncodeKey(Key(key))) != nullptr; }
  std::vector<wire::KeyUpdate> Updates(ClientId c) {
    std::vector<wire::KeyUpdate> out(out_.clients[c].updates().begin(), out_.clients[c].updates().end());
    out_.clients[c].clear_updates();
    return out;
  }
  std::vector<std::string> Freed(WorkerId w) {
    std::vector<std::string> out;
    for (const std::string& k : out_.workers[w].free_keys()) out.push_back(DecodeKey(k, "k").ToString());
    out_.workers[w].clear_free_keys();
    return out;
  }

  Outbox out_;
  SchedulerState state_{&out_, 1};
};

TEST_F(StateTest, RunsAChainAndTellsTheClient) {
  WorkerId w = AddWorker("tcp://a:1");
  Submit(1, {{"a", {}}, {"b", {"a"}}}, {"b"});
  EXPECT_EQ(Computed(w), std::vector<std::string>{"a"});
  Finish(w, "a");
  EXPECT_EQ(Computed(w), std::vector<std::string>{"b"});
  Finish(w, "b");
  // a was only needed by b: freed on the worker; remembered (released) while
  // b is, so b could be recomputed if its worker died.
  EXPECT_EQ(Freed(w), std::vector<std::string>{"a"});
  EXPECT_EQ(StatusOf("a"), Status::kReleased);
  auto ups = Updates(1);
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_EQ(ups[0].state(), wire::KeyUpdate::FINISHED);
  EXPECT_EQ(ups[0].workers(0), "tcp://a:1");
  // Released by the client: freed and forgotten.
  state_.Release(1, EncodeKey(Key("b")));
  EXPECT_EQ(Freed(w), std::vector<std::string>{"b"});
  EXPECT_FALSE(Known("b"));
  EXPECT_FALSE(Known("a"));
}

TEST_F(StateTest, PlacesTasksWhereTheirInputsAre) {
  WorkerId a = AddWorker("tcp://a:1", 4), b = AddWorker("tcp://b:1", 4);
  Submit(1, {{"x", {}}}, {"x"});
  WorkerId holder = Computed(a).empty() ? b : a;
  Computed(a), Computed(b);
  Finish(holder, "x", 100 << 20);
  Submit(1, {{"y", {"x"}}}, {"y"});
  EXPECT_EQ(Computed(holder), std::vector<std::string>{"y"});
}

TEST_F(StateTest, RootTasksAreQueuedNotFlooded) {
  WorkerId w = AddWorker("tcp://a:1", 2);
  std::vector<std::pair<std::string, std::vector<std::string>>> tasks;
  std::vector<std::string> wanted;
  for (int i = 0; i < 100; ++i) {
    tasks.push_back({"r" + std::to_string(i), {}});
    wanted.push_back("r" + std::to_string(i));
  }
  Submit(1, tasks, wanted);
  std::vector<std::string> sent = Computed(w);
  EXPECT_EQ(sent.size(), 4u);  // ceil(2 * 1.5) + 1
  EXPECT_EQ(sent[0], "r0");    // in priority order
  EXPECT_EQ(state_.queued(), 96u);
  Finish(w, "r0");  // a 1 s task: the window stays small
  EXPECT_EQ(Computed(w), std::vector<std::string>{"r4"});
}

TEST_F(StateTest, ShortTasksDeepenTheWindow) {
  WorkerId w = AddWorker("tcp://a:1", 1);
  std::vector<std::pair<std::string, std::vector<std::string>>> tasks;
  std::vector<std::string> wanted;
  for (int i = 0; i < 2000; ++i) {
    tasks.push_back({"r" + std::to_string(i), {}});
    wanted.push_back("r" + std::to_string(i));
  }
  Submit(1, tasks, wanted);
  std::vector<std::string> batch = Computed(w);
  EXPECT_EQ(batch.size(), 3u);  // unknown durations: ceil(1.5) + 1
  Finish(w, batch[0], 8, 1e-6);  // microsecond tasks: cover a round trip
  EXPECT_GT(Computed(w).size(), 100u);
}

// Roots go out in runs of neighbours, so a tree reduction's leaves share a
// worker and each combine step finds its inputs there (no fetches).
TEST_F(StateTest, TreeReductionLeavesStayTogetherWithTheirCombine) {
  WorkerId a = AddWorker("tcp://a:1", 1), b = AddWorker("tcp://b:1", 1);
  Submit(1, {{"warm-0", {}}, {"warm-1", {}}}, {"warm-0", "warm-1"});
  ASSERT_EQ(Computed(a), std::vector<std::string>{"warm-0"});
  ASSERT_EQ(Computed(b), std::vector<std::string>{"warm-1"});
  Finish(a, "warm-0", 8, 1e-6);  // microsecond tasks: deep windows
  Finish(b, "warm-1", 8, 1e-6);
  std::vector<std::pair<std::string, std::vector<std::string>>> tasks;
  std::vector<std::string> wanted;
  for (int i = 0; i < 64; ++i) tasks.push_back({"leaf-" + std::to_string(i), {}});
  for (int j = 0; j < 8; ++j) {
    std::vector<std::string> in;
    for (int i = 8 * j; i < 8 * j + 8; ++i) in.push_back("leaf-" + std::to_string(i));
    tasks.push_back({"red-" + std::to_string(j), in});
    wanted.push_back("red-" + std::to_string(j));
  }
  Submit(1, tasks, wanted);
  std::vector<std::string> on_a = Computed(a), on_b = Computed(b);
  ASSERT_EQ(on_a.size(), 32u);
  ASSERT_EQ(on_b.size(), 32u);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(on_a[i], "leaf-" + std::to_string(i));
    EXPECT_EQ(on_b[i], "leaf-" + std::to_string(32 + i));
  }
  // b finishes first: its combines stay on b, a's on a.
  for (const std::string& k : on_b) Finish(b, k, 8, 1e-6);
  for (const std::string& k : on_a) Finish(a, k, 8, 1e-6);
  EXPECT_EQ(Computed(a), (std::vector<std::string>{"red-0", "red-1", "red-2", "red-3"}));
  EXPECT_EQ(Computed(b), (std::vector<std::string>{"red-4", "red-5", "red-6", "red-7"}));
}

// As Dask's decide_worker: a task whose inputs are in memory goes to a
// holder even when another worker is idle; stealing then moves it if
// running it is dearer than moving its inputs.
TEST_F(StateTest, TasksGoToTheirInputsHoldersAndStealingRebalances) {
  WorkerId a = AddWorker("tcp://a:1", 1);
  Submit(1, {{"in", {}}}, {"in"});
  Computed(a);
  Finish(a, "in", 8);
  Submit(1, {{"dep-warm", {"in"}}}, {"dep-warm"});
  Computed(a);
  Finish(a, "dep-warm", 8, 0.5);  // tasks of this kind take half a second
  std::vector<std::pair<std::string, std::vector<std::string>>> busy;
  std::vector<std::string> wanted;
  for (int i = 0; i < 6; ++i) {
    busy.push_back({"dep-" + std::to_string(i), {"in"}});
    wanted.push_back("dep-" + std::to_string(i));
  }
  Submit(1, busy, wanted);
  EXPECT_EQ(Computed(a).size(), 6u);
  WorkerId b = AddWorker("tcp://b:1", 1);
  Submit(1, {{"use", {"in"}}}, {"use"});
  EXPECT_EQ(Computed(a), std::vector<std::string>{"use"});
  EXPECT_TRUE(Computed(b).empty());
  EXPECT_GE(state_.Balance(), 1);  // b is idle: a is asked to give work back
}

TEST_F(StateTest, ResourceRestrictedTasksRunOnlyWhereFree) {
  WorkerId plain = AddWorker("tcp://a:1", 4);
  WorkerId gpu = AddWorker("tcp://g:1", 4, {{"GPU", 1}});
  Submit(1, {{"g1", {}}, {"g2", {}}}, {"g1", "g2"}, {{"GPU", 1}});
  EXPECT_TRUE(Computed(plain).empty());
  EXPECT_EQ(Computed(gpu), std::vector<std::string>{"g1"});  // one GPU: one at a time
  Finish(gpu, "g1");
  EXPECT_EQ(Computed(gpu), std::vector<std::string>{"g2"});
}

TEST_F(StateTest, DeadWorkersTasksAreRetriedAndItsDataRecomputed) {
  WorkerId a = AddWorker("tcp://a:1"), b = AddWorker("tcp://b:1");
  Submit(1, {{"x", {}}, {"y", {"x"}}}, {"y"});
  WorkerId first = Computed(a).empty() ? b : a;
  WorkerId other = first == a ? b : a;
  Computed(a), Computed(b);
  Finish(first, "x");
  ASSERT_EQ(Computed(first), std::vector<std::string>{"y"});
  // The worker holding x and running y dies: x is recomputed, then y.
  state_.RemoveWorker(first, "test");
  EXPECT_EQ(Computed(other), std::vector<std::string>{"x"});
  Finish(other, "x");
  EXPECT_EQ(Computed(other), std::vector<std::string>{"y"});
  Finish(other, "y");
  EXPECT_EQ(StatusOf("y"), Status::kMemory);
}

TEST_F(StateTest, TaskKillingItsWorkersIsErredWithKilledWorker) {
  WorkerId a = AddWorker("tcp://a:1"), b = AddWorker("tcp://b:1");
  Submit(1, {{"bad", {}}}, {"bad"});
  WorkerId first = Computed(a).empty() ? b : a;
  WorkerId other = first == a ? b : a;
  state_.RemoveWorker(first, "crash");
  EXPECT_EQ(Computed(other), std::vector<std::string>{"bad"});
  state_.RemoveWorker(other, "crash");  // second death > allowed_failures (1)
  auto ups = Updates(1);
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_EQ(ups[0].state(), wire::KeyUpdate::ERRED);
  EXPECT_EQ(ups[0].type(), "skein::KilledWorker");
  EXPECT_NE(ups[0].message().find("bad"), std::string::npos);
}

TEST_F(StateTest, ReportsForTasksNotGivenAreIgnored) {
  WorkerId a = AddWorker("tcp://a:1"), b = AddWorker("tcp://b:1");
  Submit(1, {{"x", {}}}, {"x"});
  WorkerId given = Computed(a).empty() ? b : a;
  WorkerId liar = given == a ? b : a;
  Finish(liar, "x");            // not given to it
  Finish(liar, "never-heard");  // not a task at all
  EXPECT_EQ(StatusOf("x"), Status::kProcessing);
  EXPECT_EQ(Freed(liar).size(), 2u);  // told to drop both
  wire::TaskFailed f;
  f.set_key(EncodeKey(Key("x")));
  f.set_type("E");
  state_.TaskFailed(liar, f);  // not its task either
  EXPECT_EQ(StatusOf("x"), Status::kProcessing);
  Finish(given, "x");
  EXPECT_EQ(StatusOf("x"), Status::kMemory);
}

TEST_F(StateTest, ErrorsPropagateToDependentsAndRetriesRerun) {
  WorkerId w = AddWorker("tcp://a:1");
  wire::ClientToScheduler m;
  wire::TaskSpec* s = m.add_tasks();
  s->set_key(EncodeKey(Key("flaky")));
  s->set_retries(1);
  m.add_wanted(s->key());
  state_.UpdateGraph(1, m);
  Submit(1, {{"after", {"flaky"}}}, {"after"});
  ASSERT_EQ(Computed(w), std::vector<std::string>{"flaky"});
  wire::TaskFailed f;
  f.set_key(EncodeKey(Key("flaky")));
  f.set_type("std::runtime_error");
  f.set_message("boom");
  state_.TaskFailed(w, f);
  EXPECT_EQ(Computed(w), std::vector<std::string>{"flaky"});  // retried
  state_.TaskFailed(w, f);
  auto ups = Updates(1);
  ASSERT_EQ(ups.size(), 2u);
  for (const auto& u : ups) {
    EXPECT_EQ(u.state(), wire::KeyUpdate::ERRED);
    EXPECT_EQ(u.message(), "boom");
  }
  EXPECT_EQ(StatusOf("after"), Status::kErred);
}

TEST_F(StateTest, VanishedClientsWorkIsReleased) {
  WorkerId w = AddWorker("tcp://a:1");
  Submit(1, {{"mine", {}}}, {"mine"});
  Submit(2, {{"theirs", {}}}, {"theirs"});
  Computed(w);
  Finish(w, "mine");
  state_.RemoveClient(1);
  EXPECT_FALSE(Known("mine"));
  EXPECT_EQ(Freed(w), std::vector<std::string>{"mine"});
  EXPECT_TRUE(Known("theirs"));
}

TEST_F(StateTest, UpdatesNamingUnknownDependenciesAreRefusedWhole) {
  AddWorker("tcp://a:1");
  Submit(1, {{"ok", {}}, {"orphan", {"ghost"}}}, {"ok", "orphan"});
  EXPECT_FALSE(Known("ok"));
  auto ups = Updates(1);
  ASSERT_EQ(ups.size(), 2u);
  EXPECT_EQ(ups[0].type(), "skein::GraphError");
  EXPECT_NE(ups[0].message().find("ghost"), std::string::npos);
}

TEST_F(StateTest, WorkersJoiningLaterGetQueuedWorkAndLibraries) {
  wire::Library lib;
  lib.set_name("libops.so");
  state_.UploadLibrary(lib);
  Submit(1, {{"r", {}}}, {"r"});
  EXPECT_EQ(state_.queued(), 1u);
  WorkerId w = AddWorker("tcp://late:1");
  EXPECT_EQ(out_.workers[w].libraries_size(), 1);
  EXPECT_EQ(Computed(w), std::vector<std::string>{"r"});
}


// ---- paused workers and work stealing ----

TEST_F(StateTest, PausedWorkerGetsNothingNewUntilItResumes) {
  WorkerId a = AddWorker("tcp://a:1");
  WorkerId b = AddWorker("tcp://b:1");
  wire::Heartbeat hb;
  hb.set_paused(true);
  state_.Heartbeat(a, hb, 0);
  Submit(1, {{"x", {}}, {"y", {}}}, {"x", "y"});
  EXPECT_TRUE(Computed(a).empty());
  EXPECT_EQ(Computed(b).size(), 2u);
  hb.set_paused(false);
  state_.Heartbeat(a, hb, 0);
  Submit(1, {{"z", {}}}, {"z"});
  // b is saturated by now (two in flight on one thread): z goes to a.
  EXPECT_EQ(Computed(a), std::vector<std::string>{"z"});
}

// Ten tasks reading one input held by `a`, of a kind known to be quick,
// all land on `a` (moving the input costs more than waiting there); `b` is
// idle. The first one turns out slow, which makes the rest worth moving:
// Balance asks `a` for the least urgent ones; what `a` gives back runs on
// `b`, what it has started stays.
TEST_F(StateTest, IdleWorkerStealsQueuedTasksOnlyWhenTheVictimGivesThemBack) {
  WorkerId a = AddWorker("tcp://a:1", 1);
  WorkerId b = AddWorker("tcp://b:1", 2);
  Submit(1, {{"data", {}}}, {"data"});
  std::vector<std::string> first = Computed(a);
  if (first.empty()) {
    std::swap(a, b);  // "data" went to b: name the holder a
  }
  Computed(a);
  Computed(b);
  Finish(a, "data", 4 << 20, 2.0);
  Submit(1, {{"slow-warm", {"data"}}}, {"slow-warm"});
  EXPECT_EQ(Computed(a), std::vector<std::string>{"slow-warm"});
  Finish(a, "slow-warm", 8, 0.001);
  std::vector<std::pair<std::string, std::vector<std::string>>> work;
  std::vector<std::string> wanted;
  for (int i = 0; i < 10; ++i) {
    work.push_back({"slow-" + std::to_string(i), {"data"}});
    wanted.push_back("slow-" + std::to_string(i));
  }
  Submit(1, work, wanted);
  EXPECT_EQ(Computed(a).size(), 10u);
  EXPECT_TRUE(Computed(b).empty());
  EXPECT_EQ(state_.Balance(), 0);  // quick tasks: not worth moving 4 MiB
  Finish(a, "slow-0", 8, 2.0);     // ... until one takes seconds
  const int idle_threads = static_cast<int>(state_.FindWorker(b)->spec.nthreads);
  EXPECT_EQ(state_.Balance(), idle_threads);
  std::vector<std::string> asked;
  for (const std::string& k : out_.workers[a].steal()) asked.push_back(DecodeKey(k, "k").ToString());
  out_.workers[a].clear_steal();
  ASSERT_EQ(asked.size(), static_cast<size_t>(idle_threads));
  for (const std::string& k : asked) EXPECT_NE(k, "slow-1");  // the most urgent is running
  EXPECT_EQ(state_.Balance(), 0);  // requests in flight count as taken
  // One was given back, one had started.
  wire::StealResponse yes, no;
  yes.set_key(EncodeKey(Key(asked[0])));
  yes.set_stolen(true);
  no.set_key(EncodeKey(Key(asked[1])));
  no.set_stolen(false);
  state_.StealAnswered(a, yes);
  state_.StealAnswered(a, no);
  EXPECT_EQ(Computed(b), std::vector<std::string>{asked[0]});
  EXPECT_EQ(state_.FindTask(EncodeKey(Key(asked[0])))->processing_on->id, b);
  EXPECT_EQ(state_.FindTask(EncodeKey(Key(asked[1])))->processing_on->id, a);
  EXPECT_EQ(state_.steals(), 1);
  // A late report from the victim for the stolen task is not a result.
  Finish(a, asked[0]);
  EXPECT_EQ(StatusOf(asked[0]), Status::kProcessing);
  Finish(b, asked[0]);
  EXPECT_EQ(StatusOf(asked[0]), Status::kMemory);
}

// Placement weighs the work already waiting on a worker (in seconds, from
// how long tasks of the same kind took) against moving inputs, as Dask's
// worker objective: slow tasks spread out even though one worker holds
// slightly more of their inputs.
TEST_F(StateTest, SlowTasksSpreadOverWorkersDespiteASmallLocalityEdge) {
  WorkerId a = AddWorker("tcp://a:1", 1);
  WorkerId b = AddWorker("tcp://b:1", 1);
  Submit(1, {{"pa", {}}, {"pb", {}}}, {"pa", "pb"});
  std::vector<std::string> on_a = Computed(a), on_b = Computed(b);
  ASSERT_EQ(on_a.size(), 1u);
  ASSERT_EQ(on_b.size(), 1u);
  Finish(a, on_a[0], 11 << 20, 0.1);  // a holds 11 MiB of the inputs, b 10
  Finish(b, on_b[0], 10 << 20, 0.1);
  Submit(1, {{"agg-warm", {}}}, {"agg-warm"});
  WorkerId warm = Computed(a).empty() ? b : a;
  Computed(b);
  Finish(warm, "agg-warm", 8, 0.5);  // tasks of this kind take half a second
  std::vector<std::pair<std::string, std::vector<std::string>>> work;
  for (int i = 0; i < 4; ++i) work.push_back({"agg-" + std::to_string(i), {"pa", "pb"}});
  Submit(1, work, {"agg-0", "agg-1", "agg-2", "agg-3"});
  EXPECT_EQ(Computed(a).size(), 2u);
  EXPECT_EQ(Computed(b).size(), 2u);
}

TEST_F(StateTest, NoStealingWhenMovingTheInputsCostsMoreThanRunning) {
  WorkerId a = AddWorker("tcp://a:1", 1);
  Submit(1, {{"big", {}}}, {"big"});
  Computed(a);
  Finish(a, "big", int64_t{1} << 30, 0.001);  // 1 GiB input, ~ms tasks
  WorkerId b = AddWorker("tcp://b:1", 1);
  Submit(1, {{"q-0", {"big"}}, {"q-1", {"big"}}, {"q-2", {"big"}}}, {"q-0", "q-1", "q-2"});
  EXPECT_EQ(Computed(a).size(), 3u);
  EXPECT_EQ(state_.Balance(), 0);
  EXPECT_TRUE(Computed(b).empty());
}

TEST_F(StateTest, StealFromAVictimThatDiesIsRescheduled) {
  WorkerId a = AddWorker("tcp://a:1", 1);
  Submit(1, {{"d", {}}}, {"d"});
  Computed(a);
  Finish(a, "d", 4 << 20, 1.0);
  Submit(1, {{"s-warm", {"d"}}}, {"s-warm"});
  Computed(a);
  Finish(a, "s-warm", 8, 0.001);  // quick so far: the next ones all go to a
  WorkerId b = AddWorker("tcp://b:1", 1);
  Submit(1, {{"s-0", {"d"}}, {"s-1", {"d"}}, {"s-2", {"d"}}, {"s-3", {"d"}}}, {"s-0", "s-1", "s-2", "s-3"});
  EXPECT_EQ(Computed(a).size(), 4u);
  Finish(a, "s-0", 8, 1.0);  // slow after all: worth stealing
  ASSERT_GE(state_.Balance(), 1);
  state_.RemoveWorker(a, "test");
  // Everything still wanted is recomputed on b; no steal is left pending.
  for (const auto& [k, t] : state_.tasks()) EXPECT_EQ(t->steal_to, 0u) << t->key.ToString();
  EXPECT_FALSE(Computed(b).empty());
}

// Rebalance (Dask's client.rebalance): worker a computed all eight 10 MiB
// results before b joined; four move, after which each holds 40 MiB.
class RebalanceTest : public StateTest {
 protected:
  void SetUp() override {
    a_ = AddWorker("tcp://a:1", 1);
    std::vector<std::pair<std::string, std::vector<std::string>>> parts;
    std::vector<std::string> names;
    for (int i = 0; i < 8; ++i) {
      parts.push_back({"part-" + std::to_string(i), {}});
      names.push_back(parts.back().first);
    }
    Submit(1, parts, names);
    int done = 0;
    for (int round = 0; round < 8 && done < 8; ++round) {
      for (const std::string& k : Computed(a_)) Finish(a_, k, 10 << 20), ++done;
    }
    ASSERT_EQ(done, 8);
    b_ = AddWorker("tcp://b:1", 1);
  }
  std::vector<wire::DepLocation> Acquires(WorkerId w) {
    std::vector<wire::DepLocation> out(out_.workers[w].acquire().begin(), out_.workers[w].acquire().end());
    out_.workers[w].clear_acquire();
    return out;
  }
  std::vector<wire::Reply> Replies(ClientId c) {
    std::vector<wire::Reply> out(out_.clients[c].replies().begin(), out_.clients[c].replies().end());
    out_.clients[c].clear_replies();
    return out;
  }
  void Acquired(WorkerId w, const std::string& key) {
    wire::TaskDone d;
    d.set_key(key);
    d.set_nbytes(10 << 20);
    state_.Acquired(w, d);
  }
  int64_t Holds(WorkerId w) { return state_.FindWorker(w)->nbytes; }
  WorkerId a_ = 0, b_ = 0;
};

TEST_F(RebalanceTest, MovesResultsToTheEmptierWorkerAndFreesTheSendersCopies) {
  ASSERT_EQ(Holds(a_), 80 << 20);
  ASSERT_EQ(Holds(b_), 0);
  state_.Rebalance(1, 7);
  EXPECT_TRUE(Replies(1).empty()) << "answered before the moves";
  std::vector<wire::DepLocation> asked = Acquires(b_);
  ASSERT_EQ(asked.size(), 4u);
  EXPECT_TRUE(Acquires(a_).empty());
  std::vector<std::string> moved;
  for (const wire::DepLocation& d : asked) {
    ASSERT_EQ(d.workers_size(), 1);
    EXPECT_EQ(d.workers(0), "tcp://a:1");
    EXPECT_EQ(d.nbytes(), 10 << 20);
    moved.push_back(DecodeKey(d.key(), "k").ToString());
  }
  for (const wire::DepLocation& d : asked) Acquired(b_, d.key());
  for (const wire::DepLocation& d : asked) {
    const SchedulerState::Task* t = state_.FindTask(d.key());
    ASSERT_EQ(t->who_has.size(), 1u);
    EXPECT_EQ((*t->who_has.begin())->id, b_);
  }
  EXPECT_EQ(Freed(a_), moved);
  EXPECT_EQ(Holds(a_), 40 << 20);
  EXPECT_EQ(Holds(b_), 40 << 20);
  std::vector<wire::Reply> r = Replies(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].request(), 7u);
  EXPECT_EQ(r[0].moved(), 4);
  // Balanced now: answered at once, nothing asked of anyone.
  state_.Rebalance(1, 8);
  r = Replies(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].moved(), 0);
  EXPECT_TRUE(Acquires(a_).empty());
  EXPECT_TRUE(Acquires(b_).empty());
}

TEST_F(RebalanceTest, ASecondRequestCountsTheMovesOfTheFirst) {
  state_.Rebalance(1, 1);
  std::vector<wire::DepLocation> first = Acquires(b_);
  ASSERT_EQ(first.size(), 4u);
  // Before any move is done: even already, once those four are counted.
  state_.Rebalance(2, 1);
  EXPECT_TRUE(Acquires(b_).empty());
  ASSERT_EQ(Replies(2).size(), 1u);
  EXPECT_EQ(state_.moves_in_flight(), 4u);
  for (const wire::DepLocation& d : first) Acquired(b_, d.key());
  EXPECT_EQ(Replies(1).at(0).moved(), 4);
  EXPECT_EQ(Holds(a_), 40 << 20);
}

TEST_F(RebalanceTest, ACopyReadByATaskRunningOnTheSenderIsKept) {
  state_.Rebalance(1, 1);
  std::vector<wire::DepLocation> asked = Acquires(b_);
  ASSERT_EQ(asked.size(), 4u);
  const std::string read = DecodeKey(asked[0].key(), "k").ToString();
  Submit(1, {{"reader", {read}}}, {"reader"});
  ASSERT_EQ(Computed(a_), std::vector<std::string>{"reader"});  // its input is on a
  for (const wire::DepLocation& d : asked) Acquired(b_, d.key());
  std::vector<std::string> freed = Freed(a_);
  EXPECT_EQ(freed.size(), 3u);
  EXPECT_EQ(std::count(freed.begin(), freed.end(), read), 0);
  EXPECT_EQ(state_.FindTask(asked[0].key())->who_has.size(), 2u);
  EXPECT_EQ(Replies(1).at(0).moved(), 4);
}

TEST_F(RebalanceTest, MovesWhoseWorkerLeavesOrFailsAreAnsweredAndForgotten) {
  state_.Rebalance(1, 1);
  ASSERT_EQ(Acquires(b_).size(), 4u);
  state_.RemoveWorker(b_, "test");
  EXPECT_EQ(state_.moves_in_flight(), 0u);
  std::vector<wire::Reply> r = Replies(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].moved(), 0);
  // A late report of a move nobody waits for: the copy is dropped.
  WorkerId c = AddWorker("tcp://c:1", 1);
  Acquired(c, EncodeKey(Key("part-0")));
  EXPECT_EQ(Freed(c), std::vector<std::string>{"part-0"});
  // A receiver that cannot fetch answers too.
  state_.Rebalance(1, 2);
  std::vector<wire::DepLocation> asked = Acquires(c);
  ASSERT_EQ(asked.size(), 4u);
  for (const wire::DepLocation& d : asked) state_.AcquireFailed(c, d.key());
  r = Replies(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].moved(), 0);
  EXPECT_EQ(state_.moves_in_flight(), 0u);
  EXPECT_EQ(Holds(a_), 80 << 20);
}

}  // namespace
}  // namespace skein::distributed::internal
