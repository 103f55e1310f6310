// Creation functions and random arrays (see creation.h).
#include "skein/array/creation.h"

#include <cmath>
#include <limits>

#include "ops_internal.h"
#include "skein/core/op.h"

namespace skein {
namespace {

using array::internal::ShapeFrom;
using array::internal::ShapeValue;

// "array.full" params: [dtype, shape, value]
const OpPtr& FullOp() {
  static const OpPtr op = RegisterOp("array.full", [](std::span<const Value>, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    DType t = static_cast<DType>(p.at(0).as<int64_t>());
    NDArray out = NDArray::Empty(t, ShapeFrom(p.at(1)));
    double v = p.at(2).as<double>();
    VisitDType(t, [&]<class T>(T) { std::fill_n(out.mutable_data<T>(), out.size(), static_cast<T>(v)); });
    return Value::From(std::move(out));
  });
  return op;
}

// "array.range" params: [dtype, count, start, step, offset]: element i is
// start + (offset + i) * step (arange and linspace).
const OpPtr& RangeOp() {
  static const OpPtr op = RegisterOp("array.range", [](std::span<const Value>, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    DType t = static_cast<DType>(p.at(0).as<int64_t>());
    int64_t n = p.at(1).as<int64_t>();
    double start = p.at(2).as<double>(), step = p.at(3).as<double>();
    int64_t offset = p.at(4).as<int64_t>();
    NDArray out = NDArray::Empty(t, {n});
    VisitDType(t, [&]<class T>(T) {
      T* o = out.mutable_data<T>();
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(start + static_cast<double>(offset + i) * step);
    });
    return Value::From(std::move(out));
  });
  return op;
}

// "array.eye" params: [dtype, shape, row0, col0, k]
const OpPtr& EyeOp() {
  static const OpPtr op = RegisterOp("array.eye", [](std::span<const Value>, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    DType t = static_cast<DType>(p.at(0).as<int64_t>());
    Shape s = ShapeFrom(p.at(1));
    int64_t r0 = p.at(2).as<int64_t>(), c0 = p.at(3).as<int64_t>(), k = p.at(4).as<int64_t>();
    NDArray out = NDArray::Zeros(t, s);
    VisitDType(t, [&]<class T>(T) {
      T* o = out.mutable_data<T>();
      for (int64_t i = 0; i < s[0]; ++i) {
        int64_t j = r0 + i + k - c0;
        if (j >= 0 && j < s[1]) o[i * s[1] + j] = T(1);
      }
    });
    return Value::From(std::move(out));
  });
  return op;
}

// ---- random -------------------------------------------------------------------

uint64_t SplitMix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman & Vigna): fast, 256-bit state, passes BigCrush.
struct Xoshiro {
  uint64_t s[4];
  explicit Xoshiro(uint64_t seed) {
    for (auto& v : s) v = SplitMix(seed);
  }
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t Next() {
    const uint64_t result = Rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = Rotl(s[3], 45);
    return result;
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
};

enum RandomKind { kUniform = 0, kNormal = 1, kIntegers = 2 };

// "array.random" params: [dtype, shape, kind, a, b, stream seed]
const OpPtr& RandomOp() {
  static const OpPtr op = RegisterOp("array.random", [](std::span<const Value>, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    DType t = static_cast<DType>(p.at(0).as<int64_t>());
    NDArray out = NDArray::Empty(t, ShapeFrom(p.at(1)));
    int64_t kind = p.at(2).as<int64_t>();
    double a = p.at(3).as<double>(), b = p.at(4).as<double>();
    Xoshiro rng(static_cast<uint64_t>(p.at(5).as<int64_t>()));
    const int64_t n = out.size();
    VisitDType(t, [&]<class T>(T) {
      T* o = out.mutable_data<T>();
      if (kind == kUniform) {
        for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(a + (b - a) * rng.Uniform());
      } else if (kind == kNormal) {
        // Box-Muller, two values per pair of uniforms.
        for (int64_t i = 0; i < n; i += 2) {
          double u1 = 1.0 - rng.Uniform(), u2 = rng.Uniform();
          double r = std::sqrt(-2.0 * std::log(u1));
          o[i] = static_cast<T>(a + b * r * std::cos(2 * M_PI * u2));
          if (i + 1 < n) o[i + 1] = static_cast<T>(a + b * r * std::sin(2 * M_PI * u2));
        }
      } else {
        const uint64_t lo = static_cast<uint64_t>(static_cast<int64_t>(a));
        const uint64_t range = static_cast<uint64_t>(static_cast<int64_t>(b) - static_cast<int64_t>(a));
        const uint64_t limit = range == 0 ? 0 : UINT64_MAX - UINT64_MAX % range;  // unbiased
        for (int64_t i = 0; i < n; ++i) {
          uint64_t v;
          do v = rng.Next();
          while (range != 0 && v >= limit);
          o[i] = static_cast<T>(static_cast<int64_t>(lo + (range == 0 ? 0 : v % range)));
        }
      }
    });
    return Value::From(std::move(out));
  });
  return op;
}

Value TypeValue(DType t) { return static_cast<int64_t>(t); }

// An array over blocks made by `op` with per-block params from `params(block, shape)`.
template <class ParamsFn>
Array Generated(std::string_view name, const OpPtr& op, const Shape& shape, const ChunkSpec& spec, DType dtype,
                ParamsFn&& params) {
  Chunks chunks = spec.Normalize(shape, dtype);
  std::string n = internal::NewArrayName(name);
  Graph g;
  std::vector<std::vector<int64_t>> offsets;
  for (const auto& c : chunks) offsets.push_back(BlockOffsets(c));
  for (const auto& block : AllBlocks(chunks)) {
    Shape start(block.size());
    for (size_t d = 0; d < block.size(); ++d) start[d] = offsets[d][block[d]];
    g.AddUnchecked(Key(n, block), Task::Call(op, {}, params(block, BlockShape(chunks, block), start)));
  }
  return internal::MakeArray(n, shape, std::move(chunks), dtype, std::move(g), {});
}

}  // namespace

Array full(const Shape& shape, double value, const ChunkSpec& chunks, DType dtype) {
  return Generated("full", FullOp(), shape, chunks, dtype, [&](auto&, const Shape& s, auto&) {
    return Value(ValueList{TypeValue(dtype), ShapeValue(s), value});
  });
}
Array empty(const Shape& shape, const ChunkSpec& chunks, DType dtype) { return full(shape, 0, chunks, dtype); }
Array zeros(const Shape& shape, const ChunkSpec& chunks, DType dtype) { return full(shape, 0, chunks, dtype); }
Array ones(const Shape& shape, const ChunkSpec& chunks, DType dtype) { return full(shape, 1, chunks, dtype); }

Array arange(double start, double stop, double step, const ChunkSpec& chunks, std::optional<DType> dtype) {
  if (step == 0) throw Error("arange: step must not be zero");
  if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step)) throw Error("arange: arguments must be finite");
  const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((stop - start) / step)));
  const bool integral = start == std::floor(start) && step == std::floor(step) && stop == std::floor(stop);
  DType t = dtype.value_or(integral ? DType::kInt64 : DType::kFloat64);
  return Generated("arange", RangeOp(), {n}, chunks, t, [&](auto&, const Shape& s, const Shape& off) {
    return Value(ValueList{TypeValue(t), s[0], start, step, off[0]});
  });
}

