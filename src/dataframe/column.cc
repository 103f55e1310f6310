// Columns: construction, checks, element access, slicing and gathering
// (see column.h).
#include "skein/dataframe/column.h"

#include "skein/core/memory_pool.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <limits>
#include <mutex>
#include <unordered_map>

#include "dates_internal.h"
#include "hash_internal.h"

namespace skein {

std::string_view TypeName(TypeId t) {
  switch (t) {
    case TypeId::kInt64: return "int64";
    case TypeId::kInt32: return "int32";
    case TypeId::kFloat64: return "float64";
    case TypeId::kFloat32: return "float32";
    case TypeId::kBool: return "bool";
    case TypeId::kString: return "string";
    case TypeId::kTimestamp: return "datetime64[ns]";
    case TypeId::kDate: return "date32";
    case TypeId::kCategory: return "category";
  }
  return "?";
}

TypeId TypeFromCode(uint8_t code, std::string_view what) {
  if (code > static_cast<uint8_t>(TypeId::kCategory)) {
    throw SerializationError(std::string(what) + ": unknown type code " + std::to_string(code));
  }
  return static_cast<TypeId>(code);
}

TypeId TypeFromName(std::string_view n) {
  for (TypeId t : {TypeId::kInt64, TypeId::kInt32, TypeId::kFloat64, TypeId::kFloat32, TypeId::kBool, TypeId::kString,
                   TypeId::kTimestamp, TypeId::kDate, TypeId::kCategory}) {
    if (n == TypeName(t)) return t;
  }
  if (n == "str" || n == "object") return TypeId::kString;
  if (n == "timestamp" || n == "datetime") return TypeId::kTimestamp;
  if (n == "date") return TypeId::kDate;
  throw TypeError("unknown column type '" + std::string(n) +
                  "' (int64, int32, float64, float32, bool, string, datetime64[ns], date32, category)");
}

size_t FixedWidth(TypeId t) {
  switch (t) {
    case TypeId::kInt64:
    case TypeId::kFloat64:
    case TypeId::kTimestamp: return 8;
    case TypeId::kInt32:
    case TypeId::kFloat32:
    case TypeId::kDate:
    case TypeId::kCategory: return 4;
    default: return 0;
  }
}
bool IsInteger(TypeId t) { return t == TypeId::kInt64 || t == TypeId::kInt32; }
bool IsFloating(TypeId t) { return t == TypeId::kFloat64 || t == TypeId::kFloat32; }
bool IsNumeric(TypeId t) { return IsInteger(t) || IsFloating(t); }

namespace {

int64_t CountNulls(const Buffer& validity, int64_t length) {
  if (validity.empty()) return 0;
  const auto* b = reinterpret_cast<const uint8_t*>(validity.data());
  int64_t valid = 0;
  const int64_t whole = length / 8;
  for (int64_t i = 0; i < whole; ++i) valid += std::popcount(static_cast<unsigned>(b[i]));
  for (int64_t i = whole * 8; i < length; ++i) valid += bits::Get(b, i);
  return length - valid;
}

std::string Short(const char* what, TypeId t, int64_t length, size_t have, size_t need) {
  return std::string("column of ") + std::string(TypeName(t)) + " with " + std::to_string(length) + " rows: " + what +
         " buffer has " + std::to_string(have) + " bytes, needs " + std::to_string(need);
}

}  // namespace

// ---- integer ranges --------------------------------------------------------------

struct Column::RangeMemo {
  std::once_flag once;
  std::atomic<bool> done{false};
  std::optional<IntBounds> range;
};

namespace {

constexpr int64_t kRangeMemoRows = 4096;

// The least and greatest valid value (nullopt: none valid). Without nulls
// a branch-free pass (it vectorizes).
template <class T>
std::optional<Column::IntBounds> RangeOf(const T* v, int64_t n, const uint8_t* valid) {
  int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
  if (!valid) {
    T l = std::numeric_limits<T>::max(), h = std::numeric_limits<T>::min();
    for (int64_t i = 0; i < n; ++i) {
      l = std::min(l, v[i]);
      h = std::max(h, v[i]);
    }
    if (n) lo = l, hi = h;
  } else {
    for (int64_t i = 0; i < n; ++i) {
      if (!bits::Get(valid, i)) continue;
      lo = std::min<int64_t>(lo, v[i]);
      hi = std::max<int64_t>(hi, v[i]);
    }
  }
  if (lo > hi) return std::nullopt;
  return Column::IntBounds{lo, hi};
}

}  // namespace

std::optional<Column::IntBounds> Column::KnownBounds() const {
  if (bounds_) return bounds_;
  if (range_memo_ && range_memo_->done.load(std::memory_order_acquire)) return range_memo_->range;
  return std::nullopt;
}

std::optional<Column::IntBounds> Column::IntRange() const {
  if (bounds_) return bounds_;
  if (!(IsInteger(type_) || type_ == TypeId::kTimestamp || type_ == TypeId::kDate)) return std::nullopt;
  auto compute = [&] {
    const uint8_t* valid = null_count_ ? validity_bits() : nullptr;
    return FixedWidth(type_) == 8 ? RangeOf(reinterpret_cast<const int64_t*>(values_.data()), length_, valid)
                                  : RangeOf(reinterpret_cast<const int32_t*>(values_.data()), length_, valid);
  };
  if (!range_memo_) return compute();
  RangeMemo& m = *range_memo_;
  std::call_once(m.once, [&] {
    m.range = compute();
    m.done.store(true, std::memory_order_release);
  });
  return m.range;
}

Column Column::Make(TypeId type, int64_t length, Buffer validity, Buffer values, Buffer offsets,
                    std::shared_ptr<const Column> dictionary, bool categories_known) {
  return Build(type, length, std::move(validity), std::move(values), std::move(offsets), std::move(dictionary),
               categories_known, /*scan_codes=*/true);
}

Column Column::Build(TypeId type, int64_t length, Buffer validity, Buffer values, Buffer offsets,
                     std::shared_ptr<const Column> dictionary, bool categories_known, bool scan_codes) {
  if (length < 0) throw Error("column: negative length " + std::to_string(length));
  // Sizes below are products of the length: a lying one must not wrap them.
  if (length > (int64_t{1} << 56)) throw Error("column: implausible length " + std::to_string(length));
  Column c;
  c.type_ = type;
  c.length_ = length;
  const size_t n = static_cast<size_t>(length);
  if (!validity.empty() && validity.size() < static_cast<size_t>(bits::Bytes(length))) {
    throw Error(Short("validity", type, length, validity.size(), static_cast<size_t>(bits::Bytes(length))));
  }
  if (type == TypeId::kString) {
    if (offsets.size() < (n + 1) * 4) throw Error(Short("offsets", type, length, offsets.size(), (n + 1) * 4));
    const auto* o = reinterpret_cast<const int32_t*>(offsets.data());
    if (o[0] < 0 || o[n] < o[0] || static_cast<size_t>(o[n]) > values.size()) {
      throw Error("string column with " + std::to_string(length) + " rows: offsets run from " + std::to_string(o[0]) +
                  " to " + std::to_string(o[n]) + " over " + std::to_string(values.size()) + " bytes");
    }
    // A branch-free pass (it vectorizes); the row is looked for only when
    // something is wrong.
    bool decrease = false;
    for (size_t i = 0; i < n; ++i) decrease |= o[i + 1] < o[i];
    for (size_t i = 0; decrease && i < n; ++i) {
      if (o[i + 1] < o[i]) throw Error("string column: offsets decrease at row " + std::to_string(i));
    }
  } else if (type == TypeId::kBool) {
    if (values.size() < static_cast<size_t>(bits::Bytes(length))) {
      throw Error(Short("values", type, length, values.size(), static_cast<size_t>(bits::Bytes(length))));
    }
  } else if (values.size() < n * FixedWidth(type)) {
    throw Error(Short("values", type, length, values.size(), n * FixedWidth(type)));
  }
  if (type == TypeId::kCategory) {
    if (!dictionary || dictionary->type() != TypeId::kString) {
      throw Error("category column needs a dictionary of strings");
    }
    const auto* codes = reinterpret_cast<const int32_t*>(values.data());
    const auto* vb = reinterpret_cast<const uint8_t*>(validity.data());
    // Every code, null or not, in range is the common case: checked by a
    // branch-free pass; rows are looked at one by one only otherwise.
    const auto labels = static_cast<uint32_t>(dictionary->length());
    bool outside = false;
    for (size_t i = 0; scan_codes && i < n; ++i) outside |= static_cast<uint32_t>(codes[i]) >= labels;
    for (size_t i = 0; outside && i < n; ++i) {
      if ((validity.empty() || bits::Get(vb, static_cast<int64_t>(i))) &&
          (codes[i] < 0 || codes[i] >= dictionary->length())) {
        throw Error("category column: code " + std::to_string(codes[i]) + " at row " + std::to_string(i) +
                    " is outside its dictionary of " + std::to_string(dictionary->length()));
      }
    }
  }
  if ((IsInteger(type) || type == TypeId::kTimestamp || type == TypeId::kDate) && length >= kRangeMemoRows) {
    c.range_memo_ = std::make_shared<RangeMemo>();
  }
  c.null_count_ = CountNulls(validity, length);
  c.validity_ = c.null_count_ ? std::move(validity) : Buffer();
  c.values_ = std::move(values);
  c.offsets_ = std::move(offsets);
  c.dictionary_ = std::move(dictionary);
  c.known_ = categories_known && type == TypeId::kCategory;
  return c;
}

Column Column::FromCheckedCodes(int64_t length, Buffer codes, std::shared_ptr<const Column> dictionary,
                                bool categories_known) {
  return Build(TypeId::kCategory, length, Buffer(), std::move(codes), Buffer(), std::move(dictionary), categories_known,
               /*scan_codes=*/false);
}

bool Column::CodesWithin(const int32_t* codes, int64_t n, int64_t labels) {
  if (labels > std::numeric_limits<int32_t>::max()) {  // no int32 code reaches it
    for (int64_t i = 0; i < n; ++i) {
      if (codes[i] < 0) return false;
    }
    return true;
  }
  const auto bound = static_cast<uint32_t>(std::max<int64_t>(labels, 0));
  bool outside = false;  // branch-free: it vectorizes
  for (int64_t i = 0; i < n; ++i) outside |= static_cast<uint32_t>(codes[i]) >= bound;
  return !outside;
}

Column Column::FromStrings(const std::vector<std::optional<std::string>>& values) {
  ColumnBuilder b(TypeId::kString, static_cast<int64_t>(values.size()));
  for (const auto& v : values) {
    if (v) b.AppendString(*v);
    else b.AppendNull();
  }
  return b.Finish();
}

Column Column::FromBools(const std::vector<std::optional<bool>>& values) {
  ColumnBuilder b(TypeId::kBool, static_cast<int64_t>(values.size()));
  for (const auto& v : values) {
    if (v) b.AppendBool(*v);
    else b.AppendNull();
  }
  return b.Finish();
}

Column Column::Nulls(TypeId type, int64_t length) {
  if (type == TypeId::kCategory) {
    ColumnBuilder codes(TypeId::kCategory, length);
    for (int64_t i = 0; i < length; ++i) codes.AppendNull();
    Column c = codes.Finish();
    return Make(TypeId::kCategory, length, c.validity_, c.values_, {},
                std::make_shared<const Column>(Column::FromStrings({})));
  }
  ColumnBuilder b(type, length);
  for (int64_t i = 0; i < length; ++i) b.AppendNull();
  return b.Finish();
}

void Column::CheckStorage(size_t width, bool floating) const {
  const bool ok = FixedWidth(type_) == width && IsFloating(type_) == floating && type_ != TypeId::kString &&
                  type_ != TypeId::kBool;
  if (!ok) {
    throw TypeError("column of type " + std::string(TypeName(type_)) + " read as " +
                    (floating ? "float" : "int") + std::to_string(width * 8));
  }
}

std::string_view Column::StringAt(int64_t i) const {
  if (type_ == TypeId::kCategory) {
    if (IsNull(i)) return {};
    return dictionary_->StringAt(reinterpret_cast<const int32_t*>(values_.data())[i]);
  }
  if (type_ != TypeId::kString) throw TypeError("StringAt on a column of " + std::string(TypeName(type_)));
  const int32_t* o = string_offsets();
  return {reinterpret_cast<const char*>(values_.data()) + o[i], static_cast<size_t>(o[i + 1] - o[i])};
}

double Column::NumberAt(int64_t i) const {
  if (IsNull(i)) return std::numeric_limits<double>::quiet_NaN();
  switch (type_) {
    case TypeId::kInt64:
    case TypeId::kTimestamp: return static_cast<double>(reinterpret_cast<const int64_t*>(values_.data())[i]);
    case TypeId::kInt32:
    case TypeId::kDate: return reinterpret_cast<const int32_t*>(values_.data())[i];
    case TypeId::kFloat64: return reinterpret_cast<const double*>(values_.data())[i];
    case TypeId::kFloat32: return reinterpret_cast<const float*>(values_.data())[i];
    case TypeId::kBool: return BoolAt(i) ? 1 : 0;
    default: throw TypeError("column of " + std::string(TypeName(type_)) + " is not numeric");
  }
}

std::string Column::Format(int64_t i) const {
  if (IsNull(i)) {
    if (IsFloating(type_)) return "NaN";
    if (type_ == TypeId::kTimestamp || type_ == TypeId::kDate) return "NaT";
    return "<NA>";
  }
  switch (type_) {
    case TypeId::kInt64: return std::to_string(data<int64_t>()[i]);
    case TypeId::kInt32: return std::to_string(data<int32_t>()[i]);
    case TypeId::kFloat64:
    case TypeId::kFloat32: {
      const double v = NumberAt(i);
      if (std::isnan(v)) return "NaN";
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.6g", v);
      std::string s = buf;
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
      return s;
    }
    case TypeId::kBool: return BoolAt(i) ? "True" : "False";
    case TypeId::kString:
    case TypeId::kCategory: return std::string(StringAt(i));
    case TypeId::kTimestamp: return dates::FormatTimestamp(data<int64_t>()[i]);
    case TypeId::kDate: return dates::FormatDate(data<int32_t>()[i]);
  }
  return "?";
}

Column Column::Slice(int64_t offset, int64_t length) const {
  if (offset < 0 || length < 0 || offset > length_ || length > length_ - offset) {
    throw Error("column slice [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
                ") is outside its " + std::to_string(length_) + " rows");
  }
  // An eighth of the rows or more: the slice shares this column's bytes
  // (a shuffle cutting a partial laid out by part copies nothing). Smaller
  // slices are copied, so that a few rows do not keep a large parent
  // alive; categories are taken too (Take trims a dictionary that is not
  // known to the labels the rows use).
  if (length > 0 && length * 8 >= length_ && type_ != TypeId::kCategory &&
      (type_ != TypeId::kBool || offset % 8 == 0)) {
    Buffer validity;
    if (has_nulls()) {
      std::byte* w;
      validity = Buffer::Allocate(static_cast<size_t>(bits::Bytes(length)), &w);
      for (int64_t i = 0; i < length; ++i) {
        if (IsValid(offset + i)) bits::Set(reinterpret_cast<uint8_t*>(w), i);
      }
    }
    if (type_ == TypeId::kString) {
      const int32_t* o = string_offsets() + offset;
      std::byte* w;
      Buffer offsets = Buffer::AllocateUninitialized(static_cast<size_t>(length + 1) * 4, &w);
      auto* no = reinterpret_cast<int32_t*>(w);
      for (int64_t i = 0; i <= length; ++i) no[i] = o[i] - o[0];
      Buffer bytes = values_.Slice(static_cast<size_t>(o[0]), static_cast<size_t>(o[length] - o[0]));
      return Make(type_, length, std::move(validity), std::move(bytes), std::move(offsets));
    }
    if (type_ == TypeId::kBool) {
      return Make(type_, length, std::move(validity),
                  values_.Slice(static_cast<size_t>(offset / 8), static_cast<size_t>(bits::Bytes(length))));
    }
    const size_t width = FixedWidth(type_);
    Column out = Make(type_, length, std::move(validity),
                      values_.Slice(static_cast<size_t>(offset) * width, static_cast<size_t>(length) * width));
    out.bounds_ = KnownBounds();  // a subset of the rows: the bound still holds
    return out;
  }
  std::vector<int64_t> idx(static_cast<size_t>(length));
  for (int64_t i = 0; i < length; ++i) idx[static_cast<size_t>(i)] = offset + i;
  return Take(idx);
}

Column Column::Take(std::span<const int64_t> wanted) const {
  const int64_t n = static_cast<int64_t>(wanted.size());
  bool missing = false;
  for (int64_t i : wanted) {
    if (i == -1) {
      missing = true;
    } else if (i < 0 || i >= length_) {
      throw Error("column take: row " + std::to_string(i) + " is outside its " + std::to_string(length_) + " rows");
    }
  }
  if (missing && length_ == 0) return Nulls(type_, n);
  // Rows of -1 read row 0 and are marked null.
  PoolVector<int64_t> clamped;
  if (missing) {
    clamped.assign(wanted.begin(), wanted.end());
    for (int64_t& i : clamped) i = std::max<int64_t>(i, 0);
  }
  const std::span<const int64_t> indices = missing ? std::span<const int64_t>(clamped) : wanted;
  Buffer validity;
  if (has_nulls() || missing) {
    std::byte* w;
    validity = Buffer::Allocate(static_cast<size_t>(bits::Bytes(n)), &w);
    auto* vb = reinterpret_cast<uint8_t*>(w);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = wanted[static_cast<size_t>(k)];
      if (i >= 0 && IsValid(i)) bits::Set(vb, k);
    }
  }
  if (type_ == TypeId::kString) {
    const int32_t* o = string_offsets();
    int64_t total = 0;
    for (int64_t i : indices) total += o[i + 1] - o[i];
    if (total > std::numeric_limits<int32_t>::max()) throw Error("column take: more than 2 GiB of strings");
    std::byte *wo, *wv;
    Buffer offsets = Buffer::AllocateUninitialized(static_cast<size_t>(n + 1) * 4, &wo);
    Buffer values = Buffer::AllocateUninitialized(static_cast<size_t>(total), &wv);
    auto* no = reinterpret_cast<int32_t*>(wo);
    int32_t at = 0;
    no[0] = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = indices[static_cast<size_t>(k)];
      const int32_t len = o[i + 1] - o[i];
      if (len) std::memcpy(wv + at, values_.data() + o[i], static_cast<size_t>(len));
      at += len;
      no[k + 1] = at;
    }
    return Make(type_, n, std::move(validity), std::move(values), std::move(offsets));
  }
  std::byte* w;
  if (type_ == TypeId::kBool) {
    Buffer values = Buffer::Allocate(static_cast<size_t>(bits::Bytes(n)), &w);
    auto* vb = reinterpret_cast<uint8_t*>(w);
    for (int64_t k = 0; k < n; ++k) {
      if (BoolAt(indices[static_cast<size_t>(k)])) bits::Set(vb, k);
    }
    return Make(type_, n, std::move(validity), std::move(values));
  }
  const size_t width = FixedWidth(type_);
  Buffer values = Buffer::AllocateUninitialized(static_cast<size_t>(n) * width, &w);  // every row written below
  if (type_ == TypeId::kCategory && !known_ && n < 4 * dictionary_->length()) {
    // Rows that may use few of the dictionary's labels (a shuffle's piece
    // uses about 1/split_out of them): renumber the codes in first-seen
    // order, and keep only the labels used when that drops a quarter or
    // more, so that later merges (concat, shuffles) and transfers do not
    // carry the whole dictionary. The labels are distinct already: copied,
    // never hashed. (Known categories stay whole: every partition shares
    // them, so merges copy codes.)
    PoolVector<int32_t> remap(static_cast<size_t>(dictionary_->length()), -1);
    std::vector<int64_t> used;
    const int32_t* src = data<int32_t>();
    auto* dst = reinterpret_cast<int32_t*>(w);
    const bool nulls = has_nulls();
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = indices[static_cast<size_t>(k)];
      if (nulls && IsNull(i)) {
        dst[k] = 0;
        continue;
      }
      int32_t& r = remap[static_cast<size_t>(src[i])];
      if (r < 0) {
        r = static_cast<int32_t>(used.size());
        used.push_back(src[i]);
      }
      dst[k] = r;
    }
    if (static_cast<int64_t>(used.size()) * 4 <= dictionary_->length() * 3) {
      return Make(type_, n, std::move(validity), std::move(values), {},
                  std::make_shared<const Column>(dictionary_->Take(used)));
    }
    for (int64_t k = 0; k < n; ++k) dst[k] = src[indices[static_cast<size_t>(k)]];  // most labels used: keep them all
    return Build(type_, n, std::move(validity), std::move(values), {}, dictionary_, false, /*scan_codes=*/false);
  }
  if (width == 8) {
    const auto* src = reinterpret_cast<const uint64_t*>(values_.data());
    auto* dst = reinterpret_cast<uint64_t*>(w);
    for (int64_t k = 0; k < n; ++k) dst[k] = src[indices[static_cast<size_t>(k)]];
  } else {
    const auto* src = reinterpret_cast<const uint32_t*>(values_.data());
    auto* dst = reinterpret_cast<uint32_t*>(w);
    for (int64_t k = 0; k < n; ++k) dst[k] = src[indices[static_cast<size_t>(k)]];
  }
  Column out = Build(type_, n, std::move(validity), std::move(values), {}, dictionary_, known_, /*scan_codes=*/false);
  out.bounds_ = KnownBounds();  // a subset of the rows: the bound still holds
  return out;
}

