// .npy files: round trips, lazy block reads, parallel stores, NumPy interop
// and malformed files.
#include "skein/io/npy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "skein/array/creation.h"
#include "skein/array/ufunc.h"
#include "temp_dir_test_util.h"

namespace skein {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class NpyTest : public io::testing::TempDirTest<> {
 protected:
  static void WriteBytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
};

TEST_F(NpyTest, RoundTripsEveryDType) {
  write_npy(Path("f.npy"), NDArray::FromVector<double>({1.5, -2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_EQ(read_npy(Path("f.npy")), NDArray::FromVector<double>({1.5, -2, 3, 4, 5, 6}, {2, 3}));
  write_npy(Path("i.npy"), NDArray::FromVector<int32_t>({1, -2, 3}));
  EXPECT_EQ(read_npy(Path("i.npy")).ToVector<int32_t>(), (std::vector<int32_t>{1, -2, 3}));
  write_npy(Path("b.npy"), NDArray::FromVector<bool>({true, false}));
  EXPECT_EQ(read_npy(Path("b.npy")).ToVector<bool>(), (std::vector<bool>{true, false}));
  write_npy(Path("s.npy"), NDArray::Scalar<int64_t>(7));
  EXPECT_EQ(read_npy(Path("s.npy")).shape(), Shape{});
}

TEST_F(NpyTest, FromNpyReadsBlocksAndStoreWritesInParallel) {
  Array x = random::default_rng(2).normal(0, 1, {45, 31}, ChunkSpec({10, 7}));
  NDArray dense = x.compute();
  write_npy(Path("x.npy"), dense);
  Array lazy = from_npy(Path("x.npy"), ChunkSpec({8, 9}));
  EXPECT_EQ(lazy.compute(), dense);
  NDArray part = lazy[{Slice(3, 40, 4), 5}].compute();
  EXPECT_EQ(part, (x[{Slice(3, 40, 4), 5}].compute()));
  store({x, x * 2}, {NpyTarget(Path("a.npy")), NpyTarget(Path("b.npy"))});
  EXPECT_EQ(read_npy(Path("a.npy")), dense);
  EXPECT_EQ(read_npy(Path("b.npy")), (x * 2).compute());
}

TEST_F(NpyTest, AFailedStoreLeavesNothingBehind) {
  Array bad = from_function([](const BlockInfo& b) -> NDArray {
    if (b.index[0] == 2) throw std::runtime_error("block 2 failed");
    return NDArray::Zeros(DType::kFloat64, b.shape);
  }, {40}, 10, DType::kFloat64);
  EXPECT_THROW(store({bad}, {NpyTarget(Path("out.npy"))}), TaskError);
  EXPECT_TRUE(fs::is_empty(dir_)) << "temporary or final files were left";
}

// What a worker does under store() on a cluster: reopen the output the
// client opened, from the state it was sent, and write blocks there.
TEST_F(NpyTest, AReopenedWriterWritesIntoTheClientsOutput) {
  auto target = NpyTarget(Path("r.npy"));
  target->Open({4, 3}, DType::kInt64, {{2, 2}, {3}});
  ASSERT_EQ(target->reopen_format(), "npy");
  const std::string state = target->reopen_state();
  for (int64_t b = 0; b < 2; ++b) {
    auto w = internal::ReopenWriter("npy", state);
    std::vector<int64_t> block{b, 0}, start{2 * b, 0};
    w->WriteBlock(block, start, NDArray::FromVector<int64_t>({b, b, b, b + 10, b + 10, b + 10}, {2, 3}));
  }
  target->Commit();
  EXPECT_EQ(read_npy(Path("r.npy")).ToVector<int64_t>(), (std::vector<int64_t>{0, 0, 0, 10, 10, 10, 1, 1, 1, 11, 11, 11}));
  // Bad input: an unknown format, a cut state, an output that is gone.
  EXPECT_THROW(internal::ReopenWriter("parquet", state), Error);
  EXPECT_THROW(internal::ReopenWriter("npy", state.substr(0, state.size() / 2)), Error);
  auto gone = NpyTarget(Path("gone.npy"));
  gone->Open({4}, DType::kFloat64, {{4}});
  const std::string gone_state = gone->reopen_state();
  gone->Abort();
  try {
    internal::ReopenWriter("npy", gone_state);
    FAIL() << "reopened an output that was removed";
  } catch (const IOError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("gone.npy"));
  }
}

TEST_F(NpyTest, MalformedFilesGetClearErrors) {
  auto expect_error = [&](const std::string& bytes, const std::string& what) {
    WriteBytes(Path("bad.npy"), bytes);
    try {
      read_npy(Path("bad.npy"));
      ADD_FAILURE() << "no error for " << what;
    } catch (const IOError& e) {
      EXPECT_THAT(e.what(), HasSubstr(what));
      EXPECT_THAT(e.what(), HasSubstr("bad.npy"));
    }
  };
  expect_error("hello world, not numpy", "missing magic");
  expect_error(std::string("\x93NUMPY\x01\x00\xff\xff", 10), "exceeds the file");
  std::string good;
  write_npy(Path("g.npy"), NDArray::FromVector<double>({1, 2, 3, 4}));
  {
    std::ifstream in(Path("g.npy"), std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  expect_error(good.substr(0, good.size() - 8), "is truncated");
  std::string c8 = good;
  c8.replace(c8.find("<f8"), 3, "<c8");
  expect_error(c8, "unsupported .npy dtype '<c8'");
  // Bool bytes other than 0 and 1, in C and in Fortran order (found by fuzzing).
  write_npy(Path("b.npy"), NDArray::FromVector<bool>({true, false, true, false}, {2, 2}));
  std::string bools;
  {
    std::ifstream in(Path("b.npy"), std::ios::binary);
    bools.assign(std::istreambuf_iterator<char>(in), {});
  }
  bools[bools.size() - 2] = ' ';
  expect_error(bools, "bool element 2 is 32");
  bools.replace(bools.find("False"), 5, "True ");
  expect_error(bools, "bool element 2 is 32");
  EXPECT_THROW(read_npy(Path("missing.npy")), IOError);
}

// NumPy writes, skein reads, and the other way round (when python3-numpy is there).
TEST_F(NpyTest, InteropWithNumPy) {
  if (std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) GTEST_SKIP() << "python3-numpy not installed";
  std::string script = "import numpy as np; np.save('" + Path("np.npy") +
                       "', np.arange(24, dtype=np.int32).reshape(2, 3, 4)); np.save('" + Path("npf.npy") +
                       "', np.asfortranarray(np.arange(6.0).reshape(2, 3)))";
  ASSERT_EQ(std::system(("/usr/bin/python3 -c \"" + script + "\"").c_str()), 0);
  NDArray a = read_npy(Path("np.npy"));
  EXPECT_EQ(a.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(a.at<int32_t>({1, 2, 3}), 23);
  EXPECT_EQ(read_npy(Path("npf.npy")).ToVector<double>(), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  store({arange(0, 12, 1, 5).reshape({3, 4})}, {NpyTarget(Path("ours.npy"))});
  std::string check = "import numpy as np; a = np.load('" + Path("ours.npy") +
                      "'); assert a.shape == (3, 4) and a.dtype == np.int64 and (a.ravel() == np.arange(12)).all()";
  EXPECT_EQ(std::system(("/usr/bin/python3 -c \"" + check + "\"").c_str()), 0);
}

}  // namespace
}  // namespace skein
