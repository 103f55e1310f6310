// The distributed scheduler's state machine (see scheduler_state_internal.h).
#include "distributed/scheduler_state_internal.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>

#include "distributed/protocol_internal.h"
#include "skein/core/wire.h"

namespace skein::distributed::internal {
namespace {

// Seconds a byte takes to move between workers (~100 MB/s, Dask's default
// bandwidth guess).
constexpr double kSecondsPerByte = 1e-8;
// What one fetch of an input from another worker costs, however small
// (a request and its answer).
constexpr double kFetchLatencySeconds = 1e-3;
// What a task costs a worker however little it does: receiving it,
// running it and reporting it, with many in flight (measured ~10-15 us
// through a 2-worker cluster; the round trip itself is hidden by the window,
// see Saturated). At the 0.5 ms of one round trip, a worker with a few
// hundred tiny tasks queued looked busy for tenths of a second, and
// placement and stealing moved work away from its inputs.
constexpr double kTaskOverheadSeconds = 5e-5;
// Work kept in flight per worker covers this much time (see Saturated).
constexpr double kRoundTripSeconds = 2e-3;
constexpr double kMaxWindow = 1000;
// Dask's distributed.scheduler.unknown-task-duration: what stealing assumes
// for a task when its worker has not finished any yet.
constexpr double kUnknownTaskSeconds = 0.5;
// Steal requests sent per Balance call (keeps one call cheap).
constexpr int kMaxStealsPerBalance = 256;

}  // namespace

const char* TaskStatusName(SchedulerState::TaskStatus s) {
  switch (s) {
    case SchedulerState::TaskStatus::kReleased: return "released";
    case SchedulerState::TaskStatus::kWaiting: return "waiting";
    case SchedulerState::TaskStatus::kQueued: return "queued";
    case SchedulerState::TaskStatus::kProcessing: return "processing";
    case SchedulerState::TaskStatus::kMemory: return "memory";
    case SchedulerState::TaskStatus::kErred: return "erred";
  }
  return "unknown";
}

SchedulerState::Task* SchedulerState::Find(const std::string& key_bytes) {
  auto it = tasks_.find(key_bytes);
  return it == tasks_.end() ? nullptr : it->second.get();
}

const SchedulerState::Task* SchedulerState::FindTask(const std::string& key_bytes) const {
  auto it = tasks_.find(key_bytes);
  return it == tasks_.end() ? nullptr : it->second.get();
}

SchedulerState::Worker* SchedulerState::FindWorker(WorkerId id) {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : it->second.get();
}

// ---- workers ----------------------------------------------------------------

WorkerId SchedulerState::AddWorker(WorkerSpec spec, double now) {
  auto w = std::make_unique<Worker>();
  w->id = next_worker_++;
  w->spec = std::move(spec);
  w->last_seen = now;
  Worker* raw = w.get();
  by_address_[raw->spec.address] = raw;
  workers_[raw->id] = std::move(w);
  wire::SchedulerToWorker& msg = out_->workers[raw->id];
  msg.set_worker_id(raw->id);
  for (const wire::Library& lib : libraries_) *msg.add_libraries() = lib;
  FillWorkers();
  return raw->id;
}

void SchedulerState::RemoveWorker(WorkerId id, const std::string& why) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  // Moves to or from it are abandoned (a copy the receiver already holds
  // is reported and counted as usual, or dropped with the worker).
  for (auto m = moves_.begin(); m != moves_.end();) {
    auto next = std::next(m);
    if (m->first.second == id || m->second.from == id) FinishMove(m, false);
    m = next;
  }
  std::unique_ptr<Worker> w = std::move(it->second);
  workers_.erase(it);
  if (auto a = by_address_.find(w->spec.address); a != by_address_.end() && a->second == w.get()) {
    by_address_.erase(a);
  }
  out_->workers.erase(id);
  // Tasks it was running: retry elsewhere, or mark bad after repeated deaths.
  std::vector<Task*> running(w->processing.begin(), w->processing.end());
  std::sort(running.begin(), running.end(), [](Task* a, Task* b) { return a->priority < b->priority; });
  w->processing.clear();
  for (Task* t : running) {
    ClearSteal(t);
    t->processing_on = nullptr;
    t->status = TaskStatus::kWaiting;
    if (++t->suspicious > allowed_failures_) {
      Erred(t, "skein::KilledWorker",
            "attempted to run task " + t->key.ToString() + " on " + std::to_string(t->suspicious) +
                " different workers, but all those workers died while running it (last: " +
                w->spec.address + ", " + why + ")",
            "");
    }
  }
  // Results it held: lost where nobody else has them.
  std::vector<Task*> held(w->has_what.begin(), w->has_what.end());
  w->has_what.clear();
  std::vector<Task*> lost;
  for (Task* t : held) {
    t->who_has.erase(w.get());
    if (t->who_has.empty() && t->status == TaskStatus::kMemory) lost.push_back(t);
  }
  std::sort(lost.begin(), lost.end(), [](Task* a, Task* b) { return a->priority < b->priority; });
  for (Task* t : lost) {
    t->status = TaskStatus::kReleased;
    // Dependents waiting on it (none in memory needs it any more) count it again.
    for (Task* d : t->dependents) {
      if (d->status == TaskStatus::kWaiting || d->status == TaskStatus::kQueued) ++d->waiting_on;
      if (d->status == TaskStatus::kQueued) {
        DropFromQueue(d);
        d->status = TaskStatus::kWaiting;
      }
    }
    NotifyClients(t, wire::KeyUpdate::LOST);
  }
  for (Task* t : lost) {
    if (t->status == TaskStatus::kReleased && !Releasable(t)) MakeNeeded(t);
  }
  for (Task* t : running) {
    if (t->status == TaskStatus::kWaiting) WaitForInputs(t);
  }
  for (Task* t : lost) MaybeForget(t);
  FillWorkers();
}

