// The worker process's engine (see skein/distributed/worker.h).
//
// Threads:
//  - the connection thread holds the stream to the scheduler: it reads
//    messages (tasks, frees, libraries) and, on loss, reconnects;
//  - a writer thread per connection sends whatever accumulated in
//    `outgoing_` (finished tasks, failures, heartbeats) as one message;
//  - `nthreads` executor threads run ready tasks in priority order;
//  - fetcher threads pull missing inputs from peers (Worker.GetData).
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

#include "distributed/protocol_internal.h"
#include "skein/core/task.h"
#include "skein/core/wire.h"

namespace skein::distributed {
namespace {

namespace fs = std::filesystem;
using internal::KeyText;
using Clock = std::chrono::steady_clock;

// Fetches of missing inputs run in parallel with tasks (I/O, not compute).
constexpr int kFetchThreads = 4;

struct PendingTask {
  std::string key;
  Key decoded;
  Task task;
  int64_t priority = 0;
  std::vector<std::string> deps;  // unique dependency keys
  std::vector<std::string> refs;  // every reference in argument order (RunTask's inputs)
  int missing = 0;                // deps not held here yet
  bool cancelled = false;
};

struct Entry {
  Value value;
  bool owned = false;  // computed or scattered here (freed by the scheduler), else a fetched copy
  int users = 0;       // pending tasks reading it
};

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
    internal::GrpcTarget(options_.scheduler);  // validates the address early
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
    b.AddListeningPort(options_.host + ":" + std::to_string(options_.port), grpc::InsecureServerCredentials(), &port);
    b.RegisterService(this);
    server_ = b.BuildAndStart();
    if (!server_ || port == 0) {
      throw CommError("worker could not listen on " + options_.host + ":" + std::to_string(options_.port));
    }
    address_ = internal::TcpAddress(options_.host, port);
    if (options_.name.empty()) options_.name = address_;
    for (int i = 0; i < options_.nthreads; ++i) executors_.emplace_back([this] { ExecutorLoop(); });
    for (int i = 0; i < kFetchThreads; ++i) fetchers_.emplace_back([this] { FetchLoop(); });
    connection_ = std::thread([this] { ConnectionLoop(); });
  }

  std::string address() const override { return address_; }

  size_t num_keys() const override {
    std::lock_guard lock(mu_);
    return data_.size();
  }

  void Stop() override {
    MarkStopping();
    std::lock_guard join_lock(join_mu_);
    if (joined_) return;
    if (connection_.joinable()) connection_.join();
    for (auto& t : executors_) t.join();
    for (auto& t : fetchers_) t.join();
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
    for (const std::string& k : req->keys()) {
      Value v;
      {
        std::lock_guard lock(mu_);
        auto it = data_.find(k);
        if (it == data_.end()) {
          return grpc::Status(grpc::StatusCode::NOT_FOUND,
                              "worker " + address_ + " does not hold " + KeyText(k));
        }
        v = it->second.value;
      }
      try {
        if (!internal::WriteValue(writer, k, v)) return grpc::Status(grpc::StatusCode::CANCELLED, "peer left");
      } catch (const Error& e) {
        return grpc::Status(grpc::StatusCode::INTERNAL, KeyText(k) + ": " + e.what());
      }
    }
    return grpc::Status::OK;
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
      Entry& e = data_[k];
      e.value = std::move(v);
      e.owned = true;
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
    auto channel = internal::MakeChannel(options_.scheduler);
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
    out_cv_.notify_all();
  }


