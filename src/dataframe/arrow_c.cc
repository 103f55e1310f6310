// The Arrow C Data Interface: zero-copy export and import of columns and
// tables (see arrow_c.h).
#include "skein/dataframe/arrow_c.h"

#include <memory>
#include <string>
#include <vector>

namespace skein {

namespace {

// ---- export -----------------------------------------------------------------

// The release callback of an exported ArrowSchema or ArrowArray (`Data`
// is its private data): releases and frees the children and dictionary
// the consumer did not move out, then the private data.
template <class T, class Data>
void Release(T* x) {
  if (!x || !x->release) return;
  auto* d = static_cast<Data*>(x->private_data);
  auto drop = [](T* c) {
    if (c->release) c->release(c);
    delete c;
  };
  for (T* c : d->children) drop(c);
  if (d->dictionary) drop(d->dictionary);
  delete d;
  x->release = nullptr;
}

struct SchemaData {
  std::string format, name;
  std::vector<ArrowSchema*> children;
  ArrowSchema* dictionary = nullptr;
};

void FillSchema(ArrowSchema* s, std::string format, const std::string& name, int64_t flags) {
  auto* d = new SchemaData{std::move(format), name, {}, nullptr};
  *s = ArrowSchema{d->format.c_str(), d->name.c_str(), nullptr, flags, 0, nullptr, nullptr, Release<ArrowSchema, SchemaData>, d};
}

struct ArrayData {
  std::vector<Buffer> keep;  // holds the shared bytes alive
  std::vector<const void*> buffers;
  std::vector<ArrowArray*> children;
  ArrowArray* dictionary = nullptr;
};

const char* FormatOf(TypeId t) {
  switch (t) {
    case TypeId::kInt64: return "l";
    case TypeId::kInt32: return "i";
    case TypeId::kFloat64: return "g";
    case TypeId::kFloat32: return "f";
    case TypeId::kBool: return "b";
    case TypeId::kString: return "u";
    case TypeId::kTimestamp: return "tsn:";
    case TypeId::kDate: return "tdD";
    case TypeId::kCategory: return "i";
  }
  return "";
}

void FillArray(ArrowArray* a, const Column& c) {
  auto* d = new ArrayData;
  d->keep = {c.validity(), c.values(), c.offsets()};
  d->buffers.push_back(c.has_nulls() ? c.validity().data() : nullptr);
  if (c.type() == TypeId::kString) d->buffers.push_back(c.offsets().data());
  d->buffers.push_back(c.values().data());
  *a = ArrowArray{c.length(), c.null_count(), 0, static_cast<int64_t>(d->buffers.size()), 0,
                  d->buffers.data(), nullptr, nullptr, Release<ArrowArray, ArrayData>, d};
  if (c.type() == TypeId::kCategory) {
    d->dictionary = new ArrowArray;
    FillArray(d->dictionary, *c.dictionary());
    a->dictionary = d->dictionary;
  }
}

void FillColumnSchema(ArrowSchema* s, const Column& c, const std::string& name) {
  FillSchema(s, FormatOf(c.type()), name, ARROW_FLAG_NULLABLE);
  if (c.type() == TypeId::kCategory) {
    auto* d = static_cast<SchemaData*>(s->private_data);
    d->dictionary = new ArrowSchema;
    FillSchema(d->dictionary, "u", "", ARROW_FLAG_NULLABLE);
    s->dictionary = d->dictionary;
  }
}

// ---- import -----------------------------------------------------------------

// Owns an imported ArrowArray; its release runs when the last Buffer that
// wraps its memory goes.
struct Imported {
  ArrowArray array{};
  ~Imported() {
    if (array.release) array.release(&array);
  }
};

struct SchemaGuard {
  ArrowSchema* s;
  ~SchemaGuard() {
    if (s && s->release) s->release(s);
  }
};

[[noreturn]] void Bad(const std::string& column, const std::string& what) {
  throw IOError("Arrow C import, column '" + column + "': " + what);
}

// Bits [offset, offset + length) of a bitmap as a fresh zero-offset bitmap.
Buffer ShiftBits(const void* src, int64_t offset, int64_t length) {
  std::byte* w;
  Buffer b = Buffer::Allocate(static_cast<size_t>(bits::Bytes(length)), &w);
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < length; ++i) {
    if (bits::Get(s, offset + i)) bits::Set(reinterpret_cast<uint8_t*>(w), i);
  }
  return b;
}

Buffer Wrap(const std::shared_ptr<Imported>& owner, const void* p, size_t size) {
  return Buffer::Wrap(owner, static_cast<const std::byte*>(p), size);
}

Column ImportOne(const ArrowSchema* s, const ArrowArray* a, const std::shared_ptr<Imported>& owner,
                 const std::string& name) {
  if (!s->format) Bad(name, "no format string");
  const std::string format = s->format;
  if (a->length < 0 || a->offset < 0 || a->null_count < -1) Bad(name, "negative length, offset or null count");
  const int64_t n = a->length, off = a->offset;
  TypeId type;
  int64_t unit = 0;  // timestamps in s/ms/us scaled to ns
  if (format == "l") type = TypeId::kInt64;
  else if (format == "i") type = s->dictionary ? TypeId::kCategory : TypeId::kInt32;
  else if (format == "g") type = TypeId::kFloat64;
  else if (format == "f") type = TypeId::kFloat32;
  else if (format == "b") type = TypeId::kBool;
  else if (format == "u") type = TypeId::kString;
  else if (format == "tdD") type = TypeId::kDate;
  else if (format.rfind("ts", 0) == 0 && format.size() >= 4 && format[3] == ':') {
    type = TypeId::kTimestamp;
    switch (format[2]) {
      case 'n': unit = 1; break;
      case 'u': unit = 1000; break;
      case 'm': unit = 1000000; break;
      case 's': unit = 1000000000; break;
      default: Bad(name, "unsupported timestamp format '" + format + "'");
    }
  } else {
    Bad(name, "unsupported format '" + format + "' (supported: l i g f b u tdD ts?: and dictionaries of u)");
  }
  const int64_t want = type == TypeId::kString ? 3 : 2;
  if (a->n_buffers != want || !a->buffers) {
    Bad(name, "format '" + format + "' needs " + std::to_string(want) + " buffers, the array has " +
                  std::to_string(a->n_buffers));
  }
  if (n > 0 && !a->buffers[want - 1]) Bad(name, "the values buffer is null");
  Buffer validity;
  if (a->buffers[0] && a->null_count != 0) {
    validity = off % 8 == 0 ? Wrap(owner, static_cast<const uint8_t*>(a->buffers[0]) + off / 8,
                                   static_cast<size_t>(bits::Bytes(n)))
                            : ShiftBits(a->buffers[0], off, n);
  }
  std::shared_ptr<const Column> dictionary;
  if (type == TypeId::kCategory) {
    if (!a->dictionary) Bad(name, "dictionary-encoded, but the array has no dictionary");
    Column dict = ImportOne(s->dictionary, a->dictionary, owner, name + " (dictionary)");
    if (dict.type() != TypeId::kString) Bad(name, "only dictionaries of strings are supported");
    dictionary = std::make_shared<const Column>(std::move(dict));
  }
  if (type == TypeId::kString) {
    if (n > 0 && !a->buffers[1]) Bad(name, "the offsets buffer is null");
    const auto* o = static_cast<const int32_t*>(a->buffers[1]) + off;
    const int64_t bytes = n > 0 ? o[n] : 0;
    if (n > 0 && (o[0] < 0 || bytes < o[0])) Bad(name, "offsets run backwards");
    Buffer offsets = n > 0 ? Wrap(owner, o, static_cast<size_t>(n + 1) * 4) : Buffer::Copy("\0\0\0\0", 4);
    Buffer values = n > 0 ? Wrap(owner, a->buffers[2], static_cast<size_t>(bytes)) : Buffer();
    try {
      return Column::Make(type, n, std::move(validity), std::move(values), std::move(offsets));
    } catch (const Error& e) {
      Bad(name, e.what());
    }
  }
  Buffer values;
  if (type == TypeId::kBool) {
    values = off % 8 == 0 ? Wrap(owner, static_cast<const uint8_t*>(a->buffers[1]) + off / 8,
                                 static_cast<size_t>(bits::Bytes(n)))
                          : ShiftBits(a->buffers[1], off, n);
  } else {
    const size_t width = FixedWidth(type);
    const auto* p = static_cast<const std::byte*>(a->buffers[1]) + off * static_cast<int64_t>(width);
    if (unit > 1) {
      std::byte* w;
      values = Buffer::Allocate(static_cast<size_t>(n) * 8, &w);
      for (int64_t i = 0; i < n; ++i) {
        int64_t v;
        std::memcpy(&v, p + i * 8, 8);
        if (__builtin_mul_overflow(v, unit, &v)) {
          Bad(name, "timestamp at row " + std::to_string(i) + " is outside the datetime64[ns] range");
        }
        std::memcpy(w + i * 8, &v, 8);
      }
    } else {
      values = Wrap(owner, p, static_cast<size_t>(n) * width);
    }
  }
  try {
    return Column::Make(type, n, std::move(validity), std::move(values), {}, std::move(dictionary));
  } catch (const Error& e) {
    Bad(name, e.what());
  }
}

}  // namespace

