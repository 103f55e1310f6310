// skein/core/error.h — the one small exception hierarchy of the public API.
//
// Every error names what failed and where (key, operation, file, shape):
//
//   try { skein::compute(total); }
//   catch (const skein::TaskError& e) {
//     std::cerr << e.key() << " raised " << e.type_name() << ": " << e.message();
//     e.RethrowOriginal();   // the exception exactly as the task threw it
//   }
#pragma once

#include <exception>
#include <stdexcept>
#include <string>

namespace skein {

/// Base of every exception skein throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A graph is malformed: a cycle, a missing dependency or a duplicate key.
class GraphError : public Error { using Error::Error; };
/// A key that was asked for does not exist.
class KeyError : public Error { using Error::Error; };
/// An operation name is not registered, or an operation was called wrongly.
class OpError : public Error { using Error::Error; };
/// A value holds another type than the one asked for.
class TypeError : public Error { using Error::Error; };
/// A value could not be serialized or deserialized.
class SerializationError : public Error { using Error::Error; };
/// Spilling to or reading back from disk failed (full disk, missing file...).
class SpillError : public Error { using Error::Error; };
/// A wait ran out of time. The message names the keys still unfinished.
class TimeoutError : public Error { using Error::Error; };
/// The computation or future was cancelled.
class CancelledError : public Error { using Error::Error; };
/// A configuration value is missing or has the wrong type.
class ConfigError : public Error { using Error::Error; };
/// A file system operation failed; the message names the path.
class IOError : public Error { using Error::Error; };

/// An exception raised in another process (a worker), as it arrived: the
/// original C++ type is known only by name.
class RemoteError : public Error {
 public:
  RemoteError(std::string type_name, const std::string& message)
      : Error(message), type_name_(std::move(type_name)) {}
  const std::string& type_name() const noexcept { return type_name_; }

 private:
  std::string type_name_;
};

/// A worker died (was killed, crashed or vanished) while running a task too
/// many times; the task is marked bad (Dask's KilledWorker).
class KilledWorker : public Error { using Error::Error; };
/// A connection to a scheduler or worker failed, or a peer broke the protocol.
class CommError : public Error { using Error::Error; };

/// A task raised an exception. Carries the task's key and the original
/// exception (type and message preserved; `RethrowOriginal()` rethrows it).
class TaskError : public Error {
 public:
  TaskError(std::string key, std::exception_ptr original);

  const std::string& key() const noexcept { return key_; }
  /// Demangled C++ type of the original exception, e.g. "std::out_of_range".
  const std::string& type_name() const noexcept { return type_name_; }
  /// what() of the original exception.
  const std::string& message() const noexcept { return message_; }
  std::exception_ptr original() const noexcept { return original_; }
  [[noreturn]] void RethrowOriginal() const { std::rethrow_exception(original_); }

 private:
  std::string key_;
  std::string type_name_;
  std::string message_;
  std::exception_ptr original_;
};

namespace internal {
/// Demangled type name of a C++ type id (e.g. from typeid(T).name()).
std::string Demangle(const char* mangled);
}  // namespace internal

}  // namespace skein
