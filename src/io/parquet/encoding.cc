// RLE/bit-packed hybrid and delta encodings (see encoding.h). Bit-packed
// values are little-endian, least significant bit first, as the format
// specifies for everything but the deprecated BIT_PACKED levels.
#include "encoding.h"

#include <algorithm>
#include <cstring>

#include "skein/core/error.h"

namespace skein::io::parquet {

int BitWidth(uint64_t max_value) {
  int w = 0;
  while (max_value) {
    ++w;
    max_value >>= 1;
  }
  return w;
}

uint64_t ReadUleb(const uint8_t** p, const uint8_t* end, const std::string& where) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) throw IOError(where + ": truncated varint");
    const uint8_t b = *(*p)++;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw IOError(where + ": varint longer than 64 bits");
}

void PutUleb(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

namespace {

// Value `i` of `width` bits (<= 32) from packed bytes [in, in + bytes).
inline uint32_t Unpack(const uint8_t* in, size_t bytes, int width, int64_t i) {
  const uint64_t bit = static_cast<uint64_t>(i) * static_cast<uint64_t>(width);
  const size_t at = bit >> 3;
  uint64_t word = 0;
  std::memcpy(&word, in + at, std::min<size_t>(8, bytes - at));
  return static_cast<uint32_t>((word >> (bit & 7)) & ((uint64_t{1} << width) - 1));
}

// Zigzag-decoded varint.
int64_t ReadZigzag(const uint8_t** p, const uint8_t* end, const std::string& where) {
  const uint64_t u = ReadUleb(p, end, where);
  return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
}

}  // namespace

RleDecoder::RleDecoder(const uint8_t* p, size_t n, int bit_width, const std::string& where)
    : p_(p), end_(p + n), width_(bit_width), where_(where) {
  if (bit_width < 0 || bit_width > 32) throw IOError(where + ": bit width " + std::to_string(bit_width) + " out of range");
}

bool RleDecoder::NextRun() {
  if (p_ >= end_) return false;
  const uint64_t header = ReadUleb(&p_, end_, where_);
  if (header & 1) {
    const uint64_t groups = header >> 1;
    if (groups == 0 || groups > (uint64_t{1} << 40)) throw IOError(where_ + ": bad bit-packed run");
    const size_t bytes = static_cast<size_t>(groups) * static_cast<size_t>(width_);
    const size_t have = std::min<size_t>(bytes, static_cast<size_t>(end_ - p_));
    packed_ = p_;
    packed_pos_ = 0;
    packed_left_ = static_cast<int64_t>(groups * 8);
    // A final run may be cut short of its padding: only whole values count.
    packed_avail_ = width_ == 0 ? packed_left_ : static_cast<int64_t>(have * 8 / static_cast<size_t>(width_));
    p_ += have;
  } else {
    repeat_left_ = static_cast<int64_t>(header >> 1);
    if (repeat_left_ == 0) throw IOError(where_ + ": empty RLE run");
    const int bytes = (width_ + 7) / 8;
    if (end_ - p_ < bytes) throw IOError(where_ + ": truncated RLE run");
    uint32_t v = 0;
    std::memcpy(&v, p_, static_cast<size_t>(bytes));
    p_ += bytes;
    if (width_ < 32 && (v >> width_)) throw IOError(where_ + ": RLE value wider than " + std::to_string(width_) + " bits");
    repeat_value_ = v;
  }
  return true;
}

void RleDecoder::Get(uint32_t* out, int64_t count) {
  while (count > 0) {
    if (repeat_left_ > 0) {
      const int64_t n = std::min(count, repeat_left_);
      std::fill(out, out + n, repeat_value_);
      out += n;
      count -= n;
      repeat_left_ -= n;
    } else if (packed_left_ > 0) {
      const int64_t n = std::min(count, packed_left_);
      if (packed_pos_ + n > packed_avail_) throw IOError(where_ + ": truncated bit-packed run");
      const size_t bytes = (static_cast<size_t>(packed_avail_) * static_cast<size_t>(width_) + 7) / 8;
      if (width_ == 0) std::fill(out, out + n, 0u);
      else {
        for (int64_t i = 0; i < n; ++i) out[i] = Unpack(packed_, bytes, width_, packed_pos_ + i);
      }
      packed_pos_ += n;
      packed_left_ -= n;
      out += n;
      count -= n;
    } else if (!NextRun()) {
      throw IOError(where_ + ": RLE data ends " + std::to_string(count) + " values early");
    }
  }
}

namespace {
void PutPacked(const uint32_t* v, int64_t n, int width, std::string* out) {
  // n values (a multiple of 8) packed LSB first.
  uint64_t acc = 0;
  int bits = 0;
  for (int64_t i = 0; i < n; ++i) {
    acc |= static_cast<uint64_t>(v[i]) << bits;
    bits += width;
    while (bits >= 8) {
      out->push_back(static_cast<char>(acc & 0xff));
      acc >>= 8;
      bits -= 8;
    }
  }
  if (bits > 0) out->push_back(static_cast<char>(acc & 0xff));
}
}  // namespace

void EncodeRle(const uint32_t* values, int64_t n, int width, std::string* out) {
  const int value_bytes = (width + 7) / 8;
  int64_t i = 0;
  int64_t packed_from = 0;  // start of values waiting to be bit-packed
  auto flush_packed = [&](int64_t upto) {
    // Bit-pack [packed_from, upto), a multiple of 8 except at the very end.
    int64_t count = upto - packed_from;
    if (count <= 0) return;
    const int64_t groups = (count + 7) / 8;
    PutUleb(static_cast<uint64_t>(groups) << 1 | 1, out);
    if (count % 8 == 0) {
      PutPacked(values + packed_from, count, width, out);
    } else {
      std::vector<uint32_t> padded(values + packed_from, values + upto);
      padded.resize(static_cast<size_t>(groups * 8), 0);
      PutPacked(padded.data(), groups * 8, width, out);
    }
    packed_from = upto;
  };
  while (i < n) {
    int64_t run = 1;
    while (i + run < n && values[i + run] == values[i]) ++run;
    // Runs of 8+ that start on a group boundary become RLE runs.
    if (run >= 8 && (i - packed_from) % 8 == 0) {
      flush_packed(i);
      PutUleb(static_cast<uint64_t>(run) << 1, out);
      out->append(reinterpret_cast<const char*>(&values[i]), static_cast<size_t>(value_bytes));
      i += run;
      packed_from = i;
    } else if (run >= 16) {
      // Fill the current group up to its boundary, then RLE the rest.
      const int64_t fill = (8 - (i - packed_from) % 8) % 8;
      flush_packed(i + fill);
      i += fill;
    } else {
      i += run;
    }
  }
  flush_packed(n);
}

size_t DecodeDeltaBinaryPacked(const uint8_t* p, size_t n, std::vector<int64_t>* out, const std::string& where) {
  const uint8_t* start = p;
  const uint8_t* end = p + n;
  const uint64_t block = ReadUleb(&p, end, where);
  const uint64_t minis = ReadUleb(&p, end, where);
  const uint64_t total = ReadUleb(&p, end, where);
  int64_t value = ReadZigzag(&p, end, where);
  if (block == 0 || block % 128 != 0 || minis == 0 || block % minis != 0 || (block / minis) % 32 != 0 || block > (1u << 20)) {
    throw IOError(where + ": bad DELTA_BINARY_PACKED header (block " + std::to_string(block) + ", miniblocks " +
                  std::to_string(minis) + ")");
  }
  // Every value past the first takes at least one bit... or none: bound the
  // count by the bytes left, generously, before reserving.
  if (total > (static_cast<uint64_t>(end - p) + 1) * 8 * block) throw IOError(where + ": DELTA_BINARY_PACKED count is a lie");
  out->clear();
  out->reserve(static_cast<size_t>(std::min<uint64_t>(total, uint64_t{1} << 24)));
  if (total == 0) return static_cast<size_t>(p - start);
  out->push_back(value);
  const uint64_t per_mini = block / minis;
  std::vector<uint8_t> widths(static_cast<size_t>(minis));
  while (out->size() < total) {
    const int64_t min_delta = ReadZigzag(&p, end, where);
    if (static_cast<uint64_t>(end - p) < minis) throw IOError(where + ": truncated DELTA_BINARY_PACKED block");
    std::memcpy(widths.data(), p, minis);
    p += minis;
    for (uint64_t m = 0; m < minis && out->size() < total; ++m) {
      const int w = widths[m];
      if (w > 64) throw IOError(where + ": DELTA_BINARY_PACKED bit width " + std::to_string(w));
      const size_t bytes = static_cast<size_t>(per_mini) * static_cast<size_t>(w) / 8;
      // The last miniblocks may be absent once every value is read.
      const size_t have = std::min<size_t>(bytes, static_cast<size_t>(end - p));
      const uint64_t take = std::min<uint64_t>(per_mini, total - out->size());
      if (have * 8 < take * static_cast<uint64_t>(w)) throw IOError(where + ": truncated DELTA_BINARY_PACKED miniblock");
      for (uint64_t i = 0; i < take; ++i) {
        uint64_t d = 0;
        if (w > 0) {
          const uint64_t bit = i * static_cast<uint64_t>(w);
          // Up to 64 bits spanning 9 bytes: gather them one byte at a time.
          for (int b = 0; b < w; b += 8) {
            const uint64_t pos = bit + static_cast<uint64_t>(b);
            const size_t at = pos >> 3;
            uint64_t word = 0;
            std::memcpy(&word, p + at, std::min<size_t>(8, have - at));
            const int chunk = std::min(8, w - b);
            d |= ((word >> (pos & 7)) & ((uint64_t{1} << chunk) - 1)) << b;
          }
        }
        value = static_cast<int64_t>(static_cast<uint64_t>(value) + static_cast<uint64_t>(min_delta) + d);
        out->push_back(value);
      }
      p += have;
    }
  }
  return static_cast<size_t>(p - start);
}

}  // namespace skein::io::parquet
