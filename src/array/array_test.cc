// Chunked arrays: creation, elementwise fusion, reductions, indexing and
// shape changes, checked against dense results computed element by element.
#include "skein/array/array.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>

#include "expr_internal.h"
#include "skein/array/creation.h"
#include "skein/array/linalg.h"
#include "skein/array/ufunc.h"
#include "skein/core/config.h"

namespace skein {
namespace {

using ::testing::HasSubstr;

std::vector<double> Iota(int64_t n, double start = 0) {
  std::vector<double> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

// Number of tasks in the array's own layer (not its inputs').
size_t LayerTasks(const Array& a) { return a.layer()->graph.size(); }

TEST(ArrayCreation, ZerosOnesFullHaveShapeChunksAndValues) {
  Array z = zeros({5, 4}, 2);
  EXPECT_EQ(z.shape(), (Shape{5, 4}));
  EXPECT_EQ(z.chunks(), (Chunks{{2, 2, 1}, {2, 2}}));
  EXPECT_EQ(z.dtype(), DType::kFloat64);
  NDArray r = full({3, 3}, 7, 2, DType::kInt32).compute();
  EXPECT_EQ(r.dtype(), DType::kInt32);
  EXPECT_EQ(r.ToVector<int32_t>(), std::vector<int32_t>(9, 7));
  EXPECT_EQ(ones({4}, 3).compute().ToVector<double>(), std::vector<double>(4, 1.0));
}

TEST(ArrayCreation, ArangeLinspaceEye) {
  EXPECT_EQ(arange(0, 10, 1, 3).compute().ToVector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(arange(0, 10, 1, 3).dtype(), DType::kInt64);
  EXPECT_EQ(arange(5, 0, -2, 2).compute().ToVector<int64_t>(), (std::vector<int64_t>{5, 3, 1}));
  EXPECT_EQ(arange(0, 1, 0.25, 2).compute().ToVector<double>(), (std::vector<double>{0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(linspace(0, 1, 5, 2).compute().ToVector<double>(), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  NDArray e = eye(5, 2, std::nullopt, 1).compute();
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 5; ++j) EXPECT_EQ(e.at<double>({i, j}), j == i + 1 ? 1.0 : 0.0) << i << "," << j;
  }
  EXPECT_THROW(arange(0, 1, 0), Error);
}

TEST(ArrayCreation, AutoChunksAimAtTheConfiguredBlockSize) {
  config::ScopedSet small({{"array.chunk-size", Value("8KiB")}});
  Array a = zeros({1000, 1000});  // 1024 float64 per block: 32 x 32
  EXPECT_EQ(a.chunksize(), (Shape{32, 32}));
  Array b = zeros({10, 100000}, ChunkSpec({-1, 0}));  // rows whole, columns auto
  EXPECT_EQ(b.chunksize()[0], 10);
  EXPECT_LE(b.chunksize()[1] * 10 * 8, 8192);
}

TEST(ArrayCreation, FromVectorAndFromFunction) {
  Array v = from_vector<double>(Iota(12), {3, 4}, 2);
  EXPECT_EQ(v.numblocks(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(v.compute().ToVector<double>(), Iota(12));
  Array f = from_function(
      [](const BlockInfo& b) {
        NDArray out = NDArray::Empty(DType::kInt64, b.shape);
        for (int64_t i = 0; i < out.size(); ++i) out.mutable_data<int64_t>()[i] = b.location[0].first + i;
        return out;
      },
      {10}, 4, DType::kInt64);
  EXPECT_EQ(f.compute().ToVector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  Array bad = from_function([](const BlockInfo&) { return NDArray::Zeros(DType::kInt64, {1}); }, {10}, 4, DType::kInt64);
  try {
    bad.compute();
    FAIL() << "expected an error";
  } catch (const TaskError& e) {
    EXPECT_THAT(e.what(), HasSubstr("came back with shape (1,)"));
  }
}

TEST(ArrayRandom, SameSeedSameNumbersWhateverTheThreads) {
  Array a = random::default_rng(42).normal(0, 1, {300, 200}, 64);
  Array b = random::default_rng(42).normal(0, 1, {300, 200}, 64);
  ComputeOptions sync;
  sync.scheduler = "sync";
  EXPECT_EQ(a.compute(), b.compute(sync));
  NDArray c = random::default_rng(43).normal(0, 1, {300, 200}, 64).compute();
  EXPECT_FALSE(a.compute() == c);
  // Moments of 60000 normal draws.
  double mean = a.mean().compute().item<double>(0), sd = a.std().compute().item<double>(0);
  EXPECT_NEAR(mean, 0, 0.02);
  EXPECT_NEAR(sd, 1, 0.02);
  NDArray u = random::default_rng(1).uniform(2, 3, {1000}, 100).compute();
  for (double x : u.ToVector<double>()) ASSERT_TRUE(x >= 2 && x < 3);
  NDArray k = random::default_rng(1).integers(-3, 4, {1000}, 100).compute();
  for (int64_t x : k.ToVector<int64_t>()) ASSERT_TRUE(x >= -3 && x < 4);
}

TEST(ArrayElementwise, ChainsFuseIntoOneTaskPerBlock) {
  Array x = from_vector<double>(Iota(20), {4, 5}, 2);
  Array y = from_vector<double>(Iota(20, 100), {4, 5}, 2);
  Array z = (x + 1) * 2 - y;
  EXPECT_EQ(LayerTasks(z), 6u);                      // 2 x 3 blocks
  EXPECT_EQ(z.layer()->deps.size(), 2u);             // reads x and y directly
  NDArray r = z.compute();
  for (int i = 0; i < 20; ++i) EXPECT_DOUBLE_EQ(r.item<double>(i), (i + 1.0) * 2 - (i + 100.0));
}

TEST(ArrayElementwise, TransposesFuseIntoTheOpsThatReadThem) {
  Array x = from_vector<double>(Iota(36), {6, 6}, 3);
  Array s = x + x.T();
  EXPECT_EQ(LayerTasks(s), 4u);
  ASSERT_EQ(s.layer()->deps.size(), 1u);
  EXPECT_EQ(s.layer()->deps[0]->name, x.name()) << "x + x.T reads x's blocks, not transposed copies";
  // Chunks that do not line up: x.T is rechunked first (not fused), same values.
  Array u = from_vector<double>(Iota(36), {6, 6}, ChunkSpec({4, 3}));
  for (const Array& sum : {s, u + u.T()}) {
    NDArray r = sum.compute();
    for (int i = 0; i < 6; ++i) {
      for (int j = 0; j < 6; ++j) ASSERT_DOUBLE_EQ(r.at<double>({i, j}), (i * 6 + j) + (j * 6 + i));
    }
  }
  // A reduction over a fused transpose, with a broadcast row and unequal chunks.
  Array y = from_vector<double>(Iota(24), {2, 3, 4}, ChunkSpec({1, 2, 3}));
  Array t = y.transpose({2, 0, 1});  // (4, 2, 3)
  Array v = from_vector<double>({1, 10, 100}, {3}, 2);
  NDArray got = (t * v).sum(1).compute();  // (4, 3)
  for (int a = 0; a < 4; ++a) {
    for (int c = 0; c < 3; ++c) {
      double want = 0;
      for (int b = 0; b < 2; ++b) want += (b * 12 + c * 4 + a) * (c == 0 ? 1 : c == 1 ? 10 : 100);
      ASSERT_DOUBLE_EQ(got.at<double>({a, c}), want);
    }
  }
  EXPECT_EQ(x.T().sum(0).compute(), x.sum(1).compute());
  EXPECT_EQ(x.T().compute(), (x.T() * 1).compute());  // the transpose on its own and fused agree
  EXPECT_EQ((x.T().T() - x).max().compute().item<double>(0), 0.0);
}

TEST(ArrayElementwise, FusedTransposesOfLargeUnevenBlocksReadEveryElement) {
  // Blocks larger than the 8 x 8 register tiles, with edges that are not a
  // multiple of 8 and more rows than one evaluation slab, for 8-byte and
  // 4-byte elements.
  const int64_t n = 203;
  for (DType dt : {DType::kFloat64, DType::kInt64, DType::kFloat32}) {
    Array x = from_vector<double>(Iota(n * n), {n, n}, 190).astype(dt);
    Array y = from_vector<double>(Iota(n * n), {n, n}, 190).astype(dt);
    NDArray got = (x - y.T()).astype(DType::kFloat64).compute();
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        ASSERT_EQ(got.at<double>({i, j}), static_cast<double>(i * n + j) - static_cast<double>(j * n + i))
            << DTypeName(dt) << " at " << i << "," << j;
      }
    }
  }
}

TEST(ArrayElementwise, BroadcastingAcrossRanksAndUnitAxes) {
  Array m = from_vector<double>(Iota(12), {3, 4}, 2);
  Array row = from_vector<double>({10, 20, 30, 40}, {4}, 3);   // chunks differ: rechunked
  Array col = from_vector<double>({1, 2, 3}, {3, 1}, 1);
  NDArray r = (m + row - col).compute();
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) EXPECT_DOUBLE_EQ(r.at<double>({i, j}), i * 4 + j + 10.0 * (j + 1) - (i + 1));
  }
  try {
    (m + from_vector<double>({1, 2, 3}, {3}, 1)).compute();
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("could not be broadcast together with shapes (3, 4) (3,)"));
  }
}

TEST(ArrayElementwise, NumPyTypePromotion) {
  Array i32 = full({4}, 3, 2, DType::kInt32);
  Array f32 = full({4}, 1.5, 2, DType::kFloat32);
  Array u8 = full({4}, 2, 2, DType::kUInt8);
  EXPECT_EQ((i32 + 1).dtype(), DType::kInt32);        // weak int scalar
  EXPECT_EQ((i32 + 1.5).dtype(), DType::kFloat64);    // float scalar on ints
  EXPECT_EQ((f32 * 2.0).dtype(), DType::kFloat32);    // weak float scalar
  EXPECT_EQ((i32 + f32).dtype(), DType::kFloat64);
  EXPECT_EQ((u8 + f32).dtype(), DType::kFloat32);
  EXPECT_EQ((u8 + i32).dtype(), DType::kInt32);
  EXPECT_EQ((i32 / i32).dtype(), DType::kFloat64);
  EXPECT_EQ((i32 < 2).dtype(), DType::kBool);
  EXPECT_EQ(sqrt(i32).dtype(), DType::kFloat64);
  EXPECT_EQ((i32 + 1.5).compute().ToVector<double>(), std::vector<double>(4, 4.5));
  EXPECT_THROW(f32 & f32, TypeError);
  Array b = i32 > 2;
  EXPECT_THROW(b - b, TypeError);
}

TEST(ArrayElementwise, PythonDivisionAndModuloSemantics) {
  Array a = from_vector<int64_t>({7, -7, 7, -7, 5}, {5}, 2);
  Array b = from_vector<int64_t>({2, 2, -2, -2, 0}, {5}, 2);
  EXPECT_EQ(floor_divide(a, b).compute().ToVector<int64_t>(), (std::vector<int64_t>{3, -4, -4, 3, 0}));
  EXPECT_EQ((a % b).compute().ToVector<int64_t>(), (std::vector<int64_t>{1, 1, -1, -1, 0}));
  EXPECT_EQ(pow(a, 2).compute().ToVector<int64_t>(), (std::vector<int64_t>{49, 49, 49, 49, 25}));
  Array f = from_vector<double>({7.5, -7.5}, {2}, 1);
  EXPECT_EQ(floor_divide(f, 2.0).compute().ToVector<double>(), (std::vector<double>{3, -4}));
  EXPECT_EQ((f % 2.0).compute().ToVector<double>(), (std::vector<double>{1.5, 0.5}));
}

TEST(ArrayElementwise, MathLogicWhereClipIsnan) {
  Array x = from_vector<double>({-2, -1, 0, 1, 4, NAN}, {6}, 4);
  NDArray r = where(isnan(x), 0.0, clip(x, -1.0, 2.0)).compute();
  EXPECT_EQ(r.ToVector<double>(), (std::vector<double>{-1, -1, 0, 1, 2, 0}));
  NDArray s = sqrt(abs(x)).compute();
  EXPECT_DOUBLE_EQ(s.item<double>(4), 2.0);
  NDArray l = ((x > 0) | (x < -1.5)).compute();
  EXPECT_EQ(l.ToVector<bool>(), (std::vector<bool>{true, false, false, true, true, false}));
  NDArray n = logical_not(x > 0).compute();
  EXPECT_EQ(n.ToVector<bool>(), (std::vector<bool>{true, true, true, false, false, true}));
  EXPECT_NEAR(exp(log(from_vector<double>({3.0}, {1}))).compute().item<double>(0), 3.0, 1e-12);
  EXPECT_NEAR((sin(x) * sin(x) + cos(x) * cos(x)).compute().item<double>(3), 1.0, 1e-12);
  EXPECT_EQ(x.astype(DType::kInt32).compute().ToVector<int32_t>(), (std::vector<int32_t>{-2, -1, 0, 1, 4, 0}));
}

class ArrayReduction : public ::testing::TestWithParam<int> {};  // split_every

TEST_P(ArrayReduction, MatchesDenseLoopsOverAnyAxes) {
  const int split = GetParam();
  std::vector<double> v = Iota(4 * 6 * 5);
  for (double& d : v) d = std::fmod(d * 7.3, 11.0) - 5;
  Array x = from_vector<double>(v, {4, 6, 5}, ChunkSpec({3, 2, 2}));
  ReduceOptions o{.split_every = split};
  // sum over axis 1
  NDArray s = x.sum(1, o).compute();
  ASSERT_EQ(s.shape(), (Shape{4, 5}));
  for (int i = 0; i < 4; ++i) {
    for (int k = 0; k < 5; ++k) {
      double want = 0;
      for (int j = 0; j < 6; ++j) want += v[(i * 6 + j) * 5 + k];
      EXPECT_NEAR(s.at<double>({i, k}), want, 1e-9);
    }
  }
  // all axes: mean, var, std, min, max, prod
  double sum = std::accumulate(v.begin(), v.end(), 0.0), mean = sum / v.size(), m2 = 0;
  for (double d : v) m2 += (d - mean) * (d - mean);
  EXPECT_NEAR(x.sum({}, o).compute().item<double>(0), sum, 1e-9);
  EXPECT_NEAR(x.mean({}, o).compute().item<double>(0), mean, 1e-12);
  EXPECT_NEAR(x.var({}, o).compute().item<double>(0), m2 / v.size(), 1e-9);
  EXPECT_NEAR(x.std({}, ReduceOptions{.split_every = split, .ddof = 1}).compute().item<double>(0),
              std::sqrt(m2 / (v.size() - 1)), 1e-9);
  EXPECT_EQ(x.min({}, o).compute().item<double>(0), *std::min_element(v.begin(), v.end()));
  EXPECT_EQ(x.max({}, o).compute().item<double>(0), *std::max_element(v.begin(), v.end()));
  // axes (0, 2) with keepdims
  NDArray m = x.max({0, 2}, ReduceOptions{.keepdims = true, .split_every = split}).compute();
  ASSERT_EQ(m.shape(), (Shape{1, 6, 1}));
  for (int j = 0; j < 6; ++j) {
    double want = -1e9;
    for (int i = 0; i < 4; ++i)
      for (int k = 0; k < 5; ++k) want = std::max(want, v[(i * 6 + j) * 5 + k]);
    EXPECT_EQ(m.at<double>({0, j, 0}), want);
  }
  // argmin / argmax, flat and along an axis
  EXPECT_EQ(x.argmax(std::nullopt, o).compute().item<int64_t>(0), std::max_element(v.begin(), v.end()) - v.begin());
  NDArray am = x.argmin(2, o).compute();
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 6; ++j) {
      const double* row = &v[(i * 6 + j) * 5];
      EXPECT_EQ(am.at<int64_t>({i, j}), std::min_element(row, row + 5) - row);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(SplitEvery, ArrayReduction, ::testing::Values(2, 3, 8));

TEST(ArrayReductionTypes, IntegerSumsWidenBoolAnyAllNanAware) {
  Array i = from_vector<int32_t>({1, 2, 3, 4}, {4}, 3);
  EXPECT_EQ(i.sum().dtype(), DType::kInt64);
  EXPECT_EQ(i.sum().compute().item<int64_t>(0), 10);
  EXPECT_EQ(i.prod().compute().item<int64_t>(0), 24);
  EXPECT_EQ(i.mean().dtype(), DType::kFloat64);
  EXPECT_EQ((i > 3).any().compute().item<bool>(0), true);
  EXPECT_EQ((i > 0).all().compute().item<bool>(0), true);
  EXPECT_EQ((i > 1).all().compute().item<bool>(0), false);
  Array f = from_vector<double>({1, NAN, 3}, {3}, 2);
  EXPECT_TRUE(std::isnan(f.sum().compute().item<double>(0)));
  EXPECT_EQ(f.nansum().compute().item<double>(0), 4);
  EXPECT_EQ(f.nanmean().compute().item<double>(0), 2);
  EXPECT_TRUE(std::isnan(f.max().compute().item<double>(0)));
  // Long runs take the vectorized min/max: a NaN anywhere wins, infinities
  // are ordinary values, every integer width and float32 agree with a loop.
  for (int at : {0, 7, 8, 31, 32, 50, 99, 200, 299}) {
    std::vector<double> v(300);
    for (int k = 0; k < 300; ++k) v[k] = std::sin(k) * 10;
    v[at] = NAN;
    Array a = from_vector<double>(v, {300}, 300);
    EXPECT_TRUE(std::isnan(a.max().compute().item<double>(0))) << at;
    EXPECT_TRUE(std::isnan(a.min().compute().item<double>(0))) << at;
    v[at] = INFINITY;
    Array b = from_vector<double>(v, {300}, 300);
    EXPECT_EQ(b.max().compute().item<double>(0), INFINITY);
    EXPECT_EQ(b.min().compute().item<double>(0), *std::min_element(v.begin(), v.end()));
    EXPECT_EQ(b.astype(DType::kFloat32).min().compute().item<float>(0), static_cast<float>(b.min().compute().item<double>(0)));
  }
  std::vector<int64_t> w(1100);  // beyond four lanes of 64 uint8 each
  for (int k = 0; k < 1100; ++k) w[k] = (k * 7919) % 101 - 50;
  Array iw = from_vector<int64_t>(w, {1100}, 1100);
  for (DType t : {DType::kInt64, DType::kInt32, DType::kUInt8}) {
    Array c = t == DType::kUInt8 ? abs(iw).astype(t) : iw.astype(t);
    const int64_t mx = t == DType::kUInt8 ? 50 : *std::max_element(w.begin(), w.end());
    EXPECT_EQ(c.max().astype(DType::kInt64).compute().item<int64_t>(0), mx) << DTypeName(t);
    EXPECT_EQ(c.min().astype(DType::kInt64).compute().item<int64_t>(0),
              t == DType::kUInt8 ? 0 : *std::min_element(w.begin(), w.end())) << DTypeName(t);
  }
}

// A reduction of sqrt / abs of an affine map of one array runs in one loop
// (ElementMap); its answers must be the interpreter's, bit for bit where the
// order of operations is the same (min, max), and to rounding otherwise.
TEST(ArrayFusedReduction, AgreesWithTheReductionOfTheComputedProgram) {
  std::vector<double> finite(3000);
  for (int k = 0; k < 3000; ++k) finite[k] = std::sin(k * 0.37) * 4;
  finite[5] = -0.0;
  finite[6] = 0.0;
  std::vector<double> infinite = finite;
  infinite[1234] = INFINITY;
  const std::vector<std::function<Array(const Array&)>> programs = {
      [](const Array& x) { return skein::sqrt(x * 2 + 1); },       // NaN for x < -0.5
      [](const Array& x) { return skein::sqrt(abs(x) * 0.5); },   // no map: abs is not last
      [](const Array& x) { return abs((x - 1) * 3 + 0.25); },
      [](const Array& x) { return skein::sqrt((x + 4.5) * 0.5); },
      [](const Array& x) { return x * -2; },                       // -0.0 stays -0.0
      [](const Array& x) { return 1 + x; }};
  for (const std::vector<double>& v : {finite, infinite})
  for (DType t : {DType::kFloat64, DType::kFloat32}) {
    Array x = from_vector<double>(v, {30, 100}, ChunkSpec({16, 64})).astype(t);
    if (t == DType::kFloat32) x = from_vector<float>(x.compute().ToVector<float>(), {30, 100}, ChunkSpec({16, 64}));
    for (size_t p = 0; p < programs.size(); ++p) {
      Array fused = programs[p](x);
      NDArray dense = fused.compute();
      Array plain = t == DType::kFloat64 ? from_vector<double>(dense.ToVector<double>(), {30, 100}, ChunkSpec({16, 64}))
                                         : from_vector<float>(dense.ToVector<float>(), {30, 100}, ChunkSpec({16, 64}));
      auto same = [&](const Array& a, const Array& b, const char* what) {
        const double got = a.compute().item<double>(0), want = b.compute().item<double>(0);
        if (std::isnan(want) || std::isinf(want)) {
          EXPECT_EQ(std::isnan(got), std::isnan(want)) << what << " program " << p << " " << DTypeName(t);
          if (std::isinf(want)) EXPECT_EQ(got, want) << what << " program " << p << " " << DTypeName(t);
        } else {
          EXPECT_NEAR(got, want, 1e-9 * std::max(1.0, std::abs(want))) << what << " program " << p << " " << DTypeName(t);
        }
      };
      same(fused.sum(), plain.sum(), "sum");
      same(fused.mean(), plain.mean(), "mean");
      same(fused.var(), plain.var(), "var");
      same(fused.std(), plain.std(), "std");
      same(fused.nansum(), plain.nansum(), "nansum");
      same(fused.nanmean(), plain.nanmean(), "nanmean");
      same(fused.prod(), plain.prod(), "prod");
      same(fused.any().astype(DType::kFloat64), plain.any().astype(DType::kFloat64), "any");
      same(fused.all().astype(DType::kFloat64), plain.all().astype(DType::kFloat64), "all");
      for (bool mx : {false, true}) {
        NDArray a = (mx ? fused.max() : fused.min()).compute(), b = (mx ? plain.max() : plain.min()).compute();
        ASSERT_EQ(a.dtype(), t);
        EXPECT_EQ(std::memcmp(a.bytes(), b.bytes(), a.itemsize()), 0) << (mx ? "max" : "min") << " program " << p;
      }
    }
  }
}

// sum/mean of a signed sum of arrays (transposed or not) reduce each array
// in its own layout and add the partials; the answers are the program's to
// rounding, and where a partial overflows or meets inf - inf the program
// itself is evaluated, so its answer stands.
TEST(ArrayLinearReduction, SignedSumsOfTransposesMatchDenseLoops) {
  const int n = 12;
  std::vector<double> xv(n * n), yv(n * n);
  for (int k = 0; k < n * n; ++k) {
    xv[k] = std::fmod(k * 7.3, 11.0) - 5;
    yv[k] = std::cos(k) * 3;
  }
  Array x = from_vector<double>(xv, {n, n}, ChunkSpec({5, 5}));
  Array y = from_vector<double>(yv, {n, n}, ChunkSpec({5, 5}));
  auto at = [&](const std::vector<double>& v, int i, int j) { return v[static_cast<size_t>(i * n + j)]; };
  NDArray s0 = (x + x.T()).sum(0).compute();
  NDArray m1 = (x - y.T()).mean(1).compute();
  NDArray all = (x + y - x.T()).sum().compute();
  double want_all = 0;
  for (int i = 0; i < n; ++i) {
    double col = 0, row = 0;
    for (int r = 0; r < n; ++r) {
      col += at(xv, r, i) + at(xv, i, r);
      row += at(xv, i, r) - at(yv, r, i);
      want_all += at(xv, i, r) + at(yv, i, r) - at(xv, r, i);
    }
    EXPECT_NEAR(s0.at<double>({i}), col, 1e-9) << i;
    EXPECT_NEAR(m1.at<double>({i}), row / n, 1e-9) << i;
  }
  EXPECT_NEAR(all.item<double>(0), want_all, 1e-9);
  // float32 stays float32.
  Array xf = x.astype(DType::kFloat32);
  EXPECT_EQ((xf + xf.T()).sum(0).dtype(), DType::kFloat32);
  EXPECT_NEAR((xf + xf.T()).sum(0).compute().item<float>(3), s0.at<double>({3}), 1e-3);
  // Column 2 of big + (-big): each alone overflows, the program's sum is 0.
  std::vector<double> bv(n * n, 1.0), cv(n * n, -1.0);
  for (int r = 0; r < n; ++r) {
    bv[static_cast<size_t>(r * n + 2)] = 1e308;
    cv[static_cast<size_t>(r * n + 2)] = -1e308;
  }
  Array b = from_vector<double>(bv, {n, n}, ChunkSpec({5, 5}));
  Array c = from_vector<double>(cv, {n, n}, ChunkSpec({5, 5}));
  NDArray bc = (b + c).sum(0).compute();
  for (int j = 0; j < n; ++j) EXPECT_EQ(bc.at<double>({j}), 0.0) << j;
  // inf - inf inside the program is NaN there, and so in the sum.
  std::vector<double> iv = xv;
  iv[static_cast<size_t>(1 * n + 4)] = INFINITY;
  iv[static_cast<size_t>(4 * n + 1)] = INFINITY;
  Array inf = from_vector<double>(iv, {n, n}, ChunkSpec({5, 5}));
  NDArray d = (inf - inf.T()).sum(0).compute();
  EXPECT_TRUE(std::isnan(d.at<double>({1})));
  EXPECT_TRUE(std::isnan(d.at<double>({4})));
  double col0 = 0;
  for (int r = 0; r < n; ++r) col0 += at(iv, r, 0) - at(iv, 0, r);
  EXPECT_NEAR(d.at<double>({0}), col0, 1e-9);
}

// Integer arithmetic wraps around as NumPy's does (two's complement), in
// elementwise programs, sums, products and running sums alike; under UBSan
// a signed overflow here was undefined behaviour.
TEST(ArrayIntegerOverflow, WrapsAroundLikeNumPy) {
  const int64_t big = std::numeric_limits<int64_t>::max();
  Array x = from_vector<int64_t>({big, 1, big, 2}, {4}, 2);
  EXPECT_EQ(x.sum().compute().item<int64_t>(0), static_cast<int64_t>(uint64_t(big) * 2 + 3));
  EXPECT_EQ((x + big).compute().ToVector<int64_t>()[0], -2);
  EXPECT_EQ((x - (-big)).compute().ToVector<int64_t>()[1], std::numeric_limits<int64_t>::min());
  EXPECT_EQ((x * 2).compute().ToVector<int64_t>()[2], -2);
  EXPECT_EQ(x.prod().compute().item<int64_t>(0), static_cast<int64_t>(uint64_t(big) * uint64_t(big) * 2));
  EXPECT_EQ(x.cumsum().compute().ToVector<int64_t>()[1], std::numeric_limits<int64_t>::min());
  Array y = from_vector<int32_t>({std::numeric_limits<int32_t>::max(), 1}, {2}, 2);
  EXPECT_EQ((y + 1).compute().ToVector<int32_t>()[0], std::numeric_limits<int32_t>::min());
}

TEST(ArrayCumulative, CumsumAndCumprodAcrossBlocks) {
  Array x = from_vector<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3}, 1);
  EXPECT_EQ(x.cumsum(1).compute().ToVector<int64_t>(), (std::vector<int64_t>{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(x.cumsum(0).compute().ToVector<int64_t>(), (std::vector<int64_t>{1, 2, 3, 5, 7, 9}));
  EXPECT_EQ(x.cumprod().compute().ToVector<int64_t>(), (std::vector<int64_t>{1, 2, 6, 24, 120, 720}));
}

TEST(ArrayIndexing, SlicesWithStepsNegativeIndicesAndNewaxis) {
  std::vector<double> v = Iota(10 * 8);
  Array x = from_vector<double>(v, {10, 8}, 3);
  NDArray r = x[{Slice(1, 9, 3), Slice(std::nullopt, std::nullopt, -2)}].compute();
  ASSERT_EQ(r.shape(), (Shape{3, 4}));
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 4; ++b) EXPECT_EQ(r.at<double>({a, b}), v[(1 + 3 * a) * 8 + (7 - 2 * b)]);
  }
  NDArray row = x[{-1}].compute();
  EXPECT_EQ(row.shape(), (Shape{8}));
  EXPECT_EQ(row.item<double>(0), 72);
  NDArray e = x[{ellipsis, 2, newaxis}].compute();
  EXPECT_EQ(e.shape(), (Shape{10, 1}));
  EXPECT_EQ(e.at<double>({4, 0}), 34);
  EXPECT_EQ(x[{Slice(5, 2)}].shape(), (Shape{0, 8}));
  try {
    x[{10}];
    FAIL();
  } catch (const Error& err) {
    EXPECT_THAT(err.what(), HasSubstr("index 10 is out of bounds for axis 0 with size 10"));
  }
  EXPECT_THROW((x[{1, 2, 3}]), Error);
}

TEST(ArrayIndexing, TakeAndBooleanMasks) {
  Array x = from_vector<double>(Iota(12), {4, 3}, 2);
  NDArray t = x.take({3, 0, -1, 1}, 0).compute();
  EXPECT_EQ(t.ToVector<double>(), (std::vector<double>{9, 10, 11, 0, 1, 2, 9, 10, 11, 3, 4, 5}));
  NDArray c = x.compress(std::vector<bool>{true, false, true}, 1).compute();
  EXPECT_EQ(c.ToVector<double>(), (std::vector<double>{0, 2, 3, 5, 6, 8, 9, 11}));
  Array col0 = x[{Slice(), 0}];
  NDArray m = x.compress(col0 > 4.0, 0).compute();
  EXPECT_EQ(m.shape(), (Shape{2, 3}));
  EXPECT_THROW(x.compress(std::vector<bool>{true}, 0), Error);
  EXPECT_THROW(x.take({4}, 0), Error);
}

TEST(ArrayShape, TransposeReshapeRechunk) {
  std::vector<double> v = Iota(6 * 4);
  Array x = from_vector<double>(v, {6, 4}, ChunkSpec({4, 3}));
  NDArray t = x.T().compute();
  ASSERT_EQ(t.shape(), (Shape{4, 6}));
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_EQ(t.at<double>({j, i}), v[i * 4 + j]);
  EXPECT_EQ(x.reshape({24}).compute().ToVector<double>(), v);
  EXPECT_EQ(x.reshape({2, 3, 4}).compute().ToVector<double>(), v);
  EXPECT_EQ(x.reshape({4, -1}).compute().ToVector<double>(), v);
  EXPECT_EQ(x.reshape({3, 8}).compute().ToVector<double>(), v);
  EXPECT_THROW(x.reshape({5, 5}), Error);
  Array r = x.rechunk(ChunkSpec({5, 1}));
  EXPECT_EQ(r.chunks(), (Chunks{{5, 1}, {1, 1, 1, 1}}));
  EXPECT_EQ(r.compute().ToVector<double>(), v);
}

TEST(ArrayShape, ConcatenateAndStack) {
  Array a = from_vector<double>(Iota(6), {2, 3}, 1);
  Array b = from_vector<int32_t>({6, 7, 8}, {1, 3}, 2);
  Array c = concatenate({a, b}, 0);
  EXPECT_EQ(c.dtype(), DType::kFloat64);
  EXPECT_EQ(c.compute().ToVector<double>(), Iota(9));
  NDArray s = stack({a, a + 10}, 1).compute();
  ASSERT_EQ(s.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(s.at<double>({1, 1, 2}), 15);
  EXPECT_THROW(concatenate({a, from_vector<double>(Iota(4), {2, 2})}, 0), Error);
}

TEST(ArrayPrinting, ReprLikeDaskAndDenseLikeNumPy) {
  Array x = zeros({100, 100}, 50);
  std::string repr = x.sum(0).ToString();
  EXPECT_THAT(repr, HasSubstr("skein.array<sum, shape=(100,), dtype=float64, chunksize=(50,), chunks=2"));
  EXPECT_THAT(repr, HasSubstr("nbytes=800 B"));
  EXPECT_EQ(from_vector<double>({1, 2, 3, 4}, {2, 2}).compute().ToString(), "array([[1., 2.],\n       [3., 4.]])");
  EXPECT_EQ(from_vector<int32_t>({1, 2}).compute().ToString(), "array([1, 2], dtype=int32)");
}

}  // namespace
}  // namespace skein

namespace skein {
namespace {

NDArray DenseMatmul(const NDArray& a, const NDArray& b) {
  const int64_t m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  NDArray out = NDArray::Zeros(DType::kFloat64, {m, n});
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) out.mutable_data<double>()[i * n + j] += a.at<double>({i, p}) * b.at<double>({p, j});
  return out;
}

TEST(ArrayLinalg, MatmulMatchesDenseProductWithMismatchedChunks) {
  Array a = random::default_rng(3).normal(0, 1, {37, 23}, ChunkSpec({10, 7}));
  Array b = random::default_rng(4).normal(0, 1, {23, 19}, ChunkSpec({5, 8}));
  NDArray want = DenseMatmul(a.compute(), b.compute());
  NDArray got = matmul(a, b).compute();
  ASSERT_EQ(got.shape(), (Shape{37, 19}));
  for (int64_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got.item<double>(i), want.item<double>(i), 1e-9);
  // Integers go through the plain loop.
  Array ia = from_vector<int64_t>({1, 2, 3, 4}, {2, 2}, 1);
  EXPECT_EQ(matmul(ia, ia).compute().ToVector<int64_t>(), (std::vector<int64_t>{7, 10, 15, 22}));
  // Vector operands.
  Array v = from_vector<double>({1, 1}, {2});
  EXPECT_EQ(dot(ia.astype(DType::kFloat64), v).compute().ToVector<double>(), (std::vector<double>{3, 7}));
  try {
    matmul(a, a);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("(37, 23) @ (37, 23)"));
  }
}

TEST(ArrayLinalg, TensordotOverTwoAxes) {
  Array x = random::default_rng(5).random({4, 3, 5}, 2);
  Array y = random::default_rng(6).random({3, 5, 2}, 2);
  NDArray xd = x.compute(), yd = y.compute();
  NDArray t = tensordot(x, y, {1, 2}, {0, 1}).compute();
  ASSERT_EQ(t.shape(), (Shape{4, 2}));
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 2; ++j) {
      double want = 0;
      for (int p = 0; p < 3; ++p)
        for (int q = 0; q < 5; ++q) want += xd.at<double>({i, p, q}) * yd.at<double>({p, q, j});
      EXPECT_NEAR(t.at<double>({i, j}), want, 1e-12);
    }
  }
}

TEST(ArrayLinalg, TallSkinnyQRReconstructsTheMatrix) {
  Array a = random::default_rng(8).normal(0, 1, {200, 6}, ChunkSpec({50, 6}));
  auto [q, r] = linalg::tsqr(a);
  EXPECT_EQ(q.shape(), (Shape{200, 6}));
  EXPECT_EQ(r.shape(), (Shape{6, 6}));
  NDArray ad = a.compute(), qr = matmul(q, r).compute(), qtq = matmul(q.T(), q).compute(), rd = r.compute();
  for (int64_t i = 0; i < ad.size(); ++i) EXPECT_NEAR(qr.item<double>(i), ad.item<double>(i), 1e-10);
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 6; ++j) {
      EXPECT_NEAR(qtq.at<double>({i, j}), i == j ? 1.0 : 0.0, 1e-10);
      if (i > j) {
        EXPECT_EQ(rd.at<double>({i, j}), 0.0);
      }
    }
  }
  EXPECT_THROW(linalg::tsqr(random::default_rng(1).random({20, 10}, 5)), Error);
}

}  // namespace
}  // namespace skein

