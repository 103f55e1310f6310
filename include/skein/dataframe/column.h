// skein/dataframe/column.h — one column of a dataframe partition, laid out as
// Apache Arrow lays out arrays.
//
// A Column is immutable and shares its buffers: a validity bitmap (bit i set:
// row i is valid; empty when there are no nulls), then
//   - fixed-width types: the values (bool bit-packed, as in Arrow);
//   - string: int32 offsets (length + 1) and the UTF-8 bytes;
//   - category: int32 codes, plus a dictionary column of strings.
// That is the Arrow memory layout, so columns cross the Arrow C Data
// Interface (arrow_c.h) without copying.
//
//   skein::Column a = skein::Column::FromVector<int64_t>({1, 2, 3});
//   skein::Column s = skein::Column::FromStrings({"x", std::nullopt, "z"});
//   bool valid = s.IsValid(1);        // false
//   std::string_view v = s.StringAt(2);   // "z"
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "skein/core/buffer.h"
#include "skein/core/error.h"

namespace skein {

/// Element types of dataframe columns.
enum class TypeId : uint8_t {
  kInt64,
  kInt32,
  kFloat64,
  kFloat32,
  kBool,
  kString,
  kTimestamp,  ///< int64 nanoseconds since the Unix epoch, no time zone
  kDate,       ///< int32 days since the Unix epoch
  kCategory,   ///< int32 codes into a dictionary of strings
};

/// pandas-style names: "int64", "int32", "float64", "float32", "bool",
/// "string", "datetime64[ns]", "date32", "category".
std::string_view TypeName(TypeId t);
/// The inverse of TypeName (also "str", "object", "timestamp", "date",
/// "datetime"); Error naming `name` when it is none of them.
TypeId TypeFromName(std::string_view name);
/// The TypeId stored as `code` (its underlying value) in serialized bytes;
/// SerializationError naming `what` and the code when it is none.
TypeId TypeFromCode(uint8_t code, std::string_view what);
/// Bytes per value of a fixed-width type (bool: 0, it is bit-packed;
/// string: 0).
size_t FixedWidth(TypeId t);
bool IsNumeric(TypeId t);  ///< int64, int32, float64, float32
bool IsInteger(TypeId t);  ///< int64, int32
bool IsFloating(TypeId t);  ///< float64, float32

namespace bits {
inline bool Get(const uint8_t* b, int64_t i) { return (b[i >> 3] >> (i & 7)) & 1; }
inline void Set(uint8_t* b, int64_t i) { b[i >> 3] |= static_cast<uint8_t>(1u << (i & 7)); }
inline void Clear(uint8_t* b, int64_t i) { b[i >> 3] &= static_cast<uint8_t>(~(1u << (i & 7))); }
inline int64_t Bytes(int64_t n) { return (n + 7) / 8; }
}  // namespace bits

/// One column. Immutable once built; safe for concurrent reads.
class Column {
 public:
  /// An empty int64 column.
  Column() = default;

  /// Takes the parts of an Arrow array; checks the buffer sizes against
  /// `length` and `type` (Error naming what is short). `categories_known`:
  /// see categories_known().
  static Column Make(TypeId type, int64_t length, Buffer validity, Buffer values, Buffer offsets = {},
                     std::shared_ptr<const Column> dictionary = nullptr, bool categories_known = false);
  template <class T>
  static Column FromVector(const std::vector<T>& values, const std::vector<bool>& valid = {});
  static Column FromStrings(const std::vector<std::optional<std::string>>& values);
  static Column FromBools(const std::vector<std::optional<bool>>& values);
  /// `length` nulls of `type`.
  static Column Nulls(TypeId type, int64_t length);

  TypeId type() const { return type_; }
  int64_t length() const { return length_; }
  int64_t null_count() const { return null_count_; }
  bool has_nulls() const { return null_count_ > 0; }
  bool IsValid(int64_t i) const { return validity_.empty() || bits::Get(validity_bits(), i); }
  bool IsNull(int64_t i) const { return !IsValid(i); }