void SchedulerState::Heartbeat(WorkerId id, const wire::Heartbeat& hb, double now) {
  Worker* w = FindWorker(id);
  if (!w) return;
  w->memory = hb.memory();
  w->rss = hb.rss();
  w->spilled = hb.spilled();
  w->last_seen = now;
  bool was_paused = w->paused;
  w->paused = hb.paused();
  w->transfers_in_flight = hb.transfers_in_flight();
  w->transfer_bytes = hb.transfer_bytes();
  w->transfer_count = hb.transfer_count();
  w->served_shared_memory = hb.served_shared_memory();
  w->served_memory_read = hb.served_memory_read();
  w->served_streamed = hb.served_streamed();
  if (was_paused && !w->paused) FillWorkers();
}

void SchedulerState::TaskFinished(WorkerId id, const wire::TaskDone& done) {
  Worker* w = FindWorker(id);
  Task* t = Find(done.key());
  if (!w) return;
  if (!t || t->processing_on != w) {
    // Not given to this worker (or cancelled/released meanwhile): if the key
    // is in memory elsewhere this is a harmless extra copy; otherwise it is
    // a result nobody asked for. Either way the worker drops it.
    if (t && t->status == TaskStatus::kMemory) {
      t->who_has.insert(w);
      w->has_what.insert(t);
    } else {
      out_->workers[id].add_free_keys(done.key());
    }
    return;
  }
  Unassign(t);
  ++tasks_done_;
  double secs = std::max(0.0, done.seconds());
  w->task_seconds = w->task_seconds < 0 ? secs : 0.9 * w->task_seconds + 0.1 * secs;
  t->prefix->seconds = t->prefix->seconds < 0 ? secs : 0.8 * t->prefix->seconds + 0.2 * secs;
  t->status = TaskStatus::kMemory;
  t->nbytes = done.nbytes();
  t->who_has.insert(w);
  w->has_what.insert(t);
  w->nbytes += std::max<int64_t>(0, t->nbytes);
  t->missing_tries = 0;
  NotifyClients(t, wire::KeyUpdate::FINISHED);
  for (Task* d : t->dependents) {
    if ((d->status == TaskStatus::kWaiting) && --d->waiting_on == 0) MakeReady(d);
  }
  for (Task* dep : t->deps) MaybeRelease(dep);
  MaybeRelease(t);
  FillWorkers();
}

void SchedulerState::TaskFailed(WorkerId id, const wire::TaskFailed& failed) {
  Worker* w = FindWorker(id);
  Task* t = Find(failed.key());
  if (!w || !t || t->processing_on != w) return;  // stale report: ignore
  Unassign(t);
  t->status = TaskStatus::kWaiting;
  if (failed.missing_size() > 0) {
    // Inputs could not be fetched: holders that are gone are dropped; the
    // task waits for its inputs again (recomputed if nobody has them).
    t->status = TaskStatus::kWaiting;
    if (++t->missing_tries > allowed_failures_) {
      Erred(t, "skein::CommError",
            "could not fetch the inputs of task " + t->key.ToString() + " after " +
                std::to_string(t->missing_tries) + " tries (last missing: " + KeyText(failed.missing(0)) + ")",
            "");
      FillWorkers();
      return;
    }
    for (const std::string& m : failed.missing()) {
      Task* d = Find(m);
      if (!d) continue;
      // A holder a worker could not reach: keep only those that are still
      // connected; with none left, the input is lost.
      for (auto it = d->who_has.begin(); it != d->who_has.end();) {
        if (!workers_.count((*it)->id)) {
          it = d->who_has.erase(it);
        } else {
          ++it;
        }
      }
      if (d->who_has.empty() && d->status == TaskStatus::kMemory) {
        d->status = TaskStatus::kReleased;
        NotifyClients(d, wire::KeyUpdate::LOST);
      }
    }
    WaitForInputs(t);
    FillWorkers();
    return;
  }
  if (t->retries > 0) {
    --t->retries;
    t->status = TaskStatus::kWaiting;
    MakeReady(t);
    FillWorkers();
    return;
  }
  ++tasks_failed_;
  Erred(t, failed.type(), failed.message(), "");
  FillWorkers();
}

