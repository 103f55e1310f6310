// The scheduler server: gRPC streams in, one event thread running the
// SchedulerState, messages out (see skein/distributed/scheduler.h).
//
// Threads: gRPC runs each worker's and client's stream handler on its own
// thread. A handler's reader posts events; its writer pops that peer's
// StreamQueue. The event thread is the only one touching SchedulerState; it
// drains all posted events, then flushes the Outbox, so everything that
// happened meanwhile goes out in one message per peer.
#include "skein/distributed/scheduler.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <type_traits>
#include <future>
#include <sstream>
#include <thread>

#include "core/json_internal.h"
#include "distributed/coordination_internal.h"
#include "distributed/protocol_internal.h"
#include "distributed/scheduler_state_internal.h"
#include "distributed/stream_queue_internal.h"
#include "skein/core/wire.h"

namespace skein::distributed {
namespace {

using internal::ClientId;
using internal::Outbox;
using internal::SchedulerState;
using internal::StreamQueue;
using internal::WorkerId;
using skein::internal::JsonQuote;

// How often work stealing looks for idle workers (Dask: 100 ms).
constexpr double kBalanceSeconds = 0.1;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

class SchedulerImpl final : public Scheduler, public wire::Scheduler::Service {
 public:
  explicit SchedulerImpl(const SchedulerOptions& o) : options_(o), state_(&outbox_, o.allowed_failures) {}
  ~SchedulerImpl() override { Stop(); }

  void Begin() {
    tls_ = internal::LoadTls(options_.security);
    internal::CheckBindAllowed("the scheduler", options_.host, tls_.get(), options_.allow_insecure);
    grpc::ServerBuilder b;
    internal::ConfigureServer(&b);
    int port = 0;
    b.AddListeningPort(options_.host + ":" + std::to_string(options_.port), internal::ServerCredentials(tls_.get()),
                       &port);
    b.RegisterService(this);
    server_ = b.BuildAndStart();
    if (!server_ || port == 0) {
      throw CommError("scheduler could not listen on " + options_.host + ":" + std::to_string(options_.port) +
                      " (address in use or not available)");
    }
    address_ = internal::MakeAddress(options_.host, port, tls_ != nullptr);
    events_thread_ = std::thread([this] { EventLoop(); });
    if (options_.http_port >= 0) StartHttp();
  }

  std::string address() const override { return address_; }
  std::string http_address() const override { return http_address_; }

  void Stop() override {
    if (stopping_.exchange(true)) {
      Wait();
      return;
    }
    // Tell every worker to shut down, then close every stream.
    Post([this] {
      for (auto& [id, q] : worker_queues_) {
        wire::SchedulerToWorker m;
        m.set_close(true);
        q->Push(std::move(m));
        q->Close();
      }
      for (auto& [id, q] : client_queues_) q->Close();
    });
    Post([this] { quit_ = true; });
    if (events_thread_.joinable()) events_thread_.join();
    if (http_) http_->stop();
    if (http_thread_.joinable()) http_thread_.join();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    {
      std::lock_guard lock(done_mu_);
      done_ = true;
    }
    done_cv_.notify_all();
  }

  void Wait() override {
    std::unique_lock lock(done_mu_);
    done_cv_.wait(lock, [&] { return done_; });
  }

  std::string StatusJson() const override {
    return const_cast<SchedulerImpl*>(this)->Call<std::string>([this] { return BuildStatus(); });
  }

  // ---- gRPC handlers ----

  grpc::Status WorkerStream(grpc::ServerContext* ctx,
                            grpc::ServerReaderWriter<wire::SchedulerToWorker, wire::WorkerToScheduler>* stream) override {
    wire::WorkerToScheduler first;
    if (!stream->Read(&first)) return grpc::Status(grpc::StatusCode::CANCELLED, "worker left before saying hello");
    const wire::WorkerHello& h = first.hello();
    if (grpc::Status refused = CheckHello(h.protocol(), h.token(), "worker"); !refused.ok()) {
      wire::SchedulerToWorker m;
      m.set_error(refused.error_message());
      stream->Write(m);
      return refused;
    }
    if (h.nthreads() <= 0 || h.address().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "worker hello needs an address and nthreads > 0");
    }
    internal::WorkerSpec spec;
    spec.address = h.address();
    spec.name = h.name().empty() ? h.address() : h.name();
    spec.nthreads = h.nthreads();
    spec.memory_limit = h.memory_limit();
    for (const auto& [k, v] : h.resources()) spec.resources[k] = v;
    auto queue = std::make_shared<StreamQueue<wire::SchedulerToWorker>>();
    if (stopping_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scheduler is shutting down");
    WorkerId id = 0;
    try {
      id = Call<WorkerId>([&] {
        WorkerId wid = state_.AddWorker(spec, Now());
        worker_queues_[wid] = queue;
        std::fprintf(stderr, "skein scheduler: worker %s joined from %s (%d threads)\n", spec.name.c_str(),
                     spec.address.c_str(), spec.nthreads);
        return wid;
      });
    } catch (const std::exception&) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scheduler is shutting down");
    }
    Pump(ctx, stream, queue.get(), [this, id](wire::WorkerToScheduler m) {
      Post([this, id, m = std::move(m)] { OnWorkerMessage(id, m); });
    }, [this, id] { Post([this, id] { DropWorker(id, "connection closed"); }); });
    return grpc::Status::OK;
  }

