// CSV: a quote-aware tokenizer, per-column converters into Arrow-layout
// columns, type inference from the first rows, block planning at row
// boundaries, and the writer (see csv.h). Blocks without quotes or '\r'
// (most) parse on a fast path that hands each field to its column where
// it lies; anything it cannot take goes back through the tokenizer.
#include "skein/io/csv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "dataframe/dates_internal.h"
#include "file_internal.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace skein {

namespace {

using io::internal::File;

// One field of a record: text bytes [begin, end), and whether it was quoted
// with doubled quotes inside (it then needs unescaping).
struct RawField {
  const char* begin;
  const char* end;
  bool escaped;
  std::string_view view() const { return {begin, static_cast<size_t>(end - begin)}; }
};

[[noreturn]] void Fail(const std::string& file, int64_t line, const std::string& what) {
  throw LineError("CSV", file, line, what);
}

// Calls on_row(fields, line) for each record of `text`. Blank lines are
// skipped (as pandas does). A record may span lines inside quotes.
template <class OnRow>
void Tokenize(std::string_view text, const CsvOptions& opt, const std::string& file, int64_t first_line,
              OnRow&& on_row) {
  const char* p = text.data();
  const char* const end = p + text.size();
  const char delim = opt.delimiter, quote = opt.quote;
  std::vector<RawField> fields;
  int64_t line = first_line;
  while (p < end) {
    if (*p == '\n' || *p == '\r') {  // blank line
      if (*p == '\r' && p + 1 < end && p[1] == '\n') ++p;
      ++p;
      if (line > 0) ++line;
      continue;
    }
    fields.clear();
    const int64_t record_line = line;
    int64_t extra_lines = 0;
    for (;;) {
      if (p < end && *p == quote) {
        const char* start = ++p;
        bool escaped = false;
        for (;;) {
          const char* q = static_cast<const char*>(std::memchr(p, quote, static_cast<size_t>(end - p)));
          if (!q) Fail(file, record_line, "a quoted field is never closed");
          extra_lines += std::count(p, q, '\n');
          p = q + 1;
          if (p < end && *p == quote) {
            escaped = true;
            ++p;
            continue;
          }
          fields.push_back({start, q, escaped});
          break;
        }
        if (p < end && *p == delim) {
          ++p;
          continue;
        }
        if (p < end && *p != '\n' && *p != '\r') {
          Fail(file, record_line, "unexpected character '" + std::string(1, *p) + "' after a closing quote in field " +
                                      std::to_string(fields.size()));
        }
        break;
      }
      const char* start = p;
      while (p < end && *p != delim && *p != '\n' && *p != '\r') ++p;
      fields.push_back({start, p, false});
      if (p < end && *p == delim) {
        ++p;
        continue;
      }
      break;
    }
    if (p < end && *p == '\r') ++p;
    if (p < end && *p == '\n') ++p;
    on_row(fields, record_line);
    if (line > 0) line += 1 + extra_lines;
  }
}

std::string Unescape(const RawField& f, char quote) {
  std::string s;
  s.reserve(static_cast<size_t>(f.end - f.begin));
  for (const char* c = f.begin; c < f.end; ++c) {
    s += *c;
    if (*c == quote && c + 1 < f.end && c[1] == quote) ++c;
  }
  return s;
}

bool ParseInt(std::string_view s, int64_t* out) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b < e && *b == '+') ++b;
  const bool negative = b < e && *b == '-';
  // Up to 18 digits cannot overflow: a digit loop, inlined into the reader
  // (the fields of a typical file are a few digits). Longer ones, where
  // overflow must be caught, go through from_chars.
  const char* digits = b + negative;
  if (digits < e && e - digits <= 18) {
    uint64_t v = 0;
    for (const char* c = digits; c < e; ++c) {
      const unsigned d = static_cast<unsigned char>(*c) - unsigned{'0'};
      if (d > 9) return false;
      v = v * 10 + d;
    }
    *out = negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
    return true;
  }
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e && b != e;
}

bool ParseDouble(std::string_view s, double* out) {
  const char* b = s.data();
  const char* e = b + s.size();
  if (b < e && *b == '+') ++b;
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e && b != e;
}

bool ParseBool(std::string_view s, bool* out) {
  if (s == "True" || s == "true" || s == "TRUE") return *out = true, true;
  if (s == "False" || s == "false" || s == "FALSE") return *out = false, true;
  return false;
}

