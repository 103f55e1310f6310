// Tables: named columns of equal length, selection, concatenation and the
// pandas-like text form (see table.h).
#include "skein/dataframe/table.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <optional>
#include <ostream>
#include <thread>
#include <unordered_set>

#include "dataframe/table_serial_internal.h"
#include "skein/core/serialize.h"


namespace skein {

std::string SchemaToString(const Schema& schema) {
  std::string s;
  for (const Field& f : schema) {
    if (!s.empty()) s += ", ";
    s += f.name + ": " + std::string(TypeName(f.type));
  }
  return s;
}

Table::Table(std::vector<std::pair<std::string, Column>> columns) {
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < columns.size(); ++i) {
    auto& [name, col] = columns[i];
    if (!seen.insert(name).second) throw Error("table: column '" + name + "' given twice");
    if (i == 0) num_rows_ = col.length();
    if (col.length() != num_rows_) {
      throw Error("table: column '" + name + "' has " + std::to_string(col.length()) + " rows, '" + columns[0].first +
                  "' has " + std::to_string(num_rows_));
    }
    names_.push_back(std::move(name));
    columns_.push_back(std::move(col));
  }
}

Table Table::Empty(int64_t num_rows) {
  Table t;
  t.num_rows_ = num_rows;
  return t;
}

Schema Table::schema() const {
  Schema s;
  for (size_t i = 0; i < names_.size(); ++i) s.push_back({names_[i], columns_[i].type()});
  return s;
}

int Table::Find(std::string_view name) const {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

const Column& Table::column(std::string_view name) const {
  const int i = Find(name);
  if (i < 0) {
    std::string have;
    for (const auto& n : names_) have += (have.empty() ? "" : ", ") + n;
    throw KeyError("no column '" + std::string(name) + "' (columns: " + have + ")");
  }
  return columns_[static_cast<size_t>(i)];
}

Table Table::Select(const std::vector<std::string>& names) const {
  std::vector<std::pair<std::string, Column>> cols;
  for (const auto& n : names) cols.emplace_back(n, column(n));
  Table t(std::move(cols));
  t.num_rows_ = num_rows_;
  return t;
}

Table Table::With(const std::string& name, Column c) const {
  if (!columns_.empty() && c.length() != num_rows_) {
    throw Error("table: new column '" + name + "' has " + std::to_string(c.length()) + " rows, the table " +
                std::to_string(num_rows_));
  }
  Table t = *this;
  if (columns_.empty()) t.num_rows_ = c.length();
  const int i = Find(name);
  if (i >= 0) {
    t.columns_[static_cast<size_t>(i)] = std::move(c);
  } else {
    t.names_.push_back(name);
    t.columns_.push_back(std::move(c));
  }
  return t;
}

Table Table::Slice(int64_t offset, int64_t length) const {
  offset = std::clamp<int64_t>(offset, 0, num_rows_);
  length = std::clamp<int64_t>(length, 0, num_rows_ - offset);
  Table t = *this;
  t.num_rows_ = length;
  for (auto& c : t.columns_) c = c.Slice(offset, length);
  return t;
}

Table Table::Take(std::span<const int64_t> indices) const {
  Table t = *this;
  t.num_rows_ = static_cast<int64_t>(indices.size());
  for (auto& c : t.columns_) c = c.Take(indices);
  return t;
}

std::vector<Table> Table::Split(std::span<const uint32_t> part, size_t parts) const {
  const std::vector<int64_t> counts = Column::CountParts(part, num_rows_, parts, "table");
  std::vector<Table> out(parts, *this);
  for (size_t p = 0; p < parts; ++p) out[p].num_rows_ = counts[p];
  for (size_t c = 0; c < columns_.size(); ++c) {
    std::vector<Column> pieces = columns_[c].SplitCounted(part, counts);
    for (size_t p = 0; p < parts; ++p) out[p].columns_[c] = std::move(pieces[p]);
  }
  return out;
}

Table Table::Filter(const Column& mask) const {
  if (mask.type() != TypeId::kBool || mask.length() != num_rows_) {
    throw Error("filter: mask of " + std::string(TypeName(mask.type())) + " with " + std::to_string(mask.length()) +
                " rows on a table of " + std::to_string(num_rows_) + " rows");
  }
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < num_rows_; ++i) {
    if (mask.IsValid(i) && mask.BoolAt(i)) idx.push_back(i);
  }
  return Take(idx);
}

namespace {
constexpr size_t kParallelConcatBytes = size_t{64} << 20;
}  // namespace

