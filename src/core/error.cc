// Implementation of the error hierarchy (type-name recovery for TaskError).
#include "skein/core/error.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>

namespace skein {
namespace internal {

std::string Demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(mangled);
}

namespace {
// Recovers the dynamic type and message of an exception_ptr.
void Describe(std::exception_ptr e, std::string* type, std::string* message) {
  try {
    std::rethrow_exception(e);
  } catch (const TaskError& t) {  // a nested task error keeps the innermost description
    *type = t.type_name();
    *message = t.message();
  } catch (const RemoteError& r) {  // raised elsewhere: the type is known by name
    *type = r.type_name();
    *message = r.what();
  } catch (const std::exception& x) {
    *type = Demangle(typeid(x).name());
    *message = x.what();
  } catch (...) {
    const std::type_info* ti = abi::__cxa_current_exception_type();
    *type = ti ? Demangle(ti->name()) : "unknown exception";
    *message = "";
  }
}
}  // namespace
}  // namespace internal

static std::string TaskErrorWhat(const std::string& key, std::exception_ptr e) {
  std::string type, message;
  internal::Describe(e, &type, &message);
  return "task " + key + " raised " + type + (message.empty() ? "" : ": " + message);
}

TaskError::TaskError(std::string key, std::exception_ptr original)
    : Error(TaskErrorWhat(key, original)), key_(std::move(key)), original_(original) {
  internal::Describe(original, &type_name_, &message_);
}

}  // namespace skein