// The null markers, with a filter in front of the comparison: a field is
// compared only when some marker starts with its first character and has
// its length. Most fields ("id042", "3.25", "17") are rejected by one load.
class NaSet {
 public:
  explicit NaSet(const std::vector<std::string>& values) {
    for (const auto& v : values) {
      if (v.empty()) {
        has_empty_ = true;
        continue;
      }
      lengths_[static_cast<unsigned char>(v[0])] |= uint64_t{1} << std::min<size_t>(v.size(), 63);
      values_.push_back(v);
    }
  }
  bool Contains(std::string_view s) const {
    if (s.empty()) return has_empty_;
    if (!(lengths_[static_cast<unsigned char>(s[0])] >> std::min<size_t>(s.size(), 63) & 1)) return false;
    return std::find(values_.begin(), values_.end(), s) != values_.end();
  }

 private:
  std::vector<std::string> values_;
  uint64_t lengths_[256] = {};  // per first character, a bit per length (63: longer)
  bool has_empty_ = false;
};

// Appends one column's fields, converting each to the column's type.
class Converter {
 public:
  Converter(const std::string& name, TypeId type, const NaSet& na, int64_t reserve)
      : name_(name), type_(type), na_(na), builder_(type == TypeId::kCategory ? TypeId::kString : type,
                                                   type == TypeId::kCategory ? 0 : reserve),
        category_(type == TypeId::kCategory ? reserve : 0) {}

  void Add(const RawField& f, char quote, const std::string& file, int64_t line) {
    std::string unescaped;
    std::string_view s = f.view();
    if (f.escaped) s = unescaped = Unescape(f, quote);
    if (!AddText(s, /*in_text=*/!f.escaped)) {
      Fail(file, line, "column '" + name_ + "': '" + std::string(s.substr(0, 64)) + "' is not a valid " +
                           std::string(TypeName(type_)) + " (force another type with dtype)");
    }
  }

  /// Appends the field `s`; false (nothing appended) where it does not
  /// convert to the column's type. `in_text`: `s` points into the text,
  /// which outlives this converter.
  bool AddText(std::string_view s, bool in_text) {
    if (na_.Contains(s)) {
      if (type_ == TypeId::kCategory) category_.AppendNullSoon();
      else builder_.AppendNull();
      return true;
    }
    if (type_ == TypeId::kCategory) {
      // A field in the text can wait to be interned; an unescaped copy cannot.
      if (in_text) category_.AppendSoon(s);
      else category_.Append(s);
      return true;
    }
    if (type_ == TypeId::kString) {
      builder_.AppendString(s);
      return true;
    }
    bool ok = false;
    switch (type_) {
      case TypeId::kInt64: {
        int64_t v;
        if ((ok = ParseInt(s, &v))) builder_.Append(v);
        break;
      }
      case TypeId::kInt32: {
        int64_t v;
        if ((ok = ParseInt(s, &v) && v >= std::numeric_limits<int32_t>::min() &&
                  v <= std::numeric_limits<int32_t>::max())) {
          builder_.Append(static_cast<int32_t>(v));
        }
        break;
      }
      case TypeId::kFloat64: {
        double v;
        if ((ok = ParseDouble(s, &v))) builder_.Append(v);
        break;
      }
      case TypeId::kFloat32: {
        double v;
        if ((ok = ParseDouble(s, &v))) builder_.Append(static_cast<float>(v));
        break;
      }
      case TypeId::kBool: {
        bool v;
        if ((ok = ParseBool(s, &v))) builder_.AppendBool(v);
        break;
      }
      case TypeId::kTimestamp: {
        int64_t v;
        if ((ok = dates::ParseTimestamp(s, &v))) builder_.Append(v);
        break;
      }
      case TypeId::kDate: {
        int32_t v;
        if ((ok = dates::ParseDate(s, &v))) builder_.Append(v);
        break;
      }
      default: break;
    }
    return ok;
  }

  Column Finish() { return type_ == TypeId::kCategory ? category_.Finish() : builder_.Finish(); }

 private:
  const std::string& name_;
  TypeId type_;
  const NaSet& na_;
  ColumnBuilder builder_;
  CategoryBuilder category_;
};