void SchedulerState::WorkerReleased(WorkerId id, const std::string& key_bytes) {
  Worker* w = FindWorker(id);
  Task* t = Find(key_bytes);
  if (!w || !t) return;
  if (t->who_has.erase(w)) {
    w->has_what.erase(t);
    w->nbytes -= std::max<int64_t>(0, t->nbytes);
  }
  if (t->who_has.empty() && t->status == TaskStatus::kMemory) {
    t->status = TaskStatus::kReleased;
    if (!Releasable(t)) {
      NotifyClients(t, wire::KeyUpdate::LOST);
      MakeNeeded(t);
    } else {
      MaybeForget(t);
    }
  }
}

// ---- placement ----------------------------------------------------------------

bool SchedulerState::Fits(const Worker& w, const Task& t) const {
  for (const auto& [name, need] : t.resources) {
    auto total = w.spec.resources.find(name);
    if (total == w.spec.resources.end()) return false;
    auto used = w.used.find(name);
    double in_use = used == w.used.end() ? 0 : used->second;
    if (total->second - in_use < need - 1e-9) return false;
  }
  return true;
}

bool SchedulerState::Saturated(const Worker& w) const {
  // Dask's worker-saturation: a little more than one task per thread keeps
  // threads busy without flooding the worker (root tasks would otherwise
  // all land at once and blow up memory). Short tasks get a deeper window:
  // enough to cover a message round trip (~kRoundTripSeconds), or threads
  // would idle between batches; capped so a worker never hoards the queue.
  size_t limit = static_cast<size_t>(std::ceil(w.spec.nthreads * 1.5)) + 1;
  if (w.task_seconds >= 0) {
    double per_thread = kRoundTripSeconds / std::max(w.task_seconds, 1e-7);
    limit = std::max(limit, static_cast<size_t>(std::min(per_thread * w.spec.nthreads, kMaxWindow)));
  }
  return w.paused || w.processing.size() >= limit;
}

SchedulerState::Worker* SchedulerState::DecideWorker(Task* t, bool is_root) {
  // As Dask's decide_worker: a task with inputs in memory goes to one of
  // their holders (the cheapest by the objective below); other workers are
  // candidates only when no holder can take it. Weighing every worker
  // instead, a tree reduction's combine step left the worker holding all
  // eight of its inputs whenever the other worker had a few more tiny tasks
  // queued, and fetched them one by one (measured: ~570 fetches per
  // 2,287-task tree). Stealing moves work off a holder that is overloaded.
  std::unordered_set<const Worker*> holders;
  for (Task* d : t->deps) holders.insert(d->who_has.begin(), d->who_has.end());
  Worker* best = nullptr;
  double best_cost = 0;
  for (bool only_holders : {true, false}) {
    if (only_holders && holders.empty()) continue;
    for (auto& [id, wp] : workers_) {
      Worker* w = wp.get();
      if (only_holders && !holders.count(w)) continue;
      if (w->paused || !Fits(*w, *t)) continue;
      if (is_root && Saturated(*w)) continue;
      // When it could start (the work ahead of it, spread over the threads)
      // plus moving its inputs there, as Dask's worker objective.
      double cost = w->occupancy / std::max(1, w->spec.nthreads);
      for (Task* d : t->deps) {
        if (!d->who_has.count(w)) cost += FetchSeconds(*d);
      }
      if (!best || cost < best_cost) {
        best = w;
        best_cost = cost;
      }
    }
    if (best) break;
  }
  return best;
}

void SchedulerState::Assign(Task* t, Worker* w) {
  ClearSteal(t);
  t->status = TaskStatus::kProcessing;
  t->processing_on = w;
  w->processing.insert(t);
  // Placement is optimistic about kinds of task not seen finishing yet: a
  // new graph of many tiny tasks counted at Dask's half second each would
  // be dealt out one by one across workers, splitting neighbouring inputs
  // (measured: a 20k-task tree 8x slower on its first run). Stealing (below)
  // corrects a guess that was too low.
  t->expected = ExpectedSeconds(*t, kTaskOverheadSeconds);
  w->occupancy += t->expected;
  for (const auto& [name, need] : t->resources) w->used[name] += need;
  wire::ComputeTask* c = out_->workers[w->id].add_compute();
  c->set_key(t->key_bytes);
  c->set_spec(t->spec);
  c->set_priority(t->priority.first * (int64_t{1} << 32) + t->priority.second);
  for (const auto& [name, need] : t->resources) (*c->mutable_resources())[name] = need;
  for (Task* d : t->deps) {
    wire::DepLocation* loc = c->add_deps();
    loc->set_key(d->key_bytes);
    loc->set_nbytes(d->nbytes);
    for (Worker* h : d->who_has) loc->add_workers(h->spec.address);
  }
}

void SchedulerState::Unassign(Task* t) {
  ClearSteal(t);
  Worker* w = t->processing_on;
  if (!w) return;
  w->processing.erase(t);
  w->occupancy = w->processing.empty() ? 0 : std::max(0.0, w->occupancy - t->expected);
  for (const auto& [name, need] : t->resources) w->used[name] -= need;
  t->processing_on = nullptr;
}

double SchedulerState::FetchSeconds(const Task& d) {
  return kFetchLatencySeconds + static_cast<double>(std::max<int64_t>(0, d.nbytes)) * kSecondsPerByte;
}

