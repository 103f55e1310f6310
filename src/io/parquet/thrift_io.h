// Thrift compact-protocol encoding of Parquet's metadata structures (the
// footer and page headers, generated from parquet.thrift), over memory.
#pragma once

#include <cstdint>
#include <string>

#include "parquet_types.h"

namespace skein::io::parquet {

/// Decodes one structure from the start of [p, p + n); returns the bytes
/// it took. IOError naming `what` when the bytes are not a valid one.
size_t ThriftRead(const uint8_t* p, size_t n, format::FileMetaData* out, const std::string& what);
size_t ThriftRead(const uint8_t* p, size_t n, format::PageHeader* out, const std::string& what);

/// Appends the compact encoding of `v` to `out`.
void ThriftWrite(const format::FileMetaData& v, std::string* out);
void ThriftWrite(const format::PageHeader& v, std::string* out);

}  // namespace skein::io::parquet
