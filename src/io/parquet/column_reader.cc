// Decoding one column chunk: its pages in order (an optional dictionary
// page, then data pages v1 or v2), each decompressed, its definition levels
// turned into validity bits and its values decoded densely, then spread
// over the page's non-null rows. Fixed-width values land directly in the
// column's buffer, so a PLAIN, all-valid column is one memcpy per page.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "chunk.h"
#include "codec.h"
#include "encoding.h"
#include "thrift_io.h"

namespace skein::io::parquet {

namespace {

using Chunk = ParquetRowGroupPlan::Chunk;
using format::Encoding;
using format::PageType;
using PType = format::Type;

const char* EncodingName(int e) {
  auto it = format::_Encoding_VALUES_TO_NAMES.find(e);
  return it == format::_Encoding_VALUES_TO_NAMES.end() ? "unknown" : it->second;
}

size_t PhysicalWidth(const Chunk& c) {
  switch (c.physical) {
    case PType::INT32:
    case PType::FLOAT: return 4;
    case PType::INT64:
    case PType::DOUBLE: return 8;
    case PType::INT96: return 12;
    case PType::FIXED_LEN_BYTE_ARRAY: return static_cast<size_t>(c.type_length);
    default: return 0;  // BOOLEAN (bits), BYTE_ARRAY (variable)
  }
}

uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Big-endian two's complement of 1..16 bytes as a double (decimals).
double BigEndianToDouble(const uint8_t* p, size_t n) {
  __int128 v = (n > 0 && (p[0] & 0x80)) ? -1 : 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return static_cast<double>(v);
}

class ChunkReader {
 public:
  ChunkReader(const Chunk& c, int64_t rows, std::string_view bytes, const std::string& where)
      : c_(c), rows_(rows), bytes_(bytes), where_(where), width_(PhysicalWidth(c)) {
    if (c.physical == PType::FIXED_LEN_BYTE_ARRAY && (c.type_length <= 0 || c.type_length > (1 << 20))) {
      throw IOError(where + ": fixed-length byte arrays of " + std::to_string(c.type_length) + " bytes");
    }
    if (c.max_def > 0) validity_.assign(static_cast<size_t>(bits::Bytes(rows)), 0xff);
    if (c.physical == PType::BOOLEAN) {
      bool_buf_ = Buffer::Allocate(static_cast<size_t>(bits::Bytes(rows)), &bool_bits_);
    } else if (width_ > 0) {
      if (static_cast<uint64_t>(rows) * width_ > (uint64_t{1} << 40)) throw IOError(where + ": row group too large");
      fixed_buf_ = Buffer::Allocate(static_cast<size_t>(rows) * width_, &fixed_);
    } else if (c.type == TypeId::kCategory) {
      std::byte* codes = nullptr;
      codes_buf_ = Buffer::Allocate(static_cast<size_t>(rows) * 4, &codes);
      codes_ = reinterpret_cast<int32_t*>(codes);
    } else {
      offsets_.reserve(static_cast<size_t>(rows) + 1);
      offsets_.push_back(0);
    }
  }

  Column Read() {
    size_t pos = 0;
    while (row_ < rows_) {
      if (pos >= bytes_.size()) {
        throw IOError(where_ + ": pages end after " + std::to_string(row_) + " of " + std::to_string(rows_) + " rows");
      }
      format::PageHeader h;
      const auto* base = reinterpret_cast<const uint8_t*>(bytes_.data());
      pos += ThriftRead(base + pos, bytes_.size() - pos, &h, where_ + ": page header");
      if (h.compressed_page_size < 0 || static_cast<size_t>(h.compressed_page_size) > bytes_.size() - pos) {
        throw IOError(where_ + ": page of " + std::to_string(h.compressed_page_size) + " bytes runs past the column chunk");
      }
      const std::string_view page = bytes_.substr(pos, static_cast<size_t>(h.compressed_page_size));
      pos += static_cast<size_t>(h.compressed_page_size);
      switch (h.type) {
        case PageType::DICTIONARY_PAGE: ReadDictionary(h, page); break;
        case PageType::DATA_PAGE: ReadDataV1(h, page); break;
        case PageType::DATA_PAGE_V2: ReadDataV2(h, page); break;
        default: break;  // index pages carry nothing a reader needs
      }
    }
    return Finish();
  }

