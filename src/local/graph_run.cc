// GraphRun: executing one graph on the local pool (see graph_run_internal.h).
#include "local/graph_run_internal.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "skein/core/config.h"
#include "skein/core/order.h"

namespace skein::internal {
namespace {

std::atomic<uint64_t> g_next_run_id{1};

std::string TempDirectory(const ComputeOptions& o) {
  if (!o.spill_directory.empty()) return o.spill_directory;
  std::string configured = config::Get<std::string>("temporary-directory", std::string());
  if (!configured.empty()) return configured;
  if (const char* t = std::getenv("TMPDIR"); t && *t) return t;
  return "/tmp";
}

}  // namespace

GraphRun::GraphRun(std::shared_ptr<const Graph> graph, std::vector<Key> outputs, ThreadPool* pool,
                   const ComputeOptions& options)
    : graph_(std::move(graph)),
      outputs_(std::move(outputs)),
      pool_(pool),
      options_(options),
      run_id_(g_next_run_id.fetch_add(1)) {}

GraphRun::~GraphRun() = default;

void GraphRun::Prepare() {
  OptimizeOptions opt = options_.optimize ? *options_.optimize : OptimizeOptions::FromConfig();
  // Culling needs no rewrite here: tasks the outputs don't need are simply
  // never scheduled (they get no priority and never become ready).
  OptimizeOptions rewrite = opt;
  rewrite.cull = false;
  auto order_of = [&]() {
    if (opt.cull) return Order(*graph_, ix_, output_ids_);
    std::vector<uint32_t> all(graph_->size());
    for (uint32_t i = 0; i < graph_->size(); ++i) all[i] = i;
    return Order(*graph_, ix_, all);
  };
  ix_ = GraphIndex::Build(*graph_);
  output_ids_ = ResolveOutputs(*graph_, outputs_);
  std::vector<uint32_t> order = order_of();
  if (std::optional<Graph> optimized = OptimizeWithIndex(*graph_, ix_, order, output_ids_, rewrite)) {
    graph_ = std::make_shared<const Graph>(std::move(*optimized));
    ix_ = GraphIndex::Build(*graph_);
    output_ids_ = ResolveOutputs(*graph_, outputs_);
    order = order_of();
  }
  CheckOps(*graph_, order, /*allow_local_only=*/true);

  const uint32_t n = static_cast<uint32_t>(graph_->size());
  constexpr uint32_t kNotNeeded = UINT32_MAX;
  priority_.assign(n, kNotNeeded);
  for (uint32_t p = 0; p < order.size(); ++p) priority_[order[p]] = p;
  waiting_.reset(new std::atomic<uint32_t>[n]);
  holders_.reset(new std::atomic<uint32_t>[n]);
  for (uint32_t i = 0; i < n; ++i) {
    // A task that is not needed waits for more than it can ever get.
    uint32_t deps = priority_[i] == kNotNeeded ? UINT32_MAX / 2 : static_cast<uint32_t>(ix_.DepsOf(i).size());
    waiting_[i].store(deps, std::memory_order_relaxed);
    uint32_t users = 0;
    for (uint32_t u : ix_.UsersOf(i)) users += priority_[u] != kNotNeeded;
    holders_[i].store(users, std::memory_order_relaxed);
  }
  for (uint32_t o : output_ids_) holders_[o].fetch_add(1, std::memory_order_relaxed);  // kept for the caller
  roots_.clear();
  for (uint32_t t : order) {
    if (ix_.DepsOf(t).empty()) roots_.push_back(t);
  }
  num_needed_ = order.size();
  remaining_.store(static_cast<int64_t>(order.size()));

  int64_t limit = options_.memory_limit;
  if (limit == 0) limit = config::GetBytes("memory-limit");
  std::optional<SpillSettings> spill;
  if (limit > 0) {
    std::string codec = options_.spill_compression.empty() ? config::Get<std::string>("spill.compression")
                                                           : options_.spill_compression;
    spill = SpillSettings{limit,
                          TempDirectory(options_) + "/skein-spill-" + std::to_string(::getpid()) + "-" +
                              std::to_string(run_id_),
                          ParseCodec(codec), options_.env ? options_.env : Env::Default()};
  }
  store_.emplace(graph_.get(), std::move(spill));
}

void GraphRun::Start(std::shared_ptr<GraphRun> self) {
  Prepare();  // graph errors throw here, before anything runs
  num_slots_ = (pool_ ? pool_->size() : 0) + 1;
  running_.reset(new RunningSlot[num_slots_]);
  observers_ = CurrentObservers();
  for (auto& o : observers_) o->OnRunStart({run_id_, num_needed_});
  {
    std::lock_guard lock(mu_);
    self_ = std::move(self);
  }
  if (num_needed_ == 0) {
    Finish();
    return;
  }
  if (!pool_) {
    RunSync();
    return;
  }
  pool_->AddSource(this);
}

size_t GraphRun::Claim(WorkItem* out, size_t max) {
  size_t start = root_cursor_.load(std::memory_order_relaxed);
  if (start >= roots_.size()) return 0;
  start = root_cursor_.fetch_add(max, std::memory_order_relaxed);
  if (start >= roots_.size()) return 0;
  size_t end = std::min(roots_.size(), start + max);
  for (size_t i = start; i < end; ++i) out[i - start] = {this, roots_[i]};
  return end - start;
}

void GraphRun::Run(uint64_t payload, Worker& worker) {
  uint32_t id = static_cast<uint32_t>(payload);
  while (id != kNone) id = Step(id, worker.index(), &worker);
}

void GraphRun::RunSync() {
  // Priority order is a topological order: run it front to back.
  std::vector<uint32_t> order(num_needed_);
  for (uint32_t i = 0; i < graph_->size(); ++i) {
    if (priority_[i] < num_needed_) order[priority_[i]] = i;
  }
  for (uint32_t id : order) Step(id, -1, nullptr);
}

uint32_t GraphRun::Step(uint32_t id, int worker_index, Worker* worker) {
  if (!stop_.load(std::memory_order_relaxed)) Execute(id, worker_index);

  // Users made ready: run the most urgent next, push the rest so that the
  // more urgent ones are popped first.
  uint32_t next = kNone;
  if (worker) {
    uint32_t extra[16];
    size_t num_extra = 0;
    for (uint32_t u : ix_.UsersOf(id)) {
      if (waiting_[u].fetch_sub(1, std::memory_order_acq_rel) != 1) continue;
      if (next == kNone) {
        next = u;
        continue;
      }
      if (priority_[u] < priority_[next]) std::swap(u, next);
      if (num_extra == 16) {
        worker->Push({this, extra[0]});
        std::move(extra + 1, extra + 16, extra);
        --num_extra;
      }
      // Keep `extra` sorted by descending priority number (most urgent last).
      size_t pos = num_extra;
      while (pos > 0 && priority_[extra[pos - 1]] < priority_[u]) {
        extra[pos] = extra[pos - 1];
        --pos;
      }
      extra[pos] = u;
      ++num_extra;
    }
    for (size_t i = 0; i < num_extra; ++i) worker->Push({this, extra[i]});
  }  // synchronous mode walks the order itself and needs no readiness

  // Release inputs nobody else needs.
  for (uint32_t d : ix_.DepsOf(id)) {
    if (holders_[d].fetch_sub(1, std::memory_order_acq_rel) == 1) store_->Release(d);
  }
  if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    Finish();  // may destroy *this: touch nothing after it
    return kNone;
  }
  return next;
}