Column Column::Filter(const Column& mask) const {
  if (mask.type() != TypeId::kBool) throw TypeError("filter mask must be bool, got " + std::string(TypeName(mask.type())));
  if (mask.length() != length_) {
    throw Error("filter mask has " + std::to_string(mask.length()) + " rows, the column " + std::to_string(length_));
  }
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < length_; ++i) {
    if (mask.IsValid(i) && mask.BoolAt(i)) idx.push_back(i);
  }
  return Take(idx);
}

std::vector<int64_t> Column::CountParts(std::span<const uint32_t> part, int64_t rows, size_t parts, const char* what) {
  if (static_cast<int64_t>(part.size()) != rows) {
    throw Error(std::string(what) + " split: " + std::to_string(part.size()) + " part numbers for " +
                std::to_string(rows) + " rows");
  }
  std::vector<int64_t> counts(parts, 0);
  for (uint32_t p : part) {
    if (p >= parts) throw Error(std::string(what) + " split: part " + std::to_string(p) + " of " + std::to_string(parts));
    ++counts[p];
  }
  return counts;
}

std::vector<Column> Column::Split(std::span<const uint32_t> part, size_t parts) const {
  return SplitCounted(part, CountParts(part, length_, parts, "column"));
}

std::vector<Column> Column::SplitCounted(std::span<const uint32_t> part, std::span<const int64_t> counts) const {
  const size_t parts = counts.size();
  std::vector<Column> out;
  out.reserve(parts);
  if (type_ == TypeId::kString || (type_ == TypeId::kCategory && !known_) || type_ == TypeId::kBool) {
    std::vector<PoolVector<int64_t>> rows(parts);
    for (size_t p = 0; p < parts; ++p) rows[p].reserve(static_cast<size_t>(counts[p]));
    for (int64_t i = 0; i < length_; ++i) rows[part[static_cast<size_t>(i)]].push_back(i);
    for (const auto& r : rows) out.push_back(Take(std::span<const int64_t>(r.data(), r.size())));
    return out;
  }
  // Fixed width (and the codes of known categories, whose dictionary every
  // part keeps): every value written once, to the next slot of its part.
  const size_t width = FixedWidth(type_);
  std::vector<Buffer> values(parts), validity(parts);
  std::vector<std::byte*> dst(parts);
  std::vector<uint8_t*> bits_out(parts, nullptr);
  for (size_t p = 0; p < parts; ++p) {
    values[p] = Buffer::AllocateUninitialized(static_cast<size_t>(counts[p]) * width, &dst[p]);
    if (has_nulls()) {
      std::byte* w;
      validity[p] = Buffer::Allocate(static_cast<size_t>(bits::Bytes(counts[p])), &w);
      bits_out[p] = reinterpret_cast<uint8_t*>(w);
    }
  }
  auto scatter = [&]<class T>(T) {
    std::vector<T*> at(parts);
    for (size_t p = 0; p < parts; ++p) at[p] = reinterpret_cast<T*>(dst[p]);
    const T* src = reinterpret_cast<const T*>(values_.data());
    for (int64_t i = 0; i < length_; ++i) *at[part[static_cast<size_t>(i)]]++ = src[i];
  };
  if (width == 8) scatter(uint64_t{});
  else scatter(uint32_t{});
  if (has_nulls()) {
    std::vector<int64_t> at(parts, 0);
    for (int64_t i = 0; i < length_; ++i) {
      const uint32_t p = part[static_cast<size_t>(i)];
      if (IsValid(i)) bits::Set(bits_out[p], at[p]);
      ++at[p];
    }
  }
  for (size_t p = 0; p < parts; ++p) {
    Column c = Build(type_, counts[p], std::move(validity[p]), std::move(values[p]), {}, dictionary_, known_,
                     /*scan_codes=*/false);
    c.bounds_ = KnownBounds();  // subsets of the rows: the bound still holds
    out.push_back(std::move(c));
  }
  return out;
}