namespace skein::array::internal {
namespace {

// Programs arrive as bytes in task parameters: the decoder must reject any
// that would make the evaluator read outside its buffers (found by fuzzing).
TEST(ArrayProgramDecode, RejectsLyingProgramsAndRoundTripsGoodOnes) {
  Program p;
  p.num_inputs = 1;
  ExprNode in{ExprKind::kInput};
  in.a = 0;
  ExprNode sq{ExprKind::kUnary, static_cast<uint8_t>(UnaryOp::kSqrt)};
  sq.a = 0;
  p.nodes = {in, sq};
  p.input_axes = {{1, 0}};
  Program back = Program::Decode(p.Encode());
  EXPECT_EQ(back.Encode(), p.Encode());
  EXPECT_EQ(back.ToString(), "sqrt(transpose(in0, (1,0)))");
  Program lying = p;
  lying.nodes[1].b = 7;  // a unary node with a second operand
  EXPECT_THROW(Program::Decode(lying.Encode()), SerializationError);
  lying = p;
  lying.nodes[1].dtype = DType::kBool;  // sqrt writes float64, not bool
  EXPECT_THROW(Program::Decode(lying.Encode()), SerializationError);
  lying = p;
  lying.input_axes = {{1, 1}};  // not a permutation
  EXPECT_THROW(Program::Decode(lying.Encode()), SerializationError);
  lying = p;
  lying.input_axes = {{0, 1}, {1, 0}};  // more permutations than inputs
  EXPECT_THROW(Program::Decode(lying.Encode()), SerializationError);
  lying = p;
  lying.nodes[0].a = 3;  // input index out of range
  EXPECT_THROW(Program::Decode(lying.Encode()), SerializationError);
  // A permutation that does not fit the block it is applied to.
  NDArray block = NDArray::Zeros(DType::kFloat64, {4});
  const NDArray* ptr = &block;
  EXPECT_THROW(Evaluate(back, std::span(&ptr, 1)), Error);
}

TEST(ArrayFusedReduction, ElementMapsMatchOnlyWhatTheyComputeExactly) {
  auto input = [](DType t) {
    ExprNode n{ExprKind::kInput};
    n.a = 0;
    n.dtype = t;
    return n;
  };
  auto scalar = [](double f, DType t = DType::kFloat64) {
    ExprNode n{ExprKind::kScalar};
    n.f = f;
    n.dtype = t;
    return n;
  };
  auto binary = [](BinaryOp op, int a, int b, DType t = DType::kFloat64) {
    ExprNode n{ExprKind::kBinary, static_cast<uint8_t>(op)};
    n.a = a;
    n.b = b;
    n.dtype = n.arg = t;
    return n;
  };
  auto unary = [](UnaryOp op, int a, DType t = DType::kFloat64) {
    ExprNode n{ExprKind::kUnary, static_cast<uint8_t>(op)};
    n.a = a;
    n.dtype = n.arg = t;
    return n;
  };
  auto program = [](std::vector<ExprNode> nodes) {
    Program p;
    p.num_inputs = 1;
    p.nodes = std::move(nodes);
    return p;
  };
  const DType f8 = DType::kFloat64;
  ElementMap m;
  // sqrt(x * 2 + 1)
  ASSERT_TRUE(MatchElementMap(program({input(f8), scalar(2), binary(BinaryOp::kMul, 0, 1), scalar(1),
                                       binary(BinaryOp::kAdd, 2, 3), unary(UnaryOp::kSqrt, 4)}), &m));
  EXPECT_EQ(m.mul, 2);
  EXPECT_EQ(m.add_after, 1);
  EXPECT_TRUE(std::signbit(m.add_before));  // -0.0: no addition before
  EXPECT_EQ(m.unary, UnaryOp::kSqrt);
  // abs((x - 3) * 0.5), with the scalar on the left of the product
  ASSERT_TRUE(MatchElementMap(program({input(f8), scalar(3), binary(BinaryOp::kSub, 0, 1), scalar(0.5),
                                       binary(BinaryOp::kMul, 3, 2), unary(UnaryOp::kAbs, 4)}), &m));
  EXPECT_EQ(m.add_before, -3);
  EXPECT_EQ(m.mul, 0.5);
  EXPECT_EQ(m.unary, UnaryOp::kAbs);
  // 1 + x
  ASSERT_TRUE(MatchElementMap(program({input(f8), scalar(1), binary(BinaryOp::kAdd, 1, 0)}), &m));
  EXPECT_EQ(m.add_before, 1);
  EXPECT_EQ(m.mul, 1);
  // Not maps computed exactly by the one loop:
  EXPECT_FALSE(MatchElementMap(program({input(f8), scalar(2), binary(BinaryOp::kSub, 1, 0)}), &m));  // 2 - x
  EXPECT_FALSE(MatchElementMap(program({input(f8), binary(BinaryOp::kMul, 0, 0)}), &m));              // x * x
  EXPECT_FALSE(MatchElementMap(program({input(f8), scalar(2), binary(BinaryOp::kDiv, 0, 1)}), &m));  // x / 2
  EXPECT_FALSE(MatchElementMap(program({input(f8), unary(UnaryOp::kExp, 0)}), &m));
  EXPECT_FALSE(MatchElementMap(program({input(f8), unary(UnaryOp::kSqrt, 0), unary(UnaryOp::kSqrt, 1)}), &m));
  EXPECT_FALSE(MatchElementMap(program({input(f8), scalar(2), binary(BinaryOp::kMul, 0, 1), scalar(3),
                                        binary(BinaryOp::kMul, 2, 3)}), &m));                         // x * 2 * 3
  EXPECT_FALSE(MatchElementMap(program({input(f8), scalar(1), binary(BinaryOp::kAdd, 0, 1), scalar(2),
                                        binary(BinaryOp::kAdd, 2, 3), scalar(3), binary(BinaryOp::kAdd, 4, 5)}),
                               &m));                                                                   // three sums
  EXPECT_FALSE(MatchElementMap(program({input(DType::kInt64), scalar(1, DType::kInt64),
                                        binary(BinaryOp::kAdd, 0, 1, DType::kInt64)}), &m));
  EXPECT_FALSE(MatchElementMap(program({input(f8)}), &m));                                         // x alone
  Program transposed = program({input(f8), scalar(1), binary(BinaryOp::kAdd, 0, 1)});
  transposed.input_axes = {{1, 0}};
  EXPECT_FALSE(MatchElementMap(transposed, &m));
  // Signed sums of inputs.
  std::vector<SignedTerm> terms;
  auto input_k = [&](int k) {
    ExprNode n = input(f8);
    n.a = k;
    return n;
  };
  Program xy = program({input_k(0), input_k(1), binary(BinaryOp::kAdd, 0, 1), input_k(2), binary(BinaryOp::kSub, 2, 3)});
  xy.num_inputs = 3;
  ASSERT_TRUE(MatchSignedSum(xy, &terms));
  ASSERT_EQ(terms.size(), 3u);
  EXPECT_FALSE(terms[0].negative);
  EXPECT_FALSE(terms[1].negative);
  EXPECT_TRUE(terms[2].negative);
  EXPECT_EQ(terms[2].input, 2);
  Program nested = program({input_k(0), input_k(1), input_k(2), binary(BinaryOp::kSub, 1, 2), binary(BinaryOp::kSub, 0, 3)});
  nested.num_inputs = 3;
  ASSERT_TRUE(MatchSignedSum(nested, &terms));  // in0 - (in1 - in2)
  EXPECT_TRUE(terms[1].negative);
  EXPECT_FALSE(terms[2].negative);
  Program product = program({input_k(0), input_k(1), binary(BinaryOp::kMul, 0, 1)});
  product.num_inputs = 2;
  EXPECT_FALSE(MatchSignedSum(product, &terms));
  EXPECT_FALSE(MatchSignedSum(program({input(f8), scalar(1), binary(BinaryOp::kAdd, 0, 1)}), &terms));  // x + 1
  EXPECT_FALSE(MatchSignedSum(program({input(f8), binary(BinaryOp::kAdd, 0, 0)}), &terms));  // one node twice
  Program twice = program({input_k(0), input_k(0), binary(BinaryOp::kAdd, 0, 1)});
  EXPECT_FALSE(MatchSignedSum(twice, &terms));  // one input in two terms
  Program ints = program({input(DType::kInt64), input(DType::kInt64), binary(BinaryOp::kAdd, 0, 1, DType::kInt64)});
  ints.nodes[1].a = 1;
  ints.num_inputs = 2;
  EXPECT_FALSE(MatchSignedSum(ints, &terms));
  Program two = program({input(f8), scalar(1), binary(BinaryOp::kAdd, 0, 1)});
  two.num_inputs = 2;
  EXPECT_FALSE(MatchElementMap(two, &m));
}

}  // namespace
}  // namespace skein::array::internal