double SchedulerState::ExpectedSeconds(const Task& t, double unknown) const {
  // Never less than what handing a task over costs: many tiny tasks queued
  // on a worker are work too.
  return std::max(kTaskOverheadSeconds, t.prefix->seconds >= 0 ? t.prefix->seconds : unknown);
}

SchedulerState::Prefix* SchedulerState::PrefixOf(const Key& key) {
  std::string_view name = key.name();
  if (size_t dash = name.rfind('-'); dash != std::string_view::npos && dash > 0) name = name.substr(0, dash);
  auto it = prefixes_.find(std::string(name));
  if (it == prefixes_.end()) {
    it = prefixes_.emplace(std::string(name), std::make_unique<Prefix>(Prefix{.name = std::string(name)})).first;
  }
  return it->second.get();
}

void SchedulerState::MakeReady(Task* t) {
  bool is_root = t->deps.empty() || !t->resources.empty();
  Worker* w = is_root && (queue_roots_ || !queue_.empty()) ? nullptr : DecideWorker(t, is_root);
  if (w) {
    Assign(t, w);
  } else {
    t->status = TaskStatus::kQueued;
    queue_.insert({t->priority, t});
  }
}

void SchedulerState::FillWorkers() {
  // Queued tasks in priority order onto workers with room. A task that fits
  // nowhere now (resources busy) stays queued without blocking the others.
  //
  // Neighbours in priority order stay together: when the queue holds more
  // than twice the threads (Dask's test for root-ish tasks), a worker takes
  // a run of up to its share of the queue before the next worker is chosen
  // (Dask's co-assignment). Dealt out one by one, the leaves of a tree
  // reduction alternate between workers and every reduction fetches half
  // its inputs (measured: a 2,287-task tree on 2 workers took 140 ms, 110
  // of them in fetches; in runs, 40 ms). A few tasks still spread out, one
  // per least busy worker.
  size_t workers_with_room = 0, threads = 0;
  for (auto& [id, wp] : workers_) {
    workers_with_room += !Saturated(*wp);
    threads += static_cast<size_t>(std::max(1, wp->spec.nthreads));
  }
  if (workers_with_room == 0) return;
  const size_t share =
      queue_.size() > 2 * threads ? (queue_.size() + workers_with_room - 1) / workers_with_room : 1;
  Worker* run_on = nullptr;
  size_t run_left = 0;
  for (auto it = queue_.begin(); it != queue_.end();) {
    Task* t = it->second;
    Worker* w = nullptr;
    if (run_on && run_left > 0 && !run_on->paused && Fits(*run_on, *t) && !Saturated(*run_on)) {
      w = run_on;
    } else {
      w = DecideWorker(t, /*is_root=*/true);
      run_on = w;
      run_left = share;
    }
    if (!w) {
      bool any_room = false;
      for (auto& [id, wp] : workers_) any_room |= !Saturated(*wp);
      if (!any_room) return;
      ++it;
      continue;
    }
    it = queue_.erase(it);
    Assign(t, w);
    --run_left;
  }
}

void SchedulerState::WaitForInputs(Task* t) {
  t->waiting_on = 0;
  for (Task* d : t->deps) {
    if (d->status != TaskStatus::kMemory) {
      ++t->waiting_on;
      MakeNeeded(d);
    }
  }
  if (t->waiting_on == 0) MakeReady(t);
}

void SchedulerState::DropFromQueue(Task* t) { queue_.erase({t->priority, t}); }

void SchedulerState::MakeNeeded(Task* t) {
  if (t->status != TaskStatus::kReleased) return;
  t->status = TaskStatus::kWaiting;
  t->waiting_on = 0;
  for (Task* d : t->deps) {
    if (d->status == TaskStatus::kErred) {
      Erred(t, d->error_type, d->error_message, d->failed_key.empty() ? d->key_bytes : d->failed_key);
      return;
    }
    if (d->status != TaskStatus::kMemory) {
      ++t->waiting_on;
      MakeNeeded(d);
    }
  }
  if (t->waiting_on == 0) MakeReady(t);
}

// ---- work stealing ---------------------------------------------------------------

int SchedulerState::Balance() {
  int sent = 0;
  for (auto& [tid, tp] : workers_) {
    Worker* thief = tp.get();
    if (thief->paused) continue;
    int room = thief->spec.nthreads - static_cast<int>(thief->processing.size()) - thief->steals_in;
    while (room > 0 && sent < kMaxStealsPerBalance) {
      // The victim with the most tasks waiting beyond its threads.
      Worker* victim = nullptr;
      int most = 0;
      for (auto& [vid, vp] : workers_) {
        Worker* v = vp.get();
        if (v == thief) continue;
        int waiting = static_cast<int>(v->processing.size()) - v->steals_out - (v->paused ? 0 : v->spec.nthreads);
        if (waiting > most) {
          most = waiting;
          victim = v;
        }
      }
      if (!victim) break;
      // The least urgent task it has (it runs its most urgent first), if
      // moving its inputs is cheaper than running it.
      Task* pick = nullptr;
      for (Task* t : victim->processing) {
        if (t->steal_to != 0 || !Fits(*thief, *t)) continue;
        if (pick && t->priority < pick->priority) continue;
        const double compute = ExpectedSeconds(*t, kUnknownTaskSeconds);
        double transfer = kRoundTripSeconds;
        for (Task* d : t->deps) {
          if (!d->who_has.count(thief)) transfer += FetchSeconds(*d);
        }
        if (transfer < compute) pick = t;
      }
      if (!pick) break;
      pick->steal_to = thief->id;
      ++thief->steals_in;
      ++victim->steals_out;
      out_->workers[victim->id].add_steal(pick->key_bytes);
      ++sent;
      --room;
    }
  }
  return sent;
}