void ExportColumn(const Column& column, const std::string& name, ArrowSchema* schema, ArrowArray* array) {
  FillColumnSchema(schema, column, name);
  FillArray(array, column);
}

void ExportTable(const Table& table, ArrowSchema* schema, ArrowArray* array) {
  FillSchema(schema, "+s", "", 0);
  auto* sd = static_cast<SchemaData*>(schema->private_data);
  auto* ad = new ArrayData;
  ad->buffers.push_back(nullptr);  // the struct itself has no nulls
  for (int i = 0; i < table.num_columns(); ++i) {
    auto* cs = new ArrowSchema;
    FillColumnSchema(cs, table.column(i), table.names()[static_cast<size_t>(i)]);
    sd->children.push_back(cs);
    auto* ca = new ArrowArray;
    FillArray(ca, table.column(i));
    ad->children.push_back(ca);
  }
  schema->n_children = static_cast<int64_t>(sd->children.size());
  schema->children = sd->children.data();
  *array = ArrowArray{table.num_rows(), 0, 0, 1, static_cast<int64_t>(ad->children.size()), ad->buffers.data(),
                      ad->children.data(), nullptr, Release<ArrowArray, ArrayData>, ad};
}

Column ImportColumn(ArrowSchema* schema, ArrowArray* array) {
  SchemaGuard guard{schema};
  auto owner = std::make_shared<Imported>();
  owner->array = *array;
  array->release = nullptr;  // moved: ours now
  if (!schema || !schema->release) throw IOError("Arrow C import: the schema is released");
  if (!owner->array.release) throw IOError("Arrow C import: the array is released");
  return ImportOne(schema, &owner->array, owner, schema->name ? schema->name : "");
}

