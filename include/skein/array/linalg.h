// skein/array/linalg.h — linear algebra on chunked arrays.
//
// Products run blockwise: each output block sums the products of the block
// pairs along the contracted axes, each product one BLAS call (OpenBLAS;
// single-threaded per call, since the blocks already run in parallel).
//
//   skein::Array c = skein::matmul(a, b);              // a @ b
//   skein::Array t = skein::tensordot(x, y, {1, 2}, {0, 1});
//   auto [q, r] = skein::linalg::tsqr(tall);           // tall-and-skinny QR
#pragma once

#include <utility>
#include <vector>

#include "skein/array/array.h"

namespace skein {

/// a @ b for 1-d and 2-d operands (1-d: a vector, as NumPy's matmul).
/// Error naming both shapes if the inner extents differ.
Array matmul(const Array& a, const Array& b);
/// NumPy's dot for arrays of rank <= 2 (the same as matmul there).
Array dot(const Array& a, const Array& b);
/// Sums products over `axes_a` of a and `axes_b` of b (same length, same
/// extents); the result has a's free axes then b's.
Array tensordot(const Array& a, const Array& b, const std::vector<int>& axes_a, const std::vector<int>& axes_b);
/// The last `n` axes of a against the first `n` of b.
Array tensordot(const Array& a, const Array& b, int n = 2);

namespace linalg {
/// QR of a tall-and-skinny matrix (blocks along rows only; columns are
/// rechunked into one block): Q has a's row blocks, R is n x n (Benson,
/// Gleich and Demmel's direct TSQR, as dask.array.linalg.tsqr).
std::pair<Array, Array> tsqr(const Array& a);
/// The same as tsqr (skein has no short-and-fat QR yet).
std::pair<Array, Array> qr(const Array& a);
}  // namespace linalg

}  // namespace skein