  grpc::Status ClientStream(grpc::ServerContext* ctx,
                            grpc::ServerReaderWriter<wire::SchedulerToClient, wire::ClientToScheduler>* stream) override {
    wire::ClientToScheduler first;
    if (!stream->Read(&first)) return grpc::Status(grpc::StatusCode::CANCELLED, "client left before saying hello");
    if (grpc::Status refused = CheckHello(first.hello().protocol(), first.hello().token(), "client"); !refused.ok()) {
      wire::SchedulerToClient m;
      m.set_error(refused.error_message());
      stream->Write(m);
      return refused;
    }
    if (stopping_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scheduler is shutting down");
    auto queue = std::make_shared<StreamQueue<wire::SchedulerToClient>>();
    ClientId id = 0;
    try {
      id = Call<ClientId>([&] {
        ClientId cid = next_client_++;
        client_queues_[cid] = queue;
        return cid;
      });
    } catch (const std::exception&) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scheduler is shutting down");
    }
    // The hello may already carry work.
    Post([this, id, m = std::move(first)] { OnClientMessage(id, m); });
    Pump(ctx, stream, queue.get(), [this, id](wire::ClientToScheduler m) {
      Post([this, id, m = std::move(m)] { OnClientMessage(id, m); });
    }, [this, id] {
      Post([this, id] {
        partial_updates_.erase(id);
        coordination_.RemoveClient(id);
        state_.RemoveClient(id);
        client_queues_.erase(id);
      });
    });
    return grpc::Status::OK;
  }

 private:
  // Runs one peer's stream until either side ends: a reader thread hands
  // each incoming message to `on_message`, then calls `on_closed`; this
  // thread writes what the event thread queued for the peer, so a slow
  // peer never blocks scheduling.
  template <class In, class Out>
  static void Pump(grpc::ServerContext* ctx, grpc::ServerReaderWriter<Out, In>* stream, StreamQueue<Out>* queue,
                   const std::function<void(std::type_identity_t<In>)>& on_message,
                   const std::function<void()>& on_closed) {
    std::thread reader([&] {
      In m;
      while (stream->Read(&m)) {
        on_message(std::move(m));
        m = In();
      }
      on_closed();
      queue->Close();
    });
    Out out;
    while (queue->Pop(&out)) {
      if (!stream->Write(out)) break;
    }
    ctx->TryCancel();
    reader.join();
  }