Column Column::Decoded() const {
  if (type_ != TypeId::kCategory) return *this;
  ColumnBuilder b(TypeId::kString, length_);
  for (int64_t i = 0; i < length_; ++i) {
    if (IsNull(i)) b.AppendNull();
    else b.AppendString(StringAt(i));
  }
  return b.Finish();
}

std::shared_ptr<const std::vector<uint64_t>> Column::StringHashes() const {
  if (type_ != TypeId::kString) throw TypeError("string hashes of a " + std::string(TypeName(type_)) + " column");
  auto h = std::atomic_load(&hashes_);
  if (h) return h;
  auto made = std::make_shared<std::vector<uint64_t>>(static_cast<size_t>(length_));
  for (int64_t i = 0; i < length_; ++i) {
    (*made)[static_cast<size_t>(i)] = dataframe::internal::HashBytes(IsValid(i) ? StringAt(i) : std::string_view());
  }
  h = std::move(made);
  std::atomic_store(&hashes_, h);  // a racing thread stores the same hashes
  return h;
}

// Open addressing over the rows' StringHashes: per slot the hash's high
// half and row + 1 (0: empty), the load kept at or under one half.
struct Column::StringIndex {
  std::vector<uint64_t> slots;
  int64_t first_repeat = -1;
};

const Column::StringIndex& Column::Index() const {
  if (auto ix = std::atomic_load(&index_)) return *ix;
  if (length_ >= (int64_t{1} << 32) - 1) throw Error("string index: more than 2^32 rows");  // rows + 1 fit a slot's low half
  const auto hashes = StringHashes();
  auto made = std::make_shared<StringIndex>();
  made->slots.assign(std::bit_ceil(static_cast<size_t>(length_) * 2 + 2), 0);
  const size_t mask = made->slots.size() - 1;
  for (int64_t i = 0; i < length_; ++i) {
    const uint64_t h = (*hashes)[static_cast<size_t>(i)];
    const std::string_view s = IsValid(i) ? StringAt(i) : std::string_view();
    size_t p = h & mask;
    for (;; p = (p + 1) & mask) {
      const uint64_t slot = made->slots[p];
      if (slot == 0) break;
      const int64_t row = static_cast<int64_t>(slot & 0xffffffffu) - 1;
      if ((slot >> 32) == (h >> 32) && (IsValid(row) ? StringAt(row) : std::string_view()) == s) break;
    }
    if (made->slots[p] == 0) made->slots[p] = (h >> 32 << 32) | static_cast<uint64_t>(i + 1);
    else if (made->first_repeat < 0) made->first_repeat = i;
  }
  // Kept only if no racing thread kept one first: a kept index is never
  // replaced, so the reference returned stays valid as long as the column.
  std::shared_ptr<const StringIndex> kept;
  if (std::atomic_compare_exchange_strong(&index_, &kept, std::shared_ptr<const StringIndex>(std::move(made)))) {
    return *std::atomic_load(&index_);
  }
  return *kept;
}

