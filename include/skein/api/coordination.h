// skein/api/coordination.h — state shared by every client of a cluster,
// kept by the scheduler: Dask's distributed Variable, Queue, Lock and Event.
//
//   skein::Client client("tcp://scheduler:8786");
//   skein::Queue jobs(client, "jobs");
//   jobs.put(42);                                   // or a Future
//   skein::Value next = jobs.get(skein::Duration(5));
//
//   skein::Lock lock(client, "model-file");
//   std::lock_guard hold(lock);                     // acquire(); release() at scope end
//
// An item is a value (anything serializable) or a Future: a future's
// result stays on the workers while stored, and get() returns its value.
// Blocking calls take an optional timeout; without one they wait. They
// need a distributed Client (Error otherwise); every object with the same
// name on the same cluster is the same object.
#pragma once

#include <optional>
#include <string>

#include "skein/api/client.h"

namespace skein {

/// A named value any client can set and read. Safe for concurrent use.
class Variable {
 public:
  Variable(Client& client, std::string name);
  void set(const Value& value);
  void set(const Future& future);
  /// The current value (a future's result); waits for a first set().
  /// TimeoutError naming the variable if none comes within `timeout`.
  Value get(std::optional<Duration> timeout = std::nullopt);
  /// Forgets the value (a stored future's result may then be released).
  void remove();

 private:
  Client& client_;
  std::string name_;
};

/// A named FIFO queue shared by clients. Safe for concurrent use.
class Queue {
 public:
  Queue(Client& client, std::string name);
  void put(const Value& value);
  void put(const Future& future);
  /// The oldest item, waiting for one; TimeoutError after `timeout`.
  Value get(std::optional<Duration> timeout = std::nullopt);
  int64_t qsize();

 private:
  Client& client_;
  std::string name_;
};

/// A named mutual-exclusion lock across clients. Each Lock object is its
/// own owner (as in Dask): two objects with one name exclude each other.
/// A holder whose client disconnects gives the lock back. Satisfies
/// BasicLockable, so std::lock_guard works. Not thread-safe (one owner).
class Lock {
 public:
  Lock(Client& client, std::string name);
  /// True once held; false if `timeout` passed first.
  bool acquire(std::optional<Duration> timeout = std::nullopt);
  /// CommError if this object does not hold it.
  void release();
  bool locked() const { return held_; }
  void lock() { acquire(); }
  void unlock() { release(); }

 private:
  Client& client_;
  std::string name_;
  std::string owner_;
  bool held_ = false;
};

/// A named flag clients can wait on. Safe for concurrent use.
class Event {
 public:
  Event(Client& client, std::string name);
  void set();
  void clear();
  /// True once set (at once if it is); false if `timeout` passed first.
  bool wait(std::optional<Duration> timeout = std::nullopt);
  bool is_set() { return wait(Duration(0)); }

 private:
  Client& client_;
  std::string name_;
};

}  // namespace skein
