// Test fixture for the readers' and writers' tests: a fresh temporary
// directory per test (named after the process and the test, so parallel
// ctest runs never share one), removed afterwards.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

namespace skein::io::testing {

template <class Base = ::testing::Test>
class TempDirTest : public Base {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "-" + info->name();
    std::replace(name.begin(), name.end(), '/', '-');  // parameterized names have slashes
    dir_ = std::filesystem::temp_directory_path() / ("skein-" + std::to_string(::getpid()) + "-" + name);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  /// Writes `text` to a file of the directory; returns its path.
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(Path(name), std::ios::binary) << text;
    return Path(name);
  }
  std::filesystem::path dir_;
};

}  // namespace skein::io::testing
