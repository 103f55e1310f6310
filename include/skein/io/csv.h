// skein/io/csv.h — CSV text to tables and back: the parser that read_csv's
// partition tasks run, type inference, and block planning.
//
// One file is cut into blocks of about `blocksize` bytes at row boundaries
// (a quote-aware scan, so quoted fields may hold newlines); each block
// parses on its own into a Table with the schema inferred from the first
// rows of the first file (or forced through `dtype`).
//
//   skein::CsvOptions opt;
//   opt.dtype = {{"id", skein::TypeId::kInt64}};
//   skein::Table t = skein::ParseCsvFile("data.csv", opt);      // whole file
//   skein::WriteCsv("out.csv", t);
//
// Bad input gets an IOError naming the file, line and column: a row with
// too few or too many fields, a value that does not parse as its column's
// type, an unterminated quote.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "skein/core/error.h"
#include "skein/dataframe/table.h"

namespace skein {

struct CsvOptions {
  char delimiter = ',';
  char quote = '"';
  /// First line names the columns; otherwise `names` (or "0", "1", ...).
  bool header = true;
  std::vector<std::string> names;
  /// Text read as null (pandas' defaults).
  std::vector<std::string> na_values = {"",    "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                                        "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None",
                                        "n/a", "nan", "null"};
  /// Forced column types; the others are inferred.
  std::map<std::string, TypeId> dtype;
  /// Only these columns (in file order); empty: all.
  std::vector<std::string> usecols;
  /// Columns inferred as timestamps (or dates, when every value is a bare
  /// date) instead of strings.
  std::vector<std::string> parse_dates;
  /// Target bytes per partition (read_csv; 64 MiB as in Dask).
  int64_t blocksize = 64 << 20;
  /// Rows read to infer types.
  int64_t sample_rows = 1000;
};

/// Column names and types of a CSV source (after usecols).
struct CsvSchema {
  std::vector<std::string> names;  ///< every column in the file, in order
  Schema fields;                   ///< the columns read, with their types
  std::vector<int> source_index;   ///< per field, its position in the file
};

/// Infers the schema from the start of `text`: a file's first bytes, ending
/// at a row boundary or at the end of the file. `file` names it in errors.
CsvSchema InferCsvSchema(std::string_view text, const CsvOptions& options, const std::string& file);

/// Parses rows of `text` (no header line) into a table of `schema`.
/// `first_line` is the 1-based line number of text's first line, for errors.
Table ParseCsv(std::string_view text, const CsvSchema& schema, const CsvOptions& options, const std::string& file,
               int64_t first_line);

/// One block of a file: bytes [begin, end), starting on a row boundary.
struct CsvBlock {
  std::string path;
  int64_t begin = 0, end = 0;
  int64_t first_line = 1;  ///< line number of `begin` (0: not counted, see ParseBlock)
};
/// Cuts a file into blocks of about `blocksize` bytes after its header, at
/// row boundaries outside quotes. Only the first block's line number is
/// counted (the others' cost a serial pass over the whole file before any
/// block is parsed; errors count them when they need them).
std::vector<CsvBlock> PlanCsvBlocks(const std::string& path, const CsvOptions& options);

/// An error at a line of a file ("CSV 'f', line 7: what"), its parts kept
/// so that a block parsed with lines counted from 1 can name the file's.
class LineError : public IOError {
 public:
  LineError(std::string kind, std::string file, int64_t line, std::string detail);
  const std::string& kind() const { return kind_; }
  const std::string& file() const { return file_; }
  int64_t line() const { return line_; }
  const std::string& detail() const { return detail_; }

 private:
  std::string kind_, file_, detail_;
  int64_t line_;
};
/// The line number (1-based) of byte `offset` of `path`.
int64_t LineAt(const std::string& path, int64_t offset);
/// parse(first_line) over block `b`; where b's first line was not counted,
/// lines count from 1 and a LineError comes back naming the file's line,
/// counted then. Errors leave as plain IOErrors (a task's error names
/// IOError, as it did before blocks stopped counting lines).
template <class F>
auto ParseBlock(const CsvBlock& b, F&& parse) {
  try {
    return parse(b.first_line > 0 ? b.first_line : int64_t{1});
  } catch (const LineError& e) {
    if (b.first_line > 0 || e.line() <= 0) throw IOError(e.what());
    throw IOError(LineError(e.kind(), e.file(), LineAt(b.path, b.begin) + e.line() - 1, e.detail()).what());
  }
}

/// Reads a whole file (header, inference, all rows) into one table.
Table ParseCsvFile(const std::string& path, const CsvOptions& options = {});

/// Writes `table` as CSV (header line, RFC 4180 quoting, nulls empty) under
/// a temporary name and renames it into place.
void WriteCsv(const std::string& path, const Table& table, char delimiter = ',');
/// The CSV text of `table` (rows only when `header` is false).
std::string FormatCsv(const Table& table, bool header = true, char delimiter = ',');

}  // namespace skein