 private:
  // --- pages ---------------------------------------------------------------
  void ReadDictionary(const format::PageHeader& h, std::string_view page) {
    if (!h.__isset.dictionary_page_header) throw IOError(where_ + ": dictionary page without its header");
    const auto& d = h.dictionary_page_header;
    if (d.encoding != Encoding::PLAIN && d.encoding != Encoding::PLAIN_DICTIONARY) {
      throw IOError(where_ + ": dictionary page encoded " + EncodingName(d.encoding));
    }
    if (d.num_values < 0) throw IOError(where_ + ": dictionary with a negative count");
    dict_page_ = DecompressPage(c_.codec, page, h.uncompressed_page_size, where_);
    dict_size_ = d.num_values;
    const auto* p = reinterpret_cast<const uint8_t*>(dict_page_.data());
    const auto* end = p + dict_page_.size();
    if (c_.physical == PType::BYTE_ARRAY) {
      dict_views_.clear();
      PlainByteArrays(p, end, dict_size_, &dict_views_);
      if (c_.type == TypeId::kCategory) {
        dict_codes_.resize(dict_views_.size());
        for (size_t i = 0; i < dict_views_.size(); ++i) dict_codes_[i] = categories_.Intern(dict_views_[i]);
      }
    } else if (width_ > 0) {
      if (static_cast<uint64_t>(dict_size_) * width_ > dict_page_.size()) throw IOError(where_ + ": dictionary page too short");
    } else {
      throw IOError(where_ + ": dictionary page for a BOOLEAN column");
    }
    has_dict_ = true;
  }

  void ReadDataV1(const format::PageHeader& h, std::string_view page) {
    if (!h.__isset.data_page_header) throw IOError(where_ + ": data page without its header");
    const auto& d = h.data_page_header;
    const int64_t n = CheckRows(d.num_values);
    const std::string raw = DecompressPage(c_.codec, page, h.uncompressed_page_size, where_);
    const auto* p = reinterpret_cast<const uint8_t*>(raw.data());
    const auto* end = p + raw.size();
    int64_t valid = n;
    if (c_.max_def > 0) {
      if (d.definition_level_encoding == Encoding::RLE) {
        if (end - p < 4) throw IOError(where_ + ": truncated definition levels");
        const uint32_t len = LoadU32(p);
        p += 4;
        if (len > static_cast<uint64_t>(end - p)) throw IOError(where_ + ": definition levels run past the page");
        valid = Levels(p, len, n, /*bit_packed=*/false);
        p += len;
      } else if (d.definition_level_encoding == Encoding::BIT_PACKED) {
        const size_t len = static_cast<size_t>(bits::Bytes(n));
        if (len > static_cast<size_t>(end - p)) throw IOError(where_ + ": definition levels run past the page");
        valid = Levels(p, len, n, /*bit_packed=*/true);
        p += len;
      } else {
        throw IOError(where_ + ": definition levels encoded " + EncodingName(d.definition_level_encoding));
      }
    }
    Values(d.encoding, p, end, n, valid);
  }