  const Buffer& validity() const { return validity_; }
  const Buffer& values() const { return values_; }
  const Buffer& offsets() const { return offsets_; }
  const std::shared_ptr<const Column>& dictionary() const { return dictionary_; }
  /// A category column whose dictionary is its frame's categories, one for
  /// every partition (pandas' categories; Dask's "known" categories, from
  /// DataFrame::categorize). Subsets (Take, Filter, Split) keep the whole
  /// dictionary rather than the labels they use, and concatenating parts
  /// that share it copies their codes. False for every other column.
  bool categories_known() const { return known_; }
  /// This string or category column as a category column over
  /// `categories` (distinct labels, no nulls), its categories known; nulls
  /// stay null. Error naming the row and label of a value that is not
  /// among the categories, or a label listed twice; TypeError for other
  /// types.
  Column WithCategories(const std::shared_ptr<const Column>& categories) const;
  /// Each row's string hashed (nulls as ""), computed on first use and
  /// kept with the column, its copies and the categories sharing it: a
  /// dictionary's labels are hashed once, not per partition and query.
  /// Thread-safe. Error for a column that is not a string column.
  std::shared_ptr<const std::vector<uint64_t>> StringHashes() const;
  /// The first row holding string `s` (-1: none), through a hash index
  /// built on first use and kept like StringHashes (a categories column is
  /// indexed once for every partition recoded to it). Thread-safe. Error
  /// for a column that is not a string column.
  int64_t IndexOf(std::string_view s) const;
  /// The first row whose string repeats an earlier row's (-1: all distinct;
  /// nulls count as ""), from the same index.
  int64_t FirstRepeat() const;
  /// The same labels: the same dictionary object, the same buffers, or
  /// equal lengths, offsets and bytes (string columns without nulls).
  static bool SameLabels(const Column& a, const Column& b);
  const uint8_t* validity_bits() const { return reinterpret_cast<const uint8_t*>(validity_.data()); }

  /// Fixed-width values as T (int64_t for timestamps, int32_t for dates and
  /// category codes); TypeError when T does not match the storage.
  template <class T>
  const T* data() const {
    CheckStorage(sizeof(T), std::is_floating_point_v<T>);
    return reinterpret_cast<const T*>(values_.data());
  }
  bool BoolAt(int64_t i) const { return bits::Get(reinterpret_cast<const uint8_t*>(values_.data()), i); }
  const int32_t* string_offsets() const { return reinterpret_cast<const int32_t*>(offsets_.data()); }
  /// String (or category label) of row i; "" for a null.
  std::string_view StringAt(int64_t i) const;
  /// Row i as a double (numeric, bool, timestamp, date); NaN for a null.
  double NumberAt(int64_t i) const;
  /// Row i as pandas prints it ("NaN"/"<NA>"/"NaT" for nulls).
  std::string Format(int64_t i) const;

  /// Rows [offset, offset + length). An eighth of the rows or more share
  /// this column's bytes (no copy); fewer are copied, so as not to keep a
  /// large parent alive, and so are categories (see Take).
  Column Slice(int64_t offset, int64_t length) const;
  /// Rows at `indices` (any order, repeats allowed; -1 gives a null), copied.
  Column Take(std::span<const int64_t> indices) const;
  Column Take(const std::vector<int64_t>& indices) const { return Take(std::span<const int64_t>(indices)); }
  /// Rows where `mask` (a bool column, nulls false) is true.
  Column Filter(const Column& mask) const;
  /// The rows dealt out to `parts` columns: row i goes to part `part[i]`
  /// (Error if not below `parts`), rows keep their order (a shuffle's map
  /// side). Fixed-width values are scattered in one pass over the rows;
  /// strings, categories and bools are taken part by part.
  std::vector<Column> Split(std::span<const uint32_t> part, size_t parts) const;
  /// A category column decoded to strings; other columns as they are.
  Column Decoded() const;
  /// Rows of several columns of one type, in order, copied once (category
  /// columns get one merged dictionary). TypeError naming both types when
  /// they differ.
  static Column Concat(const std::vector<const Column*>& parts);

  /// A bound on an integer column's valid values (int64, int32, timestamp,
  /// date): lo <= v <= hi for each. Known when the column was built value
  /// by value (ColumnBuilder, which the readers use) and kept by Take,
  /// Slice, Filter and Concat of bounded parts; empty otherwise. A bound,
  /// not always the exact range: a subset of rows keeps its parent's.
  /// Group-by reads it (through IntRange) to size a direct table without a
  /// pass over the keys (as DuckDB's perfect-hash aggregate reads its
  /// segment statistics).
  struct IntBounds {
    int64_t lo, hi;
  };
  const std::optional<IntBounds>& int_bounds() const { return bounds_; }
  /// int_bounds() where known, else the exact range of the valid values,
  /// found by one pass the first time it is asked. A column of 4096 rows or
  /// more keeps it, and its copies share it (a stored partition is scanned
  /// once, not once per query: columns that came over the wire have no
  /// bound). nullopt for other types and for columns without a valid value.
  std::optional<IntBounds> IntRange() const;

