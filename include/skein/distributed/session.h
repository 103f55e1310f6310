// skein/distributed/session.h — a client's connection to a scheduler.
//
// skein::Client uses this when given a tcp:// address; most programs never
// touch it directly. It sends tasks (operation names plus arguments; see
// skein/core/wire.h), keeps the scheduler informed of which keys the client
// still holds, delivers each key's outcome to listeners, and fetches values
// straight from the workers that hold them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skein/core/lent_value.h"
#include "skein/core/key.h"
#include "skein/core/task.h"
#include "skein/core/value.h"
#include "skein/distributed/security.h"

namespace skein::distributed {

struct SessionOptions {
  std::string token;
  /// The cluster's TLS files, for a tls:// scheduler.
  Security security;
  /// How long Connect waits for the scheduler to answer.
  double connect_timeout_seconds = 10;
};

/// What happened to a key the client holds.
struct KeyEvent {
  enum Kind { kFinished, kErred, kCancelled, kLost, kDisconnected };
  Kind kind = kFinished;
  std::string type;     ///< kErred: C++ type of the exception
  std::string message;  ///< kErred / kDisconnected: what went wrong
  std::string failed_key;  ///< kErred: the task that raised, if another one
};

struct TaskSubmission {
  Key key;
  Task task;
  int64_t priority = 0;  ///< smaller runs first (within one submission)
  int retries = 0;
  std::map<std::string, double> resources;
};

struct WorkerInfo {
  std::string address;
  std::string name;
  int nthreads = 0;
  int64_t memory_limit = 0;
  int64_t memory = 0;
  int processing = 0;
  std::map<std::string, double> resources;
};

/// Shared state kept by the scheduler (see coordination_internal.h);
/// the public face is skein/api/coordination.h.
enum class CoordinationOp {
  kPublish, kUnpublish, kGetDataset, kListDatasets,
  kVariableSet, kVariableGet, kVariableDelete,
  kQueuePut, kQueueGet, kQueueSize,
  kLockAcquire, kLockRelease,
  kEventSet, kEventClear, kEventWait,
  kFireAndForget,
};

struct CoordinationRequest {
  CoordinationOp op;
  std::string name;
  Value value;              ///< the item, unless `key` is given
  std::optional<Key> key;   ///< a key the scheduler knows (a future)
  double timeout_seconds = -1;  ///< blocking ops; negative: wait forever
  std::string owner;        ///< locks
};

struct CoordinationReply {
  bool ok = false;          ///< false: timed out
  Value value;
  std::optional<Key> key;   ///< held by this client on the scheduler (Submit it as wanted)
  std::vector<std::string> names;
  int64_t size = 0;
};

/// Safe for concurrent use.
class Session {
 public:
  using Listener = std::function<void(const KeyEvent&)>;

  /// Connects and waits for the scheduler to accept this client: CommError
  /// naming the address if it is unreachable or refuses (wrong token,
  /// another protocol version).
  static std::shared_ptr<Session> Connect(const std::string& address, const SessionOptions& options = {});
  virtual ~Session() = default;

  virtual const std::string& address() const = 0;
  /// Sends tasks; every key in `wanted` is then held by this client until
  /// Release (held keys are counted: Want twice, Release twice). Tasks
  /// whose operation is a plain lambda are an OpError before anything is sent.
  virtual void Submit(const std::vector<TaskSubmission>& tasks, const std::vector<Key>& wanted) = 0;
  /// Calls `fn` with every event of `key` (at once with the last one, if any).
  virtual void Listen(const Key& key, Listener fn) = 0;
  virtual void Release(const Key& key) = 0;
  virtual void Cancel(const Key& key) = 0;
  /// The value of a finished key, from a worker holding it. TimeoutError if
  /// no holder answers within `timeout` (default 60 s).
  virtual Value Fetch(const Key& key, std::optional<std::chrono::duration<double>> timeout = std::nullopt) = 0;
  /// The values of finished keys, lent (skein/core/lent_value.h): a value a
  /// worker of this host lends by address stays in that worker's memory,
  /// held there until the lent value is dropped, and is read only as the
  /// caller copies it out, so a consumer that copies anyway (compute()
  /// concatenating a dataframe's partitions) reads each byte once. Other
  /// values are fetched as Fetch does. Keep the keys held while the lent
  /// values are used: a read that fails (the worker died) fetches the key
  /// again. Errors as Fetch.
  virtual std::vector<LentValuePtr> Borrow(const std::vector<Key>& keys);
  /// Stores `value` on a worker under `key` (held by this client).
  virtual void Scatter(const Key& key, const Value& value) = 0;
  /// Sends a shared library to every worker, now and joining later; each
  /// loads it, so its SKEIN_REGISTER operations become available there.
  virtual void UploadFile(const std::string& path) = 0;
  virtual std::vector<WorkerInfo> Workers() = 0;
  /// Moves results between workers until each holds about the same bytes
  /// (Client::rebalance); the number of results moved. TimeoutError if the
  /// moves take longer than `timeout_seconds`.
  virtual int64_t Rebalance(double timeout_seconds) = 0;
  /// A coordination request; CommError with the scheduler's message if it
  /// refuses (unknown dataset, a lock not held...).
  virtual CoordinationReply Coordinate(const CoordinationRequest& request) = 0;
  /// False once the connection to the scheduler is lost.
  virtual bool connected() const = 0;
};

}  // namespace skein::distributed
