// Configuration: defaults, YAML, environment, scoped overrides, bad values.
#include "skein/core/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace skein::config {
namespace {

using ::testing::HasSubstr;

class ConfigTest : public ::testing::Test {
 protected:
  void TearDown() override {
    ::unsetenv("SKEIN_NUM_WORKERS");
    ::unsetenv("SKEIN_OPTIMIZATION__FUSE__MAX_HEIGHT");
    ::unsetenv("SKEIN_CONFIG");
    Refresh();
  }
};

TEST_F(ConfigTest, DefaultsComeFromCode) {
  EXPECT_EQ(Get<std::string>("scheduler"), "auto");
  EXPECT_TRUE(Get<bool>("optimization.fuse.active"));
  EXPECT_EQ(GetBytes("memory-limit"), 0);
}

TEST_F(ConfigTest, EnvironmentOverridesWithDaskNaming) {
  ::setenv("SKEIN_NUM_WORKERS", "3", 1);
  ::setenv("SKEIN_OPTIMIZATION__FUSE__MAX_HEIGHT", "7", 1);
  Refresh();
  EXPECT_EQ(Get<int64_t>("num-workers"), 3);
  EXPECT_EQ(Get<int64_t>("optimization.fuse.max_height"), 7);  // '_' == '-'
}

TEST_F(ConfigTest, YamlFilesFromSkeinConfigAreMerged) {
  std::string path = ::testing::TempDir() + "/skein_config_test.yaml";
  std::ofstream(path) << "memory-limit: 2GiB\nspill:\n  compression: zstd\n";
  ::setenv("SKEIN_CONFIG", path.c_str(), 1);
  Refresh();
  EXPECT_EQ(GetBytes("memory-limit"), int64_t{2} << 30);
  EXPECT_EQ(Get<std::string>("spill.compression"), "zstd");
  EXPECT_EQ(Get<std::string>("scheduler"), "auto");  // untouched defaults stay
  std::filesystem::remove(path);
}

TEST_F(ConfigTest, ScopedSetRestoresPreviousValues) {
  {
    ScopedSet s({{"scheduler", "sync"}, {"brand.new", 1}});
    EXPECT_EQ(Get<std::string>("scheduler"), "sync");
    EXPECT_EQ(Get<int64_t>("brand.new"), 1);
  }
  EXPECT_EQ(Get<std::string>("scheduler"), "auto");
  EXPECT_FALSE(Find("brand.new"));
}

TEST_F(ConfigTest, BadValuesNameTheKey) {
  ScopedSet s({{"num-workers", "many"}, {"memory-limit", "lots"}});
  try {
    Get<int64_t>("num-workers");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'num-workers' should be an integer"));
  }
  EXPECT_THROW(GetBytes("memory-limit"), ConfigError);
  EXPECT_THROW(Get<int64_t>("no.such.key"), ConfigError);
  EXPECT_THROW(LoadYaml("a: [unclosed"), ConfigError);
  EXPECT_EQ(ParseBytes("1.5 KiB"), 1536);
  EXPECT_EQ(ParseBytes("4GB"), 4000000000);
}

}  // namespace
}  // namespace skein::config