Array linspace(double start, double stop, int64_t num, const ChunkSpec& chunks, bool endpoint, DType dtype) {
  if (num < 0) throw Error("linspace: num must be >= 0, got " + std::to_string(num));
  const int64_t div = endpoint ? num - 1 : num;
  const double step = div > 0 ? (stop - start) / static_cast<double>(div) : 0;
  return Generated("linspace", RangeOp(), {num}, chunks, dtype, [&](auto&, const Shape& s, const Shape& off) {
    return Value(ValueList{TypeValue(dtype), s[0], start, step, off[0]});
  });
}

Array eye(int64_t n, const ChunkSpec& chunks, std::optional<int64_t> m, int64_t k, DType dtype) {
  const int64_t cols = m.value_or(n);
  if (n < 0 || cols < 0) throw Error("eye: negative dimensions " + std::to_string(n) + " x " + std::to_string(cols));
  return Generated("eye", EyeOp(), {n, cols}, chunks, dtype, [&](auto&, const Shape& s, const Shape& off) {
    return Value(ValueList{TypeValue(dtype), ShapeValue(s), off[0], off[1], k});
  });
}

Array from_array(const NDArray& data, const ChunkSpec& spec) {
  Chunks chunks = spec.Normalize(data.shape(), data.dtype());
  std::string n = internal::NewArrayName("array");
  Graph g;
  if (AllBlocks(chunks).size() == 1) {
    g.Add(Key(n, std::vector<int64_t>(data.ndim(), 0)), Task::FromValue(Value::From(data)));
    return internal::MakeArray(n, data.shape(), std::move(chunks), data.dtype(), std::move(g), {});
  }
  Key original(n + "-original");
  g.Add(original, Task::FromValue(Value::From(data)));
  std::vector<std::vector<int64_t>> offsets;
  for (const auto& c : chunks) offsets.push_back(BlockOffsets(c));
  for (const auto& block : AllBlocks(chunks)) {
    Shape start(block.size()), count(block.size()), step(block.size(), 1);
    for (size_t d = 0; d < block.size(); ++d) {
      start[d] = offsets[d][block[d]];
      count[d] = chunks[d][block[d]];
    }
    g.AddUnchecked(Key(n, block), Task::Call(array::internal::GetItemOp(), {Arg::Ref(original)},
                                             array::internal::GetItemParams(start, count, step, count)));
  }
  return internal::MakeArray(n, data.shape(), std::move(chunks), data.dtype(), std::move(g), {});
}

