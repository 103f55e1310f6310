// POSIX, in-memory and fault-injecting file systems.
#include "skein/core/env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "skein/core/error.h"

namespace skein {
namespace {

[[noreturn]] void ThrowErrno(const std::string& what, const std::string& path, int err) {
  throw IOError(what + " " + path + " failed: " + std::strerror(err));
}

class PosixEnv final : public Env {
 public:
  void WriteFile(const std::string& path, std::string_view data) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) ThrowErrno("creating", path, errno);
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        ::unlink(path.c_str());  // never leave a partial file looking complete
        ThrowErrno("writing", path, err);
      }
      done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0) {
      int err = errno;
      ::unlink(path.c_str());
      ThrowErrno("closing", path, err);
    }
  }

  std::string ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) ThrowErrno("opening", path, errno);
    std::string out;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        ::close(fd);
        ThrowErrno("reading", path, err);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

  void RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) ThrowErrno("removing", path, errno);
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  void CreateDirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) throw IOError("creating directory " + path + " failed: " + ec.message());
  }

  void RemoveDirAll(const std::string& path) override {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) throw IOError("removing directory " + path + " failed: " + ec.message());
  }
};

class MemEnv final : public Env {
 public:
  void WriteFile(const std::string& path, std::string_view data) override {
    std::lock_guard lock(mu_);
    files_[path] = std::string(data);
  }
  std::string ReadFile(const std::string& path) override {
    std::lock_guard lock(mu_);
    auto it = files_.find(path);
    if (it == files_.end()) ThrowErrno("opening", path, ENOENT);
    return it->second;
  }
  void RemoveFile(const std::string& path) override {
    std::lock_guard lock(mu_);
    files_.erase(path);
  }
  bool FileExists(const std::string& path) override {
    std::lock_guard lock(mu_);
    return files_.count(path) > 0;
  }
  void CreateDirs(const std::string&) override {}
  void RemoveDirAll(const std::string& path) override {
    std::lock_guard lock(mu_);
    std::string prefix = path + "/";
    for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.starts_with(prefix);) {
      it = files_.erase(it);
    }
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> files_;
};

}  // namespace

Env* Env::Default() {
  static Env* env = new PosixEnv();
  return env;
}

std::unique_ptr<Env> NewMemEnv() { return std::make_unique<MemEnv>(); }

void FaultInjectionEnv::WriteFile(const std::string& path, std::string_view data) {
  int64_t left = budget_.fetch_sub(static_cast<int64_t>(data.size()));
  if (left < static_cast<int64_t>(data.size())) ThrowErrno("writing", path, error_.load());
  EnvWrapper::WriteFile(path, data);
  files_written_.fetch_add(1);
}

std::string FaultInjectionEnv::ReadFile(const std::string& path) {
  if (int err = read_error_.load()) ThrowErrno("reading", path, err);
  return EnvWrapper::ReadFile(path);
}

}  // namespace skein
