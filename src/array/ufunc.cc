// Elementwise operations: type rules, broadcasting, block alignment and
// fusion into one expression program per task (see ufunc.h, expr_internal.h).
#include "skein/array/ufunc.h"

#include <algorithm>
#include <unordered_map>

#include "fusion_internal.h"
#include "skein/core/op.h"

namespace skein {

namespace array::internal {

std::vector<Arg> InputBlockRefs(const std::vector<Array>& inputs, const Program& program, const Shape& shape,
                                std::span<const int64_t> block) {
  const size_t nd = shape.size();
  std::vector<Arg> args;
  args.reserve(inputs.size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Array& in = inputs[k];
    const std::vector<int8_t>* axes = program.input_axes.empty() ? nullptr : &program.input_axes[k];
    std::vector<int64_t> b(in.ndim());
    for (int d = 0; d < in.ndim(); ++d) {
      // View axis d is the input's axis `a`.
      const int a = axes && !axes->empty() ? (*axes)[d] : d;
      size_t od = nd - static_cast<size_t>(in.ndim()) + static_cast<size_t>(d);
      b[a] = in.shape()[a] == 1 && shape[od] != 1 ? 0 : block[od];
    }
    args.push_back(Arg::Ref(in.key(b)));
  }
  return args;
}

void EvaluateInSlabs(const Program& program, std::span<const NDArray* const> inputs, int64_t max_elements,
                     const std::function<void(const NDArray& slab, int64_t first_row)>& fn) {
  Shape out;
  if (!ResultShape(program, inputs, &out) || out.empty() || out[0] <= 1) {
    fn(Evaluate(program, inputs), 0);
    return;
  }
  const int64_t row = ShapeSize(std::span(out).subspan(1));
  const int64_t rows_per = std::max<int64_t>(1, max_elements / std::max<int64_t>(row, 1));
  // One buffer serves every slab: the slab is gone once fn returns.
  NDArray storage =
      NDArray::Empty(program.nodes.back().dtype, {std::min(rows_per, out[0]) * std::max<int64_t>(row, 1)});
  for (int64_t r0 = 0; r0 < out[0]; r0 += rows_per) {
    const int64_t r1 = std::min(out[0], r0 + rows_per);
    fn(Evaluate(program, inputs, r0, r1, &storage), r0);
  }
}

}  // namespace array::internal

namespace {

using array::internal::BinaryOp;
using array::internal::ExprKind;
using array::internal::ExprNode;
using array::internal::Program;
using array::internal::UnaryOp;

// Programs stop absorbing their operands beyond this many nodes (a loop
// building x = x + 1 a thousand times should not make a thousand-node task).
constexpr size_t kMaxFusedNodes = 128;

const OpPtr& ElemwiseOp() {
  static const OpPtr op = RegisterOp("array.elemwise", [](std::span<const Value> args, const OpContext& ctx) {
    // Programs are decoded per task; they are a few hundred bytes.
    Program p = Program::Decode(ctx.params.get<std::string>());
    std::vector<const NDArray*> in;
    in.reserve(args.size());
    for (const Value& v : args) in.push_back(&v.get<NDArray>());
    return Value::From(array::internal::Evaluate(p, in));
  });
  return op;
}
[[maybe_unused]] const OpPtr& kRegistered = ElemwiseOp();

// Builds one program and collects its input arrays.
class Builder {
 public:
  Builder(const Shape& shape, const Chunks& chunks) : shape_(shape), chunks_(chunks) {}

  // Adds an operand, absorbing its program when it is itself elementwise and
  // already cut into this result's blocks; rechunks it otherwise.
  int Add(const Operand& op, DType scalar_type) {
    if (!op.is_array()) {
      ExprNode n{ExprKind::kScalar};
      n.dtype = scalar_type;
      if (IsFloat(scalar_type)) {
        n.f = op.f();
      } else {
        n.i = op.is_float() ? static_cast<int64_t>(op.f()) : op.i();
      }
      return Push(n);
    }
    Array a = Aligned(op.array());
    const auto& fusable = a.node()->fusable;
    if (fusable && prog_.nodes.size() + fusable->program.nodes.size() <= kMaxFusedNodes) {
      std::vector<int> map(fusable->program.nodes.size());
      for (size_t k = 0; k < map.size(); ++k) {
        ExprNode n = fusable->program.nodes[k];
        if (n.kind == ExprKind::kInput) {
          const auto& axes = fusable->program.input_axes;
          map[k] = Input(fusable->inputs[static_cast<size_t>(n.a)],
                         axes.empty() ? std::vector<int8_t>{} : axes[static_cast<size_t>(n.a)]);
          continue;
        }
        if (n.a >= 0) n.a = map[static_cast<size_t>(n.a)];
        if (n.b >= 0) n.b = map[static_cast<size_t>(n.b)];
        if (n.c >= 0) n.c = map[static_cast<size_t>(n.c)];
        map[k] = Push(n);
      }
      return map.back();
    }
    return Input(a);
  }

