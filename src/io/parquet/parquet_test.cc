// Parquet: round trips of every type (nulls included) through every codec,
// both page versions, dictionary and plain strings and several row groups;
// statistics; the hybrid and delta decoders on hand-made bytes; and bad
// files, each an IOError naming what is wrong.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "encoding.h"
#include "io/temp_dir_test_util.h"
#include "skein/io/parquet.h"

namespace skein {
namespace {

using io::parquet::DecodeDeltaBinaryPacked;
using io::parquet::EncodeRle;
using io::parquet::RleDecoder;

Table Sample(int64_t n, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  ColumnBuilder i64(TypeId::kInt64), i32(TypeId::kInt32), f64(TypeId::kFloat64), f32(TypeId::kFloat32),
      b(TypeId::kBool), s(TypeId::kString), ts(TypeId::kTimestamp), d(TypeId::kDate);
  CategoryBuilder cat;
  for (int64_t r = 0; r < n; ++r) {
    const bool null = rng() % 7 == 0;
    if (null) i64.AppendNull(); else i64.Append<int64_t>(static_cast<int64_t>(rng()) - (1LL << 31));
    if (rng() % 5 == 0) i32.AppendNull(); else i32.Append<int32_t>(static_cast<int32_t>(rng() % 1000) - 500);
    f64.Append<double>(r % 11 == 0 ? std::nan("") : static_cast<double>(rng()) / 7.0);
    if (null) f32.AppendNull(); else f32.Append<float>(static_cast<float>(r) * 0.5f);
    if (rng() % 3 == 0) b.AppendNull(); else b.AppendBool(rng() % 2);
    if (rng() % 4 == 0) s.AppendNull(); else s.AppendString("s" + std::to_string(rng() % 50) + std::string(r % 5, 'x'));
    ts.Append<int64_t>(1600000000000000000LL + r * 1000003);
    if (null) d.AppendNull(); else d.Append<int32_t>(18000 + static_cast<int32_t>(r % 400));
    if (rng() % 6 == 0) cat.AppendNull(); else cat.Append("k" + std::to_string(rng() % 9));
  }
  return Table({{"i64", i64.Finish()}, {"i32", i32.Finish()}, {"f64", f64.Finish()}, {"f32", f32.Finish()},
                {"b", b.Finish()},     {"s", s.Finish()},     {"ts", ts.Finish()},   {"d", d.Finish()},
                {"cat", cat.Finish()}});
}

class ParquetTest : public io::testing::TempDirTest<> {};

TEST_F(ParquetTest, RoundTripsEveryTypeCodecAndPageVersion) {
  const Table t = Sample(5000);
  for (const char* codec : {"none", "snappy", "gzip", "zstd", "lz4"}) {
    for (int version : {1, 2}) {
      for (bool dict : {true, false}) {
        ParquetWriteOptions o;
        o.compression = codec;
        o.data_page_version = version;
        o.dictionary = dict;
        o.row_group_size = 1500;
        o.page_size = 2048;  // several pages per chunk
        const std::string path = Path("t.parquet");
        WriteParquet(path, t, o);
        ParquetFile f = ParquetFile::Open(path);
        EXPECT_EQ(f.num_row_groups(), 4);
        EXPECT_EQ(f.num_rows(), 5000);
        EXPECT_EQ(f.schema(), t.schema());
        const Table back = f.Read();
        EXPECT_TRUE(back == t) << codec << " v" << version << " dict " << dict;
      }
    }
  }
}

TEST_F(ParquetTest, ReadsChosenColumnsAndRowGroups) {
  const Table t = Sample(3000);
  ParquetWriteOptions o;
  o.row_group_size = 1000;
  WriteParquet(Path("t.parquet"), t, o);
  ParquetFile f = ParquetFile::Open(Path("t.parquet"));
  const Table g1 = f.ReadRowGroup(1, {"s", "i64"});
  EXPECT_EQ(g1.names(), (std::vector<std::string>{"s", "i64"}));
  EXPECT_TRUE(g1 == t.Slice(1000, 1000).Select({"s", "i64"}));
  EXPECT_THROW(f.ReadRowGroup(0, {"nope"}), KeyError);
  EXPECT_THROW(f.ReadRowGroup(3), Error);
  // A plan survives encoding (tasks carry it).
  ParquetRowGroupPlan p = ParquetRowGroupPlan::Decode(f.Plan(2, {"d"}).Encode());
  EXPECT_TRUE(p.Read() == t.Slice(2000, 1000).Select({"d"}));
  EXPECT_THROW(ParquetRowGroupPlan::Decode("xx"), SerializationError);
}

TEST_F(ParquetTest, StatisticsBoundEachRowGroup) {
  std::vector<int64_t> v(3000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(i) * 2;
  std::vector<std::optional<std::string>> s;
  for (int i = 0; i < 3000; ++i) s.emplace_back(i < 1500 ? "apple" : "pear");
  const Table t({{"v", Column::FromVector(v)}, {"s", Column::FromStrings(s)}});
  ParquetWriteOptions o;
  o.row_group_size = 1000;
  WriteParquet(Path("t.parquet"), t, o);
  ParquetFile f = ParquetFile::Open(Path("t.parquet"));
  ParquetStats st = f.stats(1, 0);
  ASSERT_TRUE(st.has_min_max);
  EXPECT_EQ(st.min, 2000);
  EXPECT_EQ(st.max, 3998);
  EXPECT_EQ(st.null_count, 0);
  ParquetStats ss = f.stats(1, 1);
  ASSERT_TRUE(ss.has_min_max && ss.is_string);
  EXPECT_EQ(ss.min_str, "apple");
  EXPECT_EQ(ss.max_str, "pear");
}

TEST_F(ParquetTest, CategoriesRoundTripAndStringsReadAsCategories) {
  const Table t = Sample(800);
  WriteParquet(Path("t.parquet"), t);
  ParquetFile f = ParquetFile::Open(Path("t.parquet"));
  EXPECT_EQ(f.schema()[8].type, TypeId::kCategory);  // written as a category
  ParquetFile g = ParquetFile::Open(Path("t.parquet"), {"s"});
  const Table s = g.Read({"s"});
  EXPECT_EQ(s.column(0).type(), TypeId::kCategory);
  EXPECT_TRUE(s.column(0).Decoded() == t.column("s"));
  EXPECT_THROW(ParquetFile::Open(Path("t.parquet"), {"i64"}), TypeError);
  EXPECT_THROW(ParquetFile::Open(Path("t.parquet"), {"zzz"}), KeyError);
}

TEST_F(ParquetTest, EmptyTableHasSchemaAndNoRows) {
  const Table t = Sample(0);
  WriteParquet(Path("e.parquet"), t);
  ParquetFile f = ParquetFile::Open(Path("e.parquet"));
  EXPECT_EQ(f.num_rows(), 0);
  EXPECT_EQ(f.Read().schema(), t.schema());
}

TEST(ParquetEncoding, RleHybridRoundTripsRunsAndPackedGroups) {
  std::mt19937 rng(3);
  for (int width : {1, 3, 8, 13, 32}) {
    std::vector<uint32_t> v;
    for (int i = 0; i < 3000; ++i) {
      const uint32_t x = width == 32 ? static_cast<uint32_t>(rng()) : static_cast<uint32_t>(rng() % (1u << width));
      const int repeat = rng() % 4 == 0 ? static_cast<int>(rng() % 40) : 1;
      for (int k = 0; k < repeat; ++k) v.push_back(x);
    }
    std::string enc;
    EncodeRle(v.data(), static_cast<int64_t>(v.size()), width, &enc);
    std::vector<uint32_t> back(v.size());
    const std::string where = "test";
    RleDecoder(reinterpret_cast<const uint8_t*>(enc.data()), enc.size(), width, where).Get(back.data(), static_cast<int64_t>(back.size()));
    EXPECT_EQ(back, v) << "width " << width;
    // Asking for more than the runs hold is an error, not a read past the end.
    std::vector<uint32_t> more(v.size() + 100);
    EXPECT_THROW(RleDecoder(reinterpret_cast<const uint8_t*>(enc.data()), enc.size(), width, where)
                     .Get(more.data(), static_cast<int64_t>(more.size())),
                 IOError);
  }
}

TEST(ParquetEncoding, DeltaBinaryPackedDecodesTheSpecExample) {
  // Values 1..5 (deltas of 1): block 128, 4 miniblocks, 5 values, first 1;
  // min delta 1, widths 0: every delta is min delta.
  const uint8_t bytes[] = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0, 0, 0, 0};
  std::vector<int64_t> out;
  const std::string where = "test";
  EXPECT_EQ(DecodeDeltaBinaryPacked(bytes, sizeof(bytes), &out, where), sizeof(bytes));
  EXPECT_EQ(out, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  // Deltas 7, 5, 3, 1, 2, 3, 4, 5 from 7: min delta -2; packed (delta - min) in 4 bits.
  // values: 7 5 3 1 2 3 4 5 -> deltas -2 -2 -2 1 1 1 1 -> minus min: 0 0 0 3 3 3 3
  std::vector<uint8_t> b = {0x80, 0x01, 0x04, 0x08, 0x0e, 0x03, 0x02, 0, 0, 0};
  // 32 values of 2 bits: 0 0 0 3 3 3 3 then zeros, LSB first.
  std::vector<uint8_t> packed(8, 0);
  const int deltas[] = {0, 0, 0, 3, 3, 3, 3};
  for (int i = 0; i < 7; ++i) packed[static_cast<size_t>(i * 2 / 8)] |= static_cast<uint8_t>(deltas[i] << (i * 2 % 8));
  b.insert(b.end(), packed.begin(), packed.end());
  EXPECT_EQ(DecodeDeltaBinaryPacked(b.data(), b.size(), &out, where), b.size());
  EXPECT_EQ(out, (std::vector<int64_t>{7, 5, 3, 1, 2, 3, 4, 5}));
  // Truncated: an error naming where.
  EXPECT_THROW(DecodeDeltaBinaryPacked(b.data(), 11, &out, where), IOError);
}

TEST_F(ParquetTest, BadFilesAreErrorsNamingTheFile) {
  const std::string path = Path("t.parquet");
  WriteParquet(path, Sample(2000));
  std::string good;
  {
    std::ifstream in(path, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& bytes) {
    std::ofstream out(Path("bad.parquet"), std::ios::binary | std::ios::trunc);
    out << bytes;
  };
  auto expect_io = [&](const std::string& what) {
    try {
      ParquetFile::Open(Path("bad.parquet")).Read();
      ADD_FAILURE() << what << ": no error";
    } catch (const IOError& e) {
      EXPECT_NE(std::string(e.what()).find("bad.parquet"), std::string::npos) << e.what();
    }
  };
  EXPECT_THROW(ParquetFile::Open(Path("missing.parquet")), IOError);
  write("PAR1");
  expect_io("too short");
  write("not parquet at all, certainly not");
  expect_io("no magic");
  write(good.substr(0, good.size() / 2));
  expect_io("truncated");
  std::string lying = good;
  lying[lying.size() - 8] = '\x7f';  // footer length past the file
  write(lying);
  expect_io("footer length");
  // Flip bytes inside the column data: the pages' checks catch it, or the
  // values come back wrong, but nothing crashes.
  std::mt19937 rng(5);
  for (int k = 0; k < 200; ++k) {
    std::string bad = good;
    for (int j = 0; j < 4; ++j) bad[4 + rng() % (bad.size() / 2)] = static_cast<char>(rng());
    write(bad);
    try {
      ParquetFile::Open(Path("bad.parquet")).Read();
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace skein
