// Private: state the scheduler keeps for clients to share — published
// datasets, Variables, Queues, Locks, Events — and fire-and-forget keys
// (Dask's publish_dataset, distributed.Variable/Queue/Lock/Event and
// fire_and_forget).
//
// An item is a literal value or a key; keys are held (as a pseudo-client)
// while stored, so their results stay on the workers. Blocking requests
// (a queue get on an empty queue, a taken lock, an unset event, a variable
// never set) are answered later: when the state changes, or with ok=false
// at their deadline (Expire). A client that goes away drops its waiters and
// gives back its locks.
//
// Not thread-safe: the scheduler's event thread owns it.
#pragma once

#include <deque>
#include <limits>
#include <map>
#include <set>
#include <string>

#include "distributed/scheduler_state_internal.h"

namespace skein::distributed::internal {

class Coordination {
 public:
  Coordination(SchedulerState* state, Outbox* out) : state_(state), out_(out) {}

  void Handle(ClientId client, uint64_t request, const wire::Coordinate& c, double now);
  /// Answers waiters whose deadline passed (ok = false).
  void Expire(double now);
  /// Releases fire-and-forget keys that finished or failed.
  void Sweep();
  void RemoveClient(ClientId client);

  size_t datasets() const { return datasets_.size(); }

 private:
  // Pseudo-clients that hold keys in the scheduler state.
  static constexpr ClientId kHolder = std::numeric_limits<ClientId>::max();
  static constexpr ClientId kForgetter = std::numeric_limits<ClientId>::max() - 1;

  struct Item {
    std::string value;  // encoded literal, or
    std::string key;    // a held key
  };
  struct Waiter {
    ClientId client;
    uint64_t request;
    double deadline;  // infinity: none
    std::string owner;
  };

  wire::Reply* ReplyTo(ClientId client, uint64_t request);
  void Fail(ClientId client, uint64_t request, const std::string& error);
  // An item from a request (holding its key); false if the key is unknown.
  bool TakeItem(const wire::Coordinate& c, Item* out);
  void DropItem(const Item& item);
  void Give(ClientId client, uint64_t request, const Item& item);
  void HoldKey(const std::string& key);
  void ReleaseKey(const std::string& key);
  void WakeQueue(const std::string& name);
  void WakeLock(const std::string& name);

  SchedulerState* state_;
  Outbox* out_;
  std::map<std::string, int> held_;  // key -> holds by this object
  std::map<std::string, std::string> datasets_;
  std::map<std::string, Item> variables_;
  std::map<std::string, std::deque<Waiter>> variable_waiters_;
  std::map<std::string, std::deque<Item>> queues_;
  std::map<std::string, std::deque<Waiter>> queue_waiters_;
  struct LockState {
    std::string owner;
    ClientId client = 0;
    std::deque<Waiter> waiters;
  };
  std::map<std::string, LockState> locks_;
  std::map<std::string, bool> events_;
  std::map<std::string, std::deque<Waiter>> event_waiters_;
  std::set<std::string> forget_;
};

}  // namespace skein::distributed::internal