  void ReadDataV2(const format::PageHeader& h, std::string_view page) {
    if (!h.__isset.data_page_header_v2) throw IOError(where_ + ": data page v2 without its header");
    const auto& d = h.data_page_header_v2;
    const int64_t n = CheckRows(d.num_rows);
    if (d.num_values != d.num_rows) throw IOError(where_ + ": page v2 with repeated values (nested data is not supported)");
    if (d.repetition_levels_byte_length != 0) throw IOError(where_ + ": page v2 with repetition levels");
    if (d.definition_levels_byte_length < 0 || d.definition_levels_byte_length > h.compressed_page_size) {
      throw IOError(where_ + ": page v2 levels of " + std::to_string(d.definition_levels_byte_length) + " bytes");
    }
    const auto levels_len = static_cast<size_t>(d.definition_levels_byte_length);
    const auto* lp = reinterpret_cast<const uint8_t*>(page.data());
    int64_t valid = n;
    if (c_.max_def > 0) valid = Levels(lp, levels_len, n, false);
    const std::string_view body = page.substr(levels_len);
    const int64_t body_size = static_cast<int64_t>(h.uncompressed_page_size) - static_cast<int64_t>(levels_len);
    std::string raw;
    if (d.is_compressed) raw = DecompressPage(c_.codec, body, body_size, where_);
    else raw.assign(body);
    if (valid != n - d.num_nulls && c_.max_def > 0) {
      throw IOError(where_ + ": page v2 says " + std::to_string(d.num_nulls) + " nulls, its levels say " +
                    std::to_string(n - valid));
    }
    const auto* p = reinterpret_cast<const uint8_t*>(raw.data());
    Values(d.encoding, p, p + raw.size(), n, valid);
  }

  int64_t CheckRows(int64_t n) {
    if (n < 0 || n > rows_ - row_) {
      throw IOError(where_ + ": page of " + std::to_string(n) + " rows past the row group's " + std::to_string(rows_));
    }
    return n;
  }

  // Definition levels of `n` rows from row_: clears the validity of nulls;
  // returns the count of valid rows.
  int64_t Levels(const uint8_t* p, size_t len, int64_t n, bool bit_packed) {
    levels_.resize(static_cast<size_t>(n));
    if (bit_packed) {
      for (int64_t i = 0; i < n; ++i) levels_[static_cast<size_t>(i)] = (p[i >> 3] >> (7 - (i & 7))) & 1;
    } else {
      RleDecoder(p, len, BitWidth(static_cast<uint64_t>(c_.max_def)), where_ + ": definition levels").Get(levels_.data(), n);
    }
    int64_t valid = 0;
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t l = levels_[static_cast<size_t>(i)];
      if (l > static_cast<uint32_t>(c_.max_def)) throw IOError(where_ + ": definition level " + std::to_string(l) + " above the maximum");
      if (l == static_cast<uint32_t>(c_.max_def)) ++valid;
      else bits::Clear(validity_.data(), row_ + i);
    }
    return valid;
  }

  bool RowValid(int64_t i) const { return c_.max_def == 0 || bits::Get(validity_.data(), i); }

  // --- values --------------------------------------------------------------
  // Decodes `valid` values of a page of `n` rows starting at row_.
  void Values(int enc, const uint8_t* p, const uint8_t* end, int64_t n, int64_t valid) {
    if (enc == Encoding::PLAIN_DICTIONARY || enc == Encoding::RLE_DICTIONARY) {
      if (!has_dict_) throw IOError(where_ + ": dictionary-encoded page before any dictionary page");
      if (p >= end) {
        if (valid > 0) throw IOError(where_ + ": dictionary indices missing");
      } else {
        const int w = *p++;
        if (w > 32) throw IOError(where_ + ": dictionary index width " + std::to_string(w));
        indices_.resize(static_cast<size_t>(valid));
        RleDecoder(p, static_cast<size_t>(end - p), w, where_ + ": dictionary indices").Get(indices_.data(), valid);
        for (int64_t i = 0; i < valid; ++i) {
          if (indices_[static_cast<size_t>(i)] >= static_cast<uint32_t>(dict_size_)) {
            throw IOError(where_ + ": dictionary index " + std::to_string(indices_[static_cast<size_t>(i)]) +
                          " past its " + std::to_string(dict_size_) + " entries");
          }
        }
      }
      FromDictionary(n, valid);
    } else if (c_.physical == PType::BOOLEAN) {
      Bools(enc, p, end, n, valid);
    } else if (width_ > 0) {
      Fixed(enc, p, end, n, valid);
    } else {
      views_.clear();
      owned_.clear();
      ByteArrays(enc, p, end, valid, &views_);
      PlaceViews(n, views_.data());
    }
    row_ += n;
  }

