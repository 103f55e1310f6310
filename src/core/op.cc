// OpRegistry and the error paths of typed operation adapters.
#include "skein/core/op.h"

#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace skein {

void Op::ThrowUnresolved(const Key& key) const {
  throw OpError("task " + key.ToString() + " uses operation '" + name_ +
                "', which is not registered in this process (register it with "
                "SKEIN_REGISTER(\"" + name_ + "\", fn))");
}

struct OpRegistry::Impl {
  mutable std::shared_mutex mu;
  std::unordered_map<std::string, OpPtr> ops;
};

OpRegistry::OpRegistry() : impl_(new Impl) {}

OpRegistry& OpRegistry::Global() {
  static OpRegistry* r = new OpRegistry();  // never destroyed: used during static teardown
  return *r;
}

OpPtr OpRegistry::Register(std::string name, OpFunction fn, OpOptions options) {
  if (name.empty()) throw OpError("cannot register an operation with an empty name");
  if (!fn) throw OpError("cannot register operation '" + name + "' without a function");
  auto op = std::make_shared<const Op>(name, std::move(fn), options, /*local_only=*/false);
  std::unique_lock lock(impl_->mu);
  impl_->ops.insert_or_assign(std::move(name), op);
  return op;
}

OpPtr OpRegistry::Find(std::string_view name) const {
  std::shared_lock lock(impl_->mu);
  auto it = impl_->ops.find(std::string(name));
  return it == impl_->ops.end() ? nullptr : it->second;
}

OpPtr OpRegistry::Lookup(std::string_view name) const {
  if (OpPtr op = Find(name)) return op;
  return std::make_shared<const Op>(std::string(name), OpFunction(), OpOptions{}, false);
}

namespace internal {
void ThrowArity(const OpContext& ctx, size_t want, size_t got) {
  throw OpError("task " + ctx.key.ToString() + ": operation takes " + std::to_string(want) +
                " argument" + (want == 1 ? "" : "s") + ", got " + std::to_string(got));
}
void ThrowArgType(const OpContext& ctx, size_t index, const std::exception& e) {
  throw TypeError("task " + ctx.key.ToString() + ", argument " + std::to_string(index) + ": " +
                  e.what());
}
}  // namespace internal

}  // namespace skein