void SchedulerState::ClearSteal(Task* t) {
  if (t->steal_to == 0) return;
  if (Worker* thief = FindWorker(t->steal_to)) thief->steals_in = std::max(0, thief->steals_in - 1);
  if (t->processing_on) t->processing_on->steals_out = std::max(0, t->processing_on->steals_out - 1);
  t->steal_to = 0;
}

void SchedulerState::StealAnswered(WorkerId id, const wire::StealResponse& r) {
  Worker* victim = FindWorker(id);
  Task* t = Find(r.key());
  // No request in flight any more (the task was released, cancelled or its
  // victim's work rescheduled meanwhile): whatever the worker holds now came
  // after the request, so the answer is stale.
  if (!victim || !t || t->steal_to == 0 || t->processing_on != victim) return;
  Worker* thief = FindWorker(t->steal_to);
  ClearSteal(t);
  if (!r.stolen() || t->status != TaskStatus::kProcessing) return;
  // The victim withdrew it: run it on the thief (or wherever fits now).
  Unassign(t);
  ++steals_;
  if (thief && !thief->paused && Fits(*thief, *t)) {
    Assign(t, thief);
  } else {
    t->status = TaskStatus::kWaiting;
    MakeReady(t);
  }
}

// ---- errors and release ---------------------------------------------------------

void SchedulerState::Erred(Task* root, const std::string& type, const std::string& message,
                           const std::string& failed_key) {
  std::vector<Task*> stack{root};
  std::string origin = failed_key;
  bool first = true;
  while (!stack.empty()) {
    Task* t = stack.back();
    stack.pop_back();
    if (t->status == TaskStatus::kErred || t->status == TaskStatus::kMemory) {
      if (!first) continue;
    }
    if (t->status == TaskStatus::kQueued) DropFromQueue(t);
    if (t->status == TaskStatus::kProcessing && t->processing_on) {
      out_->workers[t->processing_on->id].add_cancel(t->key_bytes);
      Unassign(t);
    }
    t->status = TaskStatus::kErred;
    t->error_type = type;
    t->error_message = message;
    t->failed_key = first ? origin : (origin.empty() ? root->key_bytes : origin);
    first = false;
    NotifyClients(t, wire::KeyUpdate::ERRED);
    for (Task* d : t->dependents) {
      if (d->status != TaskStatus::kErred && d->status != TaskStatus::kMemory) stack.push_back(d);
    }
  }
  for (Task* d : root->deps) MaybeRelease(d);
}

void SchedulerState::NotifyClients(Task* t, wire::KeyUpdate::State state) {
  for (ClientId c : t->who_wants) {
    wire::KeyUpdate* u = out_->clients[c].add_updates();
    u->set_key(t->key_bytes);
    u->set_state(state);
    if (state == wire::KeyUpdate::FINISHED) {
      u->set_nbytes(t->nbytes);
      for (Worker* w : t->who_has) u->add_workers(w->spec.address);
    } else if (state == wire::KeyUpdate::ERRED) {
      u->set_type(t->error_type);
      u->set_message(t->error_message);
      u->set_failed_key(t->failed_key);
    }
  }
}

bool SchedulerState::Releasable(const Task* t) const {
  if (!t->who_wants.empty()) return false;
  for (const Task* d : t->dependents) {
    if (d->status == TaskStatus::kWaiting || d->status == TaskStatus::kQueued ||
        d->status == TaskStatus::kProcessing) {
      return false;
    }
  }
  return true;
}

void SchedulerState::ReleaseDataOn(Task* t) {
  for (Worker* w : t->who_has) {
    w->has_what.erase(t);
    w->nbytes -= std::max<int64_t>(0, t->nbytes);
    out_->workers[w->id].add_free_keys(t->key_bytes);
  }
  t->who_has.clear();
}

void SchedulerState::MaybeRelease(Task* t) {
  if (!Releasable(t)) return;
  ReleaseTask(t);
}

void SchedulerState::ReleaseTask(Task* t) {
  switch (t->status) {
    case TaskStatus::kMemory:
      ReleaseDataOn(t);
      break;
    case TaskStatus::kQueued:
      DropFromQueue(t);
      break;
    case TaskStatus::kProcessing:
      if (t->processing_on) {
        out_->workers[t->processing_on->id].add_cancel(t->key_bytes);
        Unassign(t);
      }
      break;
    default:
      break;
  }
  TaskStatus was = t->status;
  t->status = was == TaskStatus::kErred ? TaskStatus::kErred : TaskStatus::kReleased;
  // Inputs of a task that will not run any more may go too.
  if (was == TaskStatus::kWaiting || was == TaskStatus::kQueued || was == TaskStatus::kProcessing) {
    for (Task* d : t->deps) MaybeRelease(d);
  }
  MaybeForget(t);
}

