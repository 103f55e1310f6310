// Writing Parquet: one row group per `row_group_size` rows; per column a
// chunk of an optional dictionary page (strings, categories) and data
// pages of about `page_size` bytes, v1 or v2, compressed with the chosen
// codec; RLE definition levels (every column is OPTIONAL, as pandas
// writes them), min/max statistics, and a footer naming the column types
// (logical and converted) so other readers see strings, dates and
// nanosecond timestamps.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "codec.h"
#include "encoding.h"
#include "skein/io/parquet.h"
#include "io/file_internal.h"
#include "thrift_io.h"

namespace skein {

namespace format = io::parquet::format;
using io::parquet::ThriftWrite;

namespace {

using format::Encoding;

format::SchemaElement LeafFor(const Field& f) {
  format::SchemaElement e;
  e.__set_name(f.name);
  e.__set_repetition_type(format::FieldRepetitionType::OPTIONAL);
  format::LogicalType lt;
  switch (f.type) {
    case TypeId::kInt64: e.__set_type(format::Type::INT64); break;
    case TypeId::kInt32: e.__set_type(format::Type::INT32); break;
    case TypeId::kFloat64: e.__set_type(format::Type::DOUBLE); break;
    case TypeId::kFloat32: e.__set_type(format::Type::FLOAT); break;
    case TypeId::kBool: e.__set_type(format::Type::BOOLEAN); break;
    case TypeId::kString:
    case TypeId::kCategory:
      e.__set_type(format::Type::BYTE_ARRAY);
      e.__set_converted_type(format::ConvertedType::UTF8);
      lt.__set_STRING(format::StringType());
      e.__set_logicalType(lt);
      break;
    case TypeId::kTimestamp: {
      e.__set_type(format::Type::INT64);
      format::TimestampType ts;
      ts.__set_isAdjustedToUTC(false);
      format::TimeUnit unit;
      unit.__set_NANOS(format::NanoSeconds());
      ts.__set_unit(unit);
      lt.__set_TIMESTAMP(ts);
      e.__set_logicalType(lt);
      break;
    }
    case TypeId::kDate:
      e.__set_type(format::Type::INT32);
      e.__set_converted_type(format::ConvertedType::DATE);
      lt.__set_DATE(format::DateType());
      e.__set_logicalType(lt);
      break;
  }
  return e;
}

// Min and max of the valid values, PLAIN-encoded (strings as their bytes).
void SetStats(const Column& c, format::ColumnMetaData* m) {
  format::Statistics s;
  s.__set_null_count(c.null_count());
  const int64_t n = c.length();
  auto put = [&](const void* lo, const void* hi, size_t w) {
    s.__set_min_value(std::string(static_cast<const char*>(lo), w));
    s.__set_max_value(std::string(static_cast<const char*>(hi), w));
  };
  auto numbers = [&](auto* data) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(data)>>;
    std::optional<T> lo, hi;
    for (int64_t i = 0; i < n; ++i) {
      if (!c.IsValid(i)) continue;
      const T v = data[i];
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(v)) continue;
      }
      if (!lo || v < *lo) lo = v;
      if (!hi || v > *hi) hi = v;
    }
    if (lo) put(&*lo, &*hi, sizeof(T));
  };
  switch (c.type()) {
    case TypeId::kInt64:
    case TypeId::kTimestamp: numbers(c.data<int64_t>()); break;
    case TypeId::kInt32:
    case TypeId::kDate: numbers(c.data<int32_t>()); break;
    case TypeId::kFloat64: numbers(c.data<double>()); break;
    case TypeId::kFloat32: numbers(c.data<float>()); break;
    case TypeId::kBool: {
      std::optional<uint8_t> lo, hi;
      for (int64_t i = 0; i < n; ++i) {
        if (!c.IsValid(i)) continue;
        const uint8_t v = c.BoolAt(i);
        if (!lo || v < *lo) lo = v;
        if (!hi || v > *hi) hi = v;
      }
      if (lo) put(&*lo, &*hi, 1);
      break;
    }
    case TypeId::kString:
    case TypeId::kCategory: {
      std::optional<std::string_view> lo, hi;
      if (c.type() == TypeId::kCategory) {  // the labels in use
        const Column& dict = *c.dictionary();
        std::vector<uint8_t> used(static_cast<size_t>(dict.length()), 0);
        const int32_t* codes = c.data<int32_t>();
        for (int64_t i = 0; i < n; ++i) {
          if (c.IsValid(i)) used[static_cast<size_t>(codes[i])] = 1;
        }
        for (int64_t k = 0; k < dict.length(); ++k) {
          if (!used[static_cast<size_t>(k)]) continue;
          const std::string_view v = dict.StringAt(k);
          if (!lo || v < *lo) lo = v;
          if (!hi || v > *hi) hi = v;
        }
      } else {
        for (int64_t i = 0; i < n; ++i) {
          if (!c.IsValid(i)) continue;
          const std::string_view v = c.StringAt(i);
          if (!lo || v < *lo) lo = v;
          if (!hi || v > *hi) hi = v;
        }
      }
      // Long values would bloat the footer; readers then simply cannot skip.
      if (lo && lo->size() <= 256 && hi->size() <= 256) {
        s.__set_min_value(std::string(*lo));
        s.__set_max_value(std::string(*hi));
      }
      break;
    }
  }
  m->__set_statistics(s);
}

