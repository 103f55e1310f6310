// Private: the distributed scheduler's state machine, without any network.
//
// Every event (a worker joins or leaves, a task finishes or fails, a client
// submits, releases or cancels) is a method call; the messages it causes are
// appended to an Outbox, which the server flushes after each batch of events
// (so many events travel in one message). Keeping the network out makes the
// scheduling rules testable deterministically (scheduler_state_test.cc).
//
// Task states follow Dask's: released -> waiting -> (queued) -> processing ->
// memory, or erred. A task is *queued* when it is ready but has no worker
// yet: every worker is saturated (root tasks are not flooded onto workers),
// no worker has its resources free, or no worker exists at all.
//
// Placement: the worker needing the fewest bytes transferred, then the least
// busy; Dask's `decide_worker`. Paused workers (memory) get nothing new.
// Work stealing (Balance, run periodically): a worker with idle threads
// asks for tasks queued on a busy or paused worker when moving their inputs
// costs less than running them; the victim gives back only tasks it has not
// started (StealResponse), so a task never runs twice. Rebalance (a
// client's request) moves results, not tasks: receivers acquire copies
// and the senders' copies are freed. When a worker leaves, its running tasks are
// retried elsewhere (counted: after kAllowedFailures the task is erred with
// KilledWorker), and results only it held are recomputed if still needed.
//
// Not thread-safe: the scheduler's event thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "distributed/skein.pb.h"
#include "skein/core/key.h"

namespace skein::distributed::internal {

using WorkerId = uint64_t;
using ClientId = uint64_t;

/// Messages produced by events, per peer, flushed by the server.
struct Outbox {
  std::map<WorkerId, wire::SchedulerToWorker> workers;
  std::map<ClientId, wire::SchedulerToClient> clients;
  /// Workers the state decided to drop (they broke the protocol).
  std::vector<WorkerId> drop_workers;
};

struct WorkerSpec {
  std::string address;
  std::string name;
  int nthreads = 1;
  int64_t memory_limit = 0;
  std::map<std::string, double> resources;
};

class SchedulerState {
 public:

  enum class TaskStatus { kReleased, kWaiting, kQueued, kProcessing, kMemory, kErred };

  struct Task;
  struct Worker {
    WorkerId id = 0;
    WorkerSpec spec;
    std::unordered_set<Task*> processing;
    std::unordered_set<Task*> has_what;
    std::map<std::string, double> used;  // resources held by running tasks
    int64_t memory = 0;                  // from heartbeats
    int64_t rss = 0;
    int64_t spilled = 0;
    int64_t nbytes = 0;                  // bytes of results it holds (scheduler's count)
    double last_seen = 0;                // seconds, the server's clock
    double task_seconds = -1;            // moving average of its task durations (-1: none yet)
    double occupancy = 0;                // seconds of work expected from its processing tasks
    bool paused = false;                 // memory over its pause threshold
    int transfers_in_flight = 0;         // inputs it is fetching (heartbeat)
    int64_t transfer_bytes = 0;          // bytes it fetched from peers so far
    int64_t transfer_count = 0;
    int64_t served_shared_memory = 0, served_streamed = 0, served_memory_read = 0;
    int steals_in = 0;                   // steal requests in flight toward it
    int steals_out = 0;                  // ... and away from it
  };

  /// Tasks whose key names share a stem ("hash-split" of
  /// "hash-split-<token>"): how long they take, as Dask's TaskPrefix.
  struct Prefix {
    std::string name;
    double seconds = -1;  // moving average of durations (-1: none finished yet)
  };

  struct Task {
    Key key;
    Prefix* prefix = nullptr;  // never null once the task is in tasks_
    std::string key_bytes;
    std::string spec;
    std::vector<Task*> deps;
    std::vector<Task*> dependents;
    std::map<std::string, double> resources;
    TaskStatus status = TaskStatus::kReleased;
    std::pair<int64_t, int64_t> priority{0, 0};  // (generation, order): smaller first
    int waiting_on = 0;                          // dependencies not in memory
    std::unordered_set<Worker*> who_has;
    int64_t nbytes = -1;
    Worker* processing_on = nullptr;
    std::unordered_set<ClientId> who_wants;
    int retries = 0;
    int suspicious = 0;       // workers that died running it
    int missing_tries = 0;    // times its inputs could not be fetched
    std::string error_type, error_message;
    std::string failed_key;   // the task that raised (bytes), when erred through a dependency
    WorkerId steal_to = 0;    // a steal request for it is in flight (to this thief)
    double expected = 0;      // seconds it was expected to take when assigned (its share of occupancy)
  };

  /// `allowed_failures`: a task whose workers died running it more often
  /// than this is marked bad (Dask's distributed.scheduler.allowed-failures).
  explicit SchedulerState(Outbox* out, int allowed_failures = 3) : out_(out), allowed_failures_(allowed_failures) {}
  SchedulerState(const SchedulerState&) = delete;
  SchedulerState& operator=(const SchedulerState&) = delete;

  // ---- workers ----
  /// Registers a worker; sends it every uploaded library; places queued work.
  WorkerId AddWorker(WorkerSpec spec, double now);
  /// A worker left or died: retries its tasks, recomputes what only it held.
  void RemoveWorker(WorkerId id, const std::string& why);
  void Heartbeat(WorkerId id, const wire::Heartbeat& hb, double now);
  void TaskFinished(WorkerId id, const wire::TaskDone& done);
  void TaskFailed(WorkerId id, const wire::TaskFailed& failed);
  /// Keys a worker dropped on its own.
  void WorkerReleased(WorkerId id, const std::string& key_bytes);
  /// Work stealing: moves queued tasks from busy or paused workers to idle
  /// ones; returns the number of steal requests sent.
  int Balance();
  /// A victim's answer to a steal request.
  void StealAnswered(WorkerId id, const wire::StealResponse& r);
  int64_t steals() const { return steals_; }