Array from_function(std::function<NDArray(const BlockInfo&)> fn, const Shape& shape, const ChunkSpec& spec,
                    DType dtype, std::string name) {
  if (!fn) throw Error("from_function: the function is empty");
  Chunks chunks = spec.Normalize(shape, dtype);
  auto op = LocalOp(
      [fn, shape, chunks, dtype](std::span<const Value>, const OpContext& ctx) {
        BlockInfo info;
        auto idx = ctx.key.index();
        info.index.assign(idx.begin(), idx.end());
        info.shape = BlockShape(chunks, info.index);
        info.array_shape = shape;
        info.dtype = dtype;
        for (size_t d = 0; d < chunks.size(); ++d) {
          int64_t s = BlockOffsets(chunks[d])[info.index[d]];
          info.location.emplace_back(s, s + info.shape[d]);
        }
        NDArray b = fn(info);
        if (b.shape() != info.shape || b.dtype() != dtype) {
          throw Error("from_function: block " + ctx.key.ToString() + " came back with shape " +
                      ShapeToString(b.shape()) + " and dtype " + std::string(DTypeName(b.dtype())) + ", expected " +
                      ShapeToString(info.shape) + " and " + std::string(DTypeName(dtype)));
        }
        return Value::From(std::move(b));
      },
      name);
  std::string n = internal::NewArrayName(name);
  Graph g;
  for (const auto& block : AllBlocks(chunks)) g.AddUnchecked(Key(n, block), Task::Call(op, {}));
  return internal::MakeArray(n, shape, std::move(chunks), dtype, std::move(g), {});
}

namespace random {

Array Generator::Make(int kind, double a, double b, const Shape& shape, const ChunkSpec& chunks, DType dtype) {
  uint64_t call_seed = seed_ ^ (0x632be59bd9b4e019ull * ++calls_);
  int64_t flat = 0;
  return Generated("random", RandomOp(), shape, chunks, dtype, [&](auto&, const Shape& s, auto&) {
    uint64_t x = call_seed + static_cast<uint64_t>(flat++);
    uint64_t stream = SplitMix(x);
    return Value(ValueList{TypeValue(dtype), ShapeValue(s), int64_t{kind}, a, b, static_cast<int64_t>(stream)});
  });
}

Array Generator::random(const Shape& shape, const ChunkSpec& chunks, DType dtype) {
  return uniform(0, 1, shape, chunks, dtype);
}
Array Generator::uniform(double low, double high, const Shape& shape, const ChunkSpec& chunks, DType dtype) {
  if (!IsFloat(dtype)) throw TypeError("uniform: dtype must be float32 or float64, got " + std::string(DTypeName(dtype)));
  return Make(kUniform, low, high, shape, chunks, dtype);
}
Array Generator::normal(double loc, double scale, const Shape& shape, const ChunkSpec& chunks, DType dtype) {
  if (!IsFloat(dtype)) throw TypeError("normal: dtype must be float32 or float64, got " + std::string(DTypeName(dtype)));
  if (scale < 0) throw Error("normal: scale must be >= 0, got " + std::to_string(scale));
  return Make(kNormal, loc, scale, shape, chunks, dtype);
}
Array Generator::integers(int64_t low, int64_t high, const Shape& shape, const ChunkSpec& chunks, DType dtype) {
  if (!IsInteger(dtype)) throw TypeError("integers: dtype must be an integer type, got " + std::string(DTypeName(dtype)));
  if (high <= low) throw Error("integers: low >= high (" + std::to_string(low) + " >= " + std::to_string(high) + ")");
  return Make(kIntegers, static_cast<double>(low), static_cast<double>(high), shape, chunks, dtype);
}

}  // namespace random

// Every op above registers when the library loads, not on first use, so a
// worker knows it by name before it has built such a graph itself.
[[maybe_unused]] const bool kOpsRegistered = (FullOp(), RangeOp(), EyeOp(), RandomOp(), true);

}  // namespace skein