void SchedulerState::MaybeForget(Task* t) {
  // A task is forgotten once released, unwanted and without dependents that
  // are still remembered (they might need it recomputed).
  if (t->status != TaskStatus::kReleased && t->status != TaskStatus::kErred) return;
  if (!t->who_wants.empty() || !t->dependents.empty()) return;
  std::vector<Task*> deps = std::move(t->deps);
  std::string key = t->key_bytes;
  for (Task* d : deps) {
    auto& ds = d->dependents;
    ds.erase(std::remove(ds.begin(), ds.end(), t), ds.end());
  }
  tasks_.erase(key);  // t is gone
  for (Task* d : deps) {
    if (d->status == TaskStatus::kMemory) {
      MaybeRelease(d);
    } else {
      MaybeForget(d);
    }
  }
}

// ---- clients ------------------------------------------------------------------

void SchedulerState::RemoveClient(ClientId id) {
  out_->clients.erase(id);
  // Its rebalances go on, unanswered.
  for (auto r = rebalances_.begin(); r != rebalances_.end();) {
    r = r->first.first == id ? rebalances_.erase(r) : std::next(r);
  }
  std::vector<Task*> wanted;
  for (auto& [k, t] : tasks_) {
    if (t->who_wants.erase(id)) wanted.push_back(t.get());
  }
  for (Task* t : wanted) {
    // t may have been forgotten by an earlier release in this loop.
    if (FindTask(t->key_bytes) != t) continue;
    MaybeRelease(t);
  }
}

void SchedulerState::UpdateGraph(ClientId client, const wire::ClientToScheduler& msg) {
  // Validate first: nothing is added unless the whole update is sound.
  std::unordered_map<std::string, const wire::TaskSpec*> incoming;
  for (const wire::TaskSpec& s : msg.tasks()) incoming[s.key()] = &s;
  auto refuse = [&](const std::string& why) {
    wire::SchedulerToClient& m = out_->clients[client];
    for (const wire::TaskSpec& s : msg.tasks()) {
      wire::KeyUpdate* u = m.add_updates();
      u->set_key(s.key());
      u->set_state(wire::KeyUpdate::ERRED);
      u->set_type("skein::GraphError");
      u->set_message(why);
    }
  };
  for (const wire::TaskSpec& s : msg.tasks()) {
    for (const std::string& d : s.deps()) {
      if (!incoming.count(d) && !Find(d)) {
        return refuse("task " + KeyText(s.key()) + " depends on " + KeyText(d) +
                      ", which neither this update nor the scheduler has (was its future released?)");
      }
    }
    for (const auto& [name, amount] : s.resources()) {
      if (!(amount > 0) || !std::isfinite(amount)) {
        return refuse("task " + KeyText(s.key()) + " asks for resource " + name + "=" +
                      std::to_string(amount) + "; amounts must be positive");
      }
    }
  }
  for (const std::string& k : msg.wanted()) {
    if (!incoming.count(k) && !Find(k)) return refuse("wanted key " + KeyText(k) + " is not in the graph");
  }
  ++generation_;
  std::vector<Task*> added;
  for (const wire::TaskSpec& s : msg.tasks()) {
    if (Find(s.key())) continue;  // already known (shared subgraph): keep the existing one
    auto t = std::make_unique<Task>();
    try {
      t->key = DecodeKey(s.key(), "task key");
    } catch (const Error& e) {
      return refuse(e.what());
    }
    t->key_bytes = s.key();
    t->prefix = PrefixOf(t->key);
    t->spec = s.spec();
    t->priority = {generation_, s.priority()};
    t->retries = std::max(0, s.retries());
    for (const auto& [name, amount] : s.resources()) t->resources[name] = amount;
    added.push_back(t.get());
    tasks_[s.key()] = std::move(t);
  }
  for (Task* t : added) {
    const wire::TaskSpec& s = *incoming[t->key_bytes];
    for (const std::string& d : s.deps()) {
      Task* dep = Find(d);
      if (std::find(t->deps.begin(), t->deps.end(), dep) != t->deps.end()) continue;
      t->deps.push_back(dep);
      dep->dependents.push_back(t);
    }
  }
  for (const std::string& k : msg.wanted()) {
    Task* t = Find(k);
    t->who_wants.insert(client);
    // Already finished or failed: say so at once.
    if (t->status == TaskStatus::kMemory) {
      wire::KeyUpdate* u = out_->clients[client].add_updates();
      u->set_key(t->key_bytes);
      u->set_state(wire::KeyUpdate::FINISHED);
      u->set_nbytes(t->nbytes);
      for (Worker* w : t->who_has) u->add_workers(w->spec.address);
    } else if (t->status == TaskStatus::kErred) {
      wire::KeyUpdate* u = out_->clients[client].add_updates();
      u->set_key(t->key_bytes);
      u->set_state(wire::KeyUpdate::ERRED);
      u->set_type(t->error_type);
      u->set_message(t->error_message);
      u->set_failed_key(t->failed_key);
    }
  }
  // Start in priority order so queued roots come out in graph order.
  // Roots wait in the queue until the whole update is in, then go out in
  // runs (FillWorkers).
  std::sort(added.begin(), added.end(), [](Task* a, Task* b) { return a->priority < b->priority; });
  queue_roots_ = true;
  for (Task* t : added) {
    if (FindTask(t->key_bytes) != t || t->status != TaskStatus::kReleased) continue;
    if (Releasable(t) && t->dependents.empty() && t->who_wants.empty()) continue;  // nobody needs it
    MakeNeeded(t);
  }
  queue_roots_ = false;
  FillWorkers();
  for (Task* t : added) {
    if (FindTask(t->key_bytes) == t) MaybeForget(t);
  }
}

