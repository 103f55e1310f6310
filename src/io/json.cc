// JSON lines with simdjson's DOM parser, line by line over one padded
// buffer (see json.h).
#include "skein/io/json.h"
#include "skein/io/csv.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "dataframe/dates_internal.h"
#include "file_internal.h"

namespace skein {

namespace {

[[noreturn]] void Fail(const std::string& file, int64_t line, const std::string& what) {
  throw LineError("JSON", file, line, what);
}

// Calls fn(object, line) for each non-blank line of `text`, which must stay
// readable SIMDJSON_PADDING bytes past its end.
template <class F>
void ForEachObject(std::string_view text, const std::string& file, int64_t first_line, F&& fn) {
  simdjson::dom::parser parser;
  int64_t line = first_line;
  size_t at = 0;
  while (at < text.size()) {
    const char* nl = static_cast<const char*>(std::memchr(text.data() + at, '\n', text.size() - at));
    const size_t end = nl ? static_cast<size_t>(nl - text.data()) : text.size();
    std::string_view l = text.substr(at, end - at);
    at = end + 1;
    const int64_t this_line = line;
    if (line > 0) ++line;
    if (l.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    simdjson::dom::element doc;
    if (auto err = parser.parse(l.data(), l.size(), false).get(doc)) {
      Fail(file, this_line, std::string("invalid JSON: ") + simdjson::error_message(err));
    }
    simdjson::dom::object obj;
    if (doc.get(obj)) Fail(file, this_line, "the line is not a JSON object");
    fn(obj, this_line);
  }
}

// A padded copy of bytes: simdjson reads past the end of its input.
simdjson::padded_string Padded(std::string_view text) { return simdjson::padded_string(text.data(), text.size()); }

TypeId Widen(TypeId have, simdjson::dom::element v, bool* first) {
  TypeId t;
  switch (v.type()) {
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64: t = TypeId::kInt64; break;
    case simdjson::dom::element_type::DOUBLE: t = TypeId::kFloat64; break;
    case simdjson::dom::element_type::BOOL: t = TypeId::kBool; break;
    case simdjson::dom::element_type::NULL_VALUE: return have;
    default: t = TypeId::kString; break;
  }
  if (*first) {
    *first = false;
    return t;
  }
  if (have == t) return t;
  if ((have == TypeId::kInt64 && t == TypeId::kFloat64) || (have == TypeId::kFloat64 && t == TypeId::kInt64)) {
    return TypeId::kFloat64;
  }
  return TypeId::kString;
}

}  // namespace

Schema InferJsonSchema(std::string_view text, const JsonOptions& opt, const std::string& file) {
  simdjson::padded_string padded = Padded(text);
  std::vector<std::string> names;
  std::unordered_map<std::string, size_t> index;
  std::vector<TypeId> types;
  std::vector<bool> unseen;  // no non-null value yet
  int64_t rows = 0;
  struct Stop {};
  try {
    ForEachObject(std::string_view(padded.data(), padded.size()), file, 1, [&](simdjson::dom::object obj, int64_t) {
      if (rows++ >= opt.sample_rows) throw Stop{};
      for (auto [key, value] : obj) {
        std::string k(key);
        auto [it, fresh] = index.emplace(k, names.size());
        if (fresh) {
          names.push_back(k);
          types.push_back(TypeId::kFloat64);  // all nulls: float64, as pandas
          unseen.push_back(true);
        }
        bool first = unseen[it->second];
        types[it->second] = Widen(types[it->second], value, &first);
        unseen[it->second] = first;
      }
    });
  } catch (const Stop&) {
  }
  for (const auto& [name, t] : opt.dtype) {
    if (!index.count(name)) Fail(file, 0, "dtype names column '" + name + "', which no object in the first lines has");
  }
  for (const auto& name : opt.usecols) {
    if (!index.count(name)) Fail(file, 0, "usecols names column '" + name + "', which no object in the first lines has");
  }
  Schema schema;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!opt.usecols.empty() && std::find(opt.usecols.begin(), opt.usecols.end(), names[i]) == opt.usecols.end()) {
      continue;
    }
    auto forced = opt.dtype.find(names[i]);
    schema.push_back({names[i], forced != opt.dtype.end() ? forced->second : types[i]});
  }
  return schema;
}