Value GraphRun::Evaluate(uint32_t id) {
  const Task& task = graph_->task(id);
  const Key& key = graph_->key(id);
  auto refs = ix_.RefsOf(id);
  std::vector<Value> inputs;
  if (!refs.empty()) {
    inputs.reserve(refs.size());
    for (uint32_t r : refs) inputs.push_back(store_->Get(r));  // SpillError passes through
  }
  try {
    return RunTask(task, inputs, key);
  } catch (const TaskError&) {
    throw;  // raised by a nested task, already naming its own key
  } catch (...) {
    throw TaskError(key.ToString(), std::current_exception());
  }
}

void GraphRun::Execute(uint32_t id, int worker_index) {
  const Key& key = graph_->key(id);
  RunningSlot& slot = running_[worker_index + 1];
  slot.task.store(id, std::memory_order_relaxed);
  if (!observers_.empty()) {
    for (auto& o : observers_) o->OnTaskStart({run_id_, key, worker_index, true});
  }
  bool ok = true;
  try {
    store_->Put(id, Evaluate(id));
  } catch (...) {
    ok = false;
    Fail(std::current_exception());
  }
  if (!observers_.empty()) {
    for (auto& o : observers_) o->OnTaskEnd({run_id_, key, worker_index, ok});
  }
  slot.task.store(kNone, std::memory_order_relaxed);
}