  int Cast(int node, DType to) {
    if (prog_.nodes[static_cast<size_t>(node)].dtype == to) return node;
    ExprNode n{ExprKind::kCast};
    n.arg = prog_.nodes[static_cast<size_t>(node)].dtype;
    n.dtype = to;
    n.a = node;
    return Push(n);
  }
  int Unary(UnaryOp op, int a, DType out) {
    ExprNode n{ExprKind::kUnary, static_cast<uint8_t>(op)};
    n.arg = type(a);
    n.dtype = out;
    n.a = a;
    return Push(n);
  }
  int Binary(BinaryOp op, int a, int b, DType out) {
    ExprNode n{ExprKind::kBinary, static_cast<uint8_t>(op)};
    n.arg = type(a);
    n.dtype = out;
    n.a = a;
    n.b = b;
    return Push(n);
  }
  int Where(int c, int a, int b) {
    ExprNode n{ExprKind::kWhere};
    n.dtype = n.arg = type(a);
    n.a = c;
    n.b = a;
    n.c = b;
    return Push(n);
  }
  DType type(int node) const { return prog_.nodes[static_cast<size_t>(node)].dtype; }

  Array Finish(std::string_view op_name) {
    std::string name = internal::NewArrayName(op_name);
    Graph g;
    const std::string params = prog_.Encode();
    const Value params_value(params);
    for (const auto& block : AllBlocks(chunks_)) {
      std::vector<Arg> args = array::internal::InputBlockRefs(inputs_, prog_, shape_, block);
      g.AddUnchecked(Key(name, block), Task::Call(ElemwiseOp(), std::move(args), params_value));
    }
    DType dtype = prog_.nodes.back().dtype;
    return internal::MakeArray(name, shape_, chunks_, dtype, std::move(g), internal::LayersOf(inputs_),
                               std::make_shared<const internal::Fusable>(internal::Fusable{prog_, inputs_}));
  }

 private:
  int Push(ExprNode n) {
    prog_.nodes.push_back(n);
    return static_cast<int>(prog_.nodes.size()) - 1;
  }
  // An input array read as it is, or through an axis permutation (x and
  // x.T are two inputs over the same blocks).
  int Input(const Array& a, const std::vector<int8_t>& axes = {}) {
    std::string id = a.name();
    for (int8_t d : axes) id += "," + std::to_string(d);
    auto it = input_index_.find(id);
    int k;
    if (it != input_index_.end()) {
      k = it->second;
    } else {
      k = prog_.num_inputs++;
      input_index_.emplace(id, k);
      inputs_.push_back(a);
      prog_.input_axes.push_back(axes);
    }
    ExprNode n{ExprKind::kInput};
    n.dtype = a.dtype();
    n.a = k;
    return Push(n);
  }
  // The operand rechunked to this result's blocks on its non-broadcast axes.
  Array Aligned(const Array& a) const {
    const size_t nd = shape_.size();
    Chunks want = a.chunks();
    for (int d = 0; d < a.ndim(); ++d) {
      size_t od = nd - static_cast<size_t>(a.ndim()) + static_cast<size_t>(d);
      if (!(a.shape()[d] == 1 && shape_[od] != 1)) want[d] = chunks_[od];
    }
    return want == a.chunks() ? a : a.rechunk(want);
  }