  void FromDictionary(int64_t n, int64_t valid) {
    const uint32_t* ix = indices_.data();
    if (c_.physical == PType::BYTE_ARRAY) {
      if (c_.type == TypeId::kCategory) {
        int64_t j = 0;
        for (int64_t i = 0; i < n; ++i) {
          if (RowValid(row_ + i)) codes_[row_ + i] = dict_codes_[ix[j++]];
        }
        return;
      }
      views_.resize(static_cast<size_t>(valid));
      for (int64_t i = 0; i < valid; ++i) views_[static_cast<size_t>(i)] = dict_views_[ix[i]];
      PlaceViews(n, views_.data());
      return;
    }
    std::byte* dst = fixed_ + static_cast<size_t>(row_) * width_;
    const char* dict = dict_page_.data();
    if (width_ == 8) {
      auto* d = reinterpret_cast<uint64_t*>(dst);
      for (int64_t i = 0; i < valid; ++i) std::memcpy(&d[i], dict + size_t{8} * ix[i], 8);
    } else if (width_ == 4) {
      auto* d = reinterpret_cast<uint32_t*>(dst);
      for (int64_t i = 0; i < valid; ++i) std::memcpy(&d[i], dict + size_t{4} * ix[i], 4);
    } else {
      for (int64_t i = 0; i < valid; ++i) std::memcpy(dst + static_cast<size_t>(i) * width_, dict + width_ * ix[i], width_);
    }
    Spread(n, valid);
  }

  // Moves `valid` dense fixed-width values at row_ to their rows.
  void Spread(int64_t n, int64_t valid) {
    if (valid == n) return;
    std::byte* base = fixed_ + static_cast<size_t>(row_) * width_;
    int64_t j = valid - 1;
    for (int64_t i = n - 1; i >= 0 && j >= 0; --i) {
      if (!RowValid(row_ + i)) {
        std::memset(base + static_cast<size_t>(i) * width_, 0, width_);
        continue;
      }
      if (i != j) std::memcpy(base + static_cast<size_t>(i) * width_, base + static_cast<size_t>(j) * width_, width_);
      --j;
    }
  }

  void Fixed(int enc, const uint8_t* p, const uint8_t* end, int64_t n, int64_t valid) {
    std::byte* dst = fixed_ + static_cast<size_t>(row_) * width_;
    const size_t bytes = static_cast<size_t>(valid) * width_;
    switch (enc) {
      case Encoding::PLAIN:
        if (bytes > static_cast<size_t>(end - p)) throw IOError(where_ + ": PLAIN values run past the page");
        std::memcpy(dst, p, bytes);
        break;
      case Encoding::BYTE_STREAM_SPLIT:
        if (bytes > static_cast<size_t>(end - p)) throw IOError(where_ + ": BYTE_STREAM_SPLIT values run past the page");
        for (size_t b = 0; b < width_; ++b) {
          const uint8_t* stream = p + b * static_cast<size_t>(valid);
          for (int64_t i = 0; i < valid; ++i) dst[static_cast<size_t>(i) * width_ + b] = static_cast<std::byte>(stream[i]);
        }
        break;
      case Encoding::DELTA_BINARY_PACKED: {
        if (c_.physical != PType::INT32 && c_.physical != PType::INT64) {
          throw IOError(where_ + ": DELTA_BINARY_PACKED for a non-integer column");
        }
        DecodeDeltaBinaryPacked(p, static_cast<size_t>(end - p), &deltas_, where_);
        if (static_cast<int64_t>(deltas_.size()) < valid) throw IOError(where_ + ": DELTA_BINARY_PACKED holds too few values");
        for (int64_t i = 0; i < valid; ++i) {
          if (width_ == 4) {
            const auto v = static_cast<int32_t>(deltas_[static_cast<size_t>(i)]);
            std::memcpy(dst + 4 * i, &v, 4);
          } else {
            std::memcpy(dst + 8 * i, &deltas_[static_cast<size_t>(i)], 8);
          }
        }
        break;
      }
      default: throw IOError(where_ + ": encoding " + EncodingName(enc) + " is not supported for this column");
    }
    Spread(n, valid);
  }

