// Page codecs through Debian's libraries: snappy (raw blocks, not framed),
// zlib (gzip members), zstd and lz4 (raw blocks, Parquet's LZ4_RAW).
#include "codec.h"

#include <lz4.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include "parquet_types.h"
#include "skein/core/error.h"

namespace skein::io::parquet {

using format::CompressionCodec;

int CodecFromName(std::string_view name) {
  if (name == "none" || name == "uncompressed") return CompressionCodec::UNCOMPRESSED;
  if (name == "snappy") return CompressionCodec::SNAPPY;
  if (name == "gzip") return CompressionCodec::GZIP;
  if (name == "zstd") return CompressionCodec::ZSTD;
  if (name == "lz4") return CompressionCodec::LZ4_RAW;
  throw Error("parquet: unknown compression '" + std::string(name) + "' (none, snappy, gzip, zstd, lz4)");
}

namespace {

std::string Gzip(std::string_view raw) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw IOError("parquet: gzip init failed");
  }
  std::string out(deflateBound(&z, raw.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  const size_t n = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw IOError("parquet: gzip compression failed");
  out.resize(n);
  return out;
}

void Gunzip(std::string_view in, std::string* out, const std::string& where) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) throw IOError(where + ": gzip init failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out->data());
  z.avail_out = static_cast<uInt>(out->size());
  int rc = inflate(&z, Z_FINISH);
  // Some writers concatenate gzip members; keep inflating while input remains.
  while (rc == Z_STREAM_END && z.avail_in > 0 && z.avail_out > 0) {
    if (inflateReset(&z) != Z_OK) break;
    rc = inflate(&z, Z_FINISH);
  }
  const size_t n = z.total_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || n != out->size()) throw IOError(where + ": corrupt gzip page");
}

}  // namespace

std::string CompressPage(int codec, std::string_view raw) {
  switch (codec) {
    case CompressionCodec::UNCOMPRESSED: return std::string(raw);
    case CompressionCodec::SNAPPY: {
      std::string out;
      snappy::Compress(raw.data(), raw.size(), &out);
      return out;
    }
    case CompressionCodec::GZIP: return Gzip(raw);
    case CompressionCodec::ZSTD: {
      std::string out(ZSTD_compressBound(raw.size()), '\0');
      const size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1);
      if (ZSTD_isError(n)) throw IOError(std::string("parquet: zstd compression failed: ") + ZSTD_getErrorName(n));
      out.resize(n);
      return out;
    }
    case CompressionCodec::LZ4_RAW: {
      if (raw.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) throw IOError("parquet: page too large for lz4");
      std::string out(static_cast<size_t>(LZ4_compressBound(static_cast<int>(raw.size()))), '\0');
      const int n = LZ4_compress_default(raw.data(), out.data(), static_cast<int>(raw.size()), static_cast<int>(out.size()));
      if (n <= 0) throw IOError("parquet: lz4 compression failed");
      out.resize(static_cast<size_t>(n));
      return out;
    }
    default: throw Error("parquet: cannot write codec " + std::to_string(codec));
  }
}

std::string DecompressPage(int codec, std::string_view in, int64_t size, const std::string& where) {
  // Parquet pages are limited to 2 GiB by their i32 sizes; the ratios below
  // are each codec's most extreme expansion, so a page claiming more is a lie.
  auto refuse = [&](double max_ratio) {
    if (size < 0 || static_cast<double>(size) > static_cast<double>(in.size()) * max_ratio + 1024) {
      throw IOError(where + ": page claims " + std::to_string(size) + " bytes from " + std::to_string(in.size()) +
                    " compressed, more than the codec can produce");
    }
  };
  std::string out;
  switch (codec) {
    case CompressionCodec::UNCOMPRESSED:
      if (static_cast<int64_t>(in.size()) != size) {
        throw IOError(where + ": uncompressed page of " + std::to_string(in.size()) + " bytes, header says " +
                      std::to_string(size));
      }
      return std::string(in);
    case CompressionCodec::SNAPPY: {
      size_t n = 0;
      if (!snappy::GetUncompressedLength(in.data(), in.size(), &n) || static_cast<int64_t>(n) != size) {
        throw IOError(where + ": corrupt snappy page (length does not match the header)");
      }
      out.resize(n);
      if (!snappy::RawUncompress(in.data(), in.size(), out.data())) throw IOError(where + ": corrupt snappy page");
      return out;
    }
    case CompressionCodec::GZIP:
      refuse(1100);
      out.resize(static_cast<size_t>(size));
      Gunzip(in, &out, where);
      return out;
    case CompressionCodec::ZSTD: {
      const unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
      if (declared == ZSTD_CONTENTSIZE_ERROR) throw IOError(where + ": corrupt zstd page");
      if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != static_cast<unsigned long long>(size)) {
        throw IOError(where + ": zstd page holds " + std::to_string(declared) + " bytes, header says " + std::to_string(size));
      }
      if (declared == ZSTD_CONTENTSIZE_UNKNOWN) refuse(32768);
      out.resize(static_cast<size_t>(size));
      const size_t n = ZSTD_decompress(out.data(), out.size(), in.data(), in.size());
      if (ZSTD_isError(n) || static_cast<int64_t>(n) != size) throw IOError(where + ": corrupt zstd page");
      return out;
    }
    case CompressionCodec::LZ4_RAW: {
      refuse(256);
      out.resize(static_cast<size_t>(size));
      const int n = LZ4_decompress_safe(in.data(), out.data(), static_cast<int>(in.size()), static_cast<int>(out.size()));
      if (n != size) throw IOError(where + ": corrupt lz4 page");
      return out;
    }
    case CompressionCodec::LZ4: throw IOError(where + ": codec LZ4 (Hadoop framing) is not supported; write LZ4_RAW");
    case CompressionCodec::BROTLI: throw IOError(where + ": codec BROTLI is not supported");
    case CompressionCodec::LZO: throw IOError(where + ": codec LZO is not supported");
    default: throw IOError(where + ": unknown codec " + std::to_string(codec));
  }
}

}  // namespace skein::io::parquet
