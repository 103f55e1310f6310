// The worker process's engine (see skein/distributed/worker.h).
//
// Threads:
//  - the connection thread holds the stream to the scheduler: it reads
//    messages (tasks, frees, libraries) and, on loss, reconnects;
//  - a writer thread per connection sends whatever accumulated in
//    `outgoing_` (finished tasks, failures, heartbeats) as one message;
//  - `nthreads` executor threads run ready tasks in priority order;
//  - fetcher threads pull missing inputs from peers (Worker.GetData);
//  - with a memory limit, a monitor thread applies Dask's thresholds
//    (worker_memory_internal.h): spills least recently used results to
//    compressed files, pauses executors, restarts the worker.
// All task bookkeeping is under `mu_`; no lock is held while a task runs,
// a value is fetched or a message is written.
#include "skein/distributed/worker.h"

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <optional>
#include <queue>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <malloc.h>


#include "distributed/protocol_internal.h"
#include "distributed/cma_transfer_internal.h"
#include "distributed/shm_transfer_internal.h"
#include "distributed/worker_store_internal.h"
#include "skein/core/memory_pool.h"
#include "skein/core/task.h"
#include "skein/core/wire.h"

namespace skein::distributed {
namespace {

namespace fs = std::filesystem;
using internal::KeyText;
using Clock = std::chrono::steady_clock;

// Fetches of missing inputs run in parallel with tasks (I/O, not compute).
constexpr int kFetchThreads = 4;
// At most this many inputs from one holder share a request...
constexpr size_t kFetchBatchKeys = 32;
// ... holding at most this many bytes together (a batch is read by one
// fetch thread: several large values go to several threads).
constexpr int64_t kFetchBatchBytes = int64_t{16} << 20;
// ... found among the next this many queued fetches.
constexpr size_t kFetchBatchScan = 256;
// A busy worker's reports of finished tasks wait at most this long to travel
// together (Dask batches worker messages every 2 ms; the scheduler keeps
// enough tasks in flight per worker to cover a round trip, see Saturated).
constexpr auto kReportGap = std::chrono::microseconds(500);

// An input to fetch from a peer: who holds it, and its size as the
// scheduler knows it (-1 if not).
struct FetchJob {
  std::string key;
  std::vector<std::string> workers;
  int64_t nbytes = -1;
};

struct PendingTask {
  std::string key;
  Key decoded;
  Task task;
  int64_t priority = 0;
  std::vector<std::string> deps;  // unique dependency keys
  std::vector<std::string> refs;  // every reference in argument order (RunTask's inputs)
  std::vector<std::string> held;  // deps whose `users` count includes this task
  int missing = 0;                // deps not held here yet
  bool cancelled = false;
};

// How often the memory monitor looks at the process (Dask: 100 ms).
constexpr auto kMonitorInterval = std::chrono::milliseconds(100);

class WorkerImpl final : public Worker, public wire::Worker::Service {
 public:
  explicit WorkerImpl(WorkerOptions o) : options_(std::move(o)) {}
  ~WorkerImpl() override {
    Stop();
    if (remove_directory_) {
      std::error_code ec;
      fs::remove_all(options_.local_directory, ec);
    }
  }

  void Begin() {
    if (options_.nthreads <= 0) options_.nthreads = std::max(1u, std::thread::hardware_concurrency());
    tls_ = internal::LoadTls(options_.security);
    peers_ = std::make_unique<internal::ChannelCache>(tls_, 1);
    internal::CheckAddressSecurity(options_.scheduler, tls_.get());  // fails early, before serving
    internal::CheckBindAllowed("the worker", options_.host, tls_.get(), options_.allow_insecure);
    internal::AllowCmaReaders();  // same-host peers read large values out of this process
    if (options_.local_directory.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      std::string base = tmp && *tmp ? tmp : "/tmp";
      std::string templ = base + "/skein-worker-XXXXXX";
      if (!mkdtemp(templ.data())) throw IOError("worker could not create a directory under " + base);
      options_.local_directory = templ;
      remove_directory_ = true;
    } else {
      std::error_code ec;
      fs::create_directories(options_.local_directory, ec);
      if (ec) throw IOError("worker local directory " + options_.local_directory + ": " + ec.message());
    }
    grpc::ServerBuilder b;
    internal::ConfigureServer(&b);
    int port = 0;
    b.AddListeningPort(options_.host + ":" + std::to_string(options_.port), internal::ServerCredentials(tls_.get()),
                       &port);
    b.RegisterService(this);
    server_ = b.BuildAndStart();
    if (!server_ || port == 0) {
      throw CommError("worker could not listen on " + options_.host + ":" + std::to_string(options_.port));
    }
    address_ = internal::MakeAddress(options_.host, port, tls_ != nullptr);
    if (options_.name.empty()) options_.name = address_;
    for (int i = 0; i < options_.nthreads; ++i) executors_.emplace_back([this] { ExecutorLoop(); });
    for (int i = 0; i < kFetchThreads; ++i) fetchers_.emplace_back([this] { FetchLoop(); });
    store_ = std::make_unique<internal::WorkerStore>(options_.local_directory + "/spill", options_.memory_limit,
                                                     options_.memory_thresholds);
    if (options_.memory_limit > 0) monitor_ = std::thread([this] { MonitorLoop(); });
    connection_ = std::thread([this] { ConnectionLoop(); });
  }