Table ImportTable(ArrowSchema* schema, ArrowArray* array) {
  SchemaGuard guard{schema};
  auto owner = std::make_shared<Imported>();
  owner->array = *array;
  array->release = nullptr;
  if (!schema || !schema->release) throw IOError("Arrow C import: the schema is released");
  if (!owner->array.release) throw IOError("Arrow C import: the array is released");
  if (!schema->format || std::string(schema->format) != "+s") {
    throw IOError(std::string("Arrow C import: a table must be a struct array ('+s'), got '") +
                  (schema->format ? schema->format : "") + "'");
  }
  const ArrowArray& a = owner->array;
  if (a.n_children != schema->n_children) {
    throw IOError("Arrow C import: the schema has " + std::to_string(schema->n_children) + " children, the array " +
                  std::to_string(a.n_children));
  }
  if (a.null_count > 0) throw IOError("Arrow C import: a struct array with null rows cannot be a table");
  std::vector<std::pair<std::string, Column>> cols;
  for (int64_t i = 0; i < a.n_children; ++i) {
    const ArrowSchema* cs = schema->children[i];
    const ArrowArray* ca = a.children[i];
    std::string name = cs->name ? cs->name : ("column " + std::to_string(i));
    if (ca->length < a.length + a.offset && ca->length != a.length) {
      throw IOError("Arrow C import, column '" + name + "': " + std::to_string(ca->length) + " rows, the table " +
                    std::to_string(a.length));
    }
    Column c = ImportOne(cs, ca, owner, name);
    if (a.offset != 0 || c.length() != a.length) c = c.Slice(a.offset, a.length);
    cols.emplace_back(std::move(name), std::move(c));
  }
  if (cols.empty()) return Table::Empty(a.length);
  return Table(std::move(cols));
}

}  // namespace skein