int64_t Column::IndexOf(std::string_view s) const {
  if (type_ != TypeId::kString) throw TypeError("index of a " + std::string(TypeName(type_)) + " column");
  const StringIndex& ix = Index();
  const uint64_t h = dataframe::internal::HashBytes(s);
  const size_t mask = ix.slots.size() - 1;
  for (size_t p = h & mask;; p = (p + 1) & mask) {
    const uint64_t slot = ix.slots[p];
    if (slot == 0) return -1;
    const int64_t row = static_cast<int64_t>(slot & 0xffffffffu) - 1;
    if ((slot >> 32) == (h >> 32) && (IsValid(row) ? StringAt(row) : std::string_view()) == s) return row;
  }
}

int64_t Column::FirstRepeat() const {
  if (type_ != TypeId::kString) throw TypeError("index of a " + std::string(TypeName(type_)) + " column");
  return Index().first_repeat;
}

bool Column::SameLabels(const Column& a, const Column& b) {
  if (&a == &b) return true;
  if (a.type_ != TypeId::kString || b.type_ != TypeId::kString || a.length_ != b.length_) return false;
  if (a.has_nulls() || b.has_nulls()) return a.Equals(b);
  const int32_t *oa = a.string_offsets(), *ob = b.string_offsets();
  if (a.values_.data() == b.values_.data() && oa == ob) return true;
  const int64_t n = a.length_;
  const int32_t ba = oa[0], bb = ob[0];
  if (oa[n] - ba != ob[n] - bb) return false;
  bool differ = false;  // one branch-free pass over the offsets
  for (int64_t i = 1; i <= n; ++i) differ |= (oa[i] - ba) != (ob[i] - bb);
  return !differ && std::memcmp(a.values_.data() + ba, b.values_.data() + bb, static_cast<size_t>(oa[n] - ba)) == 0;
}

