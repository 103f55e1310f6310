// skein/core/compression.h — block compression with zstd and lz4.
//
// Used for spill files (and later network frames and file formats). A
// compressed block records its codec and original size, so Decompress needs
// nothing else and rejects corrupt input with a clear error:
//
//   std::string z = skein::Compress(skein::Codec::kZstd, bytes);
//   std::string back = skein::Decompress(z, "spill file /tmp/x");
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace skein {

enum class Codec : uint8_t { kNone = 0, kLz4 = 1, kZstd = 2 };

/// "none", "lz4" or "zstd" -> Codec; ConfigError otherwise.
Codec ParseCodec(std::string_view name);
const char* CodecName(Codec c);

/// Self-describing block: [codec u8][raw size u64][payload].
std::string Compress(Codec codec, std::string_view raw);
/// SerializationError naming `what` if the block is truncated or corrupt.
std::string Decompress(std::string_view block, std::string_view what);
/// The size a block decompresses to (checked for plausibility first, so a
/// corrupt header never makes a caller allocate gigabytes).
uint64_t DecompressedSize(std::string_view block, std::string_view what);
/// Decompresses into `out`, which holds exactly `n` bytes (no extra copy).
void DecompressInto(std::string_view block, void* out, size_t n, std::string_view what);

}  // namespace skein
