// read_json: JSON lines files as a frame, one partition per block of lines
// (see dataframe.h and skein/io/json.h).
#include "plan_internal.h"

namespace skein {

using dataframe::internal::JsonSource;
using dataframe::internal::PlanNode;

DataFrame read_json(const std::string& pattern, const JsonOptions& options) {
  if (options.blocksize < 1) throw Error("read_json: blocksize must be >= 1");
  std::vector<std::string> files = dataframe::internal::ExpandGlob(pattern, "read_json");
  auto src = std::make_shared<JsonSource>();
  JsonOptions all = options;
  all.usecols.clear();
  src->schema = InferJsonSchema(dataframe::internal::Prefix(files[0], 4 << 20), all, files[0]);
  // JSON strings cannot hold raw newlines, so every newline ends a line:
  // the CSV planner with no quote character (NUL never appears in JSON
  // text) cuts the files at the first newline after each block's size.
  CsvOptions lines;
  lines.header = false;
  lines.quote = '\0';
  lines.blocksize = options.blocksize;
  src->blocks = dataframe::internal::PlanBlocks(files, lines);
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kJson;
  node->schema = src->schema;
  node->npartitions = static_cast<int>(src->blocks.size());
  node->json = std::move(src);
  DataFrame df(std::move(node));
  if (!options.usecols.empty()) df = df[options.usecols];
  return df;
}

}  // namespace skein
