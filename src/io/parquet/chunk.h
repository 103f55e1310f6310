// One column chunk to read (ParquetRowGroupPlan::Chunk), shared by the
// footer reader that plans it (reader.cc) and the page decoder that reads
// it (column_reader.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "skein/io/parquet.h"

namespace skein {

/// How stored values become a column's values.
enum class ParquetConvert : uint8_t {
  kNone,
  kMillis,   // INT64 timestamp in ms -> ns
  kMicros,   // INT64 timestamp in us -> ns
  kInt96,    // INT96 (nanoseconds of day, Julian day) -> ns
  kDecimal,  // unscaled integer (INT32, INT64 or big-endian bytes) -> float64
  kUint32,   // INT32 holding uint32 -> int64
  kLast = kUint32,
};

struct ParquetRowGroupPlan::Chunk {
  std::string name;
  TypeId type = TypeId::kInt64;  // the column's type
  int32_t physical = 0;          // format::Type
  int32_t type_length = 0;       // FIXED_LEN_BYTE_ARRAY width
  int32_t max_def = 0;           // 0: required, 1: optional
  int32_t codec = 0;             // format::CompressionCodec
  int64_t offset = 0, length = 0;  // the chunk's bytes in the file
  int64_t num_values = 0;
  ParquetConvert convert = ParquetConvert::kNone;
  int32_t scale = 0;             // kDecimal
};

namespace io::parquet {

/// Decodes a column chunk's pages (`bytes`, starting at its first page)
/// into a column of `num_rows` rows. IOError naming `where` on bad data.
Column ReadColumnChunk(const ParquetRowGroupPlan::Chunk& chunk, int64_t num_rows, std::string_view bytes,
                       const std::string& where);

}  // namespace io::parquet
}  // namespace skein
