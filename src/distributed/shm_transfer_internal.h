// Private: moving a value between two processes on the same host through
// shared memory instead of the gRPC stream.
//
// Over loopback a streamed value is copied about six times (into protobuf
// chunks, gRPC slices, the kernel twice, back into chunks, into frames).
// When the receiver and the sender share a host, the receiver offers an
// empty file of its own in /dev/shm (an "inbox"); the sender writes the
// value's frames into it once and answers with the frame sizes only; the
// receiver reads the file into its own memory: two copies in all, both at
// memory speed. (Mapping the file instead saves a copy, but its 4 KiB
// pages make every later read of the value slow in a VM; see Read.)
// Plasma (Ray's object store) moves same-node objects through files too.
//
// Who owns what: the receiver creates the file (mode 0600, O_EXCL) and
// removes it in every case, whether the sender wrote it or not, so a sender
// that dies leaves nothing behind. The sender only writes into a file that
// is in the shared-memory directory, carries the inbox name pattern, is a
// regular file of this user and is empty (a peer cannot aim it elsewhere).
// Anything that fails on the sender's side (no space, a name it will not
// write) makes it stream instead; the receiver checks every size against
// the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "skein/core/serialize.h"

namespace skein::distributed::internal {

/// Values smaller than this are streamed (a file costs a few system calls).
constexpr uint64_t kShmMinBytes = uint64_t{1} << 20;

/// What identifies "same host" for shared memory: the kernel's boot id, the
/// network namespace, the shared-memory directory's device and inode, and
/// the user. Two processes with equal ids can see each other's inboxes.
/// Empty where shared memory is unavailable or turned off
/// (SKEIN_SHM_TRANSFER=0 in the environment).
const std::string& ShmHostId();

/// The receiver's side: an empty file in the shared-memory directory for one
/// value, removed when this object goes (frames read from it stay valid).
class ShmInbox {
 public:
  /// Creates the file; an inbox that could not be created is !valid() and
  /// offers nothing (the value is then streamed).
  ShmInbox();
  ~ShmInbox();
  ShmInbox(const ShmInbox&) = delete;
  ShmInbox& operator=(const ShmInbox&) = delete;

  bool valid() const { return fd_ >= 0; }
  /// The file's name (no directory), sent to the sender.
  const std::string& name() const { return name_; }

  /// Reads what the sender wrote: frames of `sizes` bytes laid out as
  /// ShmFrameOffsets says. CommError naming `what` if the file is shorter
  /// than announced or cannot be read.
  std::vector<Buffer> Read(const std::vector<uint64_t>& sizes, const std::string& what);

 private:
  int fd_ = -1;
  std::string name_;
  std::string path_;
};

/// Where each frame starts in the file (64-byte aligned, in order), and the
/// file's total size as the last element.
std::vector<uint64_t> ShmFrameOffsets(const std::vector<uint64_t>& sizes);

/// The sender's side: writes `s`'s frames into the inbox called `name` in
/// the shared-memory directory. False (and nothing written that the
/// receiver would take) if the name is not an inbox's, the file is not this
/// user's empty regular file, or space runs out; the caller then streams.
bool ShmWrite(const std::string& name, const Serialized& s);

}  // namespace skein::distributed::internal
