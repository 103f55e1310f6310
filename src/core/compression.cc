// zstd / lz4 block compression (see compression.h).
#include "skein/core/compression.h"

#include <lz4.h>
#include <zstd.h>

#include <cstring>

#include "skein/core/error.h"
#include "skein/core/serialize.h"

namespace skein {

Codec ParseCodec(std::string_view name) {
  if (name == "none" || name.empty()) return Codec::kNone;
  if (name == "lz4") return Codec::kLz4;
  if (name == "zstd") return Codec::kZstd;
  throw ConfigError("unknown compression '" + std::string(name) + "' (use lz4, zstd or none)");
}

const char* CodecName(Codec c) {
  switch (c) {
    case Codec::kNone: return "none";
    case Codec::kLz4: return "lz4";
    case Codec::kZstd: return "zstd";
  }
  return "?";
}

std::string Compress(Codec codec, std::string_view raw) {
  std::string out(9, '\0');
  out[0] = static_cast<char>(codec);
  uint64_t n = raw.size();
  std::memcpy(out.data() + 1, &n, 8);
  switch (codec) {
    case Codec::kNone:
      out.append(raw);
      break;
    case Codec::kLz4: {
      if (raw.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) {
        throw SerializationError("lz4 cannot compress " + std::to_string(raw.size()) + " bytes in one block; use zstd");
      }
      int bound = LZ4_compressBound(static_cast<int>(raw.size()));
      out.resize(9 + static_cast<size_t>(bound));
      int got = LZ4_compress_default(raw.data(), out.data() + 9, static_cast<int>(raw.size()), bound);
      if (got <= 0) throw SerializationError("lz4 compression failed");
      out.resize(9 + static_cast<size_t>(got));
      break;
    }
    case Codec::kZstd: {
      size_t bound = ZSTD_compressBound(raw.size());
      out.resize(9 + bound);
      size_t got = ZSTD_compress(out.data() + 9, bound, raw.data(), raw.size(), 1);
      if (ZSTD_isError(got)) throw SerializationError(std::string("zstd compression failed: ") + ZSTD_getErrorName(got));
      out.resize(9 + got);
      break;
    }
  }
  return out;
}

namespace {

SerializationError Corrupt(std::string_view what, const std::string& why) {
  return SerializationError("corrupt " + std::string(what) + ": " + why);
}

}  // namespace

uint64_t DecompressedSize(std::string_view block, std::string_view what) {
  ByteReader r(block, what);
  auto codec = static_cast<Codec>(r.U8());
  uint64_t n = r.U64();
  std::string_view payload = block.substr(9);
  switch (codec) {
    case Codec::kNone:
      if (payload.size() != n) throw Corrupt(what, "size mismatch");
      return n;
    case Codec::kLz4:
      // lz4 expands at most ~255x: a larger claim is a lie, and trusting it
      // would allocate gigabytes for a few corrupt bytes.
      if (n > static_cast<uint64_t>(LZ4_MAX_INPUT_SIZE) || n > payload.size() * 255 + 64) {
        throw Corrupt(what, "implausible size " + std::to_string(n) + " for " + std::to_string(payload.size()) +
                                " compressed bytes");
      }
      return n;
    case Codec::kZstd: {
      unsigned long long frame = ZSTD_getFrameContentSize(payload.data(), payload.size());
      if (frame == ZSTD_CONTENTSIZE_ERROR || frame != n) throw Corrupt(what, "zstd frame header does not match");
      // zstd's best case is ~32000x (long runs); anything beyond is a lie.
      if (n > payload.size() * 32768 + 4096) {
        throw Corrupt(what, "implausible size " + std::to_string(n) + " for " + std::to_string(payload.size()) +
                                " compressed bytes");
      }
      return n;
    }
  }
  throw Corrupt(what, "unknown codec " + std::to_string(static_cast<int>(codec)));
}

void DecompressInto(std::string_view block, void* out, size_t n, std::string_view what) {
  if (DecompressedSize(block, what) != n) throw Corrupt(what, "decompressed size is not " + std::to_string(n));
  auto codec = static_cast<Codec>(block[0]);
  std::string_view payload = block.substr(9);
  switch (codec) {
    case Codec::kNone:
      if (n) std::memcpy(out, payload.data(), n);
      return;
    case Codec::kLz4: {
      int got = LZ4_decompress_safe(payload.data(), static_cast<char*>(out), static_cast<int>(payload.size()),
                                    static_cast<int>(n));
      if (got < 0 || static_cast<uint64_t>(got) != n) throw Corrupt(what, "lz4 data does not decode");
      return;
    }
    case Codec::kZstd: {
      size_t got = ZSTD_decompress(out, n, payload.data(), payload.size());
      if (ZSTD_isError(got) || got != n) throw Corrupt(what, "zstd data does not decode");
      return;
    }
  }
}

std::string Decompress(std::string_view block, std::string_view what) {
  std::string out(DecompressedSize(block, what), '\0');
  DecompressInto(block, out.data(), out.size(), what);
  return out;
}

}  // namespace skein
