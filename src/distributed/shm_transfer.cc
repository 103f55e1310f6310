// Same-host value transfer through shared memory (see shm_transfer_internal.h).
#include "distributed/shm_transfer_internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>

#include "skein/core/error.h"

namespace skein::distributed::internal {
namespace {

constexpr const char* kShmDir = "/dev/shm";
constexpr const char* kInboxPrefix = "skein-inbox-";
constexpr uint64_t kFrameAlign = 64;

std::string ComputeHostId() {
  const char* flag = std::getenv("SKEIN_SHM_TRANSFER");
  if (flag && std::string(flag) == "0") return "";
  struct stat dir {};
  if (stat(kShmDir, &dir) != 0 || !S_ISDIR(dir.st_mode) || access(kShmDir, W_OK | X_OK) != 0) return "";
  std::string boot;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot;
  struct stat net {};
  if (boot.empty() || stat("/proc/self/ns/net", &net) != 0) return "";
  return boot + ":" + std::to_string(net.st_ino) + ":" + std::to_string(dir.st_dev) + ":" +
         std::to_string(dir.st_ino) + ":" + std::to_string(geteuid());
}

// An inbox name: the prefix, then decimal digits and dashes only.
bool IsInboxName(const std::string& name) {
  const std::string prefix = kInboxPrefix;
  if (name.size() <= prefix.size() || name.size() > 96 || name.compare(0, prefix.size(), prefix) != 0) return false;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    const char c = name[i];
    if (!(c >= '0' && c <= '9') && c != '-') return false;
  }
  return true;
}

// All `size` bytes at `offset` through pwrite or pread (`io`), retrying
// interrupted calls; false on an error or a file that ends first.
template <class Bytes, class Io>
bool WholeIo(int fd, Bytes* data, uint64_t size, uint64_t offset, Io io) {
  while (size > 0) {
    ssize_t n = io(fd, data, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

bool WriteAll(int fd, const std::byte* data, uint64_t size, uint64_t offset) { return WholeIo(fd, data, size, offset, pwrite); }

bool ReadAll(int fd, std::byte* data, uint64_t size, uint64_t offset) { return WholeIo(fd, data, size, offset, pread); }

}  // namespace

const std::string& ShmHostId() {
  static const std::string id = ComputeHostId();
  return id;
}

std::vector<uint64_t> ShmFrameOffsets(const std::vector<uint64_t>& sizes) {
  std::vector<uint64_t> out;
  out.reserve(sizes.size() + 1);
  uint64_t at = 0;
  for (uint64_t n : sizes) {
    at = (at + kFrameAlign - 1) / kFrameAlign * kFrameAlign;
    out.push_back(at);
    at += n;
  }
  out.push_back(at);
  return out;
}

ShmInbox::ShmInbox() {
  if (ShmHostId().empty()) return;
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  name_ = std::string(kInboxPrefix) + std::to_string(getpid()) + "-" + std::to_string(salt % 1000000000) + "-" +
          std::to_string(counter.fetch_add(1));
  path_ = std::string(kShmDir) + "/" + name_;
  fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) name_.clear();
}

ShmInbox::~ShmInbox() {
  if (fd_ < 0) return;
  close(fd_);
  unlink(path_.c_str());
}

std::vector<Buffer> ShmInbox::Read(const std::vector<uint64_t>& sizes, const std::string& what) {
  if (fd_ < 0) throw CommError(what + " came through shared memory that this process did not offer");
  const std::vector<uint64_t> offsets = ShmFrameOffsets(sizes);
  const uint64_t total = offsets.back();
  struct stat st {};
  if (fstat(fd_, &st) != 0 || static_cast<uint64_t>(st.st_size) != total) {
    throw CommError(what + ": the shared-memory file holds " + std::to_string(st.st_size) + " bytes, the sender announced " +
                    std::to_string(total));
  }
  std::vector<Buffer> frames;
  if (total == 0) {
    frames.resize(sizes.size());
    return frames;
  }
  // Read, not mapped: frames in pool memory (huge pages, reused) are
  // copied from again at memory speed, while a tmpfs mapping is 4 KiB pages
  // whose TLB misses cost a nested page walk each in a VM (copying 680 MB
  // out of the mapping took 0.30 s; reading it in and copying it again,
  // 0.12 s).
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::byte* w = nullptr;
    Buffer frame = Buffer::AllocateUninitialized(static_cast<size_t>(sizes[i]), &w);
    if (!ReadAll(fd_, w, sizes[i], offsets[i])) {
      throw CommError(what + ": could not read the shared-memory file (" + std::to_string(errno) + ")");
    }
    frames.push_back(std::move(frame));
  }
  return frames;
}

bool ShmWrite(const std::string& name, const Serialized& s) {
  if (ShmHostId().empty() || !IsInboxName(name)) return false;
  const std::string path = std::string(kShmDir) + "/" + name;
  int fd = open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_size == 0;
  if (ok) {
    std::vector<uint64_t> sizes;
    for (const Buffer& f : s.frames) sizes.push_back(f.size());
    const std::vector<uint64_t> offsets = ShmFrameOffsets(sizes);
    for (size_t i = 0; ok && i < s.frames.size(); ++i) ok = WriteAll(fd, s.frames[i].data(), sizes[i], offsets[i]);
    // The size says the write is whole (trailing empty frames included).
    ok = ok && ftruncate(fd, static_cast<off_t>(offsets.back())) == 0;
    if (!ok) (void)ftruncate(fd, 0);  // leave it empty: the receiver then gets the value streamed
  }
  close(fd);
  return ok;
}

}  // namespace skein::distributed::internal
