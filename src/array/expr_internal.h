// Elementwise expression programs: how a fused chain like (x + 1) * 2 - y
// runs as one task per block.
//
// A Program is a list of nodes in evaluation order (children first; the last
// node is the result). Leaves are the task's input blocks and scalars. It is
// encoded into the task's parameters as bytes, so the graph stays data.
// Evaluate() walks each block in pieces of kPiece elements through per-node
// scratch buffers that stay in L1/L2 cache, with one tight typed loop per
// node (a small vector interpreter, as numexpr does), broadcasting inputs
// whose extent is 1 on an axis.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "skein/array/ndarray.h"

namespace skein::array::internal {

enum class ExprKind : uint8_t { kInput, kScalar, kUnary, kBinary, kWhere, kCast };

enum class UnaryOp : uint8_t { kNeg, kAbs, kSqrt, kExp, kLog, kSin, kCos, kIsNan, kNot, kInvert, kCount };

enum class BinaryOp : uint8_t {
  kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow,
  kEq, kNe, kLt, kLe, kGt, kGe,
  kAnd, kOr, kXor,           // logical (bool operands)
  kBitAnd, kBitOr, kBitXor,  // bitwise (integer or bool operands)
  kMax, kMin,                // NumPy maximum/minimum (NaN propagates)
  kCount
};

/// One node. `dtype` is the node's result type; `arg` its operands' type
/// (comparisons, casts). Children are indices of earlier nodes.
struct ExprNode {
  ExprKind kind;
  uint8_t op = 0;
  DType dtype = DType::kFloat64;
  DType arg = DType::kFloat64;
  int32_t a = -1, b = -1, c = -1;  // children, or the input index for kInput
  double f = 0;                     // scalar value (float types)
  int64_t i = 0;                    // scalar value (integer and bool types)
};

struct Program {
  std::vector<ExprNode> nodes;
  int32_t num_inputs = 0;

  std::string Encode() const;
  /// Error naming what is wrong when `bytes` is not a valid program.
  static Program Decode(std::string_view bytes);
  /// "(in0 + 1.0) * 2.0" style text, for messages and DOT labels.
  std::string ToString() const;
};

/// Runs `program` on one block's inputs (each broadcastable to the result).
NDArray Evaluate(const Program& program, std::span<const NDArray* const> inputs);

/// The broadcast shape of `shapes` (NumPy rules); empty optional if they do
/// not broadcast.
bool BroadcastShapes(std::span<const Shape> shapes, Shape* out);

}  // namespace skein::array::internal