void GraphRun::Fail(std::exception_ptr error) {
  std::lock_guard lock(mu_);
  if (!error_) error_ = std::move(error);
  stop_.store(true);
}

void GraphRun::Cancel() {
  std::lock_guard lock(mu_);
  if (finishing_) return;  // the outcome is decided (checked under the lock Finish takes)
  if (!error_) error_ = std::make_exception_ptr(CancelledError("computation of " + std::to_string(outputs_.size()) + " key(s) was cancelled"));
  stop_.store(true);
}

void GraphRun::Finish() {
  bool ok;
  std::vector<std::function<void()>> callbacks;
  std::shared_ptr<GraphRun> keep;
  {
    std::lock_guard lock(mu_);
    ok = !error_;
    finishing_ = true;
    callbacks.swap(callbacks_);
    keep = std::move(self_);
  }
  for (auto& o : observers_) o->OnRunEnd({run_id_, num_needed_}, ok);
  if (pool_) pool_->RemoveSource(this);
  std::shared_ptr<Completion> completion = completion_;
  keep.reset();  // may destroy *this (nobody else holds it): touch no member below
  {
    std::lock_guard lock(completion->mu);
    completion->done = true;
  }
  completion->cv.notify_all();
  for (auto& fn : callbacks) fn();
}

void GraphRun::AddDoneCallback(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (!finishing_) {
      callbacks_.push_back(std::move(fn));
      return;
    }
  }
  Wait(std::nullopt);
  fn();
}

bool GraphRun::done() const {
  std::lock_guard lock(completion_->mu);
  return completion_->done;
}

bool GraphRun::Wait(std::optional<Duration> timeout) const {
  std::unique_lock lock(completion_->mu);
  auto ready = [&] { return completion_->done; };
  if (!timeout) {
    completion_->cv.wait(lock, ready);
    return true;
  }
  return completion_->cv.wait_for(lock, *timeout, ready);
}

std::vector<Value> GraphRun::Results(std::optional<Duration> timeout) const {
  if (!Wait(timeout)) {
    std::string running;
    for (const Key& k : RunningKeys()) running += (running.empty() ? "" : ", ") + k.ToString();
    std::string wanted;
    for (size_t i = 0; i < outputs_.size() && i < 5; ++i) wanted += (i ? ", " : "") + outputs_[i].ToString();
    if (outputs_.size() > 5) wanted += ", ...";
    throw TimeoutError("timed out after " + std::to_string(timeout->count()) + " s waiting for " + wanted +
                       (running.empty() ? "" : "; still running: " + running) + " (" +
                       std::to_string(remaining_.load()) + " of " + std::to_string(num_needed_) +
                       " tasks unfinished)");
  }
  {
    std::lock_guard lock(mu_);
    if (error_) std::rethrow_exception(error_);
  }
  std::vector<Value> out;
  out.reserve(output_ids_.size());
  for (uint32_t o : output_ids_) out.push_back(const_cast<ResultStore&>(*store_).Get(o));
  return out;
}

std::vector<Key> GraphRun::RunningKeys() const {
  std::vector<Key> keys;
  if (!running_) return keys;
  for (int i = 0; i < num_slots_; ++i) {
    uint32_t t = running_[i].task.load(std::memory_order_relaxed);
    if (t != kNone) keys.push_back(graph_->key(t));
  }
  return keys;
}

Computation::Stats GraphRun::stats() const {
  Stats s;
  s.num_tasks = num_needed_;
  if (store_) {
    s.spilled = store_->spilled();
    s.spilled_bytes = store_->spilled_bytes();
    s.unspilled = store_->unspilled();
    s.peak_memory = store_->peak_memory();
  }
  return s;
}

}  // namespace skein::internal