Table Table::Concat(const std::vector<Table>& parts) {
  if (parts.empty()) return Table();
  if (parts.size() == 1) return parts[0];
  const Schema schema = parts[0].schema();
  int64_t rows = 0;
  for (size_t p = 0; p < parts.size(); ++p) {
    if (parts[p].schema() != schema) {
      throw Error("concat: part " + std::to_string(p) + " has schema {" + SchemaToString(parts[p].schema()) +
                  "}, part 0 {" + SchemaToString(schema) + "}");
    }
    rows += parts[p].num_rows();
  }
  std::vector<std::optional<Column>> done(schema.size());
  std::vector<std::exception_ptr> failed(schema.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t c; (c = next.fetch_add(1)) < schema.size();) {
      std::vector<const Column*> pieces;
      for (const Table& part : parts) pieces.push_back(&part.columns_[c]);
      try {
        done[c] = Column::Concat(pieces);
      } catch (...) {
        failed[c] = std::current_exception();
      }
    }
  };
  // A large result (a join's 10M rows gathered by compute(): 680 MB) is
  // copied column by column on several threads: one thread's copy reaches
  // about half of what the memory can do (680 MB: 44 ms, two threads 24).
  size_t bytes = 0;
  for (const Table& part : parts) bytes += part.nbytes();
  const size_t threads = bytes >= kParallelConcatBytes
                             ? std::min<size_t>({schema.size(), std::max(1u, std::thread::hardware_concurrency()), 8})
                             : 1;
  std::vector<std::thread> helpers;
  for (size_t h = 1; h < threads; ++h) helpers.emplace_back(work);
  work();
  for (std::thread& h : helpers) h.join();
  std::vector<std::pair<std::string, Column>> cols;
  for (size_t c = 0; c < schema.size(); ++c) {
    if (failed[c]) std::rethrow_exception(failed[c]);
    cols.emplace_back(schema[c].name, std::move(*done[c]));
  }
  Table t(std::move(cols));
  t.num_rows_ = rows;
  return t;
}

size_t Table::nbytes() const {
  size_t n = sizeof(*this);
  for (const auto& c : columns_) n += c.nbytes();
  for (const auto& s : names_) n += s.size();
  return n;
}

bool operator==(const Table& a, const Table& b) {
  return a.num_rows_ == b.num_rows_ && a.names_ == b.names_ && a.columns_ == b.columns_;
}

std::string Table::ToString(int64_t max_rows) const {
  std::vector<int64_t> rows;
  const bool cut = num_rows_ > max_rows;
  if (!cut) {
    for (int64_t i = 0; i < num_rows_; ++i) rows.push_back(i);
  } else {
    for (int64_t i = 0; i < max_rows / 2; ++i) rows.push_back(i);
    rows.push_back(-1);
    for (int64_t i = num_rows_ - max_rows / 2; i < num_rows_; ++i) rows.push_back(i);
  }
  // Cells, column by column; the first column is the row number.
  std::vector<std::vector<std::string>> cells(columns_.size() + 1);
  cells[0].push_back("");
  for (int64_t r : rows) cells[0].push_back(r < 0 ? "..." : std::to_string(r));
  for (size_t c = 0; c < columns_.size(); ++c) {
    cells[c + 1].push_back(names_[c]);
    for (int64_t r : rows) cells[c + 1].push_back(r < 0 ? "..." : columns_[c].Format(r));
  }
  std::vector<size_t> width(cells.size(), 0);
  for (size_t c = 0; c < cells.size(); ++c) {
    for (const auto& s : cells[c]) width[c] = std::max(width[c], s.size());
  }
  std::string out;
  for (size_t r = 0; r < cells[0].size(); ++r) {
    for (size_t c = 0; c < cells.size(); ++c) {
      const std::string& s = cells[c][r];
      if (c) out += "  ";
      if (c == 0) out += s + std::string(width[c] - s.size(), ' ');
      else out += std::string(width[c] - s.size(), ' ') + s;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  }
  if (columns_.empty()) out = "Empty table\n";
  if (cut || columns_.empty()) {
    out += "\n[" + std::to_string(num_rows_) + " rows x " + std::to_string(columns_.size()) + " columns]\n";
  }
  return out;
}

std::ostream& operator<<(std::ostream& os, const Table& t) { return os << t.ToString(); }

// The format is in table_serial.cc, with the concatenation of lent parts.
SKEIN_REGISTER_SERIALIZER(Table, "skein.Table", dataframe::internal::EncodeTable, dataframe::internal::DecodeTable);

}  // namespace skein