// Follows the tokenizer's quoting rules byte by byte, to find where rows
// end without parsing them: a quote opens a quoted field only at a field's
// start, "" inside one is a quote, and a lone quote closes it.
class RowScanner {
 public:
  RowScanner(char delim, char quote) : delim_(delim), quote_(quote) {}
  /// Consumes `c`; true when it ends a row (a newline outside quotes).
  bool Step(char c) {
    if (c == '\r' && state_ != kQuoted) {  // a row end to the tokenizer, never a block boundary
      state_ = kFieldStart;
      return false;
    }
    switch (state_) {
      case kFieldStart:
        if (c == quote_) state_ = kQuoted;
        else if (c == '\n') return true;
        else if (c != delim_) state_ = kUnquoted;
        return false;
      case kUnquoted:
        if (c == delim_) state_ = kFieldStart;
        else if (c == '\n') return state_ = kFieldStart, true;
        return false;
      case kQuoted:
        if (c == quote_) state_ = kQuoteInQuoted;
        return false;
      case kQuoteInQuoted:
        if (c == quote_) state_ = kQuoted;
        else if (c == delim_) state_ = kFieldStart;
        else if (c == '\n') return state_ = kFieldStart, true;
        else state_ = kUnquoted;
        return false;
    }
    return false;
  }

 private:
  enum State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted } state_ = kFieldStart;
  char delim_, quote_;
};

// Where the first row ends (just past its newline).
size_t HeaderEnd(std::string_view text, const CsvOptions& opt) {
  RowScanner scan(opt.delimiter, opt.quote);
  for (size_t i = 0; i < text.size(); ++i) {
    if (scan.Step(text[i])) return i + 1;
  }
  return text.size();
}

std::vector<std::string> HeaderNames(std::string_view text, const CsvOptions& opt, const std::string& file,
                                     size_t* data_start) {
  std::vector<std::string> names;
  if (!opt.header) {
    *data_start = 0;
    names = opt.names;
    if (names.empty()) {
      // As many columns as the first row has.
      size_t n = 0;
      Tokenize(text.substr(0, HeaderEnd(text, opt)), opt, file, 1,
               [&](const std::vector<RawField>& f, int64_t) { n = std::max(n, f.size()); });
      for (size_t i = 0; i < n; ++i) names.push_back(std::to_string(i));
    }
    return names;
  }
  *data_start = HeaderEnd(text, opt);
  Tokenize(text.substr(0, *data_start), opt, file, 1, [&](const std::vector<RawField>& fields, int64_t) {
    if (!names.empty()) return;
    for (const RawField& f : fields) names.push_back(f.escaped ? Unescape(f, opt.quote) : std::string(f.view()));
  });
  if (names.empty()) Fail(file, 1, "no header line (the file is empty)");
  if (!opt.names.empty()) {
    if (opt.names.size() != names.size()) {
      Fail(file, 1, "names gives " + std::to_string(opt.names.size()) + " columns, the header has " +
                        std::to_string(names.size()));
    }
    names = opt.names;
  }
  std::unordered_set<std::string> seen;
  for (const auto& n : names) {
    if (!seen.insert(n).second) Fail(file, 1, "column '" + n + "' appears twice in the header");
  }
  return names;
}

TypeId InferType(const std::vector<std::string>& values, bool dates) {
  bool any = false, all_int = true, all_num = true, all_bool = true, all_date = true, all_ts = true;
  for (const auto& s : values) {
    any = true;
    int64_t i;
    double d;
    bool b;
    int32_t day;
    int64_t ns;
    all_int = all_int && ParseInt(s, &i);
    all_num = all_num && ParseDouble(s, &d);
    all_bool = all_bool && ParseBool(s, &b);
    all_date = all_date && dates::ParseDate(s, &day);
    all_ts = all_ts && dates::ParseTimestamp(s, &ns);
  }
  if (!any) return dates ? TypeId::kTimestamp : TypeId::kFloat64;
  if (dates && all_date) return TypeId::kDate;
  if (dates && all_ts) return TypeId::kTimestamp;
  if (all_int) return TypeId::kInt64;
  if (all_num) return TypeId::kFloat64;
  if (all_bool) return TypeId::kBool;
  return TypeId::kString;
}

}  // namespace

