// The worker memory rule (Dask's thresholds) and spill files.
#include "distributed/worker_memory_internal.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "skein/core/error.h"

namespace skein::distributed::internal {
namespace {

constexpr int64_t kMiB = 1 << 20;

TEST(DecideMemory, NoLimitNeverActs) {
  MemoryDecision d = DecideMemory({}, 0, 100 * kMiB, 900 * kMiB);
  EXPECT_EQ(d.spill_bytes, 0);
  EXPECT_FALSE(d.pause);
  EXPECT_FALSE(d.terminate);
}

TEST(DecideMemory, ManagedBytesOverTargetSpillTheExcess) {
  MemoryDecision d = DecideMemory({}, 1000 * kMiB, 700 * kMiB, 710 * kMiB);
  // 70% managed against a 60% target: 100 MiB over. RSS (71%) is over the
  // spill line too, and bringing it back to the target takes 110 MiB.
  EXPECT_EQ(d.spill_bytes, 110 * kMiB);
  EXPECT_FALSE(d.pause);
  d = DecideMemory({}, 1000 * kMiB, 700 * kMiB, 650 * kMiB);
  EXPECT_EQ(d.spill_bytes, 100 * kMiB);
}

TEST(DecideMemory, ProcessMemoryOverSpillLineSpillsEvenUnderTarget) {
  // Only 30% managed, but the process is at 75% (scratch memory, leaks).
  MemoryDecision d = DecideMemory({}, 1000 * kMiB, 300 * kMiB, 750 * kMiB);
  EXPECT_EQ(d.spill_bytes, 750 * kMiB - static_cast<int64_t>(0.6 * 1000 * kMiB));
  // Never more than what is held.
  d = DecideMemory({}, 1000 * kMiB, 50 * kMiB, 750 * kMiB);
  EXPECT_EQ(d.spill_bytes, 50 * kMiB);
}

TEST(DecideMemory, PauseAndTerminateFollowProcessMemory) {
  EXPECT_FALSE(DecideMemory({}, 1000, 0, 790).pause);
  EXPECT_TRUE(DecideMemory({}, 1000, 0, 810).pause);
  EXPECT_FALSE(DecideMemory({}, 1000, 0, 940).terminate);
  EXPECT_TRUE(DecideMemory({}, 1000, 0, 960).terminate);
  MemoryThresholds t;
  t.pause = 0.5;
  EXPECT_TRUE(DecideMemory(t, 1000, 0, 510).pause);
}

class SpillFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("skein-spill-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(SpillFilesTest, RoundTripsCompressedAndRemoves) {
  SpillFiles files(dir_, Codec::kZstd);
  std::vector<double> v(1 << 20, 1.5);  // 8 MiB, very compressible
  std::string path = files.Write("('x', 0)", Value::From(v));
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_GT(files.disk_bytes(), 0);
  EXPECT_LT(files.disk_bytes(), static_cast<int64_t>(v.size() * sizeof(double)) / 10);
  Value back = files.Read(path);
  EXPECT_EQ(back.get<std::vector<double>>(), v);
  files.Remove(path);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(files.disk_bytes(), 0);
}

TEST_F(SpillFilesTest, CorruptOrMissingFileIsASpillErrorNamingThePath) {
  SpillFiles files(dir_, Codec::kZstd);
  std::string path = files.Write("k", Value::From(std::vector<int64_t>{1, 2, 3}));
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << "garbage";
  }
  try {
    files.Read(path);
    FAIL() << "expected SpillError";
  } catch (const SpillError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  files.Remove(path);
  EXPECT_THROW(files.Read(path), SpillError);
}

TEST_F(SpillFilesTest, ValueWithoutSerializerIsRefusedAndLeavesNoFile) {
  struct Opaque {
    int x;
  };
  SpillFiles files(dir_, Codec::kZstd);
  try {
    files.Write("('opaque', 1)", Value::From(Opaque{1}));
    FAIL() << "expected SpillError";
  } catch (const SpillError& e) {
    EXPECT_NE(std::string(e.what()).find("opaque"), std::string::npos) << e.what();
  }
  EXPECT_EQ(files.disk_bytes(), 0);
  EXPECT_TRUE(!std::filesystem::exists(dir_) || std::filesystem::is_empty(dir_));
}

}  // namespace
}  // namespace skein::distributed::internal