Column Column::WithCategories(const std::shared_ptr<const Column>& categories) const {
  if (!categories || categories->type() != TypeId::kString || categories->has_nulls()) {
    throw Error("categories must be a string column without nulls");
  }
  if (type_ != TypeId::kString && type_ != TypeId::kCategory) {
    throw TypeError("categories of a " + std::string(TypeName(type_)) + " column: only string and category columns have them");
  }
  if (type_ == TypeId::kCategory && SameLabels(*dictionary_, *categories)) {
    return Make(type_, length_, validity_, values_, {}, categories, true);
  }
  const int64_t ncat = categories->length();
  if (const int64_t twice = categories->FirstRepeat(); twice >= 0) {
    throw Error("categories: '" + std::string(categories->StringAt(twice)) + "' is listed twice (again at " +
                std::to_string(twice) + ")");
  }
  auto missing = [&](int64_t row) {
    throw Error("categories: '" + std::string(StringAt(row)) + "' at row " + std::to_string(row) + " is not among the " +
                std::to_string(ncat) + " categories");
  };
  std::byte* w;
  Buffer values = Buffer::AllocateUninitialized(static_cast<size_t>(length_) * 4, &w);
  auto* out = reinterpret_cast<int32_t*>(w);
  if (type_ == TypeId::kCategory) {
    const Column& dict = *dictionary_;
    std::vector<int32_t> remap(static_cast<size_t>(dict.length()));
    for (int64_t k = 0; k < dict.length(); ++k) {
      remap[static_cast<size_t>(k)] = static_cast<int32_t>(categories->IndexOf(dict.StringAt(k)));
    }
    const int32_t* codes = data<int32_t>();
    for (int64_t i = 0; i < length_; ++i) {
      if (IsNull(i)) {
        out[i] = 0;
        continue;
      }
      out[i] = remap[static_cast<size_t>(codes[i])];
      if (out[i] < 0) missing(i);
    }
  } else {
    for (int64_t i = 0; i < length_; ++i) {
      out[i] = IsNull(i) ? 0 : static_cast<int32_t>(categories->IndexOf(StringAt(i)));
      if (out[i] < 0) missing(i);
    }
  }
  return Make(TypeId::kCategory, length_, validity_, std::move(values), {}, categories, true);
}