class ChunkWriter {
 public:
  ChunkWriter(const Column& c, const ParquetWriteOptions& o, int codec, std::string* out)
      : c_(c), o_(o), codec_(codec), out_(out) {}

  // Appends the chunk to *out_ (which starts `base` bytes into the file).
  format::ColumnMetaData Write(const std::string& name, int64_t base) {
    format::ColumnMetaData m;
    m.__set_type(LeafFor({name, c_.type()}).type);
    m.__set_path_in_schema({name});
    m.__set_codec(codec_);
    m.__set_num_values(c_.length());
    const size_t start = out_->size();
    std::vector<int32_t> encodings{Encoding::RLE};
    PlanDictionary();
    if (dictionary_) {
      m.__set_dictionary_page_offset(base + static_cast<int64_t>(out_->size() - start));
      WriteDictionaryPage();
      encodings.push_back(Encoding::PLAIN);
      encodings.push_back(Encoding::RLE_DICTIONARY);
    } else {
      encodings.push_back(Encoding::PLAIN);
    }
    m.__set_data_page_offset(base + static_cast<int64_t>(out_->size() - start));
    const int64_t rows_per_page = RowsPerPage();
    for (int64_t a = 0; a < c_.length() || a == 0; a += rows_per_page) {
      WriteDataPage(a, std::min(c_.length(), a + rows_per_page));
      if (c_.length() == 0) break;
    }
    m.__set_encodings(encodings);
    m.__set_total_compressed_size(static_cast<int64_t>(out_->size() - start));
    m.__set_total_uncompressed_size(uncompressed_);
    SetStats(c_, &m);
    return m;
  }

 private:
  void PlanDictionary() {
    if (c_.type() == TypeId::kCategory) {
      dict_ = c_.dictionary();
      codes_ = c_.data<int32_t>();
      dictionary_ = true;
    } else if (c_.type() == TypeId::kString && o_.dictionary) {
      CategoryBuilder b(c_.length());
      int64_t bytes = 0;
      for (int64_t i = 0; i < c_.length(); ++i) {
        if (!c_.IsValid(i)) {
          b.AppendNull();
          continue;
        }
        b.Append(c_.StringAt(i));
      }
      owned_codes_ = b.Finish();
      dict_ = owned_codes_.dictionary();
      for (int64_t k = 0; k < dict_->length(); ++k) bytes += 4 + static_cast<int64_t>(dict_->StringAt(k).size());
      if (bytes > o_.dictionary_limit || dict_->length() > c_.length() / 2 + 16) return;  // PLAIN is as good
      codes_ = owned_codes_.data<int32_t>();
      dictionary_ = true;
    }
  }

  int64_t RowsPerPage() const {
    const int64_t n = std::max<int64_t>(1, c_.length());
    int64_t row_bytes;
    if (dictionary_) row_bytes = 1 + BitWidthOfDict() / 8;
    else if (c_.type() == TypeId::kBool) row_bytes = 1;
    else if (c_.type() == TypeId::kString) row_bytes = 4 + (c_.string_offsets()[c_.length()] - c_.string_offsets()[0]) / n;
    else row_bytes = static_cast<int64_t>(FixedWidth(c_.type()));
    return std::max<int64_t>(1024, o_.page_size / std::max<int64_t>(1, row_bytes));
  }

  int BitWidthOfDict() const { return std::max(1, io::parquet::BitWidth(static_cast<uint64_t>(std::max<int64_t>(0, dict_->length() - 1)))); }

