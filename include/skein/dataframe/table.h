// skein/dataframe/table.h — one dataframe partition: named columns of equal
// length, the unit that tasks pass between each other.
//
//   skein::Table t({{"id", skein::Column::FromVector<int64_t>({1, 2})},
//                   {"name", skein::Column::FromStrings({"a", "b"})}});
//   const skein::Column& id = t.column("id");
//   std::cout << t;     // an aligned pandas-like table
#pragma once

#include <iosfwd>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "skein/dataframe/column.h"

namespace skein {

/// Column names and types.
struct Field {
  std::string name;
  TypeId type = TypeId::kInt64;
  friend bool operator==(const Field&, const Field&) = default;
};
using Schema = std::vector<Field>;
/// "id: int64, name: string".
std::string SchemaToString(const Schema& schema);

/// Immutable once built; safe for concurrent reads.
class Table {
 public:
  Table() = default;
  /// Error when the columns differ in length or two share a name.
  explicit Table(std::vector<std::pair<std::string, Column>> columns);
  /// Zero columns of `num_rows` rows.
  static Table Empty(int64_t num_rows = 0);

  int64_t num_rows() const { return num_rows_; }
  int num_columns() const { return static_cast<int>(columns_.size()); }
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<Column>& columns() const { return columns_; }
  Schema schema() const;
  /// Index of a column, or -1.
  int Find(std::string_view name) const;
  /// KeyError naming the column and the ones that exist.
  const Column& column(std::string_view name) const;
  const Column& column(int i) const { return columns_.at(static_cast<size_t>(i)); }

  /// A table with only `names`, in that order (KeyError for unknown ones).
  Table Select(const std::vector<std::string>& names) const;
  /// This table plus (or with a replaced) column.
  Table With(const std::string& name, Column column) const;
  Table Slice(int64_t offset, int64_t length) const;
  Table Take(std::span<const int64_t> indices) const;
  Table Take(const std::vector<int64_t>& indices) const { return Take(std::span<const int64_t>(indices)); }
  Table Filter(const Column& mask) const;
  /// The rows dealt out to parts (Column::Split on every column).
  std::vector<Table> Split(std::span<const uint32_t> part, size_t parts) const;
  /// Rows of several tables with the same schema, in order (Error naming the
  /// first schema that differs).
  static Table Concat(const std::vector<Table>& parts);

  size_t nbytes() const;
  friend bool operator==(const Table& a, const Table& b);

  /// pandas-like text: a header, right-aligned cells, at most `max_rows`
  /// rows (first and last halves around "..."), then "[N rows x M columns]"
  /// when truncated.
  std::string ToString(int64_t max_rows = 60) const;

 private:
  int64_t num_rows_ = 0;
  std::vector<std::string> names_;
  std::vector<Column> columns_;
};

std::ostream& operator<<(std::ostream& os, const Table& t);

}  // namespace skein