  grpc::Status CheckHello(uint32_t protocol, const std::string& token, const char* who) {
    if (protocol != internal::kProtocolVersion) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          std::string(who) + " speaks protocol version " + std::to_string(protocol) +
                              ", this scheduler speaks " + std::to_string(internal::kProtocolVersion));
    }
    if (!options_.token.empty() && token != options_.token) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          std::string(who) + " refused: " + (token.empty() ? "no token given" : "wrong token"));
    }
    return grpc::Status::OK;
  }

  // ---- events ----

  /// Queues `fn` for the event thread; false once that thread has ended.
  bool Post(std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      if (loop_done_) return false;
      events_.push_back(std::move(fn));
    }
    cv_.notify_one();
    return true;
  }

  /// Runs `fn` on the event thread and returns its result.
  template <class R, class F>
  R Call(F&& fn) {
    auto p = std::make_shared<std::promise<R>>();
    std::future<R> f = p->get_future();
    bool posted = Post([&fn, p] {
      try {
        p->set_value(fn());
      } catch (...) {
        p->set_exception(std::current_exception());
      }
    });
    if (!posted) throw CommError("scheduler is shutting down");
    return f.get();
  }

  void EventLoop() {
    std::vector<std::function<void()>> batch;
    double next_check = Now() + 0.5;
    double next_balance = Now() + kBalanceSeconds;
    while (true) {
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::duration<double>(kBalanceSeconds), [&] { return !events_.empty(); });
        batch.swap(events_);
      }
      for (auto& fn : batch) fn();
      batch.clear();
      coordination_.Sweep();
      coordination_.Expire(Now());
      if (Now() >= next_check) {
        CheckHeartbeats();
        next_check = Now() + 0.5;
      }
      if (Now() >= next_balance) {
        state_.Balance();
        next_balance = Now() + kBalanceSeconds;
      }
      Flush();
      if (quit_) {
        std::lock_guard lock(mu_);
        loop_done_ = true;
        batch.swap(events_);  // handlers waiting on these get a broken promise
        return;
      }
    }
  }

  void Flush() {
    for (auto& [wid, msg] : outbox_.workers) {
      auto q = worker_queues_.find(wid);
      if (q != worker_queues_.end() && msg.ByteSizeLong() > 0) q->second->Push(std::move(msg));
    }
    outbox_.workers.clear();
    for (auto& [cid, msg] : outbox_.clients) {
      auto q = client_queues_.find(cid);
      if (q != client_queues_.end() && msg.ByteSizeLong() > 0) q->second->Push(std::move(msg));
    }
    outbox_.clients.clear();
  }

  void CheckHeartbeats() {
    double now = Now();
    std::vector<WorkerId> silent;
    for (auto& [id, w] : state_.workers()) {
      if (now - w->last_seen > options_.worker_timeout_seconds) silent.push_back(id);
    }
    for (WorkerId id : silent) {
      DropWorker(id, "no heartbeat for " + std::to_string(options_.worker_timeout_seconds) + " s");
    }
  }

  // Tells a client why and closes its stream (its work is then released
  // as for any client that leaves).
  void DropClient(ClientId id, const std::string& why) {
    std::fprintf(stderr, "skein scheduler: client %lld dropped: %s\n", static_cast<long long>(id), why.c_str());
    auto q = client_queues_.find(id);
    if (q == client_queues_.end()) return;
    wire::SchedulerToClient m;
    m.set_error(why);
    q->second->Push(std::move(m));
    q->second->Close();
  }

  void DropWorker(WorkerId id, const std::string& why) {
    auto q = worker_queues_.find(id);
    if (q != worker_queues_.end()) {
      q->second->Close();
      worker_queues_.erase(q);
    }
    if (const SchedulerState::Worker* w = state_.FindWorker(id)) {
      std::fprintf(stderr, "skein scheduler: worker %s (%s) removed: %s; %zu tasks to rerun, %zu results held\n",
                   w->spec.name.c_str(), w->spec.address.c_str(), why.c_str(), w->processing.size(),
                   w->has_what.size());
    }
    state_.RemoveWorker(id, why);
  }

  void OnWorkerMessage(WorkerId id, const wire::WorkerToScheduler& m) {
    SchedulerState::Worker* w = state_.FindWorker(id);
    if (!w) return;
    w->last_seen = Now();
    for (const wire::TaskDone& d : m.done()) state_.TaskFinished(id, d);
    for (const wire::TaskFailed& f : m.failed()) state_.TaskFailed(id, f);
    if (m.has_heartbeat()) state_.Heartbeat(id, m.heartbeat(), Now());
    for (const std::string& k : m.released()) state_.WorkerReleased(id, k);
    for (const wire::StealResponse& r : m.steal_responses()) state_.StealAnswered(id, r);
    for (const wire::TaskDone& d : m.acquired()) state_.Acquired(id, d);
    for (const std::string& k : m.acquire_failed()) state_.AcquireFailed(id, k);
  }

  void OnClientMessage(ClientId id, const wire::ClientToScheduler& m) {
    if (m.has_upload()) state_.UploadLibrary(m.upload());
    for (const wire::Scattered& s : m.scattered()) state_.Scattered(id, s);
    if (m.continues() || partial_updates_.count(id)) {
      // A graph in parts: kept until its last part, then applied whole.
      PartialUpdate& p = partial_updates_[id];
      p.bytes += m.ByteSizeLong();
      if (p.bytes > kMaxPartialUpdateBytes) {
        partial_updates_.erase(id);
        return DropClient(id, "a graph update in parts grew past " + std::to_string(kMaxPartialUpdateBytes >> 30) +
                                  " GiB; the scheduler dropped this client");
      }
      for (const wire::TaskSpec& t : m.tasks()) *p.update.add_tasks() = t;
      for (const std::string& k : m.wanted()) p.update.add_wanted(k);
      if (!m.continues()) {
        wire::ClientToScheduler whole = std::move(p.update);
        partial_updates_.erase(id);
        state_.UpdateGraph(id, whole);
      }
    } else if (m.tasks_size() > 0 || m.wanted_size() > 0) {
      state_.UpdateGraph(id, m);
    }
    for (const std::string& k : m.cancel()) state_.Cancel(id, k);
    for (const std::string& k : m.release()) state_.Release(id, k);
    if (m.request() != 0) {
      if (m.has_coordinate()) {
        coordination_.Handle(id, m.request(), m.coordinate(), Now());
      } else {
        state_.Answer(id, m);
      }
    }
  }

  // ---- status ----

  std::string BuildStatus() const {
    std::ostringstream o;
    std::map<std::string, int64_t> by_state;
    std::map<std::string, std::map<std::string, int64_t>> by_prefix;
    for (const auto& [k, t] : state_.tasks()) {
      const char* s = internal::TaskStatusName(t->status);
      ++by_state[s];
      ++by_prefix[t->prefix->name][s];
    }
    o << "{\"address\":" << JsonQuote(address_) << ",\"protocol\":" << internal::kProtocolVersion
      << ",\"tasks_done\":" << state_.tasks_done() << ",\"tasks_failed\":" << state_.tasks_failed()
      << ",\"queued\":" << state_.queued() << ",\"steals\":" << state_.steals() << ",\"workers\":[";
    bool first = true;
    for (const auto& [id, w] : state_.workers()) {
      o << (first ? "" : ",") << "{\"id\":" << id << ",\"address\":" << JsonQuote(w->spec.address)
        << ",\"name\":" << JsonQuote(w->spec.name) << ",\"nthreads\":" << w->spec.nthreads
        << ",\"memory_limit\":" << w->spec.memory_limit << ",\"memory\":" << w->memory << ",\"rss\":" << w->rss
        << ",\"spilled\":" << w->spilled << ",\"paused\":" << (w->paused ? "true" : "false")
        << ",\"transfer\":{\"incoming\":" << w->transfers_in_flight << ",\"bytes\":" << w->transfer_bytes
        << ",\"count\":" << w->transfer_count << ",\"served_shared_memory\":" << w->served_shared_memory
        << ",\"served_streamed\":" << w->served_streamed << ",\"served_memory_read\":" << w->served_memory_read << "}"
        << ",\"stored_bytes\":" << w->nbytes
        << ",\"processing\":" << w->processing.size() << ",\"keys\":" << w->has_what.size() << ",\"resources\":{";
      bool rf = true;
      for (const auto& [name, amount] : w->spec.resources) {
        o << (rf ? "" : ",") << JsonQuote(name) << ":" << amount;
        rf = false;
      }
      o << "}}";
      first = false;
    }
    o << "],\"tasks\":{";
    first = true;
    for (const auto& [s, n] : by_state) {
      o << (first ? "" : ",") << "\"" << s << "\":" << n;
      first = false;
    }
    o << "},\"prefixes\":{";
    first = true;
    for (const auto& [p, states] : by_prefix) {
      o << (first ? "" : ",") << JsonQuote(p) << ":{";
      bool f2 = true;
      for (const auto& [s, n] : states) {
        o << (f2 ? "" : ",") << "\"" << s << "\":" << n;
        f2 = false;
      }
      o << "}";
      first = false;
    }
    o << "}}";
    return o.str();
  }

  std::string BuildMetrics() const {
    std::ostringstream o;
    std::map<std::string, int64_t> by_state;
    for (const auto& [k, t] : state_.tasks()) ++by_state[internal::TaskStatusName(t->status)];
    o << "# HELP skein_scheduler_workers Workers connected.\n# TYPE skein_scheduler_workers gauge\n"
      << "skein_scheduler_workers " << state_.workers().size() << "\n"
      << "# HELP skein_scheduler_tasks Tasks the scheduler knows, by state.\n# TYPE skein_scheduler_tasks gauge\n";
    for (const char* s : {"released", "waiting", "queued", "processing", "memory", "erred"}) {
      o << "skein_scheduler_tasks{state=\"" << s << "\"} " << by_state[s] << "\n";
    }
    o << "# HELP skein_scheduler_tasks_done_total Tasks finished.\n# TYPE skein_scheduler_tasks_done_total counter\n"
      << "skein_scheduler_tasks_done_total " << state_.tasks_done() << "\n"
      << "# HELP skein_scheduler_tasks_failed_total Tasks that raised.\n"
      << "# TYPE skein_scheduler_tasks_failed_total counter\n"
      << "skein_scheduler_tasks_failed_total " << state_.tasks_failed() << "\n"
      << "# HELP skein_worker_memory_bytes Bytes of results held, per worker.\n"
      << "# TYPE skein_worker_memory_bytes gauge\n";
    for (const auto& [id, w] : state_.workers()) {
      o << "skein_worker_memory_bytes{worker=" << JsonQuote(w->spec.address) << "} " << w->memory << "\n";
    }
    o << "# HELP skein_worker_spilled_bytes Bytes of results spilled to disk, per worker.\n"
      << "# TYPE skein_worker_spilled_bytes gauge\n";
    for (const auto& [id, w] : state_.workers()) {
      o << "skein_worker_spilled_bytes{worker=" << JsonQuote(w->spec.address) << "} " << w->spilled << "\n";
    }
    o << "# HELP skein_worker_transfer_bytes_total Bytes a worker fetched from peers.\n"
      << "# TYPE skein_worker_transfer_bytes_total counter\n";
    for (const auto& [id, w] : state_.workers()) {
      o << "skein_worker_transfer_bytes_total{worker=" << JsonQuote(w->spec.address) << "} " << w->transfer_bytes
        << "\n";
    }
    o << "# HELP skein_worker_values_served_total Values a worker served to peers and clients, by way.\n"
      << "# TYPE skein_worker_values_served_total counter\n";
    for (const auto& [id, w] : state_.workers()) {
      const std::string who = "{worker=" + JsonQuote(w->spec.address);
      o << "skein_worker_values_served_total" << who << ",via=\"shared_memory\"} " << w->served_shared_memory << "\n"
        << "skein_worker_values_served_total" << who << ",via=\"stream\"} " << w->served_streamed << "\n"
        << "skein_worker_values_served_total" << who << ",via=\"memory_read\"} " << w->served_memory_read << "\n";
    }
    o << "# HELP skein_scheduler_steals_total Tasks moved by work stealing.\n"
      << "# TYPE skein_scheduler_steals_total counter\nskein_scheduler_steals_total " << state_.steals() << "\n";
    return o.str();
  }

  void StartHttp() {
    http_ = std::make_unique<httplib::Server>();
    http_->Get("/json/status", [this](const httplib::Request&, httplib::Response& res) {
      try {
        res.set_content(StatusJson(), "application/json");
      } catch (const std::exception& e) {
        res.status = 503;
        res.set_content(e.what(), "text/plain");
      }
    });
    http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      try {
        res.set_content(Call<std::string>([this] { return BuildMetrics(); }), "text/plain; version=0.0.4");
      } catch (const std::exception& e) {
        res.status = 503;
        res.set_content(e.what(), "text/plain");
      }
    });
    int port = options_.http_port == 0 ? http_->bind_to_any_port(options_.host)
                                       : (http_->bind_to_port(options_.host, options_.http_port) ? options_.http_port : -1);
    if (port <= 0) {
      throw CommError("scheduler could not serve HTTP on " + options_.host + ":" + std::to_string(options_.http_port));
    }
    http_address_ = "http://" + options_.host + ":" + std::to_string(port);
    http_thread_ = std::thread([this] { http_->listen_after_bind(); });
  }

  SchedulerOptions options_;
  std::shared_ptr<const internal::TlsMaterial> tls_;
  std::string address_, http_address_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  std::thread events_thread_;
  std::atomic<bool> stopping_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::function<void()>> events_;  // guarded by mu_
  bool loop_done_ = false;                     // guarded by mu_

  // Owned by the event thread.
  Outbox outbox_;
  SchedulerState state_;
  internal::Coordination coordination_{&state_, &outbox_};
  std::map<WorkerId, std::shared_ptr<StreamQueue<wire::SchedulerToWorker>>> worker_queues_;
  std::map<ClientId, std::shared_ptr<StreamQueue<wire::SchedulerToClient>>> client_queues_;
  // Graph updates arriving in parts (ClientToScheduler.continues).
  struct PartialUpdate {
    wire::ClientToScheduler update;
    size_t bytes = 0;
  };
  static constexpr size_t kMaxPartialUpdateBytes = size_t{4} << 30;
  std::map<ClientId, PartialUpdate> partial_updates_;
  ClientId next_client_ = 1;
  bool quit_ = false;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;  // guarded by done_mu_
};

}  // namespace

std::unique_ptr<Scheduler> Scheduler::Start(const SchedulerOptions& options) {
  auto s = std::make_unique<SchedulerImpl>(options);
  s->Begin();
  return s;
}

}  // namespace skein::distributed
