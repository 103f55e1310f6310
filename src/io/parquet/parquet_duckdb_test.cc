// Parquet interop with DuckDB, run when node and the npm peer
// (bench/peers/node_modules/@duckdb/node-api, installed by bench/run) are
// present: files DuckDB writes (every codec, pages v1 and v2, which use the
// delta encodings) read back row for row; files skein writes give DuckDB
// the aggregates skein computes itself.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "io/temp_dir_test_util.h"
#include "skein/io/parquet.h"

namespace skein {
namespace {

const std::string kPeers = std::string(SKEIN_SOURCE_DIR) + "/bench/peers";

bool HaveDuckDb() {
  return std::system("command -v node >/dev/null 2>&1") == 0 &&
         std::filesystem::exists(kPeers + "/node_modules/@duckdb/node-api");
}

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << cmd;
  return out;
}

class ParquetDuckDbTest : public io::testing::TempDirTest<> {
 protected:
  void SetUp() override {
    if (!HaveDuckDb()) GTEST_SKIP() << "node or @duckdb/node-api not installed (bench/run installs the peers)";
    TempDirTest::SetUp();
  }
};

TEST_F(ParquetDuckDbTest, ReadsWhatDuckDbWrites) {
  const int64_t n = 5000;
  Shell("node " + kPeers + "/parquet_interop.mjs write " + Path("") + " " + std::to_string(n));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(Path(""))) {
    const std::string file = entry.path().string();
    SCOPED_TRACE(file);
    ++files;
    ParquetFile f = ParquetFile::Open(file);
    EXPECT_EQ(f.num_rows(), n);
    EXPECT_EQ(f.num_row_groups(), 3);
    const Table t = f.Read();
    ASSERT_EQ(t.num_rows(), n);
    const Column &i64 = t.column("i64"), &i32 = t.column("i32"), &f64 = t.column("f64"), &f32 = t.column("f32"),
                 &b = t.column("b"), &s = t.column("s"), &u = t.column("u"), &ts_us = t.column("ts_us"),
                 &ts_ns = t.column("ts_ns"), &d = t.column("d"), &dec = t.column("dec");
    EXPECT_EQ(ts_us.type(), TypeId::kTimestamp);
    EXPECT_EQ(ts_ns.type(), TypeId::kTimestamp);
    EXPECT_EQ(d.type(), TypeId::kDate);
    EXPECT_EQ(dec.type(), TypeId::kFloat64);
    int bad = 0;
    for (int64_t i = 0; i < n && bad < 5; ++i) {
      const int64_t ts = 1577836800LL * 1000000000LL + i * 1000000000LL;
      const bool ok =
          i64.data<int64_t>()[i] == i && (i % 5 == 0 ? i32.IsNull(i) : i32.data<int32_t>()[i] == i % 1000 - 500) &&
          f64.data<double>()[i] == static_cast<double>(i) / 8.0 &&
          f32.data<float>()[i] == static_cast<float>(i % 100) / 4.0f &&
          (i % 3 == 0 ? b.IsNull(i) : b.BoolAt(i) == (i % 2 == 0)) &&
          (i % 7 == 0 ? s.IsNull(i) : s.StringAt(i) == "k" + std::to_string(i % 50)) &&
          u.StringAt(i) == "row-" + std::to_string(i) && ts_us.data<int64_t>()[i] == ts && ts_ns.data<int64_t>()[i] == ts &&
          d.data<int32_t>()[i] == 18262 + i % 400 && std::abs(dec.data<double>()[i] - static_cast<double>(i % 1000) / 100.0) < 1e-9;
      if (!ok) {
        ++bad;
        ADD_FAILURE() << "row " << i << " differs";
      }
    }
  }
  EXPECT_EQ(files, 10);
}

TEST_F(ParquetDuckDbTest, DuckDbReadsWhatSkeinWrites) {
  const int64_t n = 7000;
  ColumnBuilder i64(TypeId::kInt64), i32(TypeId::kInt32), f64(TypeId::kFloat64), b(TypeId::kBool), s(TypeId::kString),
      ts(TypeId::kTimestamp), d(TypeId::kDate);
  CategoryBuilder cat;
  int64_t sum_i32 = 0, n_i32 = 0, n_b = 0, true_b = 0, n_s = 0, sum_d = 0, n_cat = 0;
  for (int64_t i = 0; i < n; ++i) {
    i64.Append<int64_t>(i * 3);
    if (i % 4 == 0) i32.AppendNull();
    else {
      i32.Append<int32_t>(static_cast<int32_t>(i % 77));
      sum_i32 += i % 77, ++n_i32;
    }
    f64.Append<double>(static_cast<double>(i) * 0.25);
    if (i % 6 == 0) b.AppendNull();
    else {
      b.AppendBool(i % 5 == 0);
      ++n_b, true_b += i % 5 == 0;
    }
    if (i % 9 == 0) s.AppendNull();
    else {
      s.AppendString("v" + std::to_string(i % 123));
      ++n_s;
    }
    ts.Append<int64_t>(1000000000LL * i + 7);
    d.Append<int32_t>(static_cast<int32_t>(i % 1000));
    sum_d += i % 1000;
    if (i % 10 == 0) cat.AppendNull();
    else {
      cat.Append(i % 3 == 0 ? "red" : "blue");
      ++n_cat;
    }
  }
  const Table t({{"i64", i64.Finish()}, {"i32", i32.Finish()}, {"f64", f64.Finish()}, {"b", b.Finish()}, {"s", s.Finish()},
                 {"ts", ts.Finish()}, {"d", d.Finish()}, {"cat", cat.Finish()}});
  for (const char* codec : {"none", "snappy", "gzip", "zstd", "lz4"}) {
    for (int version : {1, 2}) {
      SCOPED_TRACE(std::string(codec) + " v" + std::to_string(version));
      ParquetWriteOptions o;
      o.compression = codec;
      o.data_page_version = version;
      o.row_group_size = 3000;
      o.page_size = 4096;
      const std::string file = Path("skein.parquet");
      WriteParquet(file, t, o);
      const std::string json = Shell("node " + kPeers + "/parquet_interop.mjs read " + file);
      auto has = [&](const std::string& kv) { EXPECT_NE(json.find(kv), std::string::npos) << kv << " not in " << json; };
      has("\"rows\":\"7000\"");
      has("\"sum_i64\":\"" + std::to_string(3 * n * (n - 1) / 2) + "\"");
      has("\"n_i32\":\"" + std::to_string(n_i32) + "\"");
      has("\"sum_i32\":\"" + std::to_string(sum_i32) + "\"");
      has("\"n_b\":\"" + std::to_string(n_b) + "\"");
      has("\"true_b\":\"" + std::to_string(true_b) + "\"");
      has("\"n_s\":\"" + std::to_string(n_s) + "\"");
      has("\"min_s\":\"v0\"");
      has("\"max_s\":\"v99\"");
      has("\"distinct_s\":\"123\"");
      has("\"sum_d\":\"" + std::to_string(sum_d) + "\"");
      has("\"distinct_cat\":\"2\"");
      has("\"n_cat\":\"" + std::to_string(n_cat) + "\"");
    }
  }
}

}  // namespace
}  // namespace skein
