// Zarr v2 stores: round trips with each codec, fill values, Python zarr
// interop, and broken stores.
#include "skein/io/zarr.h"

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

using ZarrTest = io::testing::TempDirTest<::testing::TestWithParam<std::string>>;

TEST_P(ZarrTest, RoundTripsWithEdgeChunks) {
  Array x = random::default_rng(4).normal(0, 1, {23, 17}, ChunkSpec({10, 5}));
  to_zarr(x, Path("x.zarr"), GetParam());
  Array back = from_zarr(Path("x.zarr"));
  EXPECT_EQ(back.chunks(), x.chunks());
  EXPECT_EQ(back.compute(), x.compute());
  Array i = arange(0, 50, 1, 7).astype(DType::kInt32);
  to_zarr(i, Path("i.zarr"), GetParam());
  EXPECT_EQ(from_zarr(Path("i.zarr")).compute(), i.compute());
}

// What a worker does under store() on a cluster: reopen the store the
// client opened, from the state it was sent, and write chunk files there.
TEST_P(ZarrTest, AReopenedWriterWritesIntoTheClientsStore) {
  auto target = ZarrTarget(Path("r.zarr"), GetParam());
  target->Open({5}, DType::kFloat64, {{3, 2}});
  ASSERT_EQ(target->reopen_format(), "zarr");
  const std::string state = target->reopen_state();
  std::vector<int64_t> b0{0}, s0{0}, b1{1}, s1{3};
  internal::ReopenWriter("zarr", state)->WriteBlock(b1, s1, NDArray::FromVector<double>({4, 5}));
  internal::ReopenWriter("zarr", state)->WriteBlock(b0, s0, NDArray::FromVector<double>({1, 2, 3}));
  target->Commit();
  EXPECT_EQ(from_zarr(Path("r.zarr")).compute().ToVector<double>(), (std::vector<double>{1, 2, 3, 4, 5}));
  auto gone = ZarrTarget(Path("gone.zarr"), GetParam());
  gone->Open({5}, DType::kFloat64, {{5}});
  const std::string gone_state = gone->reopen_state();
  gone->Abort();
  try {
    internal::ReopenWriter("zarr", gone_state);
    FAIL() << "reopened a store that was removed";
  } catch (const IOError& e) {
    EXPECT_THAT(e.what(), HasSubstr("gone.zarr"));
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, ZarrTest, ::testing::Values("none", "zlib", "gzip", "zstd", "blosc"));

using ZarrErrors = ZarrTest;

TEST_F(ZarrErrors, MissingChunksReadAsFillAndBrokenStoresFailClearly) {
  to_zarr(arange(0, 10, 1, 4).astype(DType::kFloat64), Path("a.zarr"), "zlib");
  fs::remove(Path("a.zarr/1"));
  EXPECT_EQ(from_zarr(Path("a.zarr")).compute().ToVector<double>(),
            (std::vector<double>{0, 1, 2, 3, 0, 0, 0, 0, 8, 9}));
  std::ofstream(Path("a.zarr/2"), std::ios::binary) << "garbage";
  try {
    from_zarr(Path("a.zarr")).compute();
    FAIL();
  } catch (const TaskError& e) {
    EXPECT_THAT(e.what(), HasSubstr("corrupt zlib chunk"));
    EXPECT_THAT(e.what(), HasSubstr("a.zarr/2"));
  }
  EXPECT_THROW(from_zarr(Path("nothing.zarr")), IOError);
  fs::create_directories(Path("bad.zarr"));
  std::ofstream(Path("bad.zarr/.zarray")) << "{\"zarr_format\": 2, \"shape\": [4";
  EXPECT_THROW(from_zarr(Path("bad.zarr")), IOError);
  std::ofstream(Path("bad.zarr/.zarray"), std::ios::trunc)
      << R"({"zarr_format": 2, "shape": [4], "chunks": [2], "dtype": "<c16", "compressor": null,
             "fill_value": 0, "order": "C", "filters": null})";
  try {
    from_zarr(Path("bad.zarr"));
    FAIL();
  } catch (const IOError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unsupported dtype <c16"));
  }
  // Metadata that lies about the chunk size or count fails before any big allocation.
  to_zarr(arange(0, 10, 1, 10).astype(DType::kFloat64), Path("lie.zarr"), "zstd");
  std::ofstream(Path("lie.zarr/.zarray"), std::ios::trunc)
      << R"({"zarr_format": 2, "shape": [10], "chunks": [1099511627776], "dtype": "<f8",
             "compressor": {"id": "zstd", "level": 1}, "fill_value": 0, "order": "C", "filters": null})";
  try {
    from_zarr(Path("lie.zarr")).compute();
    FAIL();
  } catch (const TaskError& e) {
    EXPECT_THAT(e.what(), HasSubstr("corrupt zstd chunk"));
  }
  std::ofstream(Path("lie.zarr/.zarray"), std::ios::trunc)
      << R"({"zarr_format": 2, "shape": [1099511627776], "chunks": [1], "dtype": "<f8",
             "compressor": null, "fill_value": 0, "order": "C", "filters": null})";
  EXPECT_THROW(from_zarr(Path("lie.zarr")), IOError);
  Array irregular = arange(0, 10, 1, ChunkSpec(Chunks{{3, 5, 2}}));
  EXPECT_THROW(to_zarr(irregular, Path("irr.zarr")), Error);
  EXPECT_FALSE(fs::exists(Path("irr.zarr")));
}

TEST_F(ZarrErrors, InteropWithPythonZarr) {
  if (std::system("/usr/bin/python3 -c 'import zarr, numcodecs' 2>/dev/null") != 0) GTEST_SKIP() << "python3-zarr not installed";
  std::string script =
      "import zarr, numpy as np, numcodecs\n"
      "for name, comp in [('raw', None), ('zlib', numcodecs.Zlib(level=3)), ('zstd', numcodecs.Zstd(level=2)), "
      "('blosc', numcodecs.Blosc())]:\n"
      "    z = zarr.open('" + Path("") + "py_' + name + '.zarr', mode='w', shape=(25, 13), chunks=(10, 4), dtype='f8', compressor=comp)\n"
      "    z[:] = np.arange(25 * 13, dtype='f8').reshape(25, 13) / 7\n";
  std::ofstream(Path("w.py")) << script;
  ASSERT_EQ(std::system(("/usr/bin/python3 " + Path("w.py")).c_str()), 0);
  for (const char* name : {"raw", "zlib", "zstd", "blosc"}) {
    NDArray a = from_zarr(Path(std::string("py_") + name + ".zarr")).compute();
    ASSERT_EQ(a.shape(), (Shape{25, 13})) << name;
    for (int64_t k = 0; k < a.size(); ++k) ASSERT_EQ(a.item<double>(k), static_cast<double>(k) / 7) << name;
  }
  to_zarr(arange(0, 30, 1, 8).reshape({5, 6}), Path("ours.zarr"), "zstd");
  std::string check = "import zarr, numpy as np\nz = zarr.open('" + Path("ours.zarr") +
                      "', mode='r')\nassert z.shape == (5, 6) and z.dtype == np.int64\n"
                      "assert (z[:] == np.arange(30).reshape(5, 6)).all()\n";
  std::ofstream(Path("r.py")) << check;
  EXPECT_EQ(std::system(("/usr/bin/python3 " + Path("r.py")).c_str()), 0);
}

}  // namespace
}  // namespace skein