CsvSchema InferCsvSchema(std::string_view text, const CsvOptions& opt, const std::string& file) {
  if (opt.delimiter == opt.quote || opt.delimiter == '\n' || opt.delimiter == '\r') {
    throw Error("read_csv: the delimiter must differ from the quote character and newlines");
  }
  CsvSchema schema;
  size_t data_start;
  schema.names = HeaderNames(text, opt, file, &data_start);
  const size_t n = schema.names.size();
  for (const auto& [name, type] : opt.dtype) {
    if (std::find(schema.names.begin(), schema.names.end(), name) == schema.names.end()) {
      Fail(file, 0, "dtype names column '" + name + "', which is not in the file");
    }
  }
  for (const auto& name : opt.usecols) {
    if (std::find(schema.names.begin(), schema.names.end(), name) == schema.names.end()) {
      Fail(file, 0, "usecols names column '" + name + "', which is not in the file");
    }
  }
  for (const auto& name : opt.parse_dates) {
    if (std::find(schema.names.begin(), schema.names.end(), name) == schema.names.end()) {
      Fail(file, 0, "parse_dates names column '" + name + "', which is not in the file");
    }
  }
  // Sample: the first sample_rows rows.
  std::string_view body = text.substr(data_start);
  NaSet na(opt.na_values);
  std::vector<std::vector<std::string>> samples(n);
  int64_t rows = 0;
  struct Stop {};
  try {
    Tokenize(body, opt, file, 2, [&](const std::vector<RawField>& fields, int64_t line) {
      if (rows++ >= opt.sample_rows) throw Stop{};
      if (fields.size() != n) {
        Fail(file, line, "expected " + std::to_string(n) + " fields, found " + std::to_string(fields.size()));
      }
      for (size_t c = 0; c < n; ++c) {
        std::string v = fields[c].escaped ? Unescape(fields[c], opt.quote) : std::string(fields[c].view());
        if (!na.Contains(v)) samples[c].push_back(std::move(v));
      }
    });
  } catch (const Stop&) {
  }
  std::vector<bool> used(n, opt.usecols.empty());
  for (const auto& name : opt.usecols) {
    used[static_cast<size_t>(std::find(schema.names.begin(), schema.names.end(), name) - schema.names.begin())] = true;
  }
  for (size_t c = 0; c < n; ++c) {
    if (!used[c]) continue;
    const std::string& name = schema.names[c];
    auto forced = opt.dtype.find(name);
    const bool dates = std::find(opt.parse_dates.begin(), opt.parse_dates.end(), name) != opt.parse_dates.end();
    TypeId t = forced != opt.dtype.end() ? forced->second : InferType(samples[c], dates);
    schema.fields.push_back({name, t});
    schema.source_index.push_back(static_cast<int>(c));
  }
  return schema;
}

namespace {

// Where the field starting at `p` ends: at the first `delim` or newline, or
// at `end`. Sixteen bytes at a time where that many remain: one compare
// finds the end of a short field without a branch per byte.
const char* FieldEnd(const char* p, const char* end, char delim) {
#ifdef __SSE2__
  const __m128i d = _mm_set1_epi8(delim), nl = _mm_set1_epi8('\n');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const auto m = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, nl))));
    if (m) return p + __builtin_ctz(m);
    p += 16;
  }
#endif
  while (p < end && *p != delim && *p != '\n') ++p;
  return p;
}

// One pass over a block: how many newlines it holds (for the builders'
// first allocation), and whether it holds a quote character or '\r' (then
// only the general tokenizer will do).
struct BlockShape {
  int64_t newlines = 0;
  bool quotes_or_cr = false;
};
BlockShape ShapeOf(std::string_view text, char quote) {
  BlockShape shape;
  const char* p = text.data();
  const char* const end = p + text.size();
#ifdef __SSE2__
  // Newlines are counted in byte lanes (a match is -1: subtracting it adds
  // one), summed into the total every 255 rounds, before a lane can wrap.
  // This file is built for any x86-64, where a popcount is a library call.
  const __m128i nl = _mm_set1_epi8('\n'), q = _mm_set1_epi8(quote), cr = _mm_set1_epi8('\r');
  const __m128i zero = _mm_setzero_si128();
  __m128i special = zero, lanes = zero;
  auto add_lanes = [&] {
    const __m128i sums = _mm_sad_epu8(lanes, zero);  // two 64-bit sums of eight lanes each
    shape.newlines += _mm_cvtsi128_si64(sums) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums));
    lanes = zero;
  };
  for (int rounds = 0; end - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    lanes = _mm_sub_epi8(lanes, _mm_cmpeq_epi8(v, nl));
    special = _mm_or_si128(special, _mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, cr)));
    if (++rounds == 255) {
      add_lanes();
      rounds = 0;
    }
  }
  add_lanes();
  shape.quotes_or_cr = _mm_movemask_epi8(special) != 0;
