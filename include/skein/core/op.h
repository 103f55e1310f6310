// skein/core/op.h — operations: what a task runs, registered by name.
//
// A graph is data: every task names its operation, so the graph can be sent
// to another process where the same name is registered. Register once:
//
//   SKEIN_REGISTER("myapp.inc", [](int64_t x) { return x + 1; });
//   SKEIN_REGISTER("myapp.scale", [](const skein::Value& x, double f) { ... });
//
// Typed callables get their arguments converted with Value::as<T>() (a wrong
// type is a TypeError naming the argument). A raw operation receives all
// arguments plus the task's parameters and key:
//
//   skein::RegisterOp("myapp.sum", [](std::span<const skein::Value> args,
//                                     const skein::OpContext& ctx) { ... });
//
// Plain lambdas may also be used directly in local mode (delayed(fn), Client
// ::submit(fn)); such an op is marked local-only and sending it to another
// process is a clear error that says how to register it.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "skein/core/key.h"
#include "skein/core/value.h"

namespace skein {

/// What an operation sees besides its arguments.
struct OpContext {
  const Key& key;        ///< key of the task being run
  const Value& params;   ///< the task's serializable parameters
};

using OpFunction = std::function<Value(std::span<const Value> args, const OpContext& ctx)>;

struct OpOptions {
  /// Cheap to run (e.g. getitem): the optimizer may inline it into its user.
  bool cheap = false;
};

/// An operation: a name plus the function it stands for. Immutable; safe for
/// concurrent use. An op read from another process whose name is not
/// registered here is "unresolved": running it is an OpError.
class Op {
 public:
  Op(std::string name, OpFunction fn, OpOptions options, bool local_only)
      : name_(std::move(name)), fn_(std::move(fn)), options_(options), local_only_(local_only) {}

  const std::string& name() const noexcept { return name_; }
  bool resolved() const noexcept { return static_cast<bool>(fn_); }
  bool local_only() const noexcept { return local_only_; }
  bool cheap() const noexcept { return options_.cheap; }
  /// Runs the operation; OpError if it is unresolved.
  Value operator()(std::span<const Value> args, const OpContext& ctx) const {
    if (!fn_) ThrowUnresolved(ctx.key);
    return fn_(args, ctx);
  }

 private:
  [[noreturn]] void ThrowUnresolved(const Key& key) const;
  std::string name_;
  OpFunction fn_;
  OpOptions options_;
  bool local_only_;
};
using OpPtr = std::shared_ptr<const Op>;

/// Process-wide name -> operation table. Safe for concurrent use.
class OpRegistry {
 public:
  static OpRegistry& Global();
  /// Registers (or replaces) `name`.
  OpPtr Register(std::string name, OpFunction fn, OpOptions options = {});
  /// The registered op, or nullptr.
  OpPtr Find(std::string_view name) const;
  /// The registered op, or an unresolved placeholder carrying just the name.
  OpPtr Lookup(std::string_view name) const;

 private:
  struct Impl;
  OpRegistry();
  Impl* impl_;
};

namespace internal {

template <class F>
struct FnTraits : FnTraits<decltype(&std::remove_cvref_t<F>::operator())> {};
template <class R, class... A>
struct FnTraits<R (*)(A...)> {
  using Ret = R;
  using Args = std::tuple<A...>;
};
template <class R, class... A>
struct FnTraits<R(A...)> : FnTraits<R (*)(A...)> {};
template <class C, class R, class... A>
struct FnTraits<R (C::*)(A...) const> : FnTraits<R (*)(A...)> {};
template <class C, class R, class... A>
struct FnTraits<R (C::*)(A...)> : FnTraits<R (*)(A...)> {};

template <class F>
concept RawOp = std::is_invocable_r_v<Value, F, std::span<const Value>, const OpContext&>;

[[noreturn]] void ThrowArity(const OpContext& ctx, size_t want, size_t got);
[[noreturn]] void ThrowArgType(const OpContext& ctx, size_t index, const std::exception& e);

// Converts argument i to parameter type A: const references to held objects
// are passed without a copy; everything else goes through Value::as<A>().
template <class A>
decltype(auto) CastArg(const Value& v) {
  using U = std::remove_cvref_t<A>;
  if constexpr (std::is_same_v<U, Value>) {
    return (v);
  } else if constexpr (std::is_lvalue_reference_v<A> && !std::is_arithmetic_v<U> &&
                       !IsStdVector<U>::value) {
    return v.get<U>();
  } else {
    return v.as<U>();
  }
}

// CastArg with conversion errors naming the task and argument position.
template <class A>
decltype(auto) CastChecked(const Value& v, const OpContext& ctx, size_t index) {
  try {
    return CastArg<A>(v);
  } catch (const TypeError& e) {
    ThrowArgType(ctx, index, e);
  }
}

template <class F, class... A, size_t... I>
Value InvokeTyped(const F& f, std::span<const Value> args, const OpContext& ctx,
                  std::index_sequence<I...>) {
  if (args.size() != sizeof...(A)) ThrowArity(ctx, sizeof...(A), args.size());
  using R = std::invoke_result_t<const F&, A...>;
  if constexpr (std::is_void_v<R>) {
    f(CastChecked<A>(args[I], ctx, I)...);
    return Value();
  } else {
    return Value::From(f(CastChecked<A>(args[I], ctx, I)...));
  }
}

template <class F, class Tuple>
struct TypedAdapter;
template <class F, class... A>
struct TypedAdapter<F, std::tuple<A...>> {
  F f;
  Value operator()(std::span<const Value> args, const OpContext& ctx) const {
    return InvokeTyped<F, A...>(f, args, ctx, std::index_sequence_for<A...>{});
  }
};

}  // namespace internal

/// Wraps a raw or typed callable as an OpFunction.
template <class F>
OpFunction MakeOpFunction(F f) {
  if constexpr (internal::RawOp<F>) {
    return OpFunction(std::move(f));
  } else {
    using Args = typename internal::FnTraits<F>::Args;
    return OpFunction(internal::TypedAdapter<F, Args>{std::move(f)});
  }
}

/// Registers `fn` (raw or typed) under `name` in the global registry.
template <class F>
OpPtr RegisterOp(std::string name, F fn, OpOptions options = {}) {
  return OpRegistry::Global().Register(std::move(name), MakeOpFunction(std::move(fn)), options);
}

/// An unregistered op around a plain callable, for local mode only.
template <class F>
OpPtr LocalOp(F fn, std::string name = "lambda") {
  return std::make_shared<const Op>(std::move(name), MakeOpFunction(std::move(fn)), OpOptions{},
                                    /*local_only=*/true);
}

}  // namespace skein

#define SKEIN_OP_CONCAT_(a, b) a##b
#define SKEIN_OP_NAME_(line) SKEIN_OP_CONCAT_(skein_op_registered_, line)
/// Registers an operation at static-initialization time: SKEIN_REGISTER("name", fn).
#define SKEIN_REGISTER(name, ...) \
  [[maybe_unused]] static const ::skein::OpPtr SKEIN_OP_NAME_(__LINE__) = ::skein::RegisterOp(name, __VA_ARGS__)