  void Bools(int enc, const uint8_t* p, const uint8_t* end, int64_t n, int64_t valid) {
    bool_vals_.resize(static_cast<size_t>(valid));
    if (enc == Encoding::PLAIN) {
      if (static_cast<size_t>(bits::Bytes(valid)) > static_cast<size_t>(end - p)) throw IOError(where_ + ": PLAIN booleans run past the page");
      for (int64_t i = 0; i < valid; ++i) bool_vals_[static_cast<size_t>(i)] = bits::Get(p, i);
    } else if (enc == Encoding::RLE) {
      if (end - p < 4) throw IOError(where_ + ": truncated RLE booleans");
      const uint32_t len = LoadU32(p);
      p += 4;
      if (len > static_cast<uint64_t>(end - p)) throw IOError(where_ + ": RLE booleans run past the page");
      RleDecoder(p, len, 1, where_ + ": RLE booleans").Get(bool_vals_.data(), valid);
    } else {
      throw IOError(where_ + ": encoding " + EncodingName(enc) + " is not supported for BOOLEAN");
    }
    auto* out = reinterpret_cast<uint8_t*>(bool_bits_);
    int64_t j = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (RowValid(row_ + i) && bool_vals_[static_cast<size_t>(j++)]) bits::Set(out, row_ + i);
    }
  }

  void PlainByteArrays(const uint8_t* p, const uint8_t* end, int64_t count, std::vector<std::string_view>* out) {
    if (count > end - p) throw IOError(where_ + ": more byte arrays than bytes");
    out->reserve(out->size() + static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      if (end - p < 4) throw IOError(where_ + ": truncated byte array length");
      const uint32_t len = LoadU32(p);
      p += 4;
      if (len > static_cast<uint64_t>(end - p)) throw IOError(where_ + ": byte array of " + std::to_string(len) + " bytes runs past the page");
      out->emplace_back(reinterpret_cast<const char*>(p), len);
      p += len;
    }
  }

  // Lengths (DELTA_BINARY_PACKED) then the bytes back to back; returns the end.
  const uint8_t* DeltaLengths(const uint8_t* p, const uint8_t* end, int64_t count, std::vector<std::string_view>* out) {
    p += DecodeDeltaBinaryPacked(p, static_cast<size_t>(end - p), &deltas_, where_);
    if (static_cast<int64_t>(deltas_.size()) < count) throw IOError(where_ + ": too few byte array lengths");
    for (int64_t i = 0; i < count; ++i) {
      const int64_t len = deltas_[static_cast<size_t>(i)];
      if (len < 0 || len > end - p) throw IOError(where_ + ": byte array length " + std::to_string(len) + " runs past the page");
      out->emplace_back(reinterpret_cast<const char*>(p), static_cast<size_t>(len));
      p += len;
    }
    return p;
  }

