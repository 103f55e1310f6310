// Small POSIX file helpers shared by the readers and writers: every error is
// an IOError naming the path and the reason.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "skein/core/buffer.h"

namespace skein::io::internal {

/// An open file descriptor, closed on destruction.
class File {
 public:
  static File OpenRead(const std::string& path);
  /// Creates (or truncates) for writing.
  static File Create(const std::string& path);
  /// Opens an existing file for writing without truncating.
  static File OpenWrite(const std::string& path);
  File(File&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  ~File();
  int64_t Size() const;
  /// Reads exactly `n` bytes at `offset`; IOError naming the path if the file is shorter.
  void ReadAt(int64_t offset, void* out, int64_t n) const;
  /// Bytes [offset, offset + n) as a read-only mapping of the file's pages:
  /// no copy and no fresh memory (on these VMs a first write to fresh memory
  /// costs ~1.7 s/GB; reading a CSV's blocks into buffers was 8-10% of the
  /// groupby load). IOError naming the path if the file is shorter now.
  /// Like any reader that maps files (Polars, Arrow), a file truncated
  /// while the mapping is read faults (SIGBUS); ReadAt does not.
  Buffer MapAt(int64_t offset, int64_t n) const;
  void WriteAt(int64_t offset, const void* data, int64_t n) const;
  void Truncate(int64_t size) const;
  void Sync() const;
  const std::string& path() const { return path_; }

 private:
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

/// "<path>.tmp-<random>": where outputs are written before the rename.
std::string TempNameFor(const std::string& path);
/// Writes `bytes` to a temporary name, syncs, and renames it to `path`; on
/// any error the temporary file is removed and `path` is left as it was.
void WriteFileAtomically(const std::string& path, std::string_view bytes);
void RenamePath(const std::string& from, const std::string& to);
/// Removes a file or directory tree; never throws.
void RemoveAll(const std::string& path) noexcept;

/// Bytes read as bool elements must each be 0 or 1 (anything else is
/// undefined behaviour once loaded as bool): IOError naming `where` and the
/// element otherwise.
void CheckBoolBytes(const void* data, int64_t n, const std::string& where);

}  // namespace skein::io::internal