  /// Element bytes plus the object (memory accounting).
  size_t nbytes() const;
  /// A category column without nulls whose `length` codes the caller has
  /// already checked to lie within `dictionary` (CodesWithin): Make without
  /// its scan of the codes, for a caller that checked them while they were
  /// in cache (the concatenation of lent partitions, as it copies them).
  static Column FromCheckedCodes(int64_t length, Buffer codes, std::shared_ptr<const Column> dictionary,
                                 bool categories_known);
  /// Whether each of the `n` codes is in [0, labels).
  static bool CodesWithin(const int32_t* codes, int64_t n, int64_t labels);

  /// Same type, length, nulls and values (NaN equals NaN).
  bool Equals(const Column& other) const;
  friend bool operator==(const Column& a, const Column& b) { return a.Equals(b); }

 private:
  // Make, with the scan of every category code against the dictionary
  // only where `scan_codes`: Take, Split and Concat move codes already
  // checked against the same dictionary (the scans were 5% of q10).
  static Column Build(TypeId type, int64_t length, Buffer validity, Buffer values, Buffer offsets,
                      std::shared_ptr<const Column> dictionary, bool categories_known, bool scan_codes);
  void CheckStorage(size_t width, bool floating) const;
  // Rows per part of `part` (one part number per row of `rows`), checking
  // its length and each number; `what` names the caller in errors.
  static std::vector<int64_t> CountParts(std::span<const uint32_t> part, int64_t rows, size_t parts, const char* what);
  // Split once `part` is known to hold `counts[p]` rows of each part p.
  std::vector<Column> SplitCounted(std::span<const uint32_t> part, std::span<const int64_t> counts) const;

  TypeId type_ = TypeId::kInt64;
  int64_t length_ = 0;
  int64_t null_count_ = 0;
  Buffer validity_, values_, offsets_;
  std::shared_ptr<const Column> dictionary_;
  bool known_ = false;  // categories_known()
  mutable std::shared_ptr<const std::vector<uint64_t>> hashes_;  // StringHashes(), once computed
  struct StringIndex;
  const StringIndex& Index() const;
  mutable std::shared_ptr<const StringIndex> index_;  // IndexOf(), once built
  std::optional<IntBounds> bounds_;
  struct RangeMemo;
  std::shared_ptr<RangeMemo> range_memo_;  // IntRange() once computed (Make gives large integer columns one)
  // bounds_, or the memo's range if it was computed: what subsets and
  // concatenations keep without a pass.
  std::optional<IntBounds> KnownBounds() const;
  friend class ColumnBuilder;
  friend class Table;  // Table::Split counts the parts once for all its columns
};

/// Appends values of one type and builds a Column. Not thread-safe.
class ColumnBuilder {
 public:
  explicit ColumnBuilder(TypeId type, int64_t reserve = 0);
  TypeId type() const { return type_; }
  int64_t length() const { return length_; }

  void AppendNull();
  template <class T>
  void Append(T v) {
    EnsureValid();
    if constexpr (std::is_integral_v<T>) {  // the column's int_bounds()
      lo_ = std::min<int64_t>(lo_, v);
      hi_ = std::max<int64_t>(hi_, v);
    }
    std::memcpy(Grow(sizeof(T)), &v, sizeof(T));
  }
  void AppendBool(bool v);
  void AppendString(std::string_view s);
  Column Finish();

 private:
  // Called per value: inline, with the rare part (a validity bitmap exists
  // once a null was appended) out of line.
  std::byte* Grow(size_t width) {
    ++length_;
    return values_.Append(width);
  }
  void EnsureValid() {
    if (!validity_.empty()) SetValidBit();
  }
  void SetValidBit();
  void PushOffset(int32_t at);
  int32_t LastOffset() const;

