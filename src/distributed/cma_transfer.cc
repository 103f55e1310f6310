// Reading a same-host sender's frames out of its memory (see
// cma_transfer_internal.h).
#include "distributed/cma_transfer_internal.h"

#include <sys/prctl.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "skein/core/error.h"

namespace skein::distributed::internal {
namespace {

std::atomic<bool>& Enabled() {
  static std::atomic<bool> on{[] {
    const char* e = std::getenv("SKEIN_CMA_TRANSFER");
    return !(e && std::string(e) == "0");
  }()};
  return on;
}

// iovecs per system call (the kernel's UIO_MAXIOV is 1024).
constexpr size_t kIovecsPerCall = 512;

}  // namespace

bool CmaEnabled() { return Enabled().load(std::memory_order_relaxed); }

void DisableCma() { Enabled().store(false, std::memory_order_relaxed); }

void AllowCmaReaders() {
#ifdef PR_SET_PTRACER
  if (CmaEnabled()) prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
#endif
}

// The kernel may stop at any iovec boundary or inside one, so what is
// left is asked again.
void CmaReadPieces(pid_t pid, std::vector<CmaPiece>& pieces, const std::string& what, bool* refused) {
  std::vector<iovec> local, remote;
  size_t next = 0;
  while (true) {
    while (next < pieces.size() && pieces[next].left == 0) ++next;  // empty, or read
    if (next == pieces.size()) break;
    local.clear();
    remote.clear();
    for (size_t k = next; k < pieces.size() && local.size() < kIovecsPerCall; ++k) {
      if (pieces[k].left == 0) continue;
      local.push_back({pieces[k].to, static_cast<size_t>(pieces[k].left)});
      remote.push_back({reinterpret_cast<void*>(static_cast<uintptr_t>(pieces[k].from)), static_cast<size_t>(pieces[k].left)});
    }
    const ssize_t got = process_vm_readv(pid, local.data(), local.size(), remote.data(), remote.size(), 0);
    if (got < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if ((err == EPERM || err == ENOSYS) && refused) *refused = true;
      throw CommError(what + ": could not read the sender's memory (process " + std::to_string(pid) +
                      "): " + std::strerror(err));
    }
    if (got == 0) throw CommError(what + ": the sender's memory ended before its frames did");
    // Advance past what was read.
    uint64_t done = static_cast<uint64_t>(got);
    while (done > 0 && next < pieces.size()) {
      CmaPiece& p = pieces[next];
      if (p.left == 0) {
        ++next;
        continue;
      }
      const uint64_t n = std::min(done, p.left);
      p.to += n;
      p.from += n;
      p.left -= n;
      done -= n;
      if (p.left == 0) ++next;
    }
  }
}

std::vector<Buffer> CmaRead(pid_t pid, const std::vector<uint64_t>& addresses, const std::vector<uint64_t>& sizes,
                            const std::string& what, bool* refused, CmaFrames* seen) {
  if (addresses.size() != sizes.size()) {
    throw CommError(what + ": the sender named " + std::to_string(addresses.size()) + " frame addresses for " +
                    std::to_string(sizes.size()) + " frames");
  }
  if (pid <= 0) throw CommError(what + ": the sender named no process to read from");
  std::vector<Buffer> frames(sizes.size());
  std::vector<CmaPiece> pieces;
  std::vector<size_t> added;  // frames this call put in `seen`
  auto forget = [&] {
    for (size_t i : added) seen->erase({pid, addresses[i], sizes[i]});  // never read: not to be shared
  };
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == 0) continue;
    const bool share = seen && sizes[i] >= kCmaShareMinBytes;
    if (share) {
      if (auto it = seen->find({pid, addresses[i], sizes[i]}); it != seen->end()) {
        frames[i] = it->second;  // read before (or below, in this call): the same bytes
        continue;
      }
    }
    std::byte* w = nullptr;
    try {
      frames[i] = Buffer::AllocateUninitialized(static_cast<size_t>(sizes[i]), &w);
    } catch (const std::bad_alloc&) {
      forget();
      throw CommError(what + ": no memory for a frame of " + std::to_string(sizes[i]) + " bytes");
    }
    pieces.push_back({w, addresses[i], sizes[i]});
    if (share) {
      seen->emplace(std::make_tuple(int64_t{pid}, addresses[i], sizes[i]), frames[i]);
      added.push_back(i);
    }
  }
  try {
    CmaReadPieces(pid, pieces, what, refused);
  } catch (...) {
    forget();
    throw;
  }
  return frames;
}

namespace {

class ProcessLentValue final : public LentValue {
 public:
  ProcessLentValue(std::string type, std::string header, std::vector<uint64_t> sizes, pid_t pid,
                   std::vector<uint64_t> addresses, std::string what, std::shared_ptr<void> hold,
                   std::chrono::steady_clock::time_point deadline, std::function<Value()> refetch)
      : LentValue(std::move(type), std::move(header), std::move(sizes)),
        pid_(pid),
        addresses_(std::move(addresses)),
        what_(std::move(what)),
        hold_(std::move(hold)),
        deadline_(deadline),
        refetch_(std::move(refetch)) {
    if (addresses_.size() != frame_sizes().size()) {
      throw CommError(what_ + ": the sender named " + std::to_string(addresses_.size()) + " frame addresses for " +
                      std::to_string(frame_sizes().size()) + " frames");
    }
    if (pid_ <= 0) throw CommError(what_ + ": the sender named no process to read from");
  }

 private:
  void DoCopy(std::span<const Copy> copies) const override {
    if (LentValuePtr here = Fallback(false)) return here->CopyOut(copies);
    if (std::chrono::steady_clock::now() < deadline_) {
      std::vector<CmaPiece> pieces;
      pieces.reserve(copies.size());
      for (const Copy& c : copies) pieces.push_back({c.to, addresses_[c.frame] + c.offset, c.size});
      bool refused = false;
      try {
        CmaReadPieces(pid_, pieces, what_, &refused);
        return;
      } catch (const CommError&) {
        if (refused) DisableCma();
        if (!refetch_) throw;
      }
    }
    Fallback(true)->CopyOut(copies);
  }

  // The value brought here (with `make`, fetched now if it is not yet).
  LentValuePtr Fallback(bool make) const {
    std::lock_guard lock(mu_);
    if (!here_ && make) {
      if (!refetch_) throw CommError(what_ + ": the sender holds it no longer, and it cannot be fetched again");
      LentValuePtr got = LendHere(refetch_());
      if (got->frame_sizes() != frame_sizes() || got->header() != header()) {
        throw CommError(what_ + ": fetched again, it is laid out otherwise than the value the sender lent");
      }
      here_ = std::move(got);
    }
    return here_;
  }

  const pid_t pid_;
  const std::vector<uint64_t> addresses_;
  const std::string what_;
  const std::shared_ptr<void> hold_;
  const std::chrono::steady_clock::time_point deadline_;
  const std::function<Value()> refetch_;
  mutable std::mutex mu_;
  mutable LentValuePtr here_;  // guarded by mu_
};

}  // namespace

LentValuePtr LendFromProcess(std::string type, std::string header, std::vector<uint64_t> sizes, pid_t pid,
                             std::vector<uint64_t> addresses, std::string what, std::shared_ptr<void> hold,
                             std::chrono::steady_clock::time_point deadline, std::function<Value()> refetch) {
  return std::make_shared<ProcessLentValue>(std::move(type), std::move(header), std::move(sizes), pid,
                                            std::move(addresses), std::move(what), std::move(hold), deadline,
                                            std::move(refetch));
}

}  // namespace skein::distributed::internal
