// Datasets, fire_and_forget and the coordination objects (Variable, Queue,
// Lock, Event) on a distributed Client; the scheduler keeps the state
// (src/distributed/coordination.cc).
#include "skein/api/coordination.h"

#include <atomic>
#include <random>

#include "skein/distributed/session.h"

namespace skein {

using distributed::CoordinationOp;
using distributed::CoordinationReply;
using distributed::CoordinationRequest;

namespace {

double Seconds(std::optional<Duration> timeout) { return timeout ? std::max(0.0, timeout->count()) : -1; }

CoordinationRequest Req(CoordinationOp op, const std::string& name) {
  CoordinationRequest r;
  r.op = op;
  r.name = name;
  return r;
}

// A request storing an item: a value, or a future's key.
CoordinationRequest ItemReq(CoordinationOp op, const std::string& name, const Value* value, const Future* future) {
  CoordinationRequest r = Req(op, name);
  if (future) {
    r.key = future->key();
  } else {
    r.value = *value;
  }
  return r;
}

}  // namespace

CoordinationReply Client::Coordinate(const CoordinationRequest& request) {
  if (!session_) {
    throw Error("'" + request.name + "': datasets, Variable, Queue, Lock and Event need a distributed Client");
  }
  return session_->Coordinate(request);
}

Value Client::ReceiveItem(const CoordinationRequest& request, const std::string& what) {
  CoordinationReply got = Coordinate(request);
  if (!got.ok) throw TimeoutError(what);
  if (!got.key) return got.value;
  return AdoptKey(*got.key).result();
}

Future Client::AdoptKey(const Key& key) {
  session_->Submit({}, {key});  // this client holds it (the scheduler already counts it as wanted)
  return RemoteFuture(key);
}

void Client::publish_dataset(const std::string& name, const Future& future) {
  CoordinationRequest r = Req(CoordinationOp::kPublish, name);
  r.key = future.key();
  Coordinate(r);
}

Future Client::get_dataset(const std::string& name) {
  CoordinationReply r = Coordinate(Req(CoordinationOp::kGetDataset, name));
  return AdoptKey(*r.key);
}

std::vector<std::string> Client::list_datasets() {
  return Coordinate(Req(CoordinationOp::kListDatasets, "")).names;
}

void Client::unpublish_dataset(const std::string& name) { Coordinate(Req(CoordinationOp::kUnpublish, name)); }

void Client::fire_and_forget(const Future& future) {
  CoordinationRequest r = Req(CoordinationOp::kFireAndForget, future.key().ToString());
  r.key = future.key();
  Coordinate(r);
}

// ---- Variable ----

Variable::Variable(Client& client, std::string name) : client_(client), name_(std::move(name)) {}

void Variable::set(const Value& value) { client_.Coordinate(ItemReq(CoordinationOp::kVariableSet, name_, &value, nullptr)); }

void Variable::set(const Future& future) {
  client_.Coordinate(ItemReq(CoordinationOp::kVariableSet, name_, nullptr, &future));
}

Value Variable::get(std::optional<Duration> timeout) {
  CoordinationRequest r = Req(CoordinationOp::kVariableGet, name_);
  r.timeout_seconds = Seconds(timeout);
  return client_.ReceiveItem(r, "Variable '" + name_ + "' was not set within the timeout");
}

void Variable::remove() { client_.Coordinate(Req(CoordinationOp::kVariableDelete, name_)); }

// ---- Queue ----

Queue::Queue(Client& client, std::string name) : client_(client), name_(std::move(name)) {}

void Queue::put(const Value& value) { client_.Coordinate(ItemReq(CoordinationOp::kQueuePut, name_, &value, nullptr)); }

void Queue::put(const Future& future) {
  client_.Coordinate(ItemReq(CoordinationOp::kQueuePut, name_, nullptr, &future));
}

Value Queue::get(std::optional<Duration> timeout) {
  CoordinationRequest r = Req(CoordinationOp::kQueueGet, name_);
  r.timeout_seconds = Seconds(timeout);
  return client_.ReceiveItem(r, "Queue '" + name_ + "' had no item within the timeout");
}

int64_t Queue::qsize() { return client_.Coordinate(Req(CoordinationOp::kQueueSize, name_)).size; }

// ---- Lock ----

Lock::Lock(Client& client, std::string name) : client_(client), name_(std::move(name)) {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  owner_ = std::to_string(rd()) + "-" + std::to_string(rd()) + "-" + std::to_string(counter.fetch_add(1));
}

bool Lock::acquire(std::optional<Duration> timeout) {
  CoordinationRequest r = Req(CoordinationOp::kLockAcquire, name_);
  r.owner = owner_;
  r.timeout_seconds = Seconds(timeout);
  held_ = client_.Coordinate(r).ok;
  return held_;
}

void Lock::release() {
  CoordinationRequest r = Req(CoordinationOp::kLockRelease, name_);
  r.owner = owner_;
  client_.Coordinate(r);
  held_ = false;
}

// ---- Event ----

Event::Event(Client& client, std::string name) : client_(client), name_(std::move(name)) {}

void Event::set() { client_.Coordinate(Req(CoordinationOp::kEventSet, name_)); }
void Event::clear() { client_.Coordinate(Req(CoordinationOp::kEventClear, name_)); }

bool Event::wait(std::optional<Duration> timeout) {
  CoordinationRequest r = Req(CoordinationOp::kEventWait, name_);
  r.timeout_seconds = Seconds(timeout);
  return client_.Coordinate(r).ok;
}

}  // namespace skein
