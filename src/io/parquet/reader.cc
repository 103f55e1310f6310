// Parquet footers: reading and checking FileMetaData, mapping the flat
// schema to skein types, statistics, and planning row group reads (the
// plan serializes, so a task carries it without re-reading the footer).
#include <algorithm>
#include <cstring>

#include "chunk.h"
#include "io/file_internal.h"
#include "skein/core/serialize.h"
#include "thrift_io.h"

namespace skein {

using io::parquet::ThriftRead;
namespace format = io::parquet::format;
using Chunk = ParquetRowGroupPlan::Chunk;

struct ParquetFile::Impl {
  std::string path;
  format::FileMetaData meta;
  Schema schema;
  std::vector<Chunk> leaves;  // per column: its type mapping (no offsets)
};

namespace {

[[noreturn]] void Bad(const std::string& path, const std::string& why) {
  throw IOError("parquet '" + path + "': " + why);
}

// How a leaf's stored values become a column: its type and conversion.
Chunk MapLeaf(const format::SchemaElement& e, bool as_category, const std::string& path) {
  Chunk c;
  c.name = e.name;
  c.physical = e.type;
  c.type_length = e.__isset.type_length ? e.type_length : 0;
  c.max_def = e.__isset.repetition_type && e.repetition_type == format::FieldRepetitionType::OPTIONAL ? 1 : 0;
  const auto& lt = e.logicalType;
  const bool has_lt = e.__isset.logicalType;
  const bool decimal = (has_lt && lt.__isset.DECIMAL) || (e.__isset.converted_type && e.converted_type == format::ConvertedType::DECIMAL);
  if (decimal) {
    c.scale = has_lt && lt.__isset.DECIMAL ? lt.DECIMAL.scale : (e.__isset.scale ? e.scale : 0);
    if (c.scale < 0 || c.scale > 38) Bad(path, "column '" + e.name + "' has decimal scale " + std::to_string(c.scale));
  }
  auto unsupported = [&](const std::string& what) -> Chunk {
    Bad(path, "column '" + e.name + "' has type " + what + ", which skein does not read");
  };
  switch (e.type) {
    case format::Type::BOOLEAN: c.type = TypeId::kBool; break;
    case format::Type::INT32: {
      c.type = TypeId::kInt32;
      if (decimal) {
        c.type = TypeId::kFloat64;
        c.convert = ParquetConvert::kDecimal;
      } else if ((has_lt && lt.__isset.DATE) || (e.__isset.converted_type && e.converted_type == format::ConvertedType::DATE)) {
        c.type = TypeId::kDate;
      } else if ((has_lt && lt.__isset.INTEGER && !lt.INTEGER.isSigned && lt.INTEGER.bitWidth == 32) ||
                 (e.__isset.converted_type && e.converted_type == format::ConvertedType::UINT_32)) {
        c.type = TypeId::kInt64;
        c.convert = ParquetConvert::kUint32;
      }
      break;
    }
    case format::Type::INT64: {
      c.type = TypeId::kInt64;
      if (decimal) {
        c.type = TypeId::kFloat64;
        c.convert = ParquetConvert::kDecimal;
      } else if (has_lt && lt.__isset.TIMESTAMP) {
        c.type = TypeId::kTimestamp;
        if (lt.TIMESTAMP.unit.__isset.MILLIS) c.convert = ParquetConvert::kMillis;
        else if (lt.TIMESTAMP.unit.__isset.MICROS) c.convert = ParquetConvert::kMicros;
      } else if (e.__isset.converted_type && e.converted_type == format::ConvertedType::TIMESTAMP_MILLIS) {
        c.type = TypeId::kTimestamp;
        c.convert = ParquetConvert::kMillis;
      } else if (e.__isset.converted_type && e.converted_type == format::ConvertedType::TIMESTAMP_MICROS) {
        c.type = TypeId::kTimestamp;
        c.convert = ParquetConvert::kMicros;
      } else if ((has_lt && lt.__isset.INTEGER && !lt.INTEGER.isSigned && lt.INTEGER.bitWidth == 64) ||
                 (e.__isset.converted_type && e.converted_type == format::ConvertedType::UINT_64)) {
        return unsupported("uint64");
      }
      break;
    }
    case format::Type::INT96:
      c.type = TypeId::kTimestamp;
      c.convert = ParquetConvert::kInt96;
      break;
    case format::Type::FLOAT: c.type = TypeId::kFloat32; break;
    case format::Type::DOUBLE: c.type = TypeId::kFloat64; break;
    case format::Type::BYTE_ARRAY:
      c.type = as_category ? TypeId::kCategory : TypeId::kString;
      if (decimal) {
        c.type = TypeId::kFloat64;
        c.convert = ParquetConvert::kDecimal;
      }
      break;
    case format::Type::FIXED_LEN_BYTE_ARRAY:
      if (c.type_length <= 0) Bad(path, "column '" + e.name + "' is a fixed-length byte array without a length");
      if (decimal) {
        if (c.type_length > 16) return unsupported("decimal of " + std::to_string(c.type_length) + " bytes");
        c.type = TypeId::kFloat64;
        c.convert = ParquetConvert::kDecimal;
      } else {
        c.type = TypeId::kString;  // raw bytes (UUIDs and the like)
      }
      break;
    default: return unsupported("physical " + std::to_string(static_cast<int>(e.type)));
  }
  return c;
}

// Little-endian value of `width` bytes from a statistics field.
template <class T>
bool StatNumber(const std::string& s, T* out) {
  if (s.size() != sizeof(T)) return false;
  std::memcpy(out, s.data(), sizeof(T));
  return true;
}

}  // namespace

ParquetFile ParquetFile::Open(const std::string& path, const std::vector<std::string>& categories) {
  auto impl = std::make_shared<Impl>();
  impl->path = path;
  io::internal::File f = io::internal::File::OpenRead(path);
  const int64_t size = f.Size();
  if (size < 12) Bad(path, "file of " + std::to_string(size) + " bytes is too short to be Parquet");
  char tail[8];
  f.ReadAt(size - 8, tail, 8);
  char head[4];
  f.ReadAt(0, head, 4);
  if (std::memcmp(tail + 4, "PAR1", 4) != 0 || std::memcmp(head, "PAR1", 4) != 0) {
    if (std::memcmp(tail + 4, "PARE", 4) == 0) Bad(path, "encrypted files are not supported");
    Bad(path, "not a Parquet file (no PAR1 magic)");
  }
  uint32_t footer_len;
  std::memcpy(&footer_len, tail, 4);
  if (footer_len == 0 || static_cast<int64_t>(footer_len) > size - 12) {
    Bad(path, "footer length " + std::to_string(footer_len) + " does not fit a file of " + std::to_string(size) + " bytes");
  }
  std::string footer(footer_len, '\0');
  f.ReadAt(size - 8 - footer_len, footer.data(), footer_len);
  ThriftRead(reinterpret_cast<const uint8_t*>(footer.data()), footer.size(), &impl->meta, "parquet '" + path + "' footer");
  const auto& meta = impl->meta;
  if (meta.schema.empty()) Bad(path, "empty schema");
  const auto& root = meta.schema[0];
  const size_t leaves = meta.schema.size() - 1;
  // Category columns: those asked for, and those skein wrote as categories.
  std::vector<std::string> as_category = categories;
  for (const auto& kv : meta.key_value_metadata) {
    if (kv.key != "skein.categories") continue;
    size_t a = 0;
    while (a <= kv.value.size()) {
      const size_t b = std::min(kv.value.find('\n', a), kv.value.size());
      if (b > a) as_category.push_back(kv.value.substr(a, b - a));
      a = b + 1;
    }
  }
  for (size_t i = 1; i < meta.schema.size(); ++i) {
    const auto& e = meta.schema[i];
    if ((e.__isset.num_children && e.num_children > 0) || !e.__isset.type) {
      Bad(path, "column '" + e.name + "' is nested; only flat schemas are supported");
    }
    if (e.__isset.repetition_type && e.repetition_type == format::FieldRepetitionType::REPEATED) {
      Bad(path, "column '" + e.name + "' is repeated; only flat schemas are supported");
    }
    const bool cat = std::find(as_category.begin(), as_category.end(), e.name) != as_category.end() &&
                     e.type == format::Type::BYTE_ARRAY;
    impl->leaves.push_back(MapLeaf(e, cat, path));
    impl->schema.push_back({e.name, impl->leaves.back().type});
  }
  if (root.__isset.num_children && static_cast<size_t>(root.num_children) != leaves) {
    Bad(path, "schema root has " + std::to_string(root.num_children) + " children but " + std::to_string(leaves) + " columns follow");
  }
  for (const std::string& c : categories) {
    auto it = std::find_if(impl->schema.begin(), impl->schema.end(), [&](const Field& fl) { return fl.name == c; });
    if (it == impl->schema.end()) throw KeyError("read_parquet: categories names unknown column '" + c + "' of '" + path + "'");
    if (it->type != TypeId::kCategory) {
      throw TypeError("read_parquet: column '" + c + "' of '" + path + "' is " + std::string(TypeName(it->type)) + ", not strings");
    }
  }
  int64_t total = 0;
  for (size_t g = 0; g < meta.row_groups.size(); ++g) {
    const auto& rg = meta.row_groups[g];
    const std::string where = "row group " + std::to_string(g);
    if (rg.columns.size() != leaves) {
      Bad(path, where + " has " + std::to_string(rg.columns.size()) + " column chunks for " + std::to_string(leaves) + " columns");
    }
    if (rg.num_rows < 0) Bad(path, where + " has " + std::to_string(rg.num_rows) + " rows");
    total += rg.num_rows;
    for (size_t c = 0; c < leaves; ++c) {
      const auto& cc = rg.columns[c];
      const std::string col = where + ", column '" + impl->schema[c].name + "'";
      if (!cc.__isset.meta_data) Bad(path, col + ": no column metadata");
      if (cc.__isset.file_path && !cc.file_path.empty()) Bad(path, col + ": data in another file ('" + cc.file_path + "') is not supported");
      const auto& m = cc.meta_data;
      if (m.type != impl->leaves[c].physical) Bad(path, col + ": chunk type differs from the schema's");
      int64_t start = m.data_page_offset;
      if (m.__isset.dictionary_page_offset && m.dictionary_page_offset > 0) start = std::min(start, m.dictionary_page_offset);
      if (start < 4 || m.total_compressed_size < 0 || start > size || m.total_compressed_size > size - start) {
        Bad(path, col + ": chunk bytes [" + std::to_string(start) + ", +" + std::to_string(m.total_compressed_size) +
                      ") lie outside the file");
      }
      if (m.num_values != rg.num_rows) {
        Bad(path, col + ": " + std::to_string(m.num_values) + " values for " + std::to_string(rg.num_rows) + " rows");
      }
    }
  }
  if (total != meta.num_rows) Bad(path, "row groups hold " + std::to_string(total) + " rows, footer says " + std::to_string(meta.num_rows));
  ParquetFile out;
  out.impl_ = std::move(impl);
  return out;
}

const std::string& ParquetFile::path() const { return impl_->path; }
const Schema& ParquetFile::schema() const { return impl_->schema; }
int ParquetFile::num_row_groups() const { return static_cast<int>(impl_->meta.row_groups.size()); }
int64_t ParquetFile::num_rows() const { return impl_->meta.num_rows; }

int64_t ParquetFile::row_group_rows(int g) const {
  if (g < 0 || g >= num_row_groups()) throw Error("parquet: row group " + std::to_string(g) + " out of range");
  return impl_->meta.row_groups[static_cast<size_t>(g)].num_rows;
}

std::string ParquetFile::metadata(std::string_view key) const {
  for (const auto& kv : impl_->meta.key_value_metadata) {
    if (kv.key == key) return kv.value;
  }
  return "";
}

ParquetStats ParquetFile::stats(int g, int column) const {
  ParquetStats out;
  if (g < 0 || g >= num_row_groups() || column < 0 || column >= static_cast<int>(impl_->leaves.size())) return out;
  const auto& m = impl_->meta.row_groups[static_cast<size_t>(g)].columns[static_cast<size_t>(column)].meta_data;
  if (!m.__isset.statistics) return out;
  const auto& s = m.statistics;
  if (s.__isset.null_count) out.null_count = s.null_count;
  const Chunk& leaf = impl_->leaves[static_cast<size_t>(column)];
  // min_value/max_value follow the column's sort order; the deprecated
  // min/max compare signed bytes, so they are trusted for numbers only.
  const bool modern = s.__isset.min_value && s.__isset.max_value;
  const std::string& lo = modern ? s.min_value : s.min;
  const std::string& hi = modern ? s.max_value : s.max;
  if (!modern && !(s.__isset.min && s.__isset.max)) return out;
  if (leaf.convert != ParquetConvert::kNone && leaf.convert != ParquetConvert::kMillis && leaf.convert != ParquetConvert::kMicros) {
    return out;  // decimals, INT96 and uint32 are not compared here
  }
  switch (leaf.physical) {
    case format::Type::INT32: {
      int32_t a, b;
      if (!StatNumber(lo, &a) || !StatNumber(hi, &b)) return out;
      out.min = a;
      out.max = b;
      break;
    }
    case format::Type::INT64: {
      int64_t a, b;
      if (!StatNumber(lo, &a) || !StatNumber(hi, &b)) return out;
      const long double k = leaf.convert == ParquetConvert::kMillis ? 1e6L : leaf.convert == ParquetConvert::kMicros ? 1e3L : 1.0L;
      out.min = a * k;
      out.max = b * k;
      break;
    }
    case format::Type::FLOAT: {
      float a, b;
      if (!StatNumber(lo, &a) || !StatNumber(hi, &b) || a != a || b != b) return out;
      out.min = a;
      out.max = b;
      break;
    }
    case format::Type::DOUBLE: {
      double a, b;
      if (!StatNumber(lo, &a) || !StatNumber(hi, &b) || a != a || b != b) return out;
      out.min = a;
      out.max = b;
      break;
    }
    case format::Type::BYTE_ARRAY:
      if (!modern) return out;
      out.is_string = true;
      out.min_str = lo;
      out.max_str = hi;
      break;
    default: return out;
  }
  out.has_min_max = true;
  return out;
}

ParquetRowGroupPlan ParquetFile::Plan(int g, const std::vector<std::string>& columns) const {
  if (g < 0 || g >= num_row_groups()) {
    throw Error("parquet '" + impl_->path + "': row group " + std::to_string(g) + " out of range (" +
                std::to_string(num_row_groups()) + ")");
  }
  const auto& rg = impl_->meta.row_groups[static_cast<size_t>(g)];
  ParquetRowGroupPlan plan;
  plan.path = impl_->path;
  plan.row_group = g;
  plan.num_rows = rg.num_rows;
  auto add = [&](size_t c) {
    auto chunk = std::make_shared<Chunk>(impl_->leaves[c]);
    const auto& m = rg.columns[c].meta_data;
    chunk->codec = m.codec;
    chunk->offset = m.data_page_offset;
    if (m.__isset.dictionary_page_offset && m.dictionary_page_offset > 0) chunk->offset = std::min(chunk->offset, m.dictionary_page_offset);
    chunk->length = m.total_compressed_size;
    chunk->num_values = m.num_values;
    plan.chunks.push_back(std::move(chunk));
  };
  if (columns.empty()) {
    for (size_t c = 0; c < impl_->leaves.size(); ++c) add(c);
  } else {
    for (const std::string& name : columns) {
      auto it = std::find_if(impl_->schema.begin(), impl_->schema.end(), [&](const Field& f) { return f.name == name; });
      if (it == impl_->schema.end()) {
        throw KeyError("parquet '" + impl_->path + "': no column '" + name + "' (columns: " + SchemaToString(impl_->schema) + ")");
      }
      add(static_cast<size_t>(it - impl_->schema.begin()));
    }
  }
  return plan;
}

Table ParquetFile::ReadRowGroup(int g, const std::vector<std::string>& columns) const { return Plan(g, columns).Read(); }

Table ParquetFile::Read(const std::vector<std::string>& columns) const {
  std::vector<Table> parts;
  for (int g = 0; g < num_row_groups(); ++g) parts.push_back(ReadRowGroup(g, columns));
  if (parts.empty()) {  // no row groups: the columns, empty
    std::vector<std::pair<std::string, Column>> cols;
    std::vector<std::string> names = columns;
    if (names.empty()) {
      for (const Field& f : schema()) names.push_back(f.name);
    }
    for (const std::string& n : names) {
      auto it = std::find_if(schema().begin(), schema().end(), [&](const Field& f) { return f.name == n; });
      if (it == schema().end()) throw KeyError("parquet '" + impl_->path + "': no column '" + n + "'");
      cols.emplace_back(n, Column::Nulls(it->type, 0));
    }
    return cols.empty() ? Table() : Table(std::move(cols));
  }
  return Table::Concat(parts);
}

Table ParquetRowGroupPlan::Read() const {
  io::internal::File f = io::internal::File::OpenRead(path);
  std::vector<std::pair<std::string, Column>> cols;
  for (const auto& c : chunks) {
    std::string bytes(static_cast<size_t>(c->length), '\0');
    f.ReadAt(c->offset, bytes.data(), c->length);
    const std::string where = "parquet '" + path + "' row group " + std::to_string(row_group) + ", column '" + c->name + "'";
    cols.emplace_back(c->name, io::parquet::ReadColumnChunk(*c, num_rows, bytes, where));
  }
  if (cols.empty()) return Table::Empty(num_rows);
  return Table(std::move(cols));
}

std::string ParquetRowGroupPlan::Encode() const {
  std::string out;
  ByteWriter w(&out);
  w.Str(path);
  w.I64(row_group);
  w.I64(num_rows);
  w.U32(static_cast<uint32_t>(chunks.size()));
  for (const auto& c : chunks) {
    w.Str(c->name);
    w.U8(static_cast<uint8_t>(c->type));
    w.U32(static_cast<uint32_t>(c->physical));
    w.U32(static_cast<uint32_t>(c->type_length));
    w.U8(static_cast<uint8_t>(c->max_def));
    w.U32(static_cast<uint32_t>(c->codec));
    w.I64(c->offset);
    w.I64(c->length);
    w.I64(c->num_values);
    w.U8(static_cast<uint8_t>(c->convert));
    w.U32(static_cast<uint32_t>(c->scale));
  }
  return out;
}

ParquetRowGroupPlan ParquetRowGroupPlan::Decode(std::string_view bytes) {
  ByteReader r(bytes, "parquet row group plan");
  ParquetRowGroupPlan p;
  p.path = std::string(r.Str());
  p.row_group = static_cast<int>(r.I64());
  p.num_rows = r.I64();
  const uint32_t n = r.U32();
  if (n > r.remaining() || p.num_rows < 0) throw SerializationError("parquet row group plan: bad header");
  for (uint32_t i = 0; i < n; ++i) {
    auto c = std::make_shared<Chunk>();
    c->name = std::string(r.Str());
    c->type = TypeFromCode(r.U8(), "parquet row group plan");
    c->physical = static_cast<int32_t>(r.U32());
    c->type_length = static_cast<int32_t>(r.U32());
    c->max_def = r.U8();
    c->codec = static_cast<int32_t>(r.U32());
    c->offset = r.I64();
    c->length = r.I64();
    c->num_values = r.I64();
    const uint8_t conv = r.U8();
    if (conv > static_cast<uint8_t>(ParquetConvert::kLast) || c->max_def > 1 || c->offset < 0 || c->length < 0) {
      throw SerializationError("parquet row group plan: bad chunk");
    }
    c->convert = static_cast<ParquetConvert>(conv);
    c->scale = static_cast<int32_t>(r.U32());
    p.chunks.push_back(std::move(c));
  }
  return p;
}

}  // namespace skein
