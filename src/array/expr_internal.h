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
  /// Per input, the axis permutation it is read through (a fused transpose:
  /// view axis d is the block's axis input_axes[k][d]); empty for none. Either
  /// empty or num_inputs long.
  std::vector<std::vector<int8_t>> input_axes;

  std::string Encode() const;
  /// Error naming what is wrong when `bytes` is not a valid program.
  static Program Decode(std::string_view bytes);
  /// "(in0 + 1.0) * 2.0" style text, for messages and DOT labels.
  std::string ToString() const;
};

/// Takes a program's result a piece at a time, in order, instead of a result
/// array (a reduction folds each piece while it is still in L1 cache).
class PieceSink {
 public:
  /// `n` contiguous elements of the result's dtype.
  virtual void Consume(const void* elements, int64_t n) = 0;

 protected:
  ~PieceSink() = default;
};

/// Runs `program` on one block's inputs (each, seen through its axis
/// permutation, broadcastable to the result). With a row range, only rows
/// [row_begin, row_end) along the result's first axis are computed (the
/// reductions' slabs).
///
/// With `storage`, the result is written into its first bytes when it is
/// large enough (the slab loops reuse one buffer instead of allocating, and
/// page-faulting, a fresh one per slab); the result then aliases `storage`
/// and is only valid until the next call with it.
NDArray Evaluate(const Program& program, std::span<const NDArray* const> inputs, int64_t row_begin = 0,
                 int64_t row_end = -1, NDArray* storage = nullptr);

/// A program of one float input that is a unary function of an affine map of
/// it: y = f(((x + add_before) * mul) + add_after), f one of sqrt, abs or
/// none. Absent steps hold their exact identities (-0.0 for an addition:
/// x + -0.0 is x for every x, -0.0 included; 1.0 for the product), so the
/// map gives the program's own result bit for bit (each step rounds as the
/// program's does; nothing is contracted into a fused multiply-add). A
/// reduction takes such a program in one loop, value and reduction in
/// registers, where the interpreter would run a pass per node.
struct ElementMap {
  double add_before = -0.0, mul = 1.0, add_after = -0.0;
  UnaryOp unary = UnaryOp::kCount;  // kCount: none; else kSqrt or kAbs
};

/// True, with `map`, when `program` is such a map of its single input read
/// in place (no permutation) with every node of that input's float dtype.
bool MatchElementMap(const Program& program, ElementMap* map);

/// One input of a signed sum (MatchSignedSum).
struct SignedTerm {
  int32_t input;
  bool negative;
};

/// True, with `terms`, when `program` is a signed sum of its inputs (in0 +
/// in1 - in0 ..., each read through its permutation) with every node of one
/// float dtype. Terms come in left-to-right order, so the first is never
/// negative. A sum or mean of such a program is the signed sum of its
/// inputs' own sums, and each of those reads its input in the input's own
/// layout: (x + x.T).sum(0) reads no block across its rows.
bool MatchSignedSum(const Program& program, std::vector<SignedTerm>* terms);

/// Runs `program` on one block's inputs as Evaluate does, handing every
/// piece of the result, in row-major order, to `sink`.
void EvaluateInto(const Program& program, std::span<const NDArray* const> inputs, PieceSink* sink);

/// The broadcast shape of `shapes` (NumPy rules); false if they do not
/// broadcast.
bool BroadcastShapes(std::span<const Shape> shapes, Shape* out);

/// The shape of the result of `program` over these input blocks (each seen
/// through its permutation); false if they do not broadcast or a
/// permutation does not fit its block.
bool ResultShape(const Program& program, std::span<const NDArray* const> inputs, Shape* out);

}  // namespace skein::array::internal