  Shape shape_;
  Chunks chunks_;
  Program prog_;
  std::vector<Array> inputs_;
  std::unordered_map<std::string, int> input_index_;
};

std::string DescribeOperand(const Operand& o) {
  if (o.is_array()) return std::string(DTypeName(o.array().dtype())) + " array of shape " + ShapeToString(o.array().shape());
  return o.is_float() ? "float scalar" : o.is_bool() ? "bool scalar" : "int scalar";
}

// Broadcast shape and common chunks of the operands; Error naming the
// operation and the shapes if they do not broadcast.
void Layout(std::string_view op, std::span<const Operand> ops, Shape* shape, Chunks* chunks) {
  std::vector<Shape> shapes;
  for (const Operand& o : ops) {
    if (o.is_array()) {
      internal::CheckValid(o.array(), op);
      shapes.push_back(o.array().shape());
    }
  }
  if (shapes.empty()) throw Error(std::string(op) + ": at least one operand must be an array");
  if (!array::internal::BroadcastShapes(shapes, shape)) {
    std::string s;
    for (const Shape& sh : shapes) s += " " + ShapeToString(sh);
    throw Error(std::string(op) + ": operands could not be broadcast together with shapes" + s);
  }
  const size_t nd = shape->size();
  chunks->assign(nd, {});
  for (const Operand& o : ops) {
    if (!o.is_array()) continue;
    const Array& a = o.array();
    for (int d = 0; d < a.ndim(); ++d) {
      size_t od = nd - static_cast<size_t>(a.ndim()) + static_cast<size_t>(d);
      if (a.shape()[d] != (*shape)[od]) continue;  // broadcast along od
      auto& c = (*chunks)[od];
      c = c.empty() ? a.chunks()[d] : CommonChunks(c, a.chunks()[d]);
    }
  }
  for (size_t d = 0; d < nd; ++d) {
    if ((*chunks)[d].empty()) (*chunks)[d] = {(*shape)[d]};
  }
}

// The type both operands are converted to (NumPy's rules, scalars weak).
DType CommonType(const Operand& a, const Operand& b) {
  if (a.is_array() && b.is_array()) return ResultType(a.array().dtype(), b.array().dtype());
  const Operand& arr = a.is_array() ? a : b;
  const Operand& sc = a.is_array() ? b : a;
  if (sc.is_bool()) return arr.array().dtype();
  return ResultTypeWithScalar(arr.array().dtype(), sc.is_float());
}

[[noreturn]] void Unsupported(std::string_view op, const Operand& a, const Operand& b) {
  throw TypeError(std::string(op) + ": unsupported dtype combination: " + DescribeOperand(a) + " and " +
                  DescribeOperand(b));
}

Array BinaryArray(std::string_view name, BinaryOp op, const Operand& a, const Operand& b) {
  Operand ops[] = {a, b};
  Shape shape;
  Chunks chunks;
  Layout(name, ops, &shape, &chunks);
  DType common = CommonType(a, b);
  DType compute = common, result = common;
  switch (op) {
    case BinaryOp::kSub:
      if (common == DType::kBool) {
        throw TypeError(std::string(name) + ": boolean subtract is not supported (use ^ or logical_xor): " +
                        DescribeOperand(a) + " and " + DescribeOperand(b));
      }
      break;
    case BinaryOp::kDiv:
      compute = result = IsFloat(common) ? common : DType::kFloat64;
      break;
    case BinaryOp::kFloorDiv:
    case BinaryOp::kMod:
    case BinaryOp::kPow:
      if (common == DType::kBool) compute = result = DType::kInt64;  // NumPy: int8
      break;
    case BinaryOp::kEq: case BinaryOp::kNe: case BinaryOp::kLt:
    case BinaryOp::kLe: case BinaryOp::kGt: case BinaryOp::kGe:
      result = DType::kBool;
      break;
    case BinaryOp::kAnd: case BinaryOp::kOr: case BinaryOp::kXor:
      compute = result = DType::kBool;
      break;
    case BinaryOp::kBitAnd: case BinaryOp::kBitOr: case BinaryOp::kBitXor:
      if (IsFloat(common)) Unsupported(name, a, b);
      break;
    default: break;
  }
  Builder bld(shape, chunks);
  int x = bld.Cast(bld.Add(a, compute), compute);
  int y = bld.Cast(bld.Add(b, compute), compute);
  bld.Binary(op, x, y, result);
  return bld.Finish(name);
}

Array UnaryArray(std::string_view name, UnaryOp op, const Array& a) {
  Operand ops[] = {a};
  Shape shape;
  Chunks chunks;
  Layout(name, ops, &shape, &chunks);
  DType t = a.dtype(), compute = t, result = t;
  switch (op) {
    case UnaryOp::kNeg:
      if (t == DType::kBool) throw TypeError(std::string(name) + ": negative of a bool array is not supported (use ~)");
      break;
    case UnaryOp::kSqrt: case UnaryOp::kExp: case UnaryOp::kLog: case UnaryOp::kSin: case UnaryOp::kCos:
      compute = result = FloatTypeFor(t);
      break;
    case UnaryOp::kIsNan: result = DType::kBool; break;
    case UnaryOp::kNot: compute = result = DType::kBool; break;
    case UnaryOp::kInvert:
      if (IsFloat(t)) throw TypeError(std::string(name) + ": not supported for " + std::string(DTypeName(t)) + " arrays");
      break;
    default: break;
  }
  Builder bld(shape, chunks);
  int x = bld.Cast(bld.Add(a, compute), compute);
  bld.Unary(op, x, result);
  return bld.Finish(name);
}

}  // namespace

Array Array::astype(DType dtype) const {
  internal::CheckValid(*this, "astype");
  if (dtype == this->dtype()) return *this;
  Builder bld(shape(), chunks());
  bld.Cast(bld.Add(*this, dtype), dtype);
  return bld.Finish("astype");
}

Array Array::operator-() const { return negative(*this); }

Array add(const Operand& a, const Operand& b) { return BinaryArray("add", BinaryOp::kAdd, a, b); }
Array subtract(const Operand& a, const Operand& b) { return BinaryArray("sub", BinaryOp::kSub, a, b); }
Array multiply(const Operand& a, const Operand& b) { return BinaryArray("mul", BinaryOp::kMul, a, b); }
Array true_divide(const Operand& a, const Operand& b) { return BinaryArray("truediv", BinaryOp::kDiv, a, b); }
Array floor_divide(const Operand& a, const Operand& b) { return BinaryArray("floordiv", BinaryOp::kFloorDiv, a, b); }
Array mod(const Operand& a, const Operand& b) { return BinaryArray("mod", BinaryOp::kMod, a, b); }
Array pow(const Operand& a, const Operand& b) { return BinaryArray("pow", BinaryOp::kPow, a, b); }
Array power(const Operand& a, const Operand& b) { return pow(a, b); }
Array equal(const Operand& a, const Operand& b) { return BinaryArray("eq", BinaryOp::kEq, a, b); }
Array not_equal(const Operand& a, const Operand& b) { return BinaryArray("ne", BinaryOp::kNe, a, b); }
Array less(const Operand& a, const Operand& b) { return BinaryArray("lt", BinaryOp::kLt, a, b); }
Array less_equal(const Operand& a, const Operand& b) { return BinaryArray("le", BinaryOp::kLe, a, b); }
Array greater(const Operand& a, const Operand& b) { return BinaryArray("gt", BinaryOp::kGt, a, b); }
Array greater_equal(const Operand& a, const Operand& b) { return BinaryArray("ge", BinaryOp::kGe, a, b); }
Array bitwise_and(const Operand& a, const Operand& b) { return BinaryArray("and", BinaryOp::kBitAnd, a, b); }
Array bitwise_or(const Operand& a, const Operand& b) { return BinaryArray("or", BinaryOp::kBitOr, a, b); }
Array bitwise_xor(const Operand& a, const Operand& b) { return BinaryArray("xor", BinaryOp::kBitXor, a, b); }
Array maximum(const Operand& a, const Operand& b) { return BinaryArray("maximum", BinaryOp::kMax, a, b); }
Array minimum(const Operand& a, const Operand& b) { return BinaryArray("minimum", BinaryOp::kMin, a, b); }
Array logical_and(const Operand& a, const Operand& b) { return BinaryArray("logical_and", BinaryOp::kAnd, a, b); }
Array logical_or(const Operand& a, const Operand& b) { return BinaryArray("logical_or", BinaryOp::kOr, a, b); }
Array logical_xor(const Operand& a, const Operand& b) { return BinaryArray("logical_xor", BinaryOp::kXor, a, b); }
Array logical_not(const Array& a) { return UnaryArray("logical_not", UnaryOp::kNot, a); }
Array operator~(const Array& a) { return UnaryArray("invert", UnaryOp::kInvert, a); }
Array negative(const Array& a) { return UnaryArray("neg", UnaryOp::kNeg, a); }
Array abs(const Array& a) { return UnaryArray("abs", UnaryOp::kAbs, a); }
Array sqrt(const Array& a) { return UnaryArray("sqrt", UnaryOp::kSqrt, a); }
Array exp(const Array& a) { return UnaryArray("exp", UnaryOp::kExp, a); }
Array log(const Array& a) { return UnaryArray("log", UnaryOp::kLog, a); }
Array sin(const Array& a) { return UnaryArray("sin", UnaryOp::kSin, a); }
Array cos(const Array& a) { return UnaryArray("cos", UnaryOp::kCos, a); }
Array isnan(const Array& a) { return UnaryArray("isnan", UnaryOp::kIsNan, a); }

Array where(const Operand& cond, const Operand& a, const Operand& b) {
  Operand ops[] = {cond, a, b};
  Shape shape;
  Chunks chunks;
  Layout("where", ops, &shape, &chunks);
  DType common;
  if (a.is_array() || b.is_array()) {
    common = CommonType(a, b);
  } else {
    common = a.is_float() || b.is_float() ? DType::kFloat64 : (a.is_bool() && b.is_bool()) ? DType::kBool : DType::kInt64;
  }
  Builder bld(shape, chunks);
  int c = bld.Cast(bld.Add(cond, DType::kBool), DType::kBool);
  int x = bld.Cast(bld.Add(a, common), common);
  int y = bld.Cast(bld.Add(b, common), common);
  bld.Where(c, x, y);
  return bld.Finish("where");
}

Array clip(const Operand& a, const Operand& lo, const Operand& hi) { return minimum(maximum(a, lo), hi); }

}  // namespace skein