  void ByteArrays(int enc, const uint8_t* p, const uint8_t* end, int64_t count, std::vector<std::string_view>* out) {
    switch (enc) {
      case Encoding::PLAIN: PlainByteArrays(p, end, count, out); return;
      case Encoding::DELTA_LENGTH_BYTE_ARRAY: DeltaLengths(p, end, count, out); return;
      case Encoding::DELTA_BYTE_ARRAY: {
        p += DecodeDeltaBinaryPacked(p, static_cast<size_t>(end - p), &prefixes_, where_);
        if (static_cast<int64_t>(prefixes_.size()) < count) throw IOError(where_ + ": too few prefix lengths");
        std::vector<std::string_view> suffixes;
        DeltaLengths(p, end, count, &suffixes);
        // Rebuild each value from the previous one's prefix and its suffix.
        std::vector<std::pair<size_t, size_t>> spans;
        size_t prev_at = 0, prev_len = 0;
        for (int64_t i = 0; i < count; ++i) {
          const int64_t pre = prefixes_[static_cast<size_t>(i)];
          if (pre < 0 || static_cast<size_t>(pre) > prev_len) throw IOError(where_ + ": DELTA_BYTE_ARRAY prefix longer than the previous value");
          const size_t at = owned_.size();
          owned_.append(owned_, prev_at, static_cast<size_t>(pre));
          owned_.append(suffixes[static_cast<size_t>(i)]);
          if (owned_.size() > (size_t{1} << 31)) throw IOError(where_ + ": DELTA_BYTE_ARRAY page expands past 2 GiB");
          prev_at = at;
          prev_len = owned_.size() - at;
          spans.emplace_back(at, prev_len);
        }
        for (const auto& [at, len] : spans) out->emplace_back(owned_.data() + at, len);
        return;
      }
      default: throw IOError(where_ + ": encoding " + EncodingName(enc) + " is not supported for BYTE_ARRAY");
    }
  }

  // Byte-array values of the page's valid rows, placed in row order.
  void PlaceViews(int64_t n, const std::string_view* v) {
    int64_t j = 0;
    if (c_.type == TypeId::kCategory) {
      for (int64_t i = 0; i < n; ++i) {
        if (RowValid(row_ + i)) codes_[row_ + i] = categories_.Intern(v[j++]);
      }
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      if (RowValid(row_ + i)) {
        const std::string_view s = v[j++];
        if (s.size() > INT32_MAX - chars_.size()) throw IOError(where_ + ": more than 2 GiB of strings in one column chunk");
        chars_.append(s);
      }
      offsets_.push_back(static_cast<int32_t>(chars_.size()));
    }
  }

  // --- the column ----------------------------------------------------------
  Column Finish() {
    Buffer validity = c_.max_def > 0 ? Buffer::Copy(validity_.data(), validity_.size()) : Buffer();
    const size_t n = static_cast<size_t>(rows_);
    if (c_.physical == PType::BOOLEAN) return Column::Make(TypeId::kBool, rows_, validity, bool_buf_);
    if (c_.type == TypeId::kCategory) {
      return Column::Make(TypeId::kCategory, rows_, validity, codes_buf_, {}, categories_.TakeDictionary());
    }
    if (width_ == 0) {  // BYTE_ARRAY
      if (c_.convert == ParquetConvert::kDecimal) return DecimalsFromViews(validity);
      return Column::Make(TypeId::kString, rows_, validity, Buffer(std::move(chars_)),
                          Buffer::Copy(offsets_.data(), offsets_.size() * 4));
    }
    std::byte* out = nullptr;
    switch (c_.convert) {
      case ParquetConvert::kNone:
        if (c_.physical == PType::FIXED_LEN_BYTE_ARRAY) {
          std::vector<int32_t> offs(n + 1);
          for (size_t i = 0; i <= n; ++i) offs[i] = static_cast<int32_t>(i * width_);
          if (n * width_ > INT32_MAX) throw IOError(where_ + ": more than 2 GiB of strings in one column chunk");
          return Column::Make(TypeId::kString, rows_, validity, fixed_buf_, Buffer::Copy(offs.data(), offs.size() * 4));
        }
        return Column::Make(c_.type, rows_, validity, fixed_buf_);
      case ParquetConvert::kMillis:
      case ParquetConvert::kMicros: {
        const uint64_t k = c_.convert == ParquetConvert::kMillis ? 1000000 : 1000;
        auto* v = reinterpret_cast<uint64_t*>(fixed_);
        for (size_t i = 0; i < n; ++i) v[i] *= k;
        return Column::Make(TypeId::kTimestamp, rows_, validity, fixed_buf_);
      }
      case ParquetConvert::kInt96: {
        Buffer b = Buffer::Allocate(n * 8, &out);
        for (size_t i = 0; i < n; ++i) {
          uint64_t nanos;
          uint32_t julian;
          std::memcpy(&nanos, fixed_ + i * 12, 8);
          std::memcpy(&julian, fixed_ + i * 12 + 8, 4);
          const int64_t ns = (static_cast<int64_t>(julian) - 2440588) * 86400000000000LL + static_cast<int64_t>(nanos);
          std::memcpy(out + i * 8, &ns, 8);
        }
        return Column::Make(TypeId::kTimestamp, rows_, validity, b);
      }
      case ParquetConvert::kUint32: {
        Buffer b = Buffer::Allocate(n * 8, &out);
        for (size_t i = 0; i < n; ++i) {
          uint32_t u;
          std::memcpy(&u, fixed_ + i * 4, 4);
          const int64_t v = u;
          std::memcpy(out + i * 8, &v, 8);
        }
        return Column::Make(TypeId::kInt64, rows_, validity, b);
      }
      case ParquetConvert::kDecimal: {
        Buffer b = Buffer::Allocate(n * 8, &out);
        const double scale = std::pow(10.0, c_.scale);
        for (size_t i = 0; i < n; ++i) {
          double v;
          if (c_.physical == PType::INT32) {
            int32_t x;
            std::memcpy(&x, fixed_ + i * 4, 4);
            v = x;
          } else if (c_.physical == PType::INT64) {
            int64_t x;
            std::memcpy(&x, fixed_ + i * 8, 8);
            v = static_cast<double>(x);
          } else {
            v = BigEndianToDouble(reinterpret_cast<const uint8_t*>(fixed_ + i * width_), width_);
          }
          v /= scale;
          std::memcpy(out + i * 8, &v, 8);
        }
        return Column::Make(TypeId::kFloat64, rows_, validity, b);
      }
    }
    throw IOError(where_ + ": unknown conversion");
  }