  void WriterLoop(grpc::ClientReaderWriter<wire::WorkerToScheduler, wire::SchedulerToWorker>* stream,
                  std::atomic<bool>* over) {
    auto next_beat = Clock::now();
    while (true) {
      wire::WorkerToScheduler m;
      {
        std::unique_lock lock(out_mu_);
        out_cv_.wait_until(lock, next_beat, [&] { return *over || stopping_.load(std::memory_order_relaxed) || outgoing_.ByteSizeLong() > 0; });
        if (*over || stopping_.load(std::memory_order_relaxed)) return;
        m.Swap(&outgoing_);
      }
      if (Clock::now() >= next_beat) {
        wire::Heartbeat* hb = m.mutable_heartbeat();
        {
          std::lock_guard lock(mu_);
          hb->set_memory(stored_bytes_);
          hb->set_executing(executing_);
        }
        hb->set_rss(internal::ProcessRss());
        next_beat = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(options_.heartbeat_seconds));
      }
      if (m.ByteSizeLong() > 0 && !stream->Write(m)) return;
    }
  }


  // Applies one scheduler message; true if it says to shut down.
  bool Handle(const wire::SchedulerToWorker& msg) {
    for (const wire::Library& lib : msg.libraries()) LoadLibrary(lib);
    for (const std::string& k : msg.free_keys()) Free(k);
    for (const std::string& k : msg.cancel()) CancelTask(k);
    for (const wire::ComputeTask& c : msg.compute()) Accept(c);
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
    data_.clear();
    stored_bytes_ = 0;
  }

  void Report(const std::function<void(wire::WorkerToScheduler*)>& fn) {
    {
      std::lock_guard lock(out_mu_);
      fn(&outgoing_);
    }
    out_cv_.notify_one();
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
      Report([&](wire::WorkerToScheduler* m) {
        wire::TaskFailed* f = m->add_failed();
        f->set_key(c.key());
        f->set_type("skein::SerializationError");
        f->set_message(e.what());
      });
      return;
    }
    std::vector<std::pair<std::string, std::vector<std::string>>> to_fetch;
    {
      std::lock_guard lock(mu_);
      if (pending_.count(p->key)) return;  // already have it
      for (const wire::DepLocation& d : c.deps()) {
        p->deps.push_back(d.key());
        auto it = data_.find(d.key());
        if (it != data_.end()) {
          ++it->second.users;
          continue;
        }
        ++p->missing;
        auto& waiters = fetch_waiters_[d.key()];
        if (waiters.empty()) {
          to_fetch.emplace_back(d.key(), std::vector<std::string>(d.workers().begin(), d.workers().end()));
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

  void CancelTask(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = pending_.find(key);
    if (it == pending_.end()) return;
    it->second->cancelled = true;  // skipped when popped; inputs released then
  }

  void Free(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = data_.find(key);
    if (it == data_.end()) return;
    if (it->second.users > 0) {
      it->second.owned = false;  // dropped once the tasks reading it are done
      return;
    }
    stored_bytes_ -= static_cast<int64_t>(it->second.value.nbytes());
    data_.erase(it);
  }

  // Drops one reader of `key` (under mu_); fetched copies go with the last.
  void ReleaseInputLocked(const std::string& key) {
    auto it = data_.find(key);
    if (it == data_.end()) return;
    if (--it->second.users <= 0 && !it->second.owned) {
      stored_bytes_ -= static_cast<int64_t>(it->second.value.nbytes());
      data_.erase(it);
    }
  }

  void ExecutorLoop() {
    while (true) {
      std::shared_ptr<PendingTask> p;
      std::vector<Value> refs;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
        if (stopping_) return;
        p = ready_.top().second;
        ready_.pop();
        pending_.erase(p->key);
        if (p->cancelled) {
          for (const std::string& d : p->deps) ReleaseInputLocked(d);
          continue;
        }
        // Inputs in argument order (a key used twice appears twice).
        bool ok = true;
        for (const std::string& r : p->refs) {
          auto it = data_.find(r);
          if (it == data_.end()) {
            ok = false;
            break;
          }
          refs.push_back(it->second.value);
        }
        if (!ok) {
          for (const std::string& d : p->deps) ReleaseInputLocked(d);
          lock.unlock();
          Report([&](wire::WorkerToScheduler* m) {
            wire::TaskFailed* f = m->add_failed();
            f->set_key(p->key);
            f->set_type("skein::KeyError");
            f->set_message("task " + KeyText(p->key) + " references a key the scheduler did not list as its input");
          });
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
      {
        std::lock_guard lock(mu_);
        --executing_;
        for (const std::string& d : p->deps) ReleaseInputLocked(d);
        if (!error) {
          Entry& e = data_[p->key];
          stored_bytes_ += static_cast<int64_t>(result.nbytes()) - static_cast<int64_t>(e.value.nbytes());
          e.value = result;
          e.owned = true;
        }
      }
      if (error) {
        TaskError te(key.ToString(), error);
        Report([&](wire::WorkerToScheduler* m) {
          wire::TaskFailed* f = m->add_failed();
          f->set_key(p->key);
          f->set_type(te.type_name());
          f->set_message(te.message());
        });
      } else {
        Report([&](wire::WorkerToScheduler* m) {
          wire::TaskDone* d = m->add_done();
          d->set_key(p->key);
          d->set_nbytes(static_cast<int64_t>(result.nbytes()));
          d->set_type(result.type_name());
          d->set_seconds(seconds);
        });
      }
    }
  }

  // ---- fetching inputs ----

  void FetchLoop() {
    while (true) {
      std::pair<std::string, std::vector<std::string>> job;
      {
        std::unique_lock lock(mu_);
        fetch_cv_.wait(lock, [&] { return stopping_ || !fetch_queue_.empty(); });
        if (stopping_) return;
        job = std::move(fetch_queue_.front());
        fetch_queue_.pop_front();
      }
      const std::string& key = job.first;
      Value v;
      bool got = false;
      for (const std::string& peer : job.second) {
        if (peer == address_) continue;
        try {
          v = FetchFrom(peer, key);
          got = true;
          break;
        } catch (const Error& e) {
          // try the next holder
        }
      }
      std::vector<std::shared_ptr<PendingTask>> waiters;
      {
        std::lock_guard lock(mu_);
        auto it = fetch_waiters_.find(key);
        if (it == fetch_waiters_.end()) continue;  // reset meanwhile
        waiters = std::move(it->second);
        fetch_waiters_.erase(it);
        if (got) {
          Entry& e = data_[key];
          if (!e.value.is_none() || e.owned) stored_bytes_ -= static_cast<int64_t>(e.value.nbytes());
          e.value = std::move(v);
          stored_bytes_ += static_cast<int64_t>(e.value.nbytes());
          for (auto& p : waiters) {
            if (p->cancelled) continue;
            ++e.users;
            if (--p->missing == 0) ready_.push({p->priority, p});
          }
        } else {
          for (auto& p : waiters) {
            pending_.erase(p->key);
            p->cancelled = true;
          }
        }
      }
      if (got) {
        cv_.notify_all();
      } else {
        for (auto& p : waiters) {
          // Release the inputs it already had.
          {
            std::lock_guard lock(mu_);
            for (const std::string& d : p->deps) {
              if (d != key && data_.count(d)) ReleaseInputLocked(d);
            }
          }
          Report([&](wire::WorkerToScheduler* m) {
            wire::TaskFailed* f = m->add_failed();
            f->set_key(p->key);
            f->set_type("skein::CommError");
            f->set_message("no holder of " + KeyText(key) + " could be reached");
            f->add_missing(key);
          });
        }
      }
    }
  }

  Value FetchFrom(const std::string& peer, const std::string& key) {
    return internal::FetchValue(PeerChannel(peer), peer, key, options_.token);
  }

  std::shared_ptr<grpc::Channel> PeerChannel(const std::string& peer) {
    std::lock_guard lock(channels_mu_);
    auto& c = channels_[peer];
    if (!c) c = internal::MakeChannel(peer);
    return c;
  }

  WorkerOptions options_;
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
  std::unordered_map<std::string, Entry> data_;                                            // guarded by mu_
  std::unordered_map<std::string, std::shared_ptr<PendingTask>> pending_;                 // guarded by mu_
  using ReadyEntry = std::pair<int64_t, std::shared_ptr<PendingTask>>;
  struct ReadyLater {
    bool operator()(const ReadyEntry& a, const ReadyEntry& b) const { return a.first > b.first; }
  };
  std::priority_queue<ReadyEntry, std::vector<ReadyEntry>, ReadyLater> ready_;            // guarded by mu_
  std::deque<std::pair<std::string, std::vector<std::string>>> fetch_queue_;             // guarded by mu_
  std::unordered_map<std::string, std::vector<std::shared_ptr<PendingTask>>> fetch_waiters_;  // guarded by mu_
  int64_t stored_bytes_ = 0;  // guarded by mu_
  int executing_ = 0;         // guarded by mu_

  std::mutex out_mu_;
  std::condition_variable out_cv_;
  wire::WorkerToScheduler outgoing_;  // guarded by out_mu_

  std::mutex ctx_mu_;
  grpc::ClientContext* ctx_ = nullptr;  // guarded by ctx_mu_: the live scheduler stream

  std::mutex channels_mu_;
  std::unordered_map<std::string, std::shared_ptr<grpc::Channel>> channels_;  // guarded by channels_mu_

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
