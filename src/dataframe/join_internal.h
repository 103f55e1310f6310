// Joining two tables on key columns (the kernel every merge strategy runs
// per partition pair), and the merge plan's parameters.
#pragma once

#include <string>
#include <vector>

#include "skein/dataframe/table.h"

namespace skein::dataframe::internal {

enum class JoinHow : uint8_t { kInner, kLeft, kRight, kOuter };
/// "inner", "left", "right", "outer"; Error naming the unknown one.
JoinHow JoinHowFromName(const std::string& how);

struct JoinSpec {
  std::vector<std::string> left_on, right_on;
  JoinHow how = JoinHow::kInner;
  std::string suffix_left = "_x", suffix_right = "_y";
};

/// pandas' merge of two tables: left rows in order with their matches
/// (null keys match null keys, as in pandas), then for right and outer
/// joins the right rows nothing matched. Keys named alike in both appear
/// once; other names shared by both sides get the suffixes. TypeError
/// naming both columns when key types cannot be compared.
Table HashJoin(const Table& left, const Table& right, const JoinSpec& spec);

}  // namespace skein::dataframe::internal
