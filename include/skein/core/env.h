// skein/core/env.h — the file-system seam (after LevelDB's Env).
//
// Spilling (and later the readers and writers) touch files only through Env,
// so tests can swap in an in-memory file system or one that fails on demand:
//
//   auto mem = skein::NewMemEnv();
//   skein::FaultInjectionEnv faulty(mem.get());
//   faulty.FailWritesAfter(1 << 20, ENOSPC);   // "disk full" after 1 MiB
//
// Every failure is an IOError whose message names the path and the reason.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace skein {

/// File-system operations. Implementations are safe for concurrent use.
class Env {
 public:
  virtual ~Env() = default;
  /// The real (POSIX) file system. Never destroyed.
  static Env* Default();

  /// Writes `data` to a new file at `path` (replacing any).
  virtual void WriteFile(const std::string& path, std::string_view data) = 0;
  virtual std::string ReadFile(const std::string& path) = 0;
  /// Removes a file; missing files are not an error.
  virtual void RemoveFile(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  /// Creates a directory and its parents (existing ones are fine).
  virtual void CreateDirs(const std::string& path) = 0;
  /// Removes a directory tree; a missing one is not an error.
  virtual void RemoveDirAll(const std::string& path) = 0;
};

/// Forwards every call to a target Env; subclass it to intercept some.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  void WriteFile(const std::string& p, std::string_view d) override { target_->WriteFile(p, d); }
  std::string ReadFile(const std::string& p) override { return target_->ReadFile(p); }
  void RemoveFile(const std::string& p) override { target_->RemoveFile(p); }
  bool FileExists(const std::string& p) override { return target_->FileExists(p); }
  void CreateDirs(const std::string& p) override { target_->CreateDirs(p); }
  void RemoveDirAll(const std::string& p) override { target_->RemoveDirAll(p); }

 protected:
  Env* target() const { return target_; }

 private:
  Env* target_;
};

/// A file system held in memory (for tests).
std::unique_ptr<Env> NewMemEnv();

/// Fails writes with an errno once a byte budget is spent, and counts calls.
class FaultInjectionEnv : public EnvWrapper {
 public:
  using EnvWrapper::EnvWrapper;
  /// Writes fail with `error` (e.g. ENOSPC) once `bytes` have been written.
  void FailWritesAfter(int64_t bytes, int error) {
    error_.store(error);
    budget_.store(bytes);
  }
  /// Reads of existing files fail with `error` (e.g. EIO); 0 disables.
  void FailReads(int error) { read_error_.store(error); }
  int64_t files_written() const { return files_written_.load(); }

  void WriteFile(const std::string& path, std::string_view data) override;
  std::string ReadFile(const std::string& path) override;

 private:
  std::atomic<int64_t> budget_{INT64_MAX};
  std::atomic<int> error_{0};
  std::atomic<int> read_error_{0};
  std::atomic<int64_t> files_written_{0};
};

}  // namespace skein