  void WriteDictionaryPage() {
    std::string raw;
    for (int64_t k = 0; k < dict_->length(); ++k) {
      const std::string_view s = dict_->StringAt(k);
      const auto len = static_cast<uint32_t>(s.size());
      raw.append(reinterpret_cast<const char*>(&len), 4);
      raw.append(s);
    }
    format::PageHeader h;
    h.__set_type(format::PageType::DICTIONARY_PAGE);
    format::DictionaryPageHeader d;
    d.__set_num_values(static_cast<int32_t>(dict_->length()));
    d.__set_encoding(Encoding::PLAIN);
    h.__set_dictionary_page_header(d);
    Emit(&h, "", raw, true);
  }

  // Rows [a, b): levels, then the valid values.
  void WriteDataPage(int64_t a, int64_t b) {
    const int64_t n = b - a;
    std::vector<uint32_t> levels(static_cast<size_t>(n));
    int64_t nulls = 0;
    for (int64_t i = 0; i < n; ++i) {
      levels[static_cast<size_t>(i)] = c_.IsValid(a + i) ? 1 : 0;
      nulls += levels[static_cast<size_t>(i)] == 0;
    }
    std::string lv;
    io::parquet::EncodeRle(levels.data(), n, 1, &lv);
    std::string values;
    if (dictionary_) {
      std::vector<uint32_t> idx;
      idx.reserve(static_cast<size_t>(n - nulls));
      for (int64_t i = a; i < b; ++i) {
        if (c_.IsValid(i)) idx.push_back(static_cast<uint32_t>(codes_[i]));
      }
      const int w = BitWidthOfDict();
      values.push_back(static_cast<char>(w));
      io::parquet::EncodeRle(idx.data(), static_cast<int64_t>(idx.size()), w, &values);
    } else {
      PlainValues(a, b, nulls, &values);
    }
    format::PageHeader h;
    const int32_t enc = dictionary_ ? Encoding::RLE_DICTIONARY : Encoding::PLAIN;
    if (o_.data_page_version == 2) {
      h.__set_type(format::PageType::DATA_PAGE_V2);
      format::DataPageHeaderV2 d;
      d.__set_num_values(static_cast<int32_t>(n));
      d.__set_num_nulls(static_cast<int32_t>(nulls));
      d.__set_num_rows(static_cast<int32_t>(n));
      d.__set_encoding(enc);
      d.__set_definition_levels_byte_length(static_cast<int32_t>(lv.size()));
      d.__set_repetition_levels_byte_length(0);
      d.__set_is_compressed(codec_ != format::CompressionCodec::UNCOMPRESSED);
      h.__set_data_page_header_v2(d);
      Emit(&h, lv, values, d.is_compressed);
    } else {
      h.__set_type(format::PageType::DATA_PAGE);
      format::DataPageHeader d;
      d.__set_num_values(static_cast<int32_t>(n));
      d.__set_encoding(enc);
      d.__set_definition_level_encoding(Encoding::RLE);
      d.__set_repetition_level_encoding(Encoding::RLE);
      h.__set_data_page_header(d);
      std::string body;
      const auto len = static_cast<uint32_t>(lv.size());
      body.append(reinterpret_cast<const char*>(&len), 4);
      body.append(lv);
      body.append(values);
      Emit(&h, "", body, true);
    }
  }

  void PlainValues(int64_t a, int64_t b, int64_t nulls, std::string* out) const {
    if (c_.type() == TypeId::kString) {
      for (int64_t i = a; i < b; ++i) {
        if (!c_.IsValid(i)) continue;
        const std::string_view s = c_.StringAt(i);
        const auto len = static_cast<uint32_t>(s.size());
        out->append(reinterpret_cast<const char*>(&len), 4);
        out->append(s);
      }
      return;
    }
    if (c_.type() == TypeId::kBool) {
      std::string bits(static_cast<size_t>(bits::Bytes(b - a - nulls)), '\0');
      int64_t j = 0;
      for (int64_t i = a; i < b; ++i) {
        if (!c_.IsValid(i)) continue;
        if (c_.BoolAt(i)) bits::Set(reinterpret_cast<uint8_t*>(bits.data()), j);
        ++j;
      }
      out->append(bits);
      return;
    }
    const size_t w = FixedWidth(c_.type());
    const char* v = reinterpret_cast<const char*>(c_.values().data());
    if (nulls == 0) {
      out->append(v + static_cast<size_t>(a) * w, static_cast<size_t>(b - a) * w);
      return;
    }
    out->reserve(static_cast<size_t>(b - a - nulls) * w);
    for (int64_t i = a; i < b; ++i) {
      if (c_.IsValid(i)) out->append(v + static_cast<size_t>(i) * w, w);
    }
  }