  std::string address() const override { return address_; }

  size_t num_keys() const override {
    std::lock_guard lock(mu_);
    return store_->size();
  }

  void Stop() override {
    MarkStopping();
    std::lock_guard join_lock(join_mu_);
    if (joined_) return;
    if (connection_.joinable()) connection_.join();
    for (auto& t : executors_) t.join();
    for (auto& t : fetchers_) t.join();
    if (monitor_.joinable()) monitor_.join();
    executors_.clear();
    fetchers_.clear();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    joined_ = true;
  }

  void Wait() override {
    {
      std::unique_lock lock(mu_);
      stop_cv_.wait(lock, [&] { return stopping_.load(); });
    }
    Stop();
  }

  // ---- data service ----

  grpc::Status GetData(grpc::ServerContext* ctx, const wire::GetDataRequest* req,
                       grpc::ServerWriter<wire::DataChunk>* writer) override {
    if (req->protocol() != internal::kProtocolVersion) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "peer speaks protocol version " + std::to_string(req->protocol()) + ", this worker " +
                              std::to_string(internal::kProtocolVersion));
    }
    if (!options_.token.empty() && req->token() != options_.token) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "data request refused: wrong or missing token");
    }
    // A request from this host may be answered by letting the requester
    // read values out of this process, and a one-key request through its
    // inbox.
    const bool same_host = !internal::ShmHostId().empty() && req->shm_host() == internal::ShmHostId();
    internal::SameHostOffer offer;
    if (same_host) offer = {req->keys_size() == 1 ? req->shm_inbox() : std::string(), req->cma()};
    std::vector<Serialized> lent;  // frames the requester reads, kept until it cancels the call
    for (const std::string& k : req->keys()) {
      Value v;
      try {
        std::unique_lock lock(mu_);
        v = store_->Serve(lock, k);
      } catch (const KeyError&) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "worker " + address_ + " does not hold " + KeyText(k));
      } catch (const Error& e) {
        return grpc::Status(grpc::StatusCode::INTERNAL, KeyText(k) + ": " + e.what());
      }
      try {
        internal::SentVia via = internal::SentVia::kStream;
        Serialized frames;
        if (!internal::WriteValue(writer, k, v, offer, &via, &frames)) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "peer left");
        }
        switch (via) {
          case internal::SentVia::kStream: ++served_streamed_; break;
          case internal::SentVia::kSharedMemory: ++served_shared_memory_; break;
          case internal::SentVia::kMemoryRead:
            ++served_memory_read_;
            lent.push_back(std::move(frames));
            break;
        }
      } catch (const Error& e) {
        return grpc::Status(grpc::StatusCode::INTERNAL, KeyText(k) + ": " + e.what());
      }
    }
    if (!lent.empty()) HoldUntilCancelled(ctx);
    return grpc::Status::OK;
  }

  // Waits until the peer reading a lent value cancels the call (done, or
  // gone), or its deadline or kLendHold pass; polled, as the synchronous
  // server has no wait for cancellation.
  static void HoldUntilCancelled(grpc::ServerContext* ctx) {
    const Clock::time_point limit = Clock::now() + internal::kLendHold;
    auto pause = std::chrono::microseconds(20);
    while (!ctx->IsCancelled() && Clock::now() < limit) {
      std::this_thread::sleep_for(pause);
      pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(2));
    }
  }

  grpc::Status PutData(grpc::ServerContext* ctx, grpc::ServerReader<wire::DataChunk>* reader,
                       wire::PutDataReply* reply) override {
    auto md = ctx->client_metadata();
    auto proto = md.find("skein-protocol");
    if (proto == md.end() || std::string(proto->second.data(), proto->second.size()) !=
                                 std::to_string(internal::kProtocolVersion)) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "scatter from a peer with another protocol version");
    }
    if (!options_.token.empty()) {
      auto tok = md.find("skein-token");
      if (tok == md.end() || std::string(tok->second.data(), tok->second.size()) != options_.token) {
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "scatter refused: wrong or missing token");
      }
    }
    internal::ValueAssembler as;
    wire::DataChunk chunk;
    std::vector<std::pair<std::string, Value>> received;
    try {
      while (reader->Read(&chunk)) {
        if (as.Add(chunk)) received.emplace_back(as.key(), as.Take());
      }
      if (as.in_progress()) throw CommError("scatter ended in the middle of value " + KeyText(as.key()));
    } catch (const Error& e) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
    }
    std::lock_guard lock(mu_);
    for (auto& [k, v] : received) {
      reply->add_nbytes(static_cast<int64_t>(v.nbytes()));
      store_->Store(k, std::move(v), /*owned=*/true);
    }
    return grpc::Status::OK;
  }

 private:
  // ---- connection to the scheduler ----

  void ConnectionLoop() {
    Clock::time_point lost = Clock::now();
    bool ever_connected = false;
    while (true) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) break;
      }
      bool registered = RunConnection();
      if (registered) {
        ever_connected = true;
        lost = Clock::now();
        ResetForReconnect();
      }
      {
        std::unique_lock lock(mu_);
        if (stopping_) break;
        double waited = std::chrono::duration<double>(Clock::now() - lost).count();
        if (waited > options_.death_timeout_seconds) {
          std::fprintf(stderr, "skein worker %s: scheduler %s unreachable for %.0f s, stopping\n", address_.c_str(),
                       options_.scheduler.c_str(), waited);
          break;
        }
        cv_.wait_for(lock, std::chrono::milliseconds(ever_connected ? 200 : 100), [&] { return stopping_.load(); });
      }
    }
    // Closed by the scheduler, or it is gone for good: Wait() returns.
    MarkStopping();
  }

  // Asks every thread to finish; Stop() then joins them.
  void MarkStopping() {
    MarkStoppingAsync();
    std::lock_guard lock(ctx_mu_);
    if (ctx_) ctx_->TryCancel();
  }

  // One session with the scheduler; true if it got as far as registering.
  bool RunConnection() {
    auto channel = internal::MakeChannel(options_.scheduler, tls_.get());
    auto stub = wire::Scheduler::NewStub(channel);
    grpc::ClientContext ctx;
    {
      std::lock_guard lock(ctx_mu_);
      if (stopping_.load()) return false;
      ctx_ = &ctx;
    }
    auto stream = stub->WorkerStream(&ctx);
    wire::WorkerToScheduler hello;
    wire::WorkerHello* h = hello.mutable_hello();
    h->set_protocol(internal::kProtocolVersion);
    h->set_token(options_.token);
    h->set_address(address_);
    h->set_name(options_.name);
    h->set_nthreads(options_.nthreads);
    h->set_memory_limit(options_.memory_limit);
    h->set_pid(getpid());
    for (const auto& [k, v] : options_.resources) (*h->mutable_resources())[k] = v;
    bool registered = false;
    wire::SchedulerToWorker msg;
    if (stream->Write(hello) && stream->Read(&msg)) {
      if (!msg.error().empty()) {
        std::fprintf(stderr, "skein worker %s: scheduler refused: %s\n", address_.c_str(), msg.error().c_str());
        MarkStoppingAsync();
      } else {
        registered = true;
        std::atomic<bool> connection_over{false};
        std::thread writer([&] { WriterLoop(stream.get(), &connection_over); });
        bool closed = false;
        do {
          closed = Handle(msg);
          msg = wire::SchedulerToWorker();
        } while (!closed && stream->Read(&msg));
        if (closed) MarkStoppingAsync();
        connection_over = true;
        out_cv_.notify_all();
        writer.join();
        ctx.TryCancel();
      }
    }
    {
      std::lock_guard lock(ctx_mu_);
      ctx_ = nullptr;
    }
    stream->Finish();
    return registered;
  }

  // MarkStopping without cancelling the stream (called on the stream's own thread).
  void MarkStoppingAsync() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    fetch_cv_.notify_all();
    stop_cv_.notify_all();
    monitor_cv_.notify_all();
    out_cv_.notify_all();
  }


  void WriterLoop(grpc::ClientReaderWriter<wire::WorkerToScheduler, wire::SchedulerToWorker>* stream,
                  std::atomic<bool>* over) {
    auto next_beat = Clock::now();
    auto last_write = Clock::now() - kReportGap;
    while (true) {
      wire::WorkerToScheduler m;
      {
        std::unique_lock lock(out_mu_);
        auto ended = [&] { return *over || stopping_.load(std::memory_order_relaxed); };
        out_cv_.wait_until(lock, next_beat, [&] { return ended() || outgoing_.ByteSizeLong() > 0; });
        // A busy worker finishing short tasks reports them in batches: at
        // most one message per kReportGap, unless something cannot wait.
        auto gap_over = last_write + kReportGap;
        if (!ended() && !report_now_ && Clock::now() < gap_over) {
          out_cv_.wait_until(lock, gap_over, [&] { return ended() || report_now_; });
        }
        if (ended()) return;
        m.Swap(&outgoing_);
        report_now_ = false;
      }
      if (Clock::now() >= next_beat) {
        {
          std::lock_guard lock(mu_);
          FillHeartbeatLocked(m.mutable_heartbeat());
        }
        m.mutable_heartbeat()->set_rss(internal::ProcessRss());
        next_beat = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(options_.heartbeat_seconds));
      }
      if (m.ByteSizeLong() == 0) continue;
      last_write = Clock::now();
      if (!stream->Write(m)) return;
    }
  }


  void FillHeartbeatLocked(wire::Heartbeat* hb) {
    hb->set_memory(store_->stored_bytes());
    hb->set_spilled(store_->spilled_bytes());
    hb->set_executing(executing_);
    hb->set_paused(paused_);
    hb->set_transfers_in_flight(static_cast<int32_t>(fetch_waiters_.size()));
    hb->set_transfer_bytes(transfer_bytes_);
    hb->set_transfer_count(transfer_count_);
    hb->set_served_shared_memory(served_shared_memory_);
    hb->set_served_streamed(served_streamed_);
    hb->set_served_memory_read(served_memory_read_);
  }

  // Applies one scheduler message; true if it says to shut down.
  bool Handle(const wire::SchedulerToWorker& msg) {
    for (const wire::Library& lib : msg.libraries()) LoadLibrary(lib);
    for (const std::string& k : msg.free_keys()) Free(k);
    for (const std::string& k : msg.cancel()) CancelTask(k);
    for (const wire::ComputeTask& c : msg.compute()) Accept(c);
    for (const wire::DepLocation& d : msg.acquire()) Acquire(d);
    for (const std::string& k : msg.steal()) {
      bool stolen = CancelTask(k);
      Report([&](wire::WorkerToScheduler* m) {
        wire::StealResponse* r = m->add_steal_responses();
        r->set_key(k);
        r->set_stolen(stolen);
      });
    }
    return msg.close();
  }

  void ResetForReconnect() {
    // A new session starts clean: the scheduler has already rescheduled
    // everything this worker had (Dask workers also drop their data then).
    std::lock_guard lock(mu_);
    for (auto& [k, p] : pending_) p->cancelled = true;
    pending_.clear();
    while (!ready_.empty()) ready_.pop();
    fetch_queue_.clear();
    fetch_waiters_.clear();
    acquiring_.clear();
    store_->Clear();
  }

  // Adds to the next message for the scheduler. `urgent` = false lets the
  // writer hold it back briefly to batch it with others (see WriterLoop).
  void Report(const std::function<void(wire::WorkerToScheduler*)>& fn, bool urgent = true) {
    {
      std::lock_guard lock(out_mu_);
      fn(&outgoing_);
      report_now_ |= urgent;
    }
    out_cv_.notify_one();
  }

  // A task failure for the scheduler; `missing`: the input no holder served.
  void ReportFailed(const std::string& key, const std::string& type, const std::string& message,
                    const std::string& missing = "") {
    Report([&](wire::WorkerToScheduler* m) {
      wire::TaskFailed* f = m->add_failed();
      f->set_key(key);
      f->set_type(type);
      f->set_message(message);
      if (!missing.empty()) f->add_missing(missing);
    });
  }

  void LoadLibrary(const wire::Library& lib) {
    std::string name = fs::path(lib.name()).filename().string();
    if (name.empty() || name == "." || name == "..") {
      std::fprintf(stderr, "skein worker %s: refusing library with name '%s'\n", address_.c_str(), lib.name().c_str());
      return;
    }
    fs::path dir = fs::path(options_.local_directory) / "libraries";
    std::error_code ec;
    fs::create_directories(dir, ec);
    // A fresh file each time: dlopen of a path already loaded returns the
    // old image, and overwriting a mapped library crashes its users.
    fs::path path = dir / (std::to_string(++library_counter_) + "-" + name);
    {
      std::ofstream f(path, std::ios::binary);
      f.write(lib.content().data(), static_cast<std::streamsize>(lib.content().size()));
      if (!f) {
        std::fprintf(stderr, "skein worker %s: could not write %s\n", address_.c_str(), path.c_str());
        return;
      }
    }
    if (!dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
      std::fprintf(stderr, "skein worker %s: could not load %s: %s\n", address_.c_str(), name.c_str(), dlerror());
    }
  }

  // ---- tasks ----

  void Accept(const wire::ComputeTask& c) {
    auto p = std::make_shared<PendingTask>();
    p->key = c.key();
    p->priority = c.priority();
    try {
      p->decoded = DecodeKey(c.key(), "task key");
      p->task = DecodeTask(c.spec(), "task " + KeyText(c.key()));
      p->task.ForEachDependency([&](const Key& k) { p->refs.push_back(EncodeKey(k)); });
    } catch (const Error& e) {
      ReportFailed(c.key(), "skein::SerializationError", e.what());
      return;
    }
    // Every reference must be an input the scheduler listed (and will
    // place here); checked once on arrival, not each time inputs are read.
    std::unordered_set<std::string> listed;
    for (const wire::DepLocation& d : c.deps()) listed.insert(d.key());
    for (const std::string& r : p->refs) {
      if (!listed.count(r)) {
        ReportFailed(c.key(), "skein::KeyError",
                     "task " + KeyText(c.key()) + " references a key the scheduler did not list as its input");
        return;
      }
    }
    std::vector<FetchJob> to_fetch;
    {
      std::lock_guard lock(mu_);
      if (pending_.count(p->key)) return;  // already have it
      for (const wire::DepLocation& d : c.deps()) {
        p->deps.push_back(d.key());
        if (internal::WorkerStore::Entry* e = store_->Find(d.key())) {
          ++e->users;
          p->held.push_back(d.key());
          continue;
        }
        ++p->missing;
        auto& waiters = fetch_waiters_[d.key()];
        if (waiters.empty()) {
          to_fetch.push_back({d.key(), std::vector<std::string>(d.workers().begin(), d.workers().end()), d.nbytes()});
        }
        waiters.push_back(p);
      }
      pending_[p->key] = p;
      if (p->missing == 0) ready_.push({p->priority, p});
      for (auto& f : to_fetch) fetch_queue_.push_back(std::move(f));
    }
    if (p->missing == 0) cv_.notify_one();
    if (!to_fetch.empty()) fetch_cv_.notify_all();
  }

  // Rebalance: fetches `d` from its holders and keeps it as this worker's
  // own (freed by the scheduler); answered with `acquired`, or
  // `acquire_failed` when no holder could serve it (Deliver).
  void Acquire(const wire::DepLocation& d) {
    int64_t held = -1;
    {
      std::lock_guard lock(mu_);
      if (internal::WorkerStore::Entry* e = store_->Find(d.key())) {
        e->owned = true;  // a fetched copy here already: kept from now on
        held = e->nbytes;
      } else {
        acquiring_.insert(d.key());
        auto& waiters = fetch_waiters_[d.key()];
        if (waiters.empty()) {
          std::vector<std::string> holders(d.workers().begin(), d.workers().end());
          fetch_queue_.push_back({d.key(), std::move(holders), d.nbytes()});
        }
      }
    }
    if (held >= 0) {
      ReportAcquired(d.key(), held);
    } else {
      fetch_cv_.notify_all();
    }
  }

  void ReportAcquired(const std::string& key, int64_t nbytes) {
    Report([&](wire::WorkerToScheduler* m) {
      wire::TaskDone* a = m->add_acquired();
      a->set_key(key);
      a->set_nbytes(nbytes);
    });
  }

  // Withdraws a task that has not started; true if it had not (a running
  // one finishes and is reported as usual).
  bool CancelTask(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = pending_.find(key);
    if (it == pending_.end()) return false;
    std::shared_ptr<PendingTask> p = it->second;
    pending_.erase(it);
    p->cancelled = true;  // skipped when popped or fetched for
    ReleaseHeldLocked(p.get());
    return true;
  }

  void Free(const std::string& key) {
    std::lock_guard lock(mu_);
    internal::WorkerStore::Entry* e = store_->Find(key);
    if (!e) return;
    if (e->users > 0) {
      e->owned = false;  // dropped once the tasks reading it are done
      return;
    }
    store_->Erase(key);
  }

  // Drops one reader of `key` (under mu_); fetched copies go with the last.
  void ReleaseInputLocked(const std::string& key) {
    internal::WorkerStore::Entry* e = store_->Find(key);
    if (e && --e->users <= 0 && !e->owned) store_->Erase(key);
  }

  // Drops the task's hold on the inputs it counted (idempotent).
  void ReleaseHeldLocked(PendingTask* p) {
    for (const std::string& d : p->held) ReleaseInputLocked(d);
    p->held.clear();
  }

  // ---- memory monitor ----

  void MonitorLoop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      monitor_cv_.wait_for(lock, kMonitorInterval);
      if (stopping_) break;
      lock.unlock();
      int64_t rss = internal::ProcessRss();
      lock.lock();
      internal::MemoryDecision d = store_->Decide(rss);
      if (d.spill_bytes > 0 || d.pause || d.terminate) {
        // Blocks the memory pool keeps for reuse, and freed blocks the C
        // heap keeps (under the mmap threshold, see the worker command),
        // count in RSS but are no one's data: give them back before
        // spilling, pausing or restarting.
        lock.unlock();
        MemoryPool::Default().Release();
        malloc_trim(0);
        rss = internal::ProcessRss();
        lock.lock();
        d = store_->Decide(rss);
      }
      if (d.terminate) {
        lock.unlock();
        Terminate(rss);
        return;
      }
      if (d.spill_bytes > 0 && store_->Spill(lock, d.spill_bytes)) {
        lock.unlock();
        malloc_trim(0);  // give freed pages back, or RSS never shows the spill
        rss = internal::ProcessRss();
        lock.lock();
        d = store_->Decide(rss);
      }
      if (d.pause != paused_) {
        paused_ = d.pause;
        std::fprintf(stderr, "skein worker %s: %s (process memory %lld of limit %lld)\n", address_.c_str(),
                     paused_ ? "paused" : "resumed", static_cast<long long>(rss),
                     static_cast<long long>(options_.memory_limit));
        if (!paused_) cv_.notify_all();
        wire::Heartbeat hb;
        FillHeartbeatLocked(&hb);
        hb.set_rss(rss);
        Report([&](wire::WorkerToScheduler* m) { *m->mutable_heartbeat() = hb; });
      }
    }
  }

  void Terminate(int64_t rss) {
    std::fprintf(stderr, "skein worker %s: process memory %lld is over %.0f%% of the limit %lld; restarting\n",
                 address_.c_str(), static_cast<long long>(rss), options_.memory_thresholds.terminate * 100,
                 static_cast<long long>(options_.memory_limit));
    if (options_.on_memory_terminate) {
      // The fresh copy makes a directory of its own: this one's spill files
      // and libraries are no one's now.
      if (remove_directory_) {
        std::error_code ec;
        fs::remove_all(options_.local_directory, ec);
      }
      options_.on_memory_terminate();
    } else {
      MarkStopping();
    }
  }

  void ExecutorLoop() {
    while (true) {
      std::shared_ptr<PendingTask> p;
      std::vector<Value> refs;
      {
        std::unique_lock lock(mu_);
        // A paused worker (memory over the pause threshold) starts nothing.
        cv_.wait(lock, [&] { return stopping_ || (!ready_.empty() && !paused_); });
        if (stopping_) return;
        p = ready_.top().second;
        ready_.pop();
        if (p->cancelled) continue;  // withdrawn (its inputs were released then)
        if (auto it = pending_.find(p->key); it != pending_.end() && it->second == p) pending_.erase(it);
        // Inputs in argument order (a key used twice appears twice).
        std::string problem, problem_type;
        try {
          refs = store_->Collect(lock, p->refs);
        } catch (const Error& e) {
          problem = e.what();
          problem_type = std::string("skein::") + (dynamic_cast<const SpillError*>(&e) ? "SpillError" : "KeyError");
        }
        if (!problem.empty() || p->cancelled) {
          ReleaseHeldLocked(p.get());
          if (p->cancelled) continue;
          lock.unlock();
          ReportFailed(p->key, problem_type, problem);
          continue;
        }
        ++executing_;
      }
      auto t0 = Clock::now();
      Value result;
      std::exception_ptr error;
      const Key& key = p->decoded;
      try {
        result = RunTask(p->task, refs, key);
      } catch (...) {
        error = std::current_exception();
      }
      refs.clear();
      double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      bool more_queued = false;  // then this report may wait for the next ones
      {
        std::unique_lock lock(mu_);
        more_queued = !ready_.empty();
        --executing_;
        ReleaseHeldLocked(p.get());
        if (!error) {
          store_->Store(p->key, result, /*owned=*/true);
          store_->SpillExcess(lock);
        }
      }
      if (error) {
        TaskError te(key.ToString(), error);
        ReportFailed(p->key, te.type_name(), te.message());
      } else {
        Report([&](wire::WorkerToScheduler* m) {
          wire::TaskDone* d = m->add_done();
          d->set_key(p->key);
          d->set_nbytes(static_cast<int64_t>(result.nbytes()));
          d->set_type(result.type_name());
          d->set_seconds(seconds);
        }, /*urgent=*/!more_queued);
      }
    }
  }

  // ---- fetching inputs ----

  void FetchLoop() {
    while (true) {
      std::vector<FetchJob> batch;
      {
        std::unique_lock lock(mu_);
        fetch_cv_.wait(lock, [&] { return stopping_ || !fetch_queue_.empty(); });
        if (stopping_) return;
        batch.push_back(std::move(fetch_queue_.front()));
        fetch_queue_.pop_front();
        // Small values waiting on the same holder travel in one request.
        const std::string* first = BatchablePeer(batch[0]);
        const std::string peer = first ? *first : "";
        int64_t bytes = batch[0].nbytes;
        // The scan looks a bounded way ahead: a long queue of inputs that
        // cannot join would otherwise be walked once per fetch (quadratic).
        size_t looked = 0;
        for (auto it = fetch_queue_.begin();
             first && it != fetch_queue_.end() && batch.size() < kFetchBatchKeys && looked++ < kFetchBatchScan;) {
          const std::string* p = BatchablePeer(*it);
          if (p && *p == peer && bytes + it->nbytes <= kFetchBatchBytes) {
            bytes += it->nbytes;
            batch.push_back(std::move(*it));
            it = fetch_queue_.erase(it);
          } else {
            ++it;
          }
        }
      }
      std::vector<std::optional<Value>> values(batch.size());
      if (batch.size() > 1) {
        const std::string peer = *BatchablePeer(batch[0]);
        std::vector<std::string> keys;
        for (const FetchJob& job : batch) keys.push_back(job.key);
        try {
          std::vector<Value> got = internal::FetchValues(peers_->Get(peer), peer, keys, options_.token);
          for (size_t i = 0; i < got.size(); ++i) values[i] = std::move(got[i]);
        } catch (const Error&) {
          // Each is fetched on its own below, from any holder.
        }
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        if (!values[i]) values[i] = FetchFromAnyHolder(batch[i]);
        Deliver(batch[i].key, std::move(values[i]));
      }
    }
  }

  // The holder a fetch of `job` would ask first, when its value may share a
  // request; nullptr otherwise. Values of unknown size go alone; so do
  // large ones when this host cannot read a peer's memory (alone, they go
  // through a shared-memory file; in a batch they would be streamed).
  const std::string* BatchablePeer(const FetchJob& job) const {
    if (job.nbytes < 0 || job.nbytes > kFetchBatchBytes) return nullptr;
    if (static_cast<uint64_t>(job.nbytes) >= internal::kShmMinBytes && !internal::CmaEnabled()) return nullptr;
    for (const std::string& w : job.workers) {
      if (w != address_) return &w;
    }
    return nullptr;
  }

  std::optional<Value> FetchFromAnyHolder(const FetchJob& job) {
    for (const std::string& peer : job.workers) {
      if (peer == address_) continue;
      try {
        return FetchFrom(peer, job);
      } catch (const Error& e) {
        // try the next holder
      }
    }
    return std::nullopt;
  }

  // Hands a fetched input to the tasks waiting for it, or fails them when no
  // holder could serve it (`v` empty).
  void Deliver(const std::string& key, std::optional<Value> v) {
    const bool got = v.has_value();
    std::vector<std::shared_ptr<PendingTask>> waiters;
    bool acquired = false;     // asked for by a rebalance
    int64_t acquired_bytes = 0;
    {
      std::unique_lock lock(mu_);
      auto it = fetch_waiters_.find(key);
      if (it == fetch_waiters_.end()) return;  // reset meanwhile
      waiters = std::move(it->second);
      fetch_waiters_.erase(it);
      acquired = acquiring_.erase(key) > 0;
      if (got) {
        transfer_bytes_ += static_cast<int64_t>(v->nbytes());
        ++transfer_count_;
        internal::WorkerStore::Entry* e = store_->Find(key);
        if (!e) e = &store_->Store(key, std::move(*v), /*owned=*/false);
        if (acquired) {
          e->owned = true;
          acquired_bytes = e->nbytes;
        }
        for (auto& p : waiters) {
          if (p->cancelled) continue;
          ++e->users;
          p->held.push_back(key);
          if (--p->missing == 0) ready_.push({p->priority, p});
        }
        store_->SpillExcess(lock);
      } else {
        for (auto& p : waiters) {
          if (auto it = pending_.find(p->key); it != pending_.end() && it->second == p) pending_.erase(it);
          p->cancelled = true;
          ReleaseHeldLocked(p.get());
        }
      }
    }
    if (acquired && got) ReportAcquired(key, acquired_bytes);
    if (acquired && !got) Report([&](wire::WorkerToScheduler* m) { m->add_acquire_failed(key); });
    if (got) {
      cv_.notify_all();
    } else {
      for (auto& p : waiters) {
        ReportFailed(p->key, "skein::CommError", "no holder of " + KeyText(key) + " could be reached", key);
      }
    }
  }

  Value FetchFrom(const std::string& peer, const FetchJob& job) {
    return internal::FetchValue(peers_->Get(peer), peer, job.key, options_.token, job.nbytes);
  }

  WorkerOptions options_;
  std::shared_ptr<const internal::TlsMaterial> tls_;
  bool remove_directory_ = false;
  std::string address_;
  std::unique_ptr<grpc::Server> server_;
  std::thread connection_;
  std::vector<std::thread> executors_;
  std::vector<std::thread> fetchers_;
  std::atomic<int> library_counter_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;        // executors: ready_ or stopping_
  std::condition_variable fetch_cv_;  // fetchers: fetch_queue_ or stopping_
  std::condition_variable stop_cv_;   // Wait(): stopping_
  // Written under mu_ (so waits on the condition variables see it); read
  // without it by the writer loop, which waits on out_cv_ instead.
  std::atomic<bool> stopping_{false};
  std::unique_ptr<internal::WorkerStore> store_;                                           // guarded by mu_
  std::unordered_map<std::string, std::shared_ptr<PendingTask>> pending_;                 // guarded by mu_
  using ReadyEntry = std::pair<int64_t, std::shared_ptr<PendingTask>>;
  struct ReadyLater {
    bool operator()(const ReadyEntry& a, const ReadyEntry& b) const { return a.first > b.first; }
  };
  std::priority_queue<ReadyEntry, std::vector<ReadyEntry>, ReadyLater> ready_;            // guarded by mu_
  std::deque<FetchJob> fetch_queue_;             // guarded by mu_
  std::unordered_map<std::string, std::vector<std::shared_ptr<PendingTask>>> fetch_waiters_;  // guarded by mu_
  std::unordered_set<std::string> acquiring_;  // keys a rebalance asked for, being fetched; guarded by mu_
  int64_t transfer_bytes_ = 0;  // guarded by mu_: fetched from peers
  int64_t transfer_count_ = 0;  // guarded by mu_
  std::atomic<int64_t> served_shared_memory_{0}, served_streamed_{0}, served_memory_read_{0};  // values GetData answered, by way
  bool paused_ = false;         // guarded by mu_
  int executing_ = 0;           // guarded by mu_
  std::condition_variable monitor_cv_;  // the monitor's sleep, cut short by stopping_
  std::thread monitor_;

  std::mutex out_mu_;
  std::condition_variable out_cv_;
  wire::WorkerToScheduler outgoing_;  // guarded by out_mu_
  bool report_now_ = false;           // guarded by out_mu_: outgoing_ holds something urgent

  std::mutex ctx_mu_;
  grpc::ClientContext* ctx_ = nullptr;  // guarded by ctx_mu_: the live scheduler stream

  std::unique_ptr<internal::ChannelCache> peers_;  // one connection per peer worker

  std::mutex join_mu_;
  bool joined_ = false;  // guarded by join_mu_
};

}  // namespace

std::unique_ptr<Worker> Worker::Start(const WorkerOptions& options) {
  auto w = std::make_unique<WorkerImpl>(options);
  w->Begin();
  return w;
}

}  // namespace skein::distributed