Column Column::Concat(const std::vector<const Column*>& parts) {
  if (parts.empty()) throw Error("column concat: no columns");
  const TypeId type = parts[0]->type();
  int64_t n = 0;
  bool nulls = false;
  for (const Column* c : parts) {
    if (c->type() != type) {
      throw TypeError("column concat: " + std::string(TypeName(c->type())) + " after " + std::string(TypeName(type)));
    }
    n += c->length();
    nulls = nulls || c->has_nulls();
  }
  if (parts.size() == 1) return *parts[0];
  Buffer validity;
  if (nulls) {
    std::byte* w;
    validity = Buffer::Allocate(static_cast<size_t>(bits::Bytes(n)), &w);
    auto* vb = reinterpret_cast<uint8_t*>(w);
    int64_t at = 0;
    for (const Column* c : parts) {
      if (!c->has_nulls() && at % 8 == 0) {
        std::memset(vb + at / 8, 0xff, static_cast<size_t>(c->length() / 8));
        for (int64_t i = c->length() / 8 * 8; i < c->length(); ++i) bits::Set(vb, at + i);
      } else {
        for (int64_t i = 0; i < c->length(); ++i) {
          if (c->IsValid(i)) bits::Set(vb, at + i);
        }
      }
      at += c->length();
    }
  }
  std::byte* w;
  if (type == TypeId::kString) {
    int64_t bytes = 0;
    for (const Column* c : parts) bytes += c->string_offsets()[c->length()] - c->string_offsets()[0];
    if (bytes > std::numeric_limits<int32_t>::max()) throw Error("column concat: more than 2 GiB of strings");
    std::byte* wo;
    Buffer offsets = Buffer::AllocateUninitialized(static_cast<size_t>(n + 1) * 4, &wo);
    Buffer values = Buffer::AllocateUninitialized(static_cast<size_t>(bytes), &w);
    auto* o = reinterpret_cast<int32_t*>(wo);
    int64_t row = 0;
    int32_t at = 0;
    o[0] = 0;
    for (const Column* c : parts) {
      const int32_t* co = c->string_offsets();
      const int32_t base = co[0], len = co[c->length()] - co[0];
      if (len) std::memcpy(w + at, c->values().data() + base, static_cast<size_t>(len));
      for (int64_t i = 1; i <= c->length(); ++i) o[row + i] = at + co[i] - base;
      row += c->length();
      at += len;
    }
    return Make(type, n, std::move(validity), std::move(values), std::move(offsets));
  }
  if (type == TypeId::kBool) {
    Buffer values = Buffer::Allocate(static_cast<size_t>(bits::Bytes(n)), &w);
    int64_t at = 0;
    for (const Column* c : parts) {
      for (int64_t i = 0; i < c->length(); ++i) {
        if (c->BoolAt(i)) bits::Set(reinterpret_cast<uint8_t*>(w), at + i);
      }
      at += c->length();
    }
    return Make(type, n, std::move(validity), std::move(values));
  }
  const size_t width = FixedWidth(type);
  Buffer values = Buffer::AllocateUninitialized(static_cast<size_t>(n) * width, &w);  // every row written below
  if (type != TypeId::kCategory) {
    size_t at = 0;
    std::optional<IntBounds> bounds = parts[0]->KnownBounds();
    for (const Column* c : parts) {
      if (c->length()) std::memcpy(w + at, c->values().data(), static_cast<size_t>(c->length()) * width);
      at += static_cast<size_t>(c->length()) * width;
      const std::optional<IntBounds> b = c->KnownBounds();
      if (!b) bounds.reset();
      if (bounds) bounds = IntBounds{std::min(bounds->lo, b->lo), std::max(bounds->hi, b->hi)};
    }
    Column out = Make(type, n, std::move(validity), std::move(values));
    out.bounds_ = bounds;
    return out;
  }
  // Categories over one dictionary (known categories, or slices of one
  // column): the codes as they are.
  bool shared = true, known = true;
  for (const Column* c : parts) {
    shared = shared && Column::SameLabels(*c->dictionary(), *parts[0]->dictionary());
    known = known && c->known_;
  }
  if (shared) {
    size_t at = 0;
    for (const Column* c : parts) {
      if (c->length()) std::memcpy(w + at, c->values().data(), static_cast<size_t>(c->length()) * 4);
      at += static_cast<size_t>(c->length()) * 4;
    }
    return Build(type, n, std::move(validity), std::move(values), {}, parts[0]->dictionary(), known,
                 /*scan_codes=*/false);
  }
  // Otherwise one dictionary (labels in first-seen order), codes remapped.
  // Sized for the largest part's dictionary: parts of one shuffle usually
  // carry about the same labels.
  CategoryBuilder labels;
  {
    int64_t most = 0, most_bytes = 0;
    for (const Column* c : parts) {
      if (c->dictionary()->length() > most) {
        most = c->dictionary()->length();
        most_bytes = static_cast<int64_t>(c->dictionary()->values().size());
      }
    }
    labels.ReserveLabels(most, most_bytes);
  }
  auto* out = reinterpret_cast<int32_t*>(w);
  int64_t at = 0;
  std::vector<int32_t> remap;
  const Column* last_dict = nullptr;
  for (const Column* c : parts) {
    const Column& dict = *c->dictionary();
    if (&dict != last_dict) {
      remap.resize(static_cast<size_t>(dict.length()));
      labels.InternAll(dict, remap.data());
      last_dict = &dict;
    }
    const int32_t* codes = c->data<int32_t>();
    const int32_t* r = remap.data();
    if (c->has_nulls()) {
      for (int64_t i = 0; i < c->length(); ++i) out[at + i] = c->IsValid(i) ? r[codes[i]] : 0;
    } else {
      for (int64_t i = 0; i < c->length(); ++i) out[at + i] = r[codes[i]];
    }
    at += c->length();
  }
  return Make(type, n, std::move(validity), std::move(values), {}, labels.TakeDictionary());
}

size_t Column::nbytes() const {
  return sizeof(*this) + validity_.size() + values_.size() + offsets_.size() + (dictionary_ ? dictionary_->nbytes() : 0);
}

