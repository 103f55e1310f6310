// Fusion of elementwise expressions into the operations that read them.
//
// An elementwise array remembers its program and inputs (Fusable). Later
// elementwise operations copy the program into theirs (ufunc.cc), and
// reductions evaluate it slab by slab inside their chunk tasks
// (reduction.cc), so `sqrt(x * 2 + 1).max()` never writes the intermediate
// array to memory.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "expr_internal.h"
#include "skein/array/array.h"
#include "skein/core/task.h"

namespace skein::internal {
struct Fusable {
  array::internal::Program program;
  std::vector<Array> inputs;
};
}  // namespace skein::internal

namespace skein::array::internal {

/// References to the blocks of `inputs` (read through `program`'s input
/// permutations) that block `block` of an elementwise result of `shape`
/// reads (right-aligned; broadcast axes read block 0).
std::vector<Arg> InputBlockRefs(const std::vector<Array>& inputs, const Program& program, const Shape& shape,
                                std::span<const int64_t> block);

/// Evaluates `program` over `inputs` in slabs of whole rows along the first
/// axis, about `max_elements` each, calling fn(slab, first_row) in order.
/// The slabs share one buffer: fn must not keep `slab` past its return.
void EvaluateInSlabs(const Program& program, std::span<const NDArray* const> inputs, int64_t max_elements,
                     const std::function<void(const NDArray& slab, int64_t first_row)>& fn);

}  // namespace skein::array::internal
