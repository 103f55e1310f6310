// skein/dataframe/arrow_c.h — tables in and out through the Arrow C Data
// Interface (https://arrow.apache.org/docs/format/CDataInterface.html),
// without the Arrow library.
//
// Export shares the table's buffers: the ArrowArray keeps them alive until
// its consumer calls release. Import takes ownership of the producer's
// structs and wraps their buffers without copying (an array with a non-zero
// offset is the one case that is copied).
//
//   ArrowSchema schema; ArrowArray array;
//   skein::ExportTable(table, &schema, &array);   // hand both to DuckDB, pyarrow...
//   skein::Table back = skein::ImportTable(&schema, &array);  // takes them
#pragma once

#include <cstdint>

#include "skein/dataframe/table.h"

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

extern "C" {
struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;
  void (*release)(struct ArrowSchema*);
  void* private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;
  void (*release)(struct ArrowArray*);
  void* private_data;
};
}

#endif  // ARROW_C_DATA_INTERFACE

namespace skein {

/// Exports `table` as a struct array ("+s") with one child per column:
/// int64 "l", int32 "i", float64 "g", float32 "f", bool "b", string "u",
/// timestamp "tsn:", date "tdD", category: "i" codes with a "u" dictionary.
/// Both structs must be released by the consumer.
void ExportTable(const Table& table, ArrowSchema* schema, ArrowArray* array);
/// Exports one column (`name` in the schema).
void ExportColumn(const Column& column, const std::string& name, ArrowSchema* schema, ArrowArray* array);

/// Imports a struct array; takes ownership of both structs (their release
/// callbacks are called when the last column using them goes, or at once on
/// error) and leaves them released (release == nullptr). IOError naming the
/// column and what is unsupported or inconsistent: an unknown format,
/// buffers missing, lengths that disagree.
Table ImportTable(ArrowSchema* schema, ArrowArray* array);
/// Imports one column the same way.
Column ImportColumn(ArrowSchema* schema, ArrowArray* array);

}  // namespace skein
