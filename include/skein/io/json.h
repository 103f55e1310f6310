// skein/io/json.h — JSON lines (one object per line) to tables, parsed with
// simdjson: what read_json's partition tasks run.
//
//   skein::JsonOptions opt;
//   skein::Table t = skein::ParseJsonFile("events.jsonl", opt);
//
// Columns are the keys of the objects in the first `sample_rows` lines, in
// first-seen order; types are inferred from their values (int64, float64,
// bool, string; nested objects and arrays are kept as their JSON text) or
// forced with `dtype`. A key missing from an object is a null. Bad input
// gets an IOError naming the file and line: invalid JSON, a line that is
// not an object, a value that does not fit its column's type, a key not in
// the schema.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "skein/dataframe/table.h"

namespace skein {

struct JsonOptions {
  std::map<std::string, TypeId> dtype;
  /// Only these columns; empty: all.
  std::vector<std::string> usecols;
  int64_t blocksize = 64 << 20;
  int64_t sample_rows = 1000;
};

/// The schema of JSON lines from the start of a file.
Schema InferJsonSchema(std::string_view text, const JsonOptions& options, const std::string& file);
/// Parses JSON lines into a table of `schema` (other keys in the schema of
/// the whole file but not read are `skip`ped). `first_line` numbers errors.
Table ParseJsonLines(std::string_view text, const Schema& schema, const std::vector<std::string>& skip,
                     const std::string& file, int64_t first_line);
/// A whole file.
Table ParseJsonFile(const std::string& path, const JsonOptions& options = {});

}  // namespace skein
