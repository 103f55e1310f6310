// Parquet's value and level encodings that are not PLAIN: the RLE/bit-packed
// hybrid (definition levels, dictionary indices, RLE booleans), and the
// delta encodings (DELTA_BINARY_PACKED and the byte-array deltas built on
// it). Decoders are bounds-checked: bytes that run out or lie are an
// IOError naming `where`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skein::io::parquet {

/// Bits needed for values up to `max_value`.
int BitWidth(uint64_t max_value);

/// Unsigned LEB128 varint.
uint64_t ReadUleb(const uint8_t** p, const uint8_t* end, const std::string& where);
void PutUleb(uint64_t v, std::string* out);

/// Reads RLE/bit-packed hybrid runs of `bit_width`-bit values.
class RleDecoder {
 public:
  RleDecoder(const uint8_t* p, size_t n, int bit_width, const std::string& where);
  /// The next `count` values; IOError when the runs end first.
  void Get(uint32_t* out, int64_t count);

 private:
  bool NextRun();
  const uint8_t* p_;
  const uint8_t* end_;
  int width_;
  const std::string& where_;
  int64_t repeat_left_ = 0;   // values left in the current RLE run
  uint32_t repeat_value_ = 0;
  int64_t packed_left_ = 0;   // values left in the current bit-packed run
  const uint8_t* packed_ = nullptr;  // its bytes
  int64_t packed_pos_ = 0;    // next value's index in it
  int64_t packed_avail_ = 0;  // values its bytes hold
};

/// Appends the RLE/bit-packed hybrid encoding of `values` (each below
/// 2^bit_width): runs of 8 or more equal values as RLE runs, the rest as
/// bit-packed groups of 8 (the last one padded).
void EncodeRle(const uint32_t* values, int64_t n, int bit_width, std::string* out);

/// Decodes a DELTA_BINARY_PACKED stream starting at `p` into `out` (its
/// total count of values); returns the bytes it took.
size_t DecodeDeltaBinaryPacked(const uint8_t* p, size_t n, std::vector<int64_t>* out, const std::string& where);

}  // namespace skein::io::parquet
