// Datasets, variables, queues, locks, events and fire-and-forget on the
// scheduler (see coordination_internal.h).
#include "distributed/coordination_internal.h"

#include <cmath>

#include "distributed/protocol_internal.h"

namespace skein::distributed::internal {

using Op = wire::Coordinate::Op;

wire::Reply* Coordination::ReplyTo(ClientId client, uint64_t request) {
  wire::Reply* r = out_->clients[client].add_replies();
  r->set_request(request);
  return r;
}

void Coordination::Fail(ClientId client, uint64_t request, const std::string& error) {
  ReplyTo(client, request)->set_error(error);
}

void Coordination::HoldKey(const std::string& key) {
  if (held_[key]++ == 0) state_->Hold(kHolder, key);
}

void Coordination::ReleaseKey(const std::string& key) {
  auto it = held_.find(key);
  if (it == held_.end()) return;
  if (--it->second == 0) {
    held_.erase(it);
    state_->Release(kHolder, key);
  }
}

bool Coordination::TakeItem(const wire::Coordinate& c, Item* out) {
  if (!c.key().empty()) {
    if (!state_->FindTask(c.key())) return false;
    HoldKey(c.key());
    out->key = c.key();
  } else {
    out->value = c.value();
  }
  return true;
}

void Coordination::DropItem(const Item& item) {
  if (!item.key.empty()) ReleaseKey(item.key);
}

void Coordination::Give(ClientId client, uint64_t request, const Item& item) {
  wire::Reply* r = ReplyTo(client, request);
  r->set_ok(true);
  if (!item.key.empty()) {
    // The receiver holds it from now on (its session wants it on receipt,
    // idempotently): no gap in which nobody holds it.
    state_->Hold(client, item.key);
    r->set_key(item.key);
  } else {
    r->set_value(item.value);
  }
}

void Coordination::Handle(ClientId client, uint64_t request, const wire::Coordinate& c, double now) {
  const std::string& name = c.name();
  double deadline = c.timeout() < 0 ? INFINITY : now + c.timeout();
  auto unknown_key = [&] {
    Fail(client, request, "key " + KeyText(c.key()) + " is not known to the scheduler (released, or never submitted)");
  };
  switch (c.op()) {
    case wire::Coordinate::PUBLISH: {
      if (datasets_.count(name)) return Fail(client, request, "dataset '" + name + "' is already published");
      if (c.key().empty() || !state_->FindTask(c.key())) return unknown_key();
      HoldKey(c.key());
      datasets_[name] = c.key();
      ReplyTo(client, request)->set_ok(true);
      return;
    }
    case wire::Coordinate::UNPUBLISH: {
      auto it = datasets_.find(name);
      if (it == datasets_.end()) return Fail(client, request, "no dataset named '" + name + "'");
      ReleaseKey(it->second);
      datasets_.erase(it);
      ReplyTo(client, request)->set_ok(true);
      return;
    }
    case wire::Coordinate::GET_DATASET: {
      auto it = datasets_.find(name);
      if (it == datasets_.end()) return Fail(client, request, "no dataset named '" + name + "'");
      Give(client, request, Item{"", it->second});
      return;
    }
    case wire::Coordinate::LIST_DATASETS: {
      wire::Reply* r = ReplyTo(client, request);
      r->set_ok(true);
      for (const auto& [n, k] : datasets_) r->add_names(n);
      return;
    }
    case wire::Coordinate::VARIABLE_SET: {
      Item item;
      if (!TakeItem(c, &item)) return unknown_key();
      auto it = variables_.find(name);
      if (it != variables_.end()) DropItem(it->second);
      variables_[name] = item;
      for (const Waiter& w : variable_waiters_[name]) Give(w.client, w.request, item);
      variable_waiters_.erase(name);
      ReplyTo(client, request)->set_ok(true);
      return;
    }
    case wire::Coordinate::VARIABLE_GET: {
      auto it = variables_.find(name);
      if (it != variables_.end()) return Give(client, request, it->second);
      variable_waiters_[name].push_back({client, request, deadline, ""});
      return;
    }
    case wire::Coordinate::VARIABLE_DELETE: {
      auto it = variables_.find(name);
      if (it != variables_.end()) {
        DropItem(it->second);
        variables_.erase(it);
      }
      ReplyTo(client, request)->set_ok(true);
      return;
    }
    case wire::Coordinate::QUEUE_PUT: {
      Item item;
      if (!TakeItem(c, &item)) return unknown_key();
      queues_[name].push_back(item);
      ReplyTo(client, request)->set_ok(true);
      WakeQueue(name);
      return;
    }
    case wire::Coordinate::QUEUE_GET:
      queue_waiters_[name].push_back({client, request, deadline, ""});
      WakeQueue(name);
      return;
    case wire::Coordinate::QUEUE_SIZE: {
      wire::Reply* r = ReplyTo(client, request);
      r->set_ok(true);
      auto it = queues_.find(name);
      r->set_size(it == queues_.end() ? 0 : static_cast<int64_t>(it->second.size()));
      return;
    }
    case wire::Coordinate::LOCK_ACQUIRE: {
      if (c.owner().empty()) return Fail(client, request, "lock '" + name + "': acquire needs an owner id");
      LockState& l = locks_[name];
      if (l.owner == c.owner()) return Fail(client, request, "lock '" + name + "' is already held by this owner");
      l.waiters.push_back({client, request, deadline, c.owner()});
      WakeLock(name);
      return;
    }
    case wire::Coordinate::LOCK_RELEASE: {
      auto it = locks_.find(name);
      if (it == locks_.end() || it->second.owner != c.owner() || c.owner().empty()) {
        return Fail(client, request, "lock '" + name + "' is not held by this owner");
      }
      it->second.owner.clear();
      it->second.client = 0;
      ReplyTo(client, request)->set_ok(true);
      WakeLock(name);
      return;
    }
    case wire::Coordinate::EVENT_SET: {
      events_[name] = true;
      for (const Waiter& w : event_waiters_[name]) ReplyTo(w.client, w.request)->set_ok(true);
      event_waiters_.erase(name);
      ReplyTo(client, request)->set_ok(true);
      return;
    }
    case wire::Coordinate::EVENT_CLEAR:
      events_[name] = false;
      ReplyTo(client, request)->set_ok(true);
      return;
    case wire::Coordinate::EVENT_WAIT:
      if (events_[name]) {
        ReplyTo(client, request)->set_ok(true);
      } else if (c.timeout() == 0) {
        ReplyTo(client, request)->set_ok(false);
      } else {
        event_waiters_[name].push_back({client, request, deadline, ""});
      }
      return;
    case wire::Coordinate::FIRE_AND_FORGET: {
      if (c.key().empty() || !state_->FindTask(c.key())) return unknown_key();
      if (forget_.insert(c.key()).second) state_->Hold(kForgetter, c.key());
      ReplyTo(client, request)->set_ok(true);
      Sweep();
      return;
    }
    default:
      Fail(client, request, "unknown coordination request " + std::to_string(static_cast<int>(c.op())));
  }
}

void Coordination::WakeQueue(const std::string& name) {
  auto& items = queues_[name];
  auto& waiters = queue_waiters_[name];
  while (!items.empty() && !waiters.empty()) {
    Waiter w = waiters.front();
    waiters.pop_front();
    Item item = items.front();
    items.pop_front();
    Give(w.client, w.request, item);
    DropItem(item);  // the getter holds it now
  }
}

void Coordination::WakeLock(const std::string& name) {
  LockState& l = locks_[name];
  if (!l.owner.empty() || l.waiters.empty()) return;
  Waiter w = l.waiters.front();
  l.waiters.pop_front();
  l.owner = w.owner;
  l.client = w.client;
  ReplyTo(w.client, w.request)->set_ok(true);
}

void Coordination::Expire(double now) {
  auto expire = [&](std::deque<Waiter>& ws) {
    for (auto it = ws.begin(); it != ws.end();) {
      if (it->deadline <= now) {
        ReplyTo(it->client, it->request)->set_ok(false);
        it = ws.erase(it);
      } else {
        ++it;
      }
    }
  };
  for (auto& [n, ws] : variable_waiters_) expire(ws);
  for (auto& [n, ws] : queue_waiters_) expire(ws);
  for (auto& [n, l] : locks_) expire(l.waiters);
  for (auto& [n, ws] : event_waiters_) expire(ws);
}

void Coordination::Sweep() {
  for (auto it = forget_.begin(); it != forget_.end();) {
    const SchedulerState::Task* t = state_->FindTask(*it);
    if (!t || t->status == SchedulerState::TaskStatus::kMemory || t->status == SchedulerState::TaskStatus::kErred) {
      std::string key = *it;
      it = forget_.erase(it);
      state_->Release(kForgetter, key);
    } else {
      ++it;
    }
  }
}

void Coordination::RemoveClient(ClientId client) {
  auto drop = [&](std::deque<Waiter>& ws) {
    for (auto it = ws.begin(); it != ws.end();) it = it->client == client ? ws.erase(it) : std::next(it);
  };
  for (auto& [n, ws] : variable_waiters_) drop(ws);
  for (auto& [n, ws] : queue_waiters_) drop(ws);
  for (auto& [n, ws] : event_waiters_) drop(ws);
  for (auto& [n, l] : locks_) {
    drop(l.waiters);
    if (l.client == client && !l.owner.empty()) {
      // A lock holder that vanished would block everyone forever.
      l.owner.clear();
      l.client = 0;
      WakeLock(n);
    }
  }
}

}  // namespace skein::distributed::internal
