// The default Client's route for collections (default_client.cc), and the
// "held" tasks that stand for results persisted on a cluster.
#pragma once

#include <memory>

#include "skein/core/task.h"

namespace skein {
class Future;
namespace distributed {
class Session;
}

namespace internal {

/// Makes `session` the default: Get and Persist (skein/local/scheduler.h)
/// with scheduler "auto" or "distributed" run there while it lives.
void MakeDefault(const std::shared_ptr<distributed::Session>& session);

/// The op of held tasks.
const OpPtr& HeldOp();
/// A task standing for `future`'s result, kept on `session`'s cluster.
Task HeldTask(const Future& future, const std::shared_ptr<distributed::Session>& session);
/// True if `task` (under `key`) is a held result of `session`; Error if it
/// is held on another cluster.
bool HeldOn(const Task& task, const std::shared_ptr<distributed::Session>& session, const Key& key);

}  // namespace internal
}  // namespace skein