  // ---- rebalancing (Dask's Client.rebalance) ----
  /// A client's request: plans moves of results from workers holding more
  /// than their share of the bytes to ones holding less (each move makes
  /// the gap between the fullest and the emptiest worker smaller) and asks
  /// the receivers to fetch them; answered (Reply.moved) once every move is
  /// acknowledged or its worker left. Right away when there is nothing to do.
  void Rebalance(ClientId client, uint64_t request);
  /// A receiver holds a key it was asked to acquire: it becomes a holder,
  /// and the sender's copy is freed unless a task there is reading it.
  void Acquired(WorkerId id, const wire::TaskDone& done);
  /// A receiver could not fetch a key it was asked to acquire.
  void AcquireFailed(WorkerId id, const std::string& key_bytes);
  size_t moves_in_flight() const { return moves_.size(); }

  // ---- clients ----
  /// A client left: everything only it wanted is released.
  void RemoveClient(ClientId id);
  /// New tasks and wanted keys. An error (a dependency the scheduler does not
  /// know, a malformed key) is answered to the client and nothing is added.
  void UpdateGraph(ClientId client, const wire::ClientToScheduler& msg);
  void Release(ClientId client, const std::string& key_bytes);
  /// Keeps a known key (false if unknown) wanted by `holder` until
  /// Release(holder, key): how datasets and queues keep their futures.
  bool Hold(ClientId holder, const std::string& key_bytes);
  void Cancel(ClientId client, const std::string& key_bytes);
  void Scattered(ClientId client, const wire::Scattered& s);
  void UploadLibrary(const wire::Library& lib);
  void Answer(ClientId client, const wire::ClientToScheduler& request);

  // ---- introspection (status page, tests) ----
  const std::unordered_map<std::string, std::unique_ptr<Task>>& tasks() const { return tasks_; }
  const std::map<WorkerId, std::unique_ptr<Worker>>& workers() const { return workers_; }
  const Task* FindTask(const std::string& key_bytes) const;
  size_t queued() const { return queue_.size(); }
  Worker* FindWorker(WorkerId id);
  int64_t tasks_done() const { return tasks_done_; }
  int64_t tasks_failed() const { return tasks_failed_; }

 private:
  using QueueEntry = std::pair<std::pair<int64_t, int64_t>, Task*>;

  Task* Find(const std::string& key_bytes);
  /// All inputs are in memory: assign to a worker now, or queue.
  void MakeReady(Task* t);
  /// Ensures `t` will be (re)computed: recursively for released inputs.
  void MakeNeeded(Task* t);
  /// A waiting task counts its inputs not in memory again (recomputing lost
  /// ones) and runs once none is missing.
  void WaitForInputs(Task* t);
  Worker* DecideWorker(Task* t, bool is_root);
  /// How long `t` should take: its prefix's average, else `unknown`.
  double ExpectedSeconds(const Task& t, double unknown) const;
  /// How long moving `d`'s result to another worker should take.
  static double FetchSeconds(const Task& d);
  Prefix* PrefixOf(const Key& key);
  bool Fits(const Worker& w, const Task& t) const;
  bool Saturated(const Worker& w) const;
  void Assign(Task* t, Worker* w);
  /// Takes `t` off its worker's processing set (and gives back resources).
  void Unassign(Task* t);
  /// Forgets a steal request in flight for `t` (and its counts).
  void ClearSteal(Task* t);
  void FillWorkers();
  void Erred(Task* t, const std::string& type, const std::string& message, const std::string& failed_key);
  void NotifyClients(Task* t, wire::KeyUpdate::State state);
  /// True if nothing needs `t`'s result any more.
  bool Releasable(const Task* t) const;
  void MaybeRelease(Task* t);
  void ReleaseTask(Task* t);
  void MaybeForget(Task* t);
  void DropFromQueue(Task* t);
  void ReleaseDataOn(Task* t);
  // A move of a key's result (key bytes, receiver) for a rebalance request.
  struct Move {
    WorkerId from = 0;
    ClientId client = 0;
    uint64_t request = 0;
  };
  using MoveMap = std::map<std::pair<std::string, WorkerId>, Move>;
  /// Ends a move (done or abandoned) and answers its request when it was
  /// the last.
  void FinishMove(MoveMap::iterator it, bool moved);

  Outbox* out_;
  int allowed_failures_;
  std::unordered_map<std::string, std::unique_ptr<Task>> tasks_;
  std::map<WorkerId, std::unique_ptr<Worker>> workers_;
  std::unordered_map<std::string, Worker*> by_address_;
  std::set<QueueEntry> queue_;
  bool queue_roots_ = false;  // while a graph update is taken in: roots wait in queue_
  std::unordered_map<std::string, std::unique_ptr<Prefix>> prefixes_;
  std::vector<wire::Library> libraries_;
  WorkerId next_worker_ = 1;
  int64_t generation_ = 0;
  int64_t tasks_done_ = 0;
  int64_t tasks_failed_ = 0;
  int64_t steals_ = 0;
  MoveMap moves_;
  struct RebalanceRequest {
    int pending = 0;
    int64_t moved = 0;
  };
  std::map<std::pair<ClientId, uint64_t>, RebalanceRequest> rebalances_;
};

const char* TaskStatusName(SchedulerState::TaskStatus s);

}  // namespace skein::distributed::internal