  Column DecimalsFromViews(const Buffer& validity) {
    std::byte* out = nullptr;
    Buffer b = Buffer::Allocate(static_cast<size_t>(rows_) * 8, &out);
    const double scale = std::pow(10.0, c_.scale);
    for (int64_t i = 0; i < rows_; ++i) {
      const int32_t a = offsets_[static_cast<size_t>(i)], e = offsets_[static_cast<size_t>(i) + 1];
      if (e - a > 16) throw IOError(where_ + ": decimal wider than 16 bytes");
      const double v = BigEndianToDouble(reinterpret_cast<const uint8_t*>(chars_.data()) + a, static_cast<size_t>(e - a)) / scale;
      std::memcpy(out + i * 8, &v, 8);
    }
    return Column::Make(TypeId::kFloat64, rows_, validity, b);
  }

  const Chunk& c_;
  const int64_t rows_;
  const std::string_view bytes_;
  const std::string& where_;
  const size_t width_;
  int64_t row_ = 0;

  std::vector<uint8_t> validity_;
  std::vector<uint32_t> levels_, indices_, bool_vals_;
  std::vector<int64_t> deltas_, prefixes_;
  // outputs
  Buffer fixed_buf_, bool_buf_, codes_buf_;
  std::byte* fixed_ = nullptr;
  std::byte* bool_bits_ = nullptr;
  int32_t* codes_ = nullptr;  // category codes, in codes_buf_
  std::vector<int32_t> offsets_;
  std::string chars_;
  CategoryBuilder categories_;
  // the dictionary page
  bool has_dict_ = false;
  int64_t dict_size_ = 0;
  std::string dict_page_;
  std::vector<std::string_view> dict_views_;
  std::vector<int32_t> dict_codes_;
  // a page's byte-array values
  std::vector<std::string_view> views_;
  std::string owned_;
};

}  // namespace

Column ReadColumnChunk(const ParquetRowGroupPlan::Chunk& chunk, int64_t num_rows, std::string_view bytes,
                       const std::string& where) {
  return ChunkReader(chunk, num_rows, bytes, where).Read();
}

}  // namespace skein::io::parquet