bool SchedulerState::Hold(ClientId holder, const std::string& key_bytes) {
  Task* t = Find(key_bytes);
  if (!t) return false;
  t->who_wants.insert(holder);
  return true;
}

void SchedulerState::Release(ClientId client, const std::string& key_bytes) {
  Task* t = Find(key_bytes);
  if (!t || !t->who_wants.erase(client)) return;
  MaybeRelease(t);
  if (Find(key_bytes) == t) MaybeForget(t);
}

void SchedulerState::Cancel(ClientId client, const std::string& key_bytes) {
  Task* t = Find(key_bytes);
  if (!t) return;
  if (t->status != TaskStatus::kMemory && t->status != TaskStatus::kErred) {
    wire::KeyUpdate* u = out_->clients[client].add_updates();
    u->set_key(key_bytes);
    u->set_state(wire::KeyUpdate::CANCELLED);
  }
  Release(client, key_bytes);
}

void SchedulerState::Scattered(ClientId client, const wire::Scattered& s) {
  auto wi = by_address_.find(s.worker());
  if (wi == by_address_.end()) return;
  Worker* w = wi->second;
  Task* t = Find(s.key());
  if (!t) {
    auto nt = std::make_unique<Task>();
    try {
      nt->key = DecodeKey(s.key(), "scattered key");
    } catch (const Error&) {
      return;
    }
    nt->key_bytes = s.key();
    nt->prefix = PrefixOf(nt->key);
    t = nt.get();
    tasks_[s.key()] = std::move(nt);
  }
  if (t->status == TaskStatus::kQueued) DropFromQueue(t);
  if (t->status == TaskStatus::kProcessing) Unassign(t);
  t->status = TaskStatus::kMemory;
  t->nbytes = s.nbytes();
  t->who_has.insert(w);
  w->has_what.insert(t);
  w->nbytes += std::max<int64_t>(0, s.nbytes());
  t->who_wants.insert(client);
  NotifyClients(t, wire::KeyUpdate::FINISHED);
  for (Task* d : t->dependents) {
    if (d->status == TaskStatus::kWaiting && --d->waiting_on == 0) MakeReady(d);
  }
}

void SchedulerState::UploadLibrary(const wire::Library& lib) {
  // A library uploaded twice under one name replaces the old one for
  // workers that join later; workers already running load it again.
  libraries_.erase(std::remove_if(libraries_.begin(), libraries_.end(),
                                  [&](const wire::Library& l) { return l.name() == lib.name(); }),
                   libraries_.end());
  libraries_.push_back(lib);
  for (auto& [id, w] : workers_) *out_->workers[id].add_libraries() = lib;
}