#endif
  for (; p < end; ++p) {
    shape.newlines += *p == '\n';
    shape.quotes_or_cr |= *p == quote || *p == '\r';
  }
  return shape;
}

// The parse of a block without quotes or carriage returns, which is most
// blocks: a field is the text up to the next delimiter or newline, handed
// to its converter where it lies, with no record of fields in between.
// False where a row has another number of fields or a value does not
// convert; the converters are then half-filled, and the caller parses the
// block again the general way, which names the row and column.
bool ParseUnquoted(std::string_view text, char delim, const std::vector<int>& slot, std::vector<Converter>& conv,
                   int64_t* rows) {
  const size_t n = slot.size();
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    if (*p == '\n') {  // blank line
      ++p;
      continue;
    }
    for (size_t c = 0; c < n; ++c) {
      const char* f = FieldEnd(p, end, delim);
      // Every field but the last ends at a delimiter; the last at a newline.
      if (c + 1 < n ? f == end || *f != delim : f < end && *f != '\n') return false;
      if (slot[c] >= 0 && !conv[static_cast<size_t>(slot[c])].AddText({p, static_cast<size_t>(f - p)}, true)) {
        return false;
      }
      p = f < end ? f + 1 : end;
    }
    ++*rows;
  }
  return true;
}

}  // namespace

Table ParseCsv(std::string_view text, const CsvSchema& schema, const CsvOptions& opt, const std::string& file,
               int64_t first_line) {
  const size_t n = schema.names.size();
  NaSet na(opt.na_values);
  const BlockShape shape = ShapeOf(text, opt.quote);
  const int64_t guess = shape.newlines + 1;  // rows, roughly
  std::vector<int> slot(n, -1);  // file column -> converter
  for (size_t k = 0; k < schema.fields.size(); ++k) slot[static_cast<size_t>(schema.source_index[k])] = static_cast<int>(k);
  std::vector<Converter> conv;
  auto make_converters = [&] {
    conv.clear();
    conv.reserve(schema.fields.size());
    for (const Field& f : schema.fields) conv.emplace_back(f.name, f.type, na, guess);
  };
  make_converters();
  int64_t rows = 0;
  const bool unquoted = !shape.quotes_or_cr && opt.delimiter != '\n' && opt.delimiter != '\r';
  if (!unquoted || !ParseUnquoted(text, opt.delimiter, slot, conv, &rows)) {
    make_converters();
    rows = 0;
    Tokenize(text, opt, file, first_line, [&](const std::vector<RawField>& fields, int64_t line) {
      if (fields.size() != n) {
        Fail(file, line, "expected " + std::to_string(n) + " fields, found " + std::to_string(fields.size()));
      }
      for (size_t c = 0; c < n; ++c) {
        if (slot[c] >= 0) conv[static_cast<size_t>(slot[c])].Add(fields[c], opt.quote, file, line);
      }
      ++rows;
    });
  }
  std::vector<std::pair<std::string, Column>> cols;
  for (size_t k = 0; k < conv.size(); ++k) cols.emplace_back(schema.fields[k].name, conv[k].Finish());
  if (cols.empty()) return Table::Empty(rows);
  return Table(std::move(cols));
}