  // Header, then `plain` bytes as they are and `body` compressed.
  void Emit(format::PageHeader* h, const std::string& plain, const std::string& body, bool compress) {
    const std::string packed = compress ? io::parquet::CompressPage(codec_, body) : body;
    const size_t raw = plain.size() + body.size(), stored = plain.size() + packed.size();
    if (stored > INT32_MAX || raw > INT32_MAX) throw IOError("to_parquet: a page of more than 2 GiB; lower page_size");
    h->__set_uncompressed_page_size(static_cast<int32_t>(raw));
    h->__set_compressed_page_size(static_cast<int32_t>(stored));
    const size_t before = out_->size();
    ThriftWrite(*h, out_);
    uncompressed_ += static_cast<int64_t>(out_->size() - before + raw);
    out_->append(plain);
    out_->append(packed);
  }

  const Column& c_;
  const ParquetWriteOptions& o_;
  const int codec_;
  std::string* out_;
  bool dictionary_ = false;
  std::shared_ptr<const Column> dict_;
  const int32_t* codes_ = nullptr;
  Column owned_codes_;
  int64_t uncompressed_ = 0;
};

}  // namespace

std::string FormatParquet(const Table& t, const ParquetWriteOptions& o) {
  if (t.num_columns() == 0) throw Error("to_parquet: a table with no columns");
  if (o.row_group_size < 1 || o.page_size < 1) throw Error("to_parquet: row_group_size and page_size must be >= 1");
  if (o.data_page_version != 1 && o.data_page_version != 2) {
    throw Error("to_parquet: data_page_version must be 1 or 2, not " + std::to_string(o.data_page_version));
  }
  const int codec = io::parquet::CodecFromName(o.compression);
  format::FileMetaData meta;
  meta.__set_version(o.data_page_version == 2 ? 2 : 1);
  std::vector<format::SchemaElement> schema;
  format::SchemaElement root;
  root.__set_name("schema");
  root.__set_num_children(t.num_columns());
  schema.push_back(root);
  std::string categories;
  for (const Field& f : t.schema()) {
    schema.push_back(LeafFor(f));
    if (f.type == TypeId::kCategory) categories += (categories.empty() ? "" : "\n") + f.name;
  }
  meta.__set_schema(schema);
  meta.__set_num_rows(t.num_rows());
  std::string out = "PAR1";
  std::vector<format::RowGroup> groups;
  for (int64_t a = 0; a < t.num_rows(); a += o.row_group_size) {
    const int64_t n = std::min(o.row_group_size, t.num_rows() - a);
    format::RowGroup rg;
    rg.__set_num_rows(n);
    rg.__set_file_offset(static_cast<int64_t>(out.size()));
    rg.__set_ordinal(static_cast<int16_t>(std::min<size_t>(groups.size(), INT16_MAX)));
    int64_t total = 0;
    const size_t rg_start = out.size();
    std::vector<format::ColumnChunk> chunks;
    for (int c = 0; c < t.num_columns(); ++c) {
      const Column col = (a == 0 && n == t.num_rows()) ? t.column(c) : t.column(c).Slice(a, n);
      const int64_t base = static_cast<int64_t>(out.size());
      std::string bytes;
      format::ColumnMetaData m = ChunkWriter(col, o, codec, &bytes).Write(t.names()[static_cast<size_t>(c)], base);
      out.append(bytes);
      total += m.total_uncompressed_size;
      format::ColumnChunk cc;
      cc.__set_file_offset(base);
      cc.__set_meta_data(m);
      chunks.push_back(std::move(cc));
    }
    rg.__set_columns(chunks);
    rg.__set_total_byte_size(total);
    rg.__set_total_compressed_size(static_cast<int64_t>(out.size() - rg_start));
    groups.push_back(std::move(rg));
  }
  meta.__set_row_groups(groups);
  if (!categories.empty()) {
    format::KeyValue kv;
    kv.__set_key("skein.categories");
    kv.__set_value(categories);
    meta.__set_key_value_metadata({kv});
  }
  meta.__set_created_by("skein version 0.1.0");
  const size_t footer_at = out.size();
  ThriftWrite(meta, &out);
  const auto len = static_cast<uint32_t>(out.size() - footer_at);
  out.append(reinterpret_cast<const char*>(&len), 4);
  out.append("PAR1");
  return out;
}

void WriteParquet(const std::string& path, const Table& t, const ParquetWriteOptions& o) {
  io::internal::WriteFileAtomically(path, FormatParquet(t, o));
}

}  // namespace skein