void SchedulerState::Rebalance(ClientId client, uint64_t request) {
  // Simulated bytes per worker; results with one holder, a known size and
  // no move pending (another request's) are what can move, by size.
  struct Load {
    Worker* w;
    int64_t bytes;
    std::multimap<int64_t, Task*> movable;
  };
  auto moving = [&](const Task* t) {
    auto m = moves_.lower_bound({t->key_bytes, 0});
    return m != moves_.end() && m->first.first == t->key_bytes;
  };
  std::vector<Load> loads;
  for (auto& [id, w] : workers_) {
    Load l{w.get(), w->nbytes, {}};
    for (Task* t : w->has_what) {
      if (t->status == TaskStatus::kMemory && t->who_has.size() == 1 && t->nbytes > 0 && !moving(t)) {
        l.movable.emplace(t->nbytes, t);
      }
    }
    loads.push_back(std::move(l));
  }
  // Moves still in flight (an earlier request's) count as done.
  for (const auto& [where, m] : moves_) {
    const Task* t = FindTask(where.first);
    if (!t) continue;
    for (Load& l : loads) {
      if (l.w->id == m.from) l.bytes -= std::max<int64_t>(0, t->nbytes);
      if (l.w->id == where.second) l.bytes += std::max<int64_t>(0, t->nbytes);
    }
  }
  std::map<WorkerId, std::vector<std::pair<Task*, WorkerId>>> plan;  // receiver -> (task, sender)
  int64_t planned = 0;
  constexpr int64_t kMaxMoves = 100000;
  while (loads.size() >= 2 && planned < kMaxMoves) {
    Load* full = nullptr;
    Load* empty = nullptr;
    for (Load& l : loads) {
      if (!full || l.bytes > full->bytes) full = &l;
      if (!l.w->paused && (!empty || l.bytes < empty->bytes)) empty = &l;
    }
    if (!empty || full == empty) break;
    const int64_t gap = full->bytes - empty->bytes;
    // The key that leaves the smallest gap, |gap - 2 size|: the sizes next
    // to gap / 2 on either side. Only a key smaller than the gap makes the
    // gap smaller at all.
    auto& sizes = full->movable;
    auto best = sizes.end();
    auto above = sizes.lower_bound((gap + 1) / 2);
    if (above != sizes.end() && above->first < gap) best = above;
    if (above != sizes.begin()) {
      auto below = std::prev(above);
      if (best == sizes.end() || std::llabs(gap - 2 * below->first) < std::llabs(gap - 2 * best->first)) best = below;
    }
    if (best == sizes.end()) break;
    Task* t = best->second;
    sizes.erase(best);
    full->bytes -= t->nbytes;
    empty->bytes += t->nbytes;
    plan[empty->w->id].push_back({t, full->w->id});
    ++planned;
  }
  if (planned == 0) {
    wire::Reply* r = out_->clients[client].add_replies();
    r->set_request(request);
    r->set_ok(true);
    return;
  }
  rebalances_[{client, request}].pending = static_cast<int>(planned);
  for (auto& [to, moves] : plan) {
    for (auto& [t, from] : moves) {
      moves_[{t->key_bytes, to}] = Move{from, client, request};
      wire::DepLocation* loc = out_->workers[to].add_acquire();
      loc->set_key(t->key_bytes);
      loc->set_nbytes(t->nbytes);
      for (Worker* h : t->who_has) loc->add_workers(h->spec.address);
    }
  }
}

void SchedulerState::Acquired(WorkerId id, const wire::TaskDone& done) {
  Worker* w = FindWorker(id);
  if (!w) return;
  auto it = moves_.find({done.key(), id});
  Task* t = Find(done.key());
  const bool wanted_here = it != moves_.end() && t && t->status == TaskStatus::kMemory;
  if (!wanted_here) {
    // Not asked for, or released meanwhile: a copy nobody tracks is dropped.
    if (!t || !t->who_has.count(w)) out_->workers[id].add_free_keys(done.key());
    if (it != moves_.end()) FinishMove(it, false);
    return;
  }
  if (t->who_has.insert(w).second) {
    w->has_what.insert(t);
    w->nbytes += std::max<int64_t>(0, t->nbytes);
  }
  // The sender's copy goes, unless a task running there reads it (the
  // worker would drop it before taking that task's inputs).
  Worker* from = FindWorker(it->second.from);
  bool read_there = false;
  for (const Task* d : t->dependents) read_there = read_there || (from && d->processing_on == from);
  if (from && !read_there && t->who_has.count(from)) {
    t->who_has.erase(from);
    from->has_what.erase(t);
    from->nbytes -= std::max<int64_t>(0, t->nbytes);
    out_->workers[from->id].add_free_keys(t->key_bytes);
  }
  FinishMove(it, true);
}

void SchedulerState::AcquireFailed(WorkerId id, const std::string& key_bytes) {
  auto it = moves_.find({key_bytes, id});
  if (it != moves_.end()) FinishMove(it, false);
}

void SchedulerState::FinishMove(MoveMap::iterator it, bool moved) {
  const Move m = it->second;
  moves_.erase(it);
  auto r = rebalances_.find({m.client, m.request});
  if (r == rebalances_.end()) return;
  r->second.moved += moved ? 1 : 0;
  if (--r->second.pending > 0) return;
  wire::Reply* reply = out_->clients[m.client].add_replies();
  reply->set_request(m.request);
  reply->set_ok(true);
  reply->set_moved(r->second.moved);
  rebalances_.erase(r);
}

void SchedulerState::Answer(ClientId client, const wire::ClientToScheduler& request) {
  if (request.rebalance()) return Rebalance(client, request.request());  // answered when done
  wire::Reply* r = out_->clients[client].add_replies();
  r->set_request(request.request());
  if (request.workers()) {
    for (auto& [id, w] : workers_) {
      wire::WorkerInfo* info = r->add_workers();
      info->set_id(id);
      info->set_address(w->spec.address);
      info->set_name(w->spec.name);
      info->set_nthreads(w->spec.nthreads);
      info->set_memory_limit(w->spec.memory_limit);
      info->set_memory(w->memory);
      info->set_processing(static_cast<int32_t>(w->processing.size()));
      for (const auto& [name, amount] : w->spec.resources) (*info->mutable_resources())[name] = amount;
    }
  }
  for (const std::string& k : request.who_has()) {
    wire::DepLocation* loc = r->add_who_has();
    loc->set_key(k);
    if (const Task* t = FindTask(k)) {
      loc->set_nbytes(t->nbytes);
      for (Worker* w : t->who_has) loc->add_workers(w->spec.address);
    }
  }
}

}  // namespace skein::distributed::internal
