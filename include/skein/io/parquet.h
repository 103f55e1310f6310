// skein/io/parquet.h — Apache Parquet files to tables and back.
//
// Flat schemas (one leaf per column, required or optional). Reading
// supports the physical types BOOLEAN, INT32, INT64, INT96, FLOAT, DOUBLE,
// BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY (decimals); the encodings PLAIN,
// RLE, bit-packed and RLE/bit-packed hybrid levels, PLAIN_DICTIONARY and
// RLE_DICTIONARY, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY,
// DELTA_BYTE_ARRAY and BYTE_STREAM_SPLIT; data pages v1 and v2; and the
// codecs none, snappy, gzip, zstd and lz4 (LZ4_RAW). Writing produces
// dictionary-encoded strings, PLAIN numbers, RLE levels, min/max
// statistics, and pages v1 or v2 compressed with any of those codecs.
//
//   skein::WriteParquet("t.parquet", table);                 // snappy, v1 pages
//   skein::ParquetFile f = skein::ParquetFile::Open("t.parquet");
//   skein::Table rg0 = f.ReadRowGroup(0, {"id", "v1"});      // two columns
//
// Every file is untrusted: a truncated or corrupt file, a page that lies
// about its size, an unsupported encoding or a nested schema is an IOError
// naming the file, and the row group and column where known.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "skein/dataframe/table.h"

namespace skein {

struct ParquetWriteOptions {
  /// none, snappy (the default, as pandas), gzip, zstd or lz4.
  std::string compression = "snappy";
  /// Rows per row group.
  int64_t row_group_size = 1 << 20;
  /// Target bytes of (uncompressed) values per data page.
  int64_t page_size = 1 << 20;
  /// Dictionary-encode string columns (category columns always are),
  /// unless the dictionary would exceed `dictionary_limit` bytes.
  bool dictionary = true;
  int64_t dictionary_limit = 1 << 20;
  /// Data page format: 1 (DATA_PAGE) or 2 (DATA_PAGE_V2).
  int data_page_version = 1;
};

/// Min and max of one column chunk, when the file records them, as long
/// double for numbers (exact for every int64) and bytes for strings.
/// Timestamps are in nanoseconds, dates in days.
struct ParquetStats {
  bool has_min_max = false;
  bool is_string = false;
  long double min = 0, max = 0;
  std::string min_str, max_str;
  int64_t null_count = -1;  ///< -1: unknown
};

/// One row group's reading, without the footer: where each column chunk
/// lies and how to decode it. It serializes (Encode/Decode), so a task can
/// carry it to wherever it runs.
struct ParquetRowGroupPlan {
  struct Chunk;  // private to the reader
  std::string path;
  int row_group = 0;
  int64_t num_rows = 0;
  std::vector<std::shared_ptr<const Chunk>> chunks;

  std::string Encode() const;
  /// SerializationError when `bytes` are not an encoded plan.
  static ParquetRowGroupPlan Decode(std::string_view bytes);
  /// Reads the chunks' bytes and decodes them.
  Table Read() const;
};

/// A Parquet file's footer: its schema, row groups and statistics.
class ParquetFile {
 public:
  /// Reads and checks the footer; IOError naming the file when it is
  /// missing, not Parquet, truncated or has a schema skein cannot read.
  /// `categories`: string columns to read as category.
  static ParquetFile Open(const std::string& path, const std::vector<std::string>& categories = {});
  const std::string& path() const;
  const Schema& schema() const;
  int num_row_groups() const;
  int64_t num_rows() const;
  int64_t row_group_rows(int row_group) const;
  /// Statistics of column `column` (schema position) in `row_group`.
  ParquetStats stats(int row_group, int column) const;
  /// "key" of the file's key/value metadata ("" when absent).
  std::string metadata(std::string_view key) const;

  /// Plan for reading `columns` (all when empty; KeyError for unknown ones).
  ParquetRowGroupPlan Plan(int row_group, const std::vector<std::string>& columns = {}) const;
  Table ReadRowGroup(int row_group, const std::vector<std::string>& columns = {}) const;
  /// Every row group, concatenated.
  Table Read(const std::vector<std::string>& columns = {}) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

/// Writes `table` as one Parquet file, under a temporary name renamed into
/// place when complete.
void WriteParquet(const std::string& path, const Table& table, const ParquetWriteOptions& options = {});
/// The bytes of that file.
std::string FormatParquet(const Table& table, const ParquetWriteOptions& options = {});

}  // namespace skein