namespace {

// A read-only mapping of a whole file (planning scans it once; mapping it
// avoids copying hundreds of megabytes).
class Mapped {
 public:
  explicit Mapped(const std::string& path) {
    File f = File::OpenRead(path);
    size_ = static_cast<size_t>(f.Size());
    if (size_ == 0) return;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IOError("CSV '" + path + "': cannot open: " + std::strerror(errno));
    data_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (data_ == MAP_FAILED) {
      data_ = nullptr;
      throw IOError("CSV '" + path + "': cannot map: " + std::strerror(errno));
    }
    ::madvise(data_, size_, MADV_SEQUENTIAL);
  }
  ~Mapped() {
    if (data_) ::munmap(data_, size_);
  }
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
  std::string_view view() const { return {static_cast<const char*>(data_), size_}; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

std::vector<CsvBlock> PlanCsvBlocks(const std::string& path, const CsvOptions& opt) {
  Mapped file(path);
  const std::string_view text = file.view();
  size_t start = opt.header ? HeaderEnd(text, opt) : 0;
  const int64_t blocksize = std::max<int64_t>(opt.blocksize, 1);
  const bool quotes = !text.empty() && std::memchr(text.data(), opt.quote, text.size()) != nullptr;
  std::vector<CsvBlock> blocks;
  size_t at = start;
  RowScanner scan(opt.delimiter, opt.quote);
  size_t scanned = start;  // the scanner has consumed text up to here
  while (at < text.size()) {
    size_t target = std::min(text.size(), at + static_cast<size_t>(blocksize));
    size_t cut = text.size();
    if (target < text.size()) {
      if (!quotes) {
        const void* nl = std::memchr(text.data() + target, '\n', text.size() - target);
        cut = nl ? static_cast<size_t>(static_cast<const char*>(nl) - text.data()) + 1 : text.size();
      } else {
        for (; scanned < text.size(); ++scanned) {
          if (scan.Step(text[scanned]) && scanned + 1 >= target) break;
        }
        cut = std::min(text.size(), scanned + 1);
        scanned = cut;
      }
    }
    // The first block's line is known; the rest are counted on an error.
    const int64_t line = blocks.empty() ? (opt.header ? 2 : 1) : 0;
    blocks.push_back({path, static_cast<int64_t>(at), static_cast<int64_t>(cut), line});
    at = cut;
  }
  if (blocks.empty()) blocks.push_back({path, static_cast<int64_t>(start), static_cast<int64_t>(start), opt.header ? 2 : 1});
  return blocks;
}

LineError::LineError(std::string kind, std::string file, int64_t line, std::string detail)
    : IOError(kind + " '" + file + "'" + (line > 0 ? ", line " + std::to_string(line) : std::string()) + ": " + detail),
      kind_(std::move(kind)),
      file_(std::move(file)),
      detail_(std::move(detail)),
      line_(line) {}

int64_t LineAt(const std::string& path, int64_t offset) {
  Mapped file(path);
  const std::string_view text = file.view();
  const auto end = static_cast<size_t>(std::clamp<int64_t>(offset, 0, static_cast<int64_t>(text.size())));
  return 1 + std::count(text.data(), text.data() + end, '\n');
}

Table ParseCsvFile(const std::string& path, const CsvOptions& opt) {
  File f = File::OpenRead(path);
  const int64_t size = f.Size();
  std::string text(static_cast<size_t>(size), '\0');
  if (size) f.ReadAt(0, text.data(), size);
  CsvSchema schema = InferCsvSchema(text, opt, path);
  size_t start = opt.header ? HeaderEnd(text, opt) : 0;
  return ParseCsv(std::string_view(text).substr(start), schema, opt, path, opt.header ? 2 : 1);
}

// ---- writer -----------------------------------------------------------------

namespace {

void AppendCell(std::string* out, const Column& c, int64_t i, char delim) {
  if (c.IsNull(i)) return;
  char buf[64];
  switch (c.type()) {
    case TypeId::kFloat64:
    case TypeId::kFloat32: {
      const double v = c.NumberAt(i);
      if (std::isnan(v)) return;
      auto r = c.type() == TypeId::kFloat64 ? std::to_chars(buf, buf + sizeof buf, v)
                                           : std::to_chars(buf, buf + sizeof buf, c.data<float>()[i]);
      out->append(buf, r.ptr);
      return;
    }
    case TypeId::kString:
    case TypeId::kCategory: {
      std::string_view s = c.StringAt(i);
      const bool quote = s.find_first_of(std::string("\"\r\n") + delim) != std::string_view::npos ||
                         (!s.empty() && (s.front() == ' ' || s.back() == ' '));
      if (!quote) {
        out->append(s);
        return;
      }
      *out += '"';
      for (char ch : s) {
        if (ch == '"') *out += '"';
        *out += ch;
      }
      *out += '"';
      return;
    }
    default: out->append(c.Format(i));
  }
}

}  // namespace

std::string FormatCsv(const Table& t, bool header, char delimiter) {
  std::string out;
  if (header) {
    for (int c = 0; c < t.num_columns(); ++c) {
      if (c) out += delimiter;
      Column names = Column::FromStrings({t.names()[static_cast<size_t>(c)]});
      AppendCell(&out, names, 0, delimiter);
    }
    out += '\n';
  }
  for (int64_t i = 0; i < t.num_rows(); ++i) {
    for (int c = 0; c < t.num_columns(); ++c) {
      if (c) out += delimiter;
      AppendCell(&out, t.column(c), i, delimiter);
    }
    out += '\n';
  }
  return out;
}

void WriteCsv(const std::string& path, const Table& table, char delimiter) {
  io::internal::WriteFileAtomically(path, FormatCsv(table, true, delimiter));
}

}  // namespace skein
