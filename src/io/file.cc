// POSIX file helpers (see file_internal.h).
#include "file_internal.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "skein/core/error.h"

namespace skein::io::internal {
namespace {
[[noreturn]] void Fail(const std::string& what, const std::string& path, int err) {
  throw IOError(what + " '" + path + "': " + std::strerror(err));
}
}  // namespace

File File::OpenRead(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail("cannot open", path, errno);
  return File(fd, path);
}

File File::Create(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Fail("cannot create", path, errno);
  return File(fd, path);
}

File File::OpenWrite(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) Fail("cannot open for writing", path, errno);
  return File(fd, path);
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

int64_t File::Size() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) Fail("cannot stat", path_, errno);
  return st.st_size;
}

void File::ReadAt(int64_t offset, void* out, int64_t n) const {
  auto* p = static_cast<char*>(out);
  while (n > 0) {
    ssize_t got = ::pread(fd_, p, static_cast<size_t>(n), offset);
    if (got < 0) {
      if (errno == EINTR) continue;
      Fail("cannot read", path_, errno);
    }
    if (got == 0) throw IOError("file '" + path_ + "' is truncated: " + std::to_string(n) + " bytes missing at offset " + std::to_string(offset));
    p += got;
    offset += got;
    n -= got;
  }
}

Buffer File::MapAt(int64_t offset, int64_t n) const {
  if (offset < 0 || n < 0) throw IOError("file '" + path_ + "': bad range to map");
  if (n == 0) return Buffer();
  if (offset + n > Size()) {
    throw IOError("file '" + path_ + "' is truncated: " + std::to_string(offset + n - Size()) + " bytes missing at offset " +
                  std::to_string(offset));
  }
  const auto page = static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
  const int64_t start = offset / page * page;
  const auto length = static_cast<size_t>(offset + n - start);
  void* m = ::mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd_, start);
  if (m == MAP_FAILED) Fail("cannot map", path_, errno);
  ::madvise(m, length, MADV_SEQUENTIAL | MADV_WILLNEED);
  std::shared_ptr<const void> owner(m, [length](const void* p) { ::munmap(const_cast<void*>(p), length); });
  return Buffer::Wrap(std::move(owner), static_cast<const std::byte*>(m) + (offset - start), static_cast<size_t>(n));
}

void File::WriteAt(int64_t offset, const void* data, int64_t n) const {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t put = ::pwrite(fd_, p, static_cast<size_t>(n), offset);
    if (put < 0) {
      if (errno == EINTR) continue;
      Fail("cannot write", path_, errno);
    }
    p += put;
    offset += put;
    n -= put;
  }
}

void File::Truncate(int64_t size) const {
  if (::ftruncate(fd_, size) != 0) Fail("cannot size", path_, errno);
}

void File::Sync() const {
  if (::fsync(fd_) != 0) Fail("cannot sync", path_, errno);
}

std::string TempNameFor(const std::string& path) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
  return path + ".tmp-" + buf;
}

void WriteFileAtomically(const std::string& path, std::string_view bytes) {
  const std::string tmp = TempNameFor(path);
  try {
    File f = File::Create(tmp);
    f.WriteAt(0, bytes.data(), static_cast<int64_t>(bytes.size()));
    f.Sync();
    RenamePath(tmp, path);
  } catch (...) {
    RemoveAll(tmp);
    throw;
  }
}

void RenamePath(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (std::filesystem::is_directory(to, ec)) std::filesystem::remove_all(to, ec);
  if (std::rename(from.c_str(), to.c_str()) != 0) Fail("cannot rename '" + from + "' to", to, errno);
}

void RemoveAll(const std::string& path) noexcept {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

void CheckBoolBytes(const void* data, int64_t n, const std::string& where) {
  const auto* b = static_cast<const uint8_t*>(data);
  for (int64_t i = 0; i < n; ++i) {
    if (b[i] > 1) throw IOError(where + ": bool element " + std::to_string(i) + " is " + std::to_string(b[i]));
  }
}

}  // namespace skein::io::internal
