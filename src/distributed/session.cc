// The client side of the wire (see skein/distributed/session.h).
//
// Threads: a reader thread reads the scheduler's stream and dispatches key
// events and replies; a writer thread sends whatever accumulated in
// `outgoing_` as one message (so a burst of submissions or releases costs
// one message). Listeners run on the reader thread, without locks held.
#include "skein/distributed/session.h"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <future>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>
#include <unordered_set>
#include <unordered_map>

#include "distributed/protocol_internal.h"
#include "skein/core/wire.h"

namespace skein::distributed {
namespace {

using Clock = std::chrono::steady_clock;

// Fetches keys[i] for each i in `which` into out[i] (brought here, lent as
// they are), a few at once as a gather does; the first error in order.
void FetchHere(Session& session, const std::vector<Key>& keys, const std::vector<size_t>& which,
               std::vector<LentValuePtr>& out) {
  constexpr size_t kStreams = 4;
  std::atomic<size_t> next{0};
  std::vector<std::exception_ptr> errors(which.size());
  auto work = [&] {
    for (size_t j; (j = next.fetch_add(1)) < which.size();) {
      try {
        out[which[j]] = LendHere(session.Fetch(keys[which[j]]));
      } catch (...) {
        errors[j] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < std::min(kStreams, which.size()); ++t) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

class SessionImpl final : public Session, public std::enable_shared_from_this<SessionImpl> {
 public:
  SessionImpl(std::string address, SessionOptions options)
      : address_(std::move(address)), options_(std::move(options)) {}

  ~SessionImpl() override {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    out_cv_.notify_all();
    // The last reference may be dropped by a listener on the reader thread
    // itself (a future released while its outcome is delivered): that
    // thread cannot join itself, and it touches nothing after the listener.
    Finish(writer_);
    ctx_.TryCancel();
    Finish(reader_);
  }

  static void Finish(std::thread& t) {
    if (!t.joinable()) return;
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();
    } else {
      t.join();
    }
  }

  void Open() {
    tls_ = internal::LoadTls(options_.security);
    workers_ = std::make_unique<internal::ChannelCache>(tls_, kChannelsPerWorker);
    channel_ = internal::MakeChannel(address_, tls_.get());
    auto deadline = std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(options_.connect_timeout_seconds * 1000));
    if (!channel_->WaitForConnected(deadline)) {
      throw CommError("could not connect to the scheduler at " + address_ + " within " +
                      std::to_string(options_.connect_timeout_seconds) + " s");
    }
    stub_ = wire::Scheduler::NewStub(channel_);
    stream_ = stub_->ClientStream(&ctx_);
    wire::ClientToScheduler hello;
    hello.mutable_hello()->set_protocol(internal::kProtocolVersion);
    hello.mutable_hello()->set_token(options_.token);
    hello.mutable_hello()->set_name("client");
    if (!stream_->Write(hello)) throw CommError("the scheduler at " + address_ + " closed the connection");
    reader_ = std::thread([this] { ReaderLoop(); });
    writer_ = std::thread([this] { WriterLoop(); });
    // A round trip proves the scheduler accepted us.
    wire::ClientToScheduler ping;
    ping.set_workers(true);
    Request(std::move(ping), options_.connect_timeout_seconds);
  }

  const std::string& address() const override { return address_; }

  bool connected() const override {
    std::lock_guard lock(mu_);
    return broken_.empty();
  }

  void Submit(const std::vector<TaskSubmission>& tasks, const std::vector<Key>& wanted) override {
    // Encode everything first: a lambda anywhere, or a task too large for
    // one message, fails before anything is sent.
    std::vector<wire::TaskSpec> specs;
    specs.reserve(tasks.size());
    size_t total = 0;
    for (const TaskSubmission& t : tasks) {
      wire::TaskSpec s;
      s.set_key(EncodeKey(t.key));
      s.set_spec(EncodeTask(t.task, t.key));
      for (const Key& d : t.task.Dependencies()) s.add_deps(EncodeKey(d));
      s.set_priority(t.priority);
      s.set_retries(t.retries);
      for (const auto& [name, amount] : t.resources) (*s.mutable_resources())[name] = amount;
      const size_t n = s.ByteSizeLong();
      CheckSendable(n, "task " + t.key.ToString(),
                    ": scatter large values (Client::scatter) and pass their futures instead");
      total += n;
      specs.push_back(std::move(s));
    }
    std::lock_guard lock(mu_);
    ThrowIfBrokenLocked();
    // The scheduler applies a message's wanted keys before its releases: a
    // key released and wanted again before the batch leaves keeps its hold
    // (the release is withdrawn; wanting it again brings its state back).
    std::vector<std::string> want;
    std::unordered_set<std::string> withdrawn;
    for (const Key& k : wanted) {
      std::string kb = EncodeKey(k);
      if (held_[kb]++ > 0) continue;
      if (unsent_releases_.erase(kb)) withdrawn.insert(kb);
      want.push_back(std::move(kb));
    }
    if (!withdrawn.empty()) {
      auto* rel = outgoing_.mutable_release();
      rel->erase(std::remove_if(rel->begin(), rel->end(), [&](const std::string& k) { return withdrawn.count(k) > 0; }),
                 rel->end());
    }
    if (total <= internal::kUpdatePartBytes) {
      for (wire::TaskSpec& s : specs) *outgoing_.add_tasks() = std::move(s);
      for (std::string& kb : want) outgoing_.add_wanted(std::move(kb));
    } else {
      QueueInPartsLocked(std::move(specs), std::move(want));
    }
    out_cv_.notify_one();
  }

  void Listen(const Key& key, Listener fn) override {
    std::string kb = EncodeKey(key);
    std::optional<KeyEvent> last;
    {
      std::lock_guard lock(mu_);
      auto& l = listeners_[kb];
      l.fns.push_back(fn);
      last = l.last;
      if (!broken_.empty() && !last) last = KeyEvent{KeyEvent::kDisconnected, "", broken_, ""};
    }
    if (last) fn(*last);
  }

  void Release(const Key& key) override {
    std::string kb = EncodeKey(key);
    std::lock_guard lock(mu_);
    auto it = held_.find(kb);
    if (it == held_.end() || --it->second > 0) return;
    held_.erase(it);
    listeners_.erase(kb);
    locations_.erase(kb);
    if (!broken_.empty() || closing_) return;
    outgoing_.add_release(kb);
    unsent_releases_.insert(kb);
    out_cv_.notify_one();
  }

  void Cancel(const Key& key) override {
    std::string kb = EncodeKey(key);
    std::lock_guard lock(mu_);
    if (!broken_.empty()) return;
    outgoing_.add_cancel(kb);
    held_.erase(kb);
    out_cv_.notify_one();
  }

  Value Fetch(const Key& key, std::optional<std::chrono::duration<double>> timeout) override {
    std::string kb = EncodeKey(key);
    double limit = timeout ? timeout->count() : 60.0;
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limit));
    std::string last_error = "no worker holds it";
    bool asked = false;
    while (true) {
      Location where;
      {
        std::lock_guard lock(mu_);
        auto it = locations_.find(kb);
        if (it != locations_.end()) where = it->second;
      }
      for (const std::string& w : where.workers) {
        try {
          return internal::FetchValue(workers_->Get(w), w, kb, options_.token, where.nbytes);
        } catch (const CommError& e) {
          last_error = e.what();
        }
      }
      if (Clock::now() >= deadline) {
        throw TimeoutError("could not fetch " + key.ToString() + " within " + std::to_string(limit) + " s: " +
                           last_error);
      }
      if (asked) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      // Ask the scheduler where it is now (it may have been recomputed).
      wire::ClientToScheduler q;
      q.add_who_has(kb);
      double left = std::chrono::duration<double>(deadline - Clock::now()).count();
      wire::Reply r = Request(std::move(q), std::max(0.1, left));
      asked = true;
      std::lock_guard lock(mu_);
      for (const wire::DepLocation& d : r.who_has()) {
        locations_[d.key()] = {std::vector<std::string>(d.workers().begin(), d.workers().end()), d.nbytes()};
      }
    }
  }

