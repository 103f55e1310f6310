// HDF5 datasets: round trips of every dtype, several datasets per file,
// adding to existing files, chunk alignment, failed stores, h5py interop and
// broken or unsupported files.
#include "skein/io/hdf5.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "skein/array/creation.h"
#include "skein/array/ufunc.h"
#include "skein/core/config.h"
#include "temp_dir_test_util.h"

namespace skein {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class Hdf5Test : public io::testing::TempDirTest<> {
 protected:
  static bool HaveH5py() { return std::system("/usr/bin/python3 -c 'import h5py' 2>/dev/null") == 0; }
  int Python(const std::string& script) const {
    std::ofstream(Path("s.py")) << script;
    return std::system(("/usr/bin/python3 " + Path("s.py")).c_str());
  }
  template <class F>
  static void ExpectIOError(F&& f, const std::string& what) {
    try {
      f();
      ADD_FAILURE() << "no error, expected " << what;
    } catch (const IOError& e) {
      EXPECT_THAT(e.what(), HasSubstr(what));
    } catch (const TaskError& e) {
      EXPECT_THAT(e.what(), HasSubstr(what));
    }
  }
};

TEST_F(Hdf5Test, RoundTripsEveryDtypeWithEdgeBlocks) {
  Array x = random::default_rng(5).normal(0, 1, {23, 17}, ChunkSpec({10, 5}));
  to_hdf5(Path("x.h5"), "/x", x);
  Array back = from_hdf5(Path("x.h5"), "/x", ChunkSpec({7, 17}));
  EXPECT_EQ(back.chunks(), (Chunks{{7, 7, 7, 2}, {17}}));
  EXPECT_EQ(back.compute(), x.compute());
  const Array base = arange(-20, 40, 1, 16).reshape({3, 4, 5});
  for (DType t : {DType::kFloat32, DType::kInt64, DType::kInt32, DType::kUInt8, DType::kBool}) {
    Array a = t == DType::kBool ? base > 3 : (t == DType::kUInt8 ? abs(base) : base).astype(t);
    const std::string file = Path("t_" + std::string(DTypeName(t)) + ".h5");
    to_hdf5(file, "/g/sub/a", a);
    Array r = from_hdf5(file, "/g/sub/a");
    EXPECT_EQ(r.dtype(), t) << DTypeName(t);
    EXPECT_EQ(r.compute(), a.compute()) << DTypeName(t);
  }
  to_hdf5(Path("s.h5"), "/scalar", from_vector(std::vector<double>{2.5}).sum());
  EXPECT_EQ(from_hdf5(Path("s.h5"), "/scalar").compute().item<double>(0), 2.5);
}

TEST_F(Hdf5Test, SeveralDatasetsGzipAndAddingToAnExistingFile) {
  Array x = arange(0, 1000, 1, 100).astype(DType::kFloat64);
  Hdf5Options gz;
  gz.compression = "gzip";
  gz.shuffle = true;
  to_hdf5(Path("f.h5"), {{"/x", x}, {"/y", x * 2}, {"/grp/z", x > 500.0}}, gz);
  EXPECT_EQ(from_hdf5(Path("f.h5"), "/y").compute(), (x * 2).compute());
  EXPECT_EQ(from_hdf5(Path("f.h5"), "/grp/z").compute(), (x > 500.0).compute());
  // Adding one dataset and replacing another keeps the rest of the file.
  to_hdf5(Path("f.h5"), {{"/w", x + 1}, {"/x", x - 1}});
  EXPECT_EQ(from_hdf5(Path("f.h5"), "/w").compute(), (x + 1).compute());
  EXPECT_EQ(from_hdf5(Path("f.h5"), "/x").compute(), (x - 1).compute());
  EXPECT_EQ(from_hdf5(Path("f.h5"), "/y").compute(), (x * 2).compute());
  // Blocks follow the stored chunks (100 here) when chunks are "auto".
  config::ScopedSet small({{"array.chunk-size", Value("2KiB")}});
  EXPECT_EQ(from_hdf5(Path("f.h5"), "/y").chunks()[0][0] % 100, 0);
  EXPECT_EQ(from_hdf5(Path("f.h5"), "/y").chunks()[0][0], 300);  // 2 KiB / 8 B = 256, rounded to 3 chunks
}

TEST_F(Hdf5Test, AFailedStoreLeavesNoFileAndNoDataset) {
  Array bad = from_function([](const BlockInfo& b) -> NDArray {
    if (b.index[0] == 2) throw std::runtime_error("block 2 failed");
    return NDArray::Zeros(DType::kFloat64, b.shape);
  }, {40}, 10, DType::kFloat64);
  EXPECT_THROW(to_hdf5(Path("new.h5"), "/d", bad), TaskError);
  EXPECT_TRUE(fs::is_empty(dir_)) << "temporary or final files were left";
  Array good = arange(0, 40, 1, 10).astype(DType::kFloat64);
  to_hdf5(Path("old.h5"), "/d", good);
  EXPECT_THROW(to_hdf5(Path("old.h5"), {{"/d", bad}, {"/e", good}}), TaskError);
  EXPECT_EQ(from_hdf5(Path("old.h5"), "/d").compute(), good.compute()) << "the old dataset was damaged";
  ExpectIOError([&] { from_hdf5(Path("old.h5"), "/e"); }, "no such dataset");
  // No temporary links stayed behind in the root group.
  hid_t f = H5Fopen(Path("old.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  H5G_info_t info;
  ASSERT_GE(H5Gget_info(f, &info), 0);
  EXPECT_EQ(info.nlinks, 1u);
  H5Fclose(f);
}

TEST_F(Hdf5Test, BrokenFilesAndUnsupportedTypesGetClearErrors) {
  ExpectIOError([&] { from_hdf5(Path("missing.h5"), "/x"); }, "missing.h5' does not exist");
  std::ofstream(Path("text.h5")) << "not hdf5 at all";
  ExpectIOError([&] { from_hdf5(Path("text.h5"), "/x"); }, "is not an HDF5 file");
  ExpectIOError([&] { to_hdf5(Path("text.h5"), "/x", arange(0, 4, 1, 2)); }, "not overwriting");
  to_hdf5(Path("a.h5"), "/grp/x", arange(0, 4000, 1, 1000));
  ExpectIOError([&] { from_hdf5(Path("a.h5"), "/nothing"); }, "dataset '/nothing': no such dataset");
  ExpectIOError([&] { from_hdf5(Path("a.h5"), "/no/such/group"); }, "no such dataset");
  ExpectIOError([&] { from_hdf5(Path("a.h5"), "/grp"); }, "not a dataset");
  // A dataset of uint64 and one of fixed-length strings, written with the C API.
  hid_t f = H5Fopen(Path("a.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hsize_t n = 4;
  hid_t space = H5Screate_simple(1, &n, nullptr);
  hid_t u64 = H5Dcreate2(f, "/u64", H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hid_t str = H5Tcopy(H5T_C_S1);
  H5Tset_size(str, 8);
  hid_t s = H5Dcreate2(f, "/str", str, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(u64);
  H5Dclose(s);
  H5Tclose(str);
  H5Sclose(space);
  H5Fclose(f);
  ExpectIOError([&] { from_hdf5(Path("a.h5"), "/u64"); }, "unsigned 64-bit integers are not supported");
  ExpectIOError([&] { from_hdf5(Path("a.h5"), "/str"); }, "string element type is not supported");
  // A file cut short: opening it or reading its blocks fails with the path.
  const auto size = fs::file_size(Path("a.h5"));
  fs::copy_file(Path("a.h5"), Path("cut.h5"));
  fs::resize_file(Path("cut.h5"), size / 2);
  try {
    from_hdf5(Path("cut.h5"), "/grp/x").compute();
    ADD_FAILURE() << "a truncated file read without error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cut.h5"));
  }
  EXPECT_THROW(Hdf5Target(Path("b.h5"), "/x", "lzf"), Error);
  EXPECT_THROW(Hdf5Target(Path("b.h5"), ""), Error);
}

TEST_F(Hdf5Test, InteropWithH5py) {
  if (!HaveH5py()) GTEST_SKIP() << "python3-h5py not installed";
  ASSERT_EQ(Python("import h5py, numpy as np\n"
                   "with h5py.File('" + Path("py.h5") + "', 'w') as f:\n"
                   "    f.create_dataset('f8', data=np.arange(25 * 13, dtype='f8').reshape(25, 13) / 7,\n"
                   "                     chunks=(10, 4), compression='gzip', shuffle=True)\n"
                   "    f.create_dataset('grp/i4', data=np.arange(-50, 50, dtype='i4'))\n"
                   "    f.create_dataset('be', data=np.arange(10, dtype='>f8'))\n"
                   "    f.create_dataset('u2', data=np.arange(60000, 60010, dtype='u2'))\n"
                   "    f.create_dataset('b', data=np.arange(10) % 3 == 0)\n"),
            0);
  NDArray f8 = from_hdf5(Path("py.h5"), "/f8", 6).compute();
  ASSERT_EQ(f8.shape(), (Shape{25, 13}));
  for (int64_t k = 0; k < f8.size(); ++k) ASSERT_EQ(f8.item<double>(k), static_cast<double>(k) / 7);
  EXPECT_EQ(from_hdf5(Path("py.h5"), "/grp/i4").compute(), arange(-50, 50, 1, 100).astype(DType::kInt32).compute());
  EXPECT_EQ(from_hdf5(Path("py.h5"), "/be").compute(), arange(0, 10, 1, 10).astype(DType::kFloat64).compute());
  Array u2 = from_hdf5(Path("py.h5"), "/u2");
  EXPECT_EQ(u2.dtype(), DType::kInt32);
  EXPECT_EQ(u2.compute(), arange(60000, 60010, 1, 10).astype(DType::kInt32).compute());
  EXPECT_EQ(from_hdf5(Path("py.h5"), "/b").compute(), (arange(0, 10, 1, 10) % 3 == 0).compute());

  Array x = arange(0, 30, 1, 8).reshape({5, 6});
  to_hdf5(Path("ours.h5"), {{"/x", x}, {"/m", x > 10}, {"/f", (x / 4).astype(DType::kFloat32)}});
  EXPECT_EQ(Python("import h5py, numpy as np\n"
                   "with h5py.File('" + Path("ours.h5") + "', 'r') as f:\n"
                   "    x = np.arange(30).reshape(5, 6)\n"
                   "    assert f['x'].dtype == np.int64 and (f['x'][:] == x).all()\n"
                   "    assert f['m'].dtype == np.bool_ and (f['m'][:] == (x > 10)).all()\n"
                   "    assert f['f'].dtype == np.float32 and (f['f'][:] == (x / 4).astype('f4')).all()\n"),
            0);
}

}  // namespace
}  // namespace skein
