// Private: moving a value between two processes of one host by reading the
// sender's memory directly (process_vm_readv, Linux's cross-memory attach).
//
// The shared-memory file (shm_transfer_internal.h) costs two copies and a
// fresh tmpfs page for every 4 KiB: on this VM a 1 GiB value took 0.20 s to
// write into a new file and 0.15 s to read back, where one
// process_vm_readv from the sender's frames into the receiver's pool memory
// took 0.075 s. So a same-host receiver offers both; a sender that can be
// read answers with its pid and its frames' addresses instead of bytes, and
// keeps the frames alive until the receiver ends the call (GetData's
// handler waits for the cancellation that says "done").
//
// Who may read whom: the kernel lets a process read another of the same
// user that it could ptrace. Where Yama restricts ptrace to descendants
// (ptrace_scope 1), a worker declares itself readable at start; where the
// read is refused anyway (ptrace_scope 2 or 3, a seccomp filter), the
// receiver turns the mechanism off for the rest of its life and fetches
// again through the file or the stream. SKEIN_CMA_TRANSFER=0 turns it off.
//
// What a lying peer can do: name frames that are not there (the read fails
// or comes up short: a CommError naming the value), or name another process
// of the same user, whose bytes would then be taken as the value; the same
// user could read that process anyway.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "skein/core/buffer.h"
#include "skein/core/lent_value.h"

namespace skein::distributed::internal {

/// Values from this size up are lent by address to a same-host receiver
/// that offers memory reads; smaller ones are streamed (one read costs a
/// system call and the sender's wait for the cancellation, about what
/// streaming 64 KiB costs). Every value of a batched fetch may be lent, so
/// a shuffle's many sub-MiB pieces are read, not streamed (on this VM the
/// stream moved them at 0.13-0.27 GB/s while both workers sent and received).
constexpr uint64_t kCmaMinBytes = uint64_t{64} << 10;

/// Whether this process offers and answers reads of memory (on unless
/// SKEIN_CMA_TRANSFER=0, or a read was refused here).
bool CmaEnabled();
/// Off for the rest of this process (a read was refused: EPERM, ENOSYS).
void DisableCma();
/// Lets same-user processes read this one's memory where Yama would allow
/// only its ancestors (a worker calls it once; a no-op without Yama).
void AllowCmaReaders();

/// Frames already read in one exchange, by (sender process, address,
/// size): a sender's buffers are immutable and held through the exchange,
/// so equal ones are the same bytes.
using CmaFrames = std::map<std::tuple<int64_t, uint64_t, uint64_t>, Buffer>;
/// Frames this large or larger are looked up in (and added to) a CmaFrames.
constexpr uint64_t kCmaShareMinBytes = 64 << 10;

/// Reads frames of `sizes` bytes at `addresses` in process `pid` into new
/// pool buffers. CommError naming `what` if the process is gone, the read
/// is refused (then `*refused` is set, if given) or comes up short. With
/// `seen`, a large frame read before in the same exchange (or earlier in
/// this call) is shared, not read again: the shuffle pieces of one
/// partition, fetched together, each name the same category dictionary.
std::vector<Buffer> CmaRead(pid_t pid, const std::vector<uint64_t>& addresses, const std::vector<uint64_t>& sizes,
                            const std::string& what, bool* refused = nullptr, CmaFrames* seen = nullptr);

/// A value a same-host sender lent by address: frames of `sizes` bytes at
/// `addresses` in process `pid`, read only as they are copied out (several
/// threads may copy at once). `hold` keeps the sender holding the frames,
/// until `deadline` at the latest; past it, or should a read fail, the
/// value is brought here once with `refetch` and copied from here (a
/// refused read turns memory reads off, as for CmaRead). CommError naming
/// `what` if there is no refetch then, or it fails.
LentValuePtr LendFromProcess(std::string type, std::string header, std::vector<uint64_t> sizes, pid_t pid,
                             std::vector<uint64_t> addresses, std::string what, std::shared_ptr<void> hold,
                             std::chrono::steady_clock::time_point deadline, std::function<Value()> refetch);

/// One range to read: `left` bytes at `from` in the sender, to `to` here.
struct CmaPiece {
  std::byte* to;
  uint64_t from, left;
};
/// Reads every piece out of process `pid`'s memory (the pieces advance as
/// they are read). CommError naming `what` as for CmaRead.
void CmaReadPieces(pid_t pid, std::vector<CmaPiece>& pieces, const std::string& what, bool* refused = nullptr);

}  // namespace skein::distributed::internal