  TypeId type_;
  int64_t length_ = 0, null_count_ = 0;
  int64_t lo_ = INT64_MAX, hi_ = INT64_MIN;  // of the integers appended
  std::vector<uint8_t> validity_;  // only once a null was appended
  // Pool memory (a column of a million rows is megabytes: grown in place
  // and handed to the Column without a copy).
  BufferBuilder values_;
  BufferBuilder offsets_;  // int32 string offsets, starting with 0
};

/// Builds a category column: each string is looked up in (or added to) the
/// dictionary, in first-seen order, and only its code is stored. Not
/// thread-safe.
class CategoryBuilder {
 public:
  explicit CategoryBuilder(int64_t reserve = 0);
  void Append(std::string_view s) {
    if (waiting_) Flush();
    codes_.Append(Intern(s));
  }
  void AppendNull() {
    if (waiting_) Flush();
    codes_.AppendNull();
  }
  /// Append(s), with the table's cache misses overlapped across rows: the
  /// row is interned a few rows later (readers of many rows with many
  /// labels spent most of their interning time waiting on memory), so `s`
  /// must stay valid until Flush(). Rows keep their order with the other
  /// appends, which flush first, as do Finish() and TakeDictionary().
  void AppendSoon(std::string_view s);
  void AppendNullSoon();
  /// Interns the rows AppendSoon left waiting.
  void Flush();
  int64_t length() const { return codes_.length() + waiting_; }
  /// The code of `s` in the dictionary, adding it if new (no row appended).
  int32_t Intern(std::string_view s);
  /// Interns every label of the string column `dict`, writing its codes
  /// to `codes` (dict.length() of them). Same result as
  /// Intern per label, with the table's cache misses overlapped: merging
  /// the 80k-label dictionaries of a shuffle's pieces spent ~260 ns per
  /// label waiting on memory.
  void InternAll(const Column& dict, int32_t* codes);
  /// Room for `labels` distinct labels of `bytes` bytes in all, so that
  /// interning that many grows no table on the way.
  void ReserveLabels(int64_t labels, int64_t bytes);
  /// The dictionary so far, as a string column (the builder is then reset).
  std::shared_ptr<const Column> TakeDictionary();
  Column Finish();

 private:
  std::string_view Label(int32_t code) const {
    return {bytes_.data() + offsets_[static_cast<size_t>(code)],
            static_cast<size_t>(offsets_[static_cast<size_t>(code) + 1] - offsets_[static_cast<size_t>(code)])};
  }

  void Rehash(size_t size);  // `size` slots (a power of two), entries kept
  int32_t InternHashed(std::string_view s, uint32_t h);

  // AppendSoon's rows, oldest at `first_`: each waits kWait rows, its
  // slot prefetched when it comes, its label's offset kOffsetAt rows later
  // and its bytes kBytesAt rows later (a null has len kNull).
  static constexpr int kWait = 16, kOffsetAt = 6, kBytesAt = 11;
  // Tables of up to this many slots (16 KiB) are probed at once instead.
  static constexpr size_t kDirectSlots = 2048;
  static constexpr uint32_t kNull = UINT32_MAX;
  struct Waiting {
    const char* data;
    uint32_t len, hash;
  };
  void Prefetch(int age);  // the next stage of the row `age` rows old
  Waiting waiting_rows_[kWait];
  int first_ = 0, waiting_ = 0;

  ColumnBuilder codes_;
  std::string bytes_;                 // the labels, back to back
  std::vector<int32_t> offsets_{0};   // label k is bytes_[offsets_[k], offsets_[k + 1])
  // Open addressing, one word per slot so a probe touches one cache line:
  // the label's hash in the high half, code + 1 in the low (0: empty).
  std::vector<uint64_t> slots_;
};

template <class T>
Column Column::FromVector(const std::vector<T>& values, const std::vector<bool>& valid) {
  TypeId t = std::is_same_v<T, int64_t>   ? TypeId::kInt64
             : std::is_same_v<T, int32_t> ? TypeId::kInt32
             : std::is_same_v<T, double>  ? TypeId::kFloat64
                                          : TypeId::kFloat32;
  static_assert(std::is_same_v<T, int64_t> || std::is_same_v<T, int32_t> || std::is_same_v<T, double> ||
                std::is_same_v<T, float>);
  ColumnBuilder b(t, static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) {
    if (!valid.empty() && !valid[i]) b.AppendNull();
    else b.Append(values[i]);
  }
  return b.Finish();
}

}  // namespace skein