bool Column::Equals(const Column& o) const {
  if (type_ != o.type_ || length_ != o.length_ || null_count_ != o.null_count_) return false;
  for (int64_t i = 0; i < length_; ++i) {
    if (IsValid(i) != o.IsValid(i)) return false;
    if (IsNull(i)) continue;
    switch (type_) {
      case TypeId::kString:
      case TypeId::kCategory:
        if (StringAt(i) != o.StringAt(i)) return false;
        break;
      case TypeId::kFloat64:
      case TypeId::kFloat32: {
        const double a = NumberAt(i), b = o.NumberAt(i);
        if (!(a == b || (std::isnan(a) && std::isnan(b)))) return false;
        break;
      }
      case TypeId::kBool:
        if (BoolAt(i) != o.BoolAt(i)) return false;
        break;
      case TypeId::kInt64:
      case TypeId::kTimestamp:
        if (data<int64_t>()[i] != o.data<int64_t>()[i]) return false;
        break;
      default:
        if (data<int32_t>()[i] != o.data<int32_t>()[i]) return false;
    }
  }
  return true;
}

// ---- builder ----------------------------------------------------------------

ColumnBuilder::ColumnBuilder(TypeId type, int64_t reserve) : type_(type) {
  if (type == TypeId::kBool) values_.Reserve(static_cast<size_t>(bits::Bytes(reserve)));
  else if (type != TypeId::kString) values_.Reserve(static_cast<size_t>(reserve) * FixedWidth(type));
  if (type == TypeId::kString) {
    offsets_.Reserve((static_cast<size_t>(reserve) + 1) * 4);
    PushOffset(0);
  }
}

void ColumnBuilder::PushOffset(int32_t at) { std::memcpy(offsets_.Append(4), &at, 4); }

int32_t ColumnBuilder::LastOffset() const {
  int32_t at;
  std::memcpy(&at, offsets_.data() + offsets_.size() - 4, 4);
  return at;
}

void ColumnBuilder::SetValidBit() {
  if (static_cast<int64_t>(validity_.size()) < bits::Bytes(length_ + 1)) validity_.push_back(0);
  bits::Set(validity_.data(), length_);
}

void ColumnBuilder::AppendNull() {
  if (validity_.empty()) validity_.assign(static_cast<size_t>(bits::Bytes(length_ + 1)) + 1, 0xff);
  if (static_cast<int64_t>(validity_.size()) < bits::Bytes(length_ + 1)) validity_.push_back(0);
  bits::Clear(validity_.data(), length_);
  ++null_count_;
  if (type_ == TypeId::kString) {
    PushOffset(LastOffset());
    ++length_;
  } else if (type_ == TypeId::kBool) {
    if (static_cast<int64_t>(values_.size()) < bits::Bytes(length_ + 1)) *values_.Append(1) = std::byte{0};
    ++length_;
  } else {
    std::memset(Grow(FixedWidth(type_)), 0, FixedWidth(type_));
  }
}

void ColumnBuilder::AppendBool(bool v) {
  if (type_ != TypeId::kBool) throw TypeError("AppendBool to a column of " + std::string(TypeName(type_)));
  EnsureValid();
  if (static_cast<int64_t>(values_.size()) < bits::Bytes(length_ + 1)) *values_.Append(1) = std::byte{0};
  if (v) bits::Set(reinterpret_cast<uint8_t*>(values_.data()), length_);
  ++length_;
}

void ColumnBuilder::AppendString(std::string_view s) {
  if (type_ != TypeId::kString) throw TypeError("AppendString to a column of " + std::string(TypeName(type_)));
  EnsureValid();
  if (values_.size() + s.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw Error("string column: more than 2 GiB of strings in one partition");
  }
  std::byte* at = values_.Append(s.size());
  if (!s.empty()) std::memcpy(at, s.data(), s.size());
  PushOffset(static_cast<int32_t>(values_.size()));
  ++length_;
}

// ---- category builder ----------------------------------------------------------

namespace {
uint32_t HashLabel(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t v;
    std::memcpy(&v, s.data() + i, 8);
    h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
    h ^= h >> 29;
  }
  uint64_t v = 0;
  if (s.size() > i) std::memcpy(&v, s.data() + i, s.size() - i);
  // Finish with a full avalanche (murmur3's fmix64): keys like
  // "id0000012345" differ in a few bytes, and the table indexes by low bits.
  h ^= v;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return static_cast<uint32_t>(h);
}
}  // namespace

CategoryBuilder::CategoryBuilder(int64_t reserve) : codes_(TypeId::kCategory, reserve), slots_(256, 0) {}

namespace {
// Equal bytes, inline for the short labels typical of keys.
inline bool SameBytes(const char* a, const char* b, size_t n) {
  if (n <= 8) {
    uint64_t x = 0, y = 0;
    std::memcpy(&x, a, n);
    std::memcpy(&y, b, n);
    return x == y;
  }
  if (n <= 16) {
    uint64_t x0, y0, x1, y1;
    std::memcpy(&x0, a, 8);
    std::memcpy(&y0, b, 8);
    std::memcpy(&x1, a + n - 8, 8);
    std::memcpy(&y1, b + n - 8, 8);
    return x0 == y0 && x1 == y1;
  }
  return std::memcmp(a, b, n) == 0;
}
}  // namespace

int32_t CategoryBuilder::Intern(std::string_view s) { return InternHashed(s, HashLabel(s)); }

void CategoryBuilder::InternAll(const Column& dict, int32_t* codes) {
  const int64_t n = dict.length();
  if (n == 0) return;
  std::vector<uint32_t> hashes(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) hashes[static_cast<size_t>(k)] = HashLabel(dict.StringAt(k));
  // Two stages ahead: the slot a label hashes to, then (once that slot is
  // likely in cache) the offset of the label it holds. A rehash on the way
  // only makes some prefetches useless, never wrong.
  constexpr int64_t kSlotAhead = 16, kLabelAhead = 8;
  for (int64_t k = 0; k < n; ++k) {
    if (k + kSlotAhead < n) {
      const size_t mask = slots_.size() - 1;
      __builtin_prefetch(&slots_[hashes[static_cast<size_t>(k + kSlotAhead)] & mask]);
    }
    if (k + kLabelAhead < n) {
      const uint32_t h = hashes[static_cast<size_t>(k + kLabelAhead)];
      const uint64_t slot = slots_[h & (slots_.size() - 1)];
      if (slot != 0 && static_cast<uint32_t>(slot >> 32) == h) {
        const size_t code = static_cast<size_t>((slot & 0xffffffffu) - 1);
        __builtin_prefetch(&offsets_[code]);
      }
    }
    codes[k] = InternHashed(dict.StringAt(k), hashes[static_cast<size_t>(k)]);
  }
}