Table ParseJsonLines(std::string_view text, const Schema& schema, const std::vector<std::string>& skip,
                     const std::string& file, int64_t first_line) {
  simdjson::padded_string padded = Padded(text);
  std::unordered_map<std::string_view, size_t> slot;
  for (size_t i = 0; i < schema.size(); ++i) slot.emplace(schema[i].name, i);
  std::unordered_map<std::string_view, bool> skipped;
  for (const auto& s : skip) skipped.emplace(s, true);
  std::vector<ColumnBuilder> builders;
  std::vector<CategoryBuilder> categories(schema.size());
  for (const Field& f : schema) builders.emplace_back(f.type == TypeId::kCategory ? TypeId::kString : f.type);
  std::vector<char> seen(schema.size());
  int64_t rows = 0;
  ForEachObject(std::string_view(padded.data(), padded.size()), file, first_line, [&](simdjson::dom::object obj,
                                                                                       int64_t line) {
    std::fill(seen.begin(), seen.end(), 0);
    for (simdjson::dom::key_value_pair field : obj) {
      // Named copies, not structured bindings: lambdas below capture them.
      const std::string_view key = field.key;
      const simdjson::dom::element value = field.value;
      auto it = slot.find(key);
      if (it == slot.end()) {
        if (skipped.count(key)) continue;
        Fail(file, line, "key '" + std::string(key) + "' is not in the schema inferred from the first lines (declare it with dtype)");
      }
      const size_t c = it->second;
      if (seen[c]) Fail(file, line, "key '" + std::string(key) + "' appears twice");
      seen[c] = 1;
      const Field& f = schema[c];
      ColumnBuilder& b = builders[c];
      if (value.is_null()) {
        if (f.type == TypeId::kCategory) categories[c].AppendNull();
        else b.AppendNull();
        continue;
      }
      auto bad = [&] {
        Fail(file, line, "column '" + f.name + "': " + simdjson::minify(value).substr(0, 64) + " is not a valid " +
                             std::string(TypeName(f.type)) + " (force another type with dtype)");
      };
      switch (f.type) {
        case TypeId::kInt64:
        case TypeId::kInt32: {
          int64_t v;
          if (value.get(v)) bad();
          if (f.type == TypeId::kInt32) {
            if (v < INT32_MIN || v > INT32_MAX) bad();
            b.Append(static_cast<int32_t>(v));
          } else {
            b.Append(v);
          }
          break;
        }
        case TypeId::kFloat64:
        case TypeId::kFloat32: {
          double v;
          if (value.get(v)) bad();
          if (f.type == TypeId::kFloat32) b.Append(static_cast<float>(v));
          else b.Append(v);
          break;
        }
        case TypeId::kBool: {
          bool v;
          if (value.get(v)) bad();
          b.AppendBool(v);
          break;
        }
        case TypeId::kTimestamp:
        case TypeId::kDate: {
          std::string_view s;
          if (value.get(s)) bad();
          if (f.type == TypeId::kDate) {
            int32_t d;
            if (!dates::ParseDate(s, &d)) bad();
            b.Append(d);
          } else {
            int64_t ns;
            if (!dates::ParseTimestamp(s, &ns)) bad();
            b.Append(ns);
          }
          break;
        }
        default: {  // strings and categories: text, or the value's JSON
          std::string_view s;
          std::string json;
          if (value.get(s)) {
            json = simdjson::minify(value);
            s = json;
          }
          if (f.type == TypeId::kCategory) categories[c].Append(s);
          else b.AppendString(s);
        }
      }
    }
    for (size_t c = 0; c < schema.size(); ++c) {
      if (seen[c]) continue;
      if (schema[c].type == TypeId::kCategory) categories[c].AppendNull();
      else builders[c].AppendNull();
    }
    ++rows;
  });
  std::vector<std::pair<std::string, Column>> cols;
  for (size_t c = 0; c < schema.size(); ++c) {
    cols.emplace_back(schema[c].name,
                      schema[c].type == TypeId::kCategory ? categories[c].Finish() : builders[c].Finish());
  }
  if (cols.empty()) return Table::Empty(rows);
  return Table(std::move(cols));
}

Table ParseJsonFile(const std::string& path, const JsonOptions& opt) {
  io::internal::File f = io::internal::File::OpenRead(path);
  std::string text(static_cast<size_t>(f.Size()), '\0');
  if (!text.empty()) f.ReadAt(0, text.data(), static_cast<int64_t>(text.size()));
  Schema schema = InferJsonSchema(text, opt, path);
  // Keys of the whole inferred schema that usecols leaves out are skipped.
  JsonOptions all = opt;
  all.usecols.clear();
  std::vector<std::string> skip;
  for (const Field& f2 : InferJsonSchema(text, all, path)) {
    if (std::none_of(schema.begin(), schema.end(), [&](const Field& g) { return g.name == f2.name; })) skip.push_back(f2.name);
  }
  return ParseJsonLines(text, schema, skip, path, 1);
}

}  // namespace skein
