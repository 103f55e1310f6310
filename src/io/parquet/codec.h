// Page compression for Parquet: the codecs of CompressionCodec that skein
// reads and writes (none, snappy, gzip, zstd, lz4 as LZ4_RAW).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace skein::io::parquet {

/// The CompressionCodec value for "none", "snappy", "gzip", "zstd" or
/// "lz4"; Error naming `name` otherwise.
int CodecFromName(std::string_view name);

/// Compresses `raw` with `codec` (a CompressionCodec value).
std::string CompressPage(int codec, std::string_view raw);

/// Decompresses a page into exactly `uncompressed_size` bytes. IOError
/// naming `where` when the codec is unsupported, the data is corrupt, or
/// it does not expand to that size (sizes no codec could reach are
/// refused before anything is allocated).
std::string DecompressPage(int codec, std::string_view compressed, int64_t uncompressed_size, const std::string& where);

}  // namespace skein::io::parquet