int32_t CategoryBuilder::InternHashed(std::string_view s, uint32_t h) {
  size_t mask = slots_.size() - 1, p = h & mask;
  for (;; p = (p + 1) & mask) {
    const uint64_t slot = slots_[p];
    if (slot == 0) break;
    if (static_cast<uint32_t>(slot >> 32) == h) {
      const auto code = static_cast<int32_t>((slot & 0xffffffffu) - 1);
      const int32_t begin = offsets_[static_cast<size_t>(code)], len = offsets_[static_cast<size_t>(code) + 1] - begin;
      if (static_cast<size_t>(len) == s.size() && SameBytes(bytes_.data() + begin, s.data(), s.size())) return code;
    }
  }
  const auto code = static_cast<int32_t>(offsets_.size() - 1);
  if (bytes_.size() + s.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw Error("category column: more than 2 GiB of distinct labels");
  }
  bytes_.append(s);
  offsets_.push_back(static_cast<int32_t>(bytes_.size()));
  slots_[p] = (static_cast<uint64_t>(h) << 32) | static_cast<uint32_t>(code + 1);
  if (offsets_.size() * 2 > slots_.size()) Rehash(slots_.size() * 2);  // keep the load under one half
  return code;
}

void CategoryBuilder::Rehash(size_t size) {
  std::vector<uint64_t> slots(size, 0);
  const size_t mask = size - 1;
  for (uint64_t slot : slots_) {
    if (slot == 0) continue;
    size_t q = (slot >> 32) & mask;
    while (slots[q] != 0) q = (q + 1) & mask;
    slots[q] = slot;
  }
  slots_.swap(slots);
}

void CategoryBuilder::ReserveLabels(int64_t labels, int64_t bytes) {
  if (labels <= 0) return;
  offsets_.reserve(offsets_.size() + static_cast<size_t>(labels));
  bytes_.reserve(bytes_.size() + static_cast<size_t>(std::max<int64_t>(bytes, 0)));
  const size_t want = std::bit_ceil((offsets_.size() + static_cast<size_t>(labels)) * 2);
  if (want > slots_.size()) Rehash(want);
}

void CategoryBuilder::AppendSoon(std::string_view s) {
  if (s.size() >= kNull) {  // never the case for a CSV field; keeps len < kNull
    Append(s);
    return;
  }
  const uint32_t h = HashLabel(s);
  if (slots_.size() <= kDirectSlots && waiting_ == 0) {
    // A table the first-level cache holds (a key of a hundred labels):
    // nothing to wait for, and the pipeline's bookkeeping would cost more
    // than the probe.
    codes_.Append(InternHashed(s, h));
    return;
  }
  __builtin_prefetch(&slots_[h & (slots_.size() - 1)]);
  if (waiting_ == kWait) {  // the oldest row's turn
    const Waiting& w = waiting_rows_[first_];
    if (w.len == kNull) codes_.AppendNull();
    else codes_.Append(InternHashed(std::string_view(w.data, w.len), w.hash));
    first_ = (first_ + 1) % kWait;
    --waiting_;
  }
  waiting_rows_[(first_ + waiting_) % kWait] = Waiting{s.data(), static_cast<uint32_t>(s.size()), h};
  ++waiting_;
  if (waiting_ > kOffsetAt) Prefetch(kOffsetAt);
  if (waiting_ > kBytesAt) Prefetch(kBytesAt);
}

void CategoryBuilder::AppendNullSoon() {
  if (waiting_ == 0) {
    codes_.AppendNull();
    return;
  }
  if (waiting_ == kWait) Flush();
  waiting_rows_[(first_ + waiting_) % kWait] = Waiting{nullptr, kNull, 0};
  ++waiting_;
}

void CategoryBuilder::Prefetch(int age) {
  const Waiting& w = waiting_rows_[(first_ + waiting_ - 1 - age) % kWait];
  if (w.len == kNull) return;
  const uint64_t slot = slots_[w.hash & (slots_.size() - 1)];
  if (slot == 0 || static_cast<uint32_t>(slot >> 32) != w.hash) return;  // new, or a collision: nothing to fetch
  const size_t code = static_cast<size_t>((slot & 0xffffffffu) - 1);
  if (age == kOffsetAt) __builtin_prefetch(&offsets_[code]);
  else __builtin_prefetch(bytes_.data() + offsets_[code]);
}

void CategoryBuilder::Flush() {
  // Reset first: the appends below must not flush again.
  int n = waiting_, at = first_;
  waiting_ = 0;
  first_ = 0;
  for (; n > 0; --n, at = (at + 1) % kWait) {
    const Waiting& w = waiting_rows_[at];
    if (w.len == kNull) codes_.AppendNull();
    else codes_.Append(InternHashed(std::string_view(w.data, w.len), w.hash));
  }
}

std::shared_ptr<const Column> CategoryBuilder::TakeDictionary() {
  Flush();
  const int64_t labels = static_cast<int64_t>(offsets_.size()) - 1;
  auto dict = std::make_shared<const Column>(Column::Make(TypeId::kString, labels, {}, Buffer(std::move(bytes_)),
                                                          Buffer::Copy(offsets_.data(), offsets_.size() * 4)));
  *this = CategoryBuilder();
  return dict;
}

Column CategoryBuilder::Finish() {
  Flush();
  Column codes = codes_.Finish();
  return Column::Make(TypeId::kCategory, codes.length(), codes.validity(), codes.values(), {}, TakeDictionary());
}

Column ColumnBuilder::Finish() {
  Buffer validity;
  if (null_count_) {
    validity_.resize(static_cast<size_t>(bits::Bytes(length_)));
    // Bits past the end are zero, as Arrow consumers expect of padding.
    for (int64_t i = length_; i < bits::Bytes(length_) * 8; ++i) bits::Clear(validity_.data(), i);
    validity = Buffer(std::vector<std::byte>(reinterpret_cast<std::byte*>(validity_.data()),
                                             reinterpret_cast<std::byte*>(validity_.data()) + validity_.size()));
  }
  Buffer offsets;
  if (type_ == TypeId::kString) offsets = offsets_.Finish();
  if (type_ == TypeId::kBool) values_.Resize(static_cast<size_t>(bits::Bytes(length_)));
  Column c = Column::Make(type_ == TypeId::kCategory ? TypeId::kInt32 : type_, length_, std::move(validity),
                          values_.Finish(), std::move(offsets));
  if (lo_ <= hi_ && (IsInteger(c.type()) || c.type() == TypeId::kTimestamp || c.type() == TypeId::kDate)) {
    c.bounds_ = Column::IntBounds{lo_, hi_};
  }
  *this = ColumnBuilder(type_);
  return c;
}

}  // namespace skein
