// libFuzzer target: everything a peer can send over the distributed wire.
// The first byte picks the decoder; the rest is the message:
//   0  a task spec (DecodeTask), which must re-encode once decoded
//   1  a key (DecodeKey)
//   2  a WorkerToScheduler message, applied to a scheduler state holding a
//      client's small graph (a lying worker: reports for tasks it was not
//      given, unknown keys, failures naming missing inputs)
//   3  a ClientToScheduler message, applied the same way (unknown
//      dependencies, malformed keys, releases and cancels of anything)
//   4  DataChunks (each prefixed by a 2-byte length) into a ValueAssembler,
//      with an empty shared-memory inbox offered when the input's length is
//      odd (a chunk claiming frames in it must be refused, not mapped blind);
//      reading the sender's memory is never offered here, so a chunk naming
//      a pid and frame addresses must be refused (what a read of lying
//      addresses does is cma_transfer_test's and protocol_test's)
// Any input must be handled or raise skein::Error; never crash or hang.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "distributed/protocol_internal.h"
#include "distributed/coordination_internal.h"
#include "distributed/scheduler_state_internal.h"
#include "skein/core/wire.h"

using namespace skein;
using namespace skein::distributed::internal;

namespace {

// A scheduler with two workers and a client whose chain a -> b is running.
void Prepare(SchedulerState* s) {
  WorkerSpec w1{.address = "tcp://a:1", .name = "a", .nthreads = 1};
  WorkerSpec w2{.address = "tcp://b:1", .name = "b", .nthreads = 2, .resources = {{"GPU", 1}}};
  s->AddWorker(w1, 0);
  s->AddWorker(w2, 0);
  wire::ClientToScheduler m;
  for (const char* k : {"a", "b"}) {
    wire::TaskSpec* t = m.add_tasks();
    t->set_key(EncodeKey(Key(k)));
  }
  m.mutable_tasks(1)->add_deps(EncodeKey(Key("a")));
  m.add_wanted(EncodeKey(Key("b")));
  s->UpdateGraph(1, m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 5) {
      case 0: {
        Task t = DecodeTask(bytes, "fuzz task");
        (void)DecodeTask(EncodeTask(t, "k"), "re-encoded");
        break;
      }
      case 1:
        (void)DecodeKey(bytes, "fuzz key").ToString();
        break;
      case 2: {
        wire::WorkerToScheduler m;
        if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) break;
        Outbox out;
        SchedulerState s(&out);
        Prepare(&s);
        WorkerId id = m.done_size() % 2 ? 1 : 2;
        for (const auto& d : m.done()) s.TaskFinished(id, d);
        for (const auto& f : m.failed()) s.TaskFailed(id, f);
        for (const auto& k : m.released()) s.WorkerReleased(id, k);
        if (m.has_heartbeat()) s.Heartbeat(id, m.heartbeat(), 1);
        s.RemoveWorker(1, "fuzz");
        break;
      }
      case 3: {
        wire::ClientToScheduler m;
        if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) break;
        Outbox out;
        SchedulerState s(&out);
        Prepare(&s);
        if (m.has_upload()) s.UploadLibrary(m.upload());
        for (const auto& x : m.scattered()) s.Scattered(1, x);
        if (m.tasks_size() > 0 || m.wanted_size() > 0) s.UpdateGraph(1, m);
        for (const auto& k : m.cancel()) s.Cancel(1, k);
        for (const auto& k : m.release()) s.Release(1, k);
        s.Answer(1, m);
        // Coordination requests (twice: a second client, and a repeat of
        // the same op against the state the first one left).
        Coordination co(&s, &out);
        if (m.has_coordinate()) {
          co.Handle(1, 7, m.coordinate(), 0);
          co.Handle(2, 8, m.coordinate(), 0);
          co.Sweep();
          co.Expire(1e9);
          co.RemoveClient(1);
        }
        s.RemoveWorker(2, "fuzz");
        s.RemoveClient(1);
        break;
      }
      case 4: {
        std::optional<ShmInbox> inbox;
        if (bytes.size() % 2) inbox.emplace();
        ValueAssembler as(inbox ? &*inbox : nullptr);
        size_t pos = 0;
        while (pos + 2 <= bytes.size()) {
          size_t n = static_cast<uint8_t>(bytes[pos]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[pos + 1])) << 8);
          pos += 2;
          n = std::min(n, bytes.size() - pos);
          wire::DataChunk c;
          if (c.ParseFromArray(bytes.data() + pos, static_cast<int>(n)) && as.Add(c)) (void)as.Take();
          pos += n;
        }
        break;
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