  std::vector<LentValuePtr> Borrow(const std::vector<Key>& keys) override {
    // Without memory reads, fetching (through the shared-memory file) is the better way.
    if (!internal::CmaEnabled()) return Session::Borrow(keys);
    std::vector<LentValuePtr> out(keys.size());
    // One call to each holder for all of its keys.
    std::map<std::string, std::vector<size_t>> by_worker;
    {
      std::lock_guard lock(mu_);
      for (size_t i = 0; i < keys.size(); ++i) {
        auto it = locations_.find(EncodeKey(keys[i]));
        if (it != locations_.end() && !it->second.workers.empty()) by_worker[it->second.workers[0]].push_back(i);
      }
    }
    std::weak_ptr<SessionImpl> self = weak_from_this();
    auto borrow = [&](const std::string& worker, const std::vector<size_t>& index) {
      std::vector<std::string> kb;
      std::vector<Key> mine;
      for (size_t i : index) {
        kb.push_back(EncodeKey(keys[i]));
        mine.push_back(keys[i]);
      }
      // A read that fails later fetches the key again, from wherever it is then.
      auto refetch = [self, mine](size_t j) -> Value {
        std::shared_ptr<SessionImpl> s = self.lock();
        if (!s) throw CommError("lent " + mine.at(j).ToString() + ": its Client was closed, so it cannot be fetched again");
        return s->Fetch(mine.at(j), std::nullopt);
      };
      try {
        std::vector<LentValuePtr> got = internal::BorrowValues(workers_->Get(worker), worker, kb, options_.token, refetch);
        for (size_t j = 0; j < index.size(); ++j) out[index[j]] = std::move(got[j]);
      } catch (...) {
        // fetched one by one below, from wherever they are (and their errors raised there)
      }
    };
    // The holders answer at once (they send addresses), each on a thread.
    std::vector<std::thread> others;
    for (auto it = std::next(by_worker.begin(), by_worker.empty() ? 0 : 1); it != by_worker.end(); ++it) {
      others.emplace_back(borrow, std::cref(it->first), std::cref(it->second));
    }
    if (!by_worker.empty()) borrow(by_worker.begin()->first, by_worker.begin()->second);
    for (std::thread& t : others) t.join();
    std::vector<size_t> missing;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!out[i]) missing.push_back(i);
    }
    FetchHere(*this, keys, missing, out);
    return out;
  }

  void Scatter(const Key& key, const Value& value) override {
    std::vector<WorkerInfo> ws = Workers();
    if (ws.empty()) throw CommError("scatter: the cluster at " + address_ + " has no workers");
    // Spread scattered values round-robin over the workers.
    const WorkerInfo& target = ws[scatter_next_++ % ws.size()];
    auto stub = wire::Worker::NewStub(workers_->Get(target.address));
    grpc::ClientContext ctx;
    ctx.AddMetadata("skein-protocol", std::to_string(internal::kProtocolVersion));
    ctx.AddMetadata("skein-token", options_.token);
    wire::PutDataReply reply;
    auto writer = stub->PutData(&ctx, &reply);
    std::string kb = EncodeKey(key);
    internal::WriteValue(writer.get(), kb, value);
    writer->WritesDone();
    grpc::Status st = writer->Finish();
    if (!st.ok()) throw CommError("scatter of " + key.ToString() + " to " + target.address + ": " + st.error_message());
    std::lock_guard lock(mu_);
    ThrowIfBrokenLocked();
    wire::Scattered* s = outgoing_.add_scattered();
    s->set_key(kb);
    s->set_worker(target.address);
    s->set_nbytes(reply.nbytes_size() ? reply.nbytes(0) : 0);
    ++held_[kb];
    locations_[kb] = {{target.address}, static_cast<int64_t>(value.nbytes())};
    out_cv_.notify_one();
  }

  void UploadFile(const std::string& path) override {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw IOError("upload_file: cannot read " + path);
    std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    wire::ClientToScheduler m;
    m.mutable_upload()->set_name(path.substr(path.find_last_of('/') + 1));
    m.mutable_upload()->set_content(std::move(content));
    m.set_workers(true);  // the reply comes after the scheduler has queued the library for every worker
    Request(std::move(m), 60, "upload_file " + path);
  }

  CoordinationReply Coordinate(const CoordinationRequest& req) override {
    wire::ClientToScheduler q;
    wire::Coordinate* c = q.mutable_coordinate();
    c->set_op(static_cast<wire::Coordinate::Op>(static_cast<int>(req.op)));
    c->set_name(req.name);
    if (req.key) {
      c->set_key(EncodeKey(*req.key));
    } else {
      c->set_value(EncodeValue(req.value));  // OpError/SerializationError before sending
    }
    c->set_timeout(req.timeout_seconds);
    c->set_owner(req.owner);
    // The scheduler answers blocking requests at their deadline itself.
    double wait = req.timeout_seconds < 0 ? 1e9 : req.timeout_seconds + 30;
    wire::Reply r = Request(std::move(q), wait, "'" + req.name + "'");
    CoordinationReply out;
    out.ok = r.ok();
    if (!r.key().empty()) out.key = DecodeKey(r.key(), "coordination reply key");
    if (!r.value().empty()) out.value = DecodeValue(r.value(), "value of '" + req.name + "'");
    out.names.assign(r.names().begin(), r.names().end());
    out.size = r.size();
    return out;
  }

  int64_t Rebalance(double timeout_seconds) override {
    wire::ClientToScheduler q;
    q.set_rebalance(true);
    return Request(std::move(q), timeout_seconds, "rebalance").moved();
  }

  std::vector<WorkerInfo> Workers() override {
    wire::ClientToScheduler q;
    q.set_workers(true);
    wire::Reply r = Request(std::move(q), 30);
    std::vector<WorkerInfo> out;
    for (const wire::WorkerInfo& w : r.workers()) {
      WorkerInfo i;
      i.address = w.address();
      i.name = w.name();
      i.nthreads = w.nthreads();
      i.memory_limit = w.memory_limit();
      i.memory = w.memory();
      i.processing = w.processing();
      for (const auto& [k, v] : w.resources()) i.resources[k] = v;
      out.push_back(std::move(i));
    }
    return out;
  }

 private:
  struct Listeners {
    std::vector<Listener> fns;
    std::optional<KeyEvent> last;
  };

  void ThrowIfBrokenLocked() const {
    if (!broken_.empty()) throw CommError("lost the connection to the scheduler at " + address_ + ": " + broken_);
  }

  // A message of `bytes` would break the connection (the scheduler refuses
  // it and the stream fails): CommError naming `what`, before sending.
  static void CheckSendable(size_t bytes, const std::string& what, const std::string& advice = "") {
    if (bytes <= internal::kMaxSendBytes) return;
    throw CommError(what + " is " + std::to_string(bytes >> 20) + " MiB encoded, more than one message to the " +
                    "scheduler carries (" + std::to_string(internal::kMaxSendBytes >> 20) + " MiB)" + advice);
  }

  // A large graph update in parts under the message limit, after what was
  // already queued; the scheduler applies them together when the last one
  // (continues = false) arrives.
  void QueueInPartsLocked(std::vector<wire::TaskSpec> specs, std::vector<std::string> want) {
    if (outgoing_.ByteSizeLong() > 0) {
      parts_.push_back(std::move(outgoing_));
      outgoing_ = wire::ClientToScheduler();
      unsent_releases_.clear();
    }
    wire::ClientToScheduler part;
    size_t bytes = 0;
    for (wire::TaskSpec& s : specs) {
      const size_t n = s.ByteSizeLong();
      if (bytes > 0 && bytes + n > internal::kUpdatePartBytes) {
        part.set_continues(true);
        parts_.push_back(std::move(part));
        part = wire::ClientToScheduler();
        bytes = 0;
      }
      *part.add_tasks() = std::move(s);
      bytes += n;
    }
    for (std::string& kb : want) part.add_wanted(std::move(kb));
    parts_.push_back(std::move(part));
  }

  // `what` names the request in errors.
  wire::Reply Request(wire::ClientToScheduler m, double timeout_seconds, const std::string& what = "request") {
    CheckSendable(m.ByteSizeLong(), what);
    auto p = std::make_shared<std::promise<wire::Reply>>();
    auto f = p->get_future();
    {
      std::lock_guard lock(mu_);
      ThrowIfBrokenLocked();
      uint64_t id = next_request_++;
      m.set_request(id);
      replies_[id] = p;
      // Requests go on their own, in order with what was queued before.
      requests_.push_back(std::move(m));
    }
    out_cv_.notify_one();
    if (f.wait_for(std::chrono::duration<double>(timeout_seconds)) != std::future_status::ready) {
      throw TimeoutError("the scheduler at " + address_ + " did not answer within " +
                         std::to_string(timeout_seconds) + " s");
    }
    wire::Reply r = f.get();  // CommError if the connection broke
    if (!r.error().empty()) throw CommError(r.error());
    return r;
  }

  void WriterLoop() {
    while (true) {
      wire::ClientToScheduler batch;
      std::vector<wire::ClientToScheduler> parts, requests;
      {
        std::unique_lock lock(mu_);
        out_cv_.wait(lock, [&] {
          return closing_ || !broken_.empty() || outgoing_.ByteSizeLong() > 0 || !requests_.empty() ||
                 !parts_.empty();
        });
        if (!broken_.empty()) return;
        parts.swap(parts_);
        batch.Swap(&outgoing_);
        unsent_releases_.clear();
        requests.swap(requests_);
        if (closing_ && parts.empty() && batch.ByteSizeLong() == 0 && requests.empty()) break;
      }
      for (auto& p : parts) {
        if (!stream_->Write(p)) return;
      }
      if (batch.ByteSizeLong() > 0 && !stream_->Write(batch)) return;
      for (auto& r : requests) {
        if (!stream_->Write(r)) return;
      }
    }
    stream_->WritesDone();
  }

  void ReaderLoop() {
    wire::SchedulerToClient m;
    std::string why = "the scheduler closed the connection";
    while (stream_->Read(&m)) {
      if (!m.error().empty()) {
        why = m.error();
        break;
      }
      for (const wire::KeyUpdate& u : m.updates()) Dispatch(u);
      for (const wire::Reply& reply : m.replies()) {
        std::shared_ptr<std::promise<wire::Reply>> p;
        {
          std::lock_guard lock(mu_);
          auto it = replies_.find(reply.request());
          if (it != replies_.end()) {
            p = it->second;
            replies_.erase(it);
          }
        }
        if (p) p->set_value(reply);
      }
      m = wire::SchedulerToClient();
    }
    grpc::Status st = stream_->Finish();
    if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) why = st.error_message();
    // Everything still waiting learns the connection is gone.
    std::unordered_map<std::string, Listeners> listeners;
    std::unordered_map<uint64_t, std::shared_ptr<std::promise<wire::Reply>>> replies;
    {
      std::lock_guard lock(mu_);
      broken_ = why;
      listeners.swap(listeners_);
      replies.swap(replies_);
    }
    out_cv_.notify_all();
    for (auto& [id, p] : replies) {
      p->set_exception(std::make_exception_ptr(CommError("scheduler at " + address_ + ": " + why)));
    }
    KeyEvent e{KeyEvent::kDisconnected, "", "lost the connection to the scheduler at " + address_ + ": " + why, ""};
    for (auto& [k, l] : listeners) {
      if (l.last && l.last->kind != KeyEvent::kLost) continue;  // already decided
      for (auto& fn : l.fns) fn(e);
    }
  }

  void Dispatch(const wire::KeyUpdate& u) {
    KeyEvent e;
    switch (u.state()) {
      case wire::KeyUpdate::FINISHED: e.kind = KeyEvent::kFinished; break;
      case wire::KeyUpdate::ERRED: e.kind = KeyEvent::kErred; break;
      case wire::KeyUpdate::CANCELLED: e.kind = KeyEvent::kCancelled; break;
      default: e.kind = KeyEvent::kLost; break;
    }
    e.type = u.type();
    e.message = u.message();
    if (!u.failed_key().empty()) {
      try {
        e.failed_key = DecodeKey(u.failed_key(), "failed key").ToString();
      } catch (const Error&) {
      }
    }
    std::vector<Listener> fns;
    {
      std::lock_guard lock(mu_);
      if (e.kind == KeyEvent::kFinished) {
        locations_[u.key()] = {std::vector<std::string>(u.workers().begin(), u.workers().end()), u.nbytes()};
      }
      auto it = listeners_.find(u.key());
      if (it == listeners_.end()) {
        if (!held_.count(u.key())) return;
        it = listeners_.emplace(u.key(), Listeners{}).first;
      }
      it->second.last = e;
      fns = it->second.fns;
    }
    for (auto& fn : fns) fn(e);
  }

  const std::string address_;
  const SessionOptions options_;
  std::shared_ptr<const internal::TlsMaterial> tls_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<wire::Scheduler::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<wire::ClientToScheduler, wire::SchedulerToClient>> stream_;
  std::thread reader_, writer_;
  std::atomic<size_t> scatter_next_{0};

  // Connections to workers for fetches and scatters: a few each, so the
  // concurrent fetches of a gather need not share one.
  static constexpr size_t kChannelsPerWorker = 4;
  std::unique_ptr<internal::ChannelCache> workers_;

  mutable std::mutex mu_;
  std::condition_variable out_cv_;
  wire::ClientToScheduler outgoing_;                                   // guarded by mu_
  std::unordered_set<std::string> unsent_releases_;                    // guarded by mu_: in outgoing_
  std::vector<wire::ClientToScheduler> parts_;                         // guarded by mu_: sent before outgoing_
  std::vector<wire::ClientToScheduler> requests_;                      // guarded by mu_
  std::unordered_map<uint64_t, std::shared_ptr<std::promise<wire::Reply>>> replies_;  // guarded by mu_
  std::unordered_map<std::string, Listeners> listeners_;               // guarded by mu_
  std::unordered_map<std::string, int> held_;                          // guarded by mu_
  // Where a key's value is, and its size (-1 unknown), as last heard.
  struct Location {
    std::vector<std::string> workers;
    int64_t nbytes = -1;
  };
  std::unordered_map<std::string, Location> locations_;  // guarded by mu_
  uint64_t next_request_ = 1;                                          // guarded by mu_
  std::string broken_;                                                 // guarded by mu_: why the stream ended
  bool closing_ = false;                                               // guarded by mu_
};

}  // namespace

std::vector<LentValuePtr> Session::Borrow(const std::vector<Key>& keys) {
  std::vector<LentValuePtr> out(keys.size());
  std::vector<size_t> all(keys.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  FetchHere(*this, keys, all, out);
  return out;
}

std::shared_ptr<Session> Session::Connect(const std::string& address, const SessionOptions& options) {
  internal::GrpcTarget(address);
  auto s = std::make_shared<SessionImpl>(address, options);
  s->Open();
  return s;
}

}  // namespace skein::distributed
