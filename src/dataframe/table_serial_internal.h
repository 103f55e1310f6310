// Private: a serialized table's layout (which frame holds which buffer of
// which column), shared by the skein.Table serializer and by the
// concatenation of lent partitions, which reads each column's frames
// straight to their place in the result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "skein/core/buffer.h"
#include "skein/core/lent_value.h"
#include "skein/dataframe/table.h"

namespace skein::dataframe::internal {

/// Where one serialized column's buffers are: indices into the frames.
struct ColumnLayout {
  TypeId type = TypeId::kInt64;
  int64_t length = 0;
  std::optional<size_t> validity;  // absent: no nulls
  size_t values = 0;
  std::optional<size_t> offsets;   // strings
  bool categories_known = false;   // categories
  std::shared_ptr<const ColumnLayout> dictionary;  // categories: their labels' layout
};

struct TableLayout {
  int64_t rows = 0;
  std::vector<std::string> names;
  std::vector<ColumnLayout> columns;
};

/// A table's skein.Table header and frames (the frames share its buffers).
std::vector<Buffer> EncodeTable(const Table& t, std::string* header);
/// The table a header and its frames describe; SerializationError if they
/// are malformed or disagree.
Table DecodeTable(std::string_view header, std::span<const Buffer> frames);

/// The layout a skein.Table header describes, for `frames` frames (every
/// frame used exactly once). SerializationError if the header is malformed
/// or names frames that are not there.
TableLayout ReadTableLayout(std::string_view header, size_t frames);

/// The column `layout` describes, over `frames` (only its own are used).
/// SerializationError if the buffers do not fit the layout.
Column BuildColumn(const ColumnLayout& layout, std::span<const Buffer> frames);

/// The partitions' tables (lent skein.Table values), concatenated as
/// Table::Concat would: the columns of fixed width without nulls (over one
/// dictionary, for categories) are copied from each part straight to their
/// place in the result; the others are brought here and concatenated.
/// Error naming the part when a part is not a table, or the parts'
/// schemas differ; SerializationError when a part's layout lies.
Table ConcatLent(const std::vector<LentValuePtr>& parts);

}  // namespace skein::dataframe::internal
