// map_blocks, map_overlap, and larger-than-memory reductions.
#include "skein/array/blockwise.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "skein/array/ufunc.h"

namespace skein {
namespace {

using ::testing::HasSubstr;

TEST(MapBlocks, GetsAlignedBlocksAndTheirPlace) {
  Array a = arange(0, 10, 1, 4).astype(DType::kFloat64);
  Array b = arange(0, 10, 1, 3).astype(DType::kFloat64);  // other chunks: aligned first
  Array c = map_blocks(
      [](std::span<const NDArray> blocks, const BlockInfo& info) {
        NDArray out = NDArray::Empty(DType::kFloat64, info.shape);
        for (int64_t i = 0; i < out.size(); ++i) {
          out.mutable_data<double>()[i] =
              blocks[0].data<double>()[i] * blocks[1].data<double>()[i] + static_cast<double>(info.location[0].first);
        }
        return out;
      },
      {a, b});
  NDArray r = c.compute();
  // Each element: i*i plus the start of the (aligned) block holding it.
  std::vector<int64_t> starts{0, 0, 0, 3, 4, 4, 6, 6, 8, 9};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(r.item<double>(i), i * i + starts[i]) << i;
  Array wrong = map_blocks([](std::span<const NDArray>, const BlockInfo&) { return NDArray::Zeros(DType::kInt32, {1}); },
                           {a});
  try {
    wrong.compute();
    FAIL();
  } catch (const TaskError& e) {
    EXPECT_THAT(e.what(), HasSubstr("came back with shape (1,) and dtype int32"));
  }
}

// A 1-d three-point sum: x[i-1] + x[i] + x[i+1].
NDArray ThreePoint(std::span<const NDArray> b, const BlockInfo&) {
  const NDArray& e = b[0];
  NDArray out = NDArray::Zeros(DType::kFloat64, e.shape());
  const double* x = e.data<double>();
  for (int64_t i = 1; i + 1 < e.size(); ++i) out.mutable_data<double>()[i] = x[i - 1] + x[i] + x[i + 1];
  return out;
}

TEST(MapOverlap, HaloExchangeWithEachBoundary) {
  Array x = arange(0, 10, 1, 3).astype(DType::kFloat64);
  auto run = [&](Boundary b) { return map_overlap(ThreePoint, x, {1}, b).compute().ToVector<double>(); };
  std::vector<double> inner;
  for (int i = 1; i < 9; ++i) inner.push_back(3.0 * i);
  auto with_edges = [&](double first, double last) {
    std::vector<double> v{first};
    v.insert(v.end(), inner.begin(), inner.end());
    v.push_back(last);
    return v;
  };
  EXPECT_EQ(run(Boundary::Reflect()), with_edges(0 + 0 + 1, 8 + 9 + 9));
  EXPECT_EQ(run(Boundary::Nearest()), with_edges(0 + 0 + 1, 8 + 9 + 9));
  EXPECT_EQ(run(Boundary::Periodic()), with_edges(9 + 0 + 1, 8 + 9 + 0));
  EXPECT_EQ(run(Boundary::Constant(100)), with_edges(100 + 0 + 1, 8 + 9 + 100));
  // 2-d: a 3x3 box sum on a grid of ones is 9 inside, less at the edges with constant 0.
  Array ones2 = ones({6, 7}, ChunkSpec({4, 3}));
  NDArray box = map_overlap(
                    [](std::span<const NDArray> b, const BlockInfo&) {
                      const NDArray& e = b[0];
                      const int64_t r = e.shape()[0], c = e.shape()[1];
                      NDArray out = NDArray::Zeros(DType::kFloat64, e.shape());
                      for (int64_t i = 1; i + 1 < r; ++i)
                        for (int64_t j = 1; j + 1 < c; ++j) {
                          double s = 0;
                          for (int di = -1; di <= 1; ++di)
                            for (int dj = -1; dj <= 1; ++dj) s += e.at<double>({i + di, j + dj});
                          out.mutable_data<double>()[i * c + j] = s;
                        }
                      return out;
                    },
                    ones2, {1, 1}, Boundary::Constant(0))
                    .compute();
  EXPECT_EQ(box.at<double>({2, 3}), 9);
  EXPECT_EQ(box.at<double>({0, 0}), 4);
  EXPECT_EQ(box.at<double>({0, 3}), 6);
  EXPECT_THROW(map_overlap(ThreePoint, x, {5}), Error);  // deeper than a block
}

TEST(LargerThanMemory, ASumKeepsOnlyAFewBlocksAlive) {
  // 64 MiB generated as 32 blocks of 2 MiB: peak live block memory must stay
  // near a few blocks per thread, never the whole array.
  const int64_t block = int64_t{1} << 18, n = 32 * block;
  Array x = random::default_rng(9).uniform(0, 1, {n}, block);
  internal::TEST_ResetPeakArrayBytes();
  const int64_t before = internal::TEST_LiveArrayBytes();
  ComputeOptions threads;
  threads.scheduler = "threads";
  double total = (sqrt(x) * 2).sum().compute(threads).item<double>(0);
  const int64_t peak = internal::TEST_PeakArrayBytes() - before;
  EXPECT_NEAR(total / n, 2.0 * 2.0 / 3.0, 0.01);  // E[2 sqrt(U)] = 4/3
  EXPECT_LT(peak, 8 * block * 8) << "peak " << peak << " bytes for a " << n * 8 << "-byte array";
}

}  // namespace
}  // namespace skein
