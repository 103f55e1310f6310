// to_csv: one file per partition (each written by its partition's task)
// or one file (partition files appended in order), always under temporary
// names renamed into place when complete (see dataframe.h).
#include <cstdio>
#include <fstream>

#include "io/file_internal.h"
#include "plan_internal.h"
#include "skein/api/delayed.h"
#include "skein/core/op.h"

namespace skein {

namespace {

// params: [path, header]; args: [partition]. Writes the file, returns its rows.
const OpPtr& WriteCsvOp() {
  static const OpPtr op = RegisterOp("dataframe.to-csv", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    const std::string& path = p.at(0).get<std::string>();
    const Table& t = args[0].get<Table>();
    io::internal::WriteFileAtomically(path, FormatCsv(t, p.at(1).as<int64_t>() != 0));
    return Value(t.num_rows());
  });
  return op;
}
[[maybe_unused]] const OpPtr& kRegistered = WriteCsvOp();

}  // namespace

std::vector<std::string> DataFrame::to_csv(const std::string& path, const ComputeOptions& options) const {
  if (!valid()) throw Error("to_csv: the DataFrame is empty (default-constructed)");
  dataframe::internal::Lowered l = dataframe::internal::Lower(node());
  const size_t star = path.find('*');
  const bool many = star != std::string::npos;
  // One file: every partition writes a part file (header only in the
  // first); the parts are then appended in order into the final file.
  const std::string single_tmp = many ? "" : io::internal::TempNameFor(path);
  std::vector<std::string> files;
  Graph g = Materialize({l.layer});
  std::vector<Key> writes;
  const std::string name = skein::internal::NewKeyName("to-csv");
  for (size_t i = 0; i < l.keys.size(); ++i) {
    std::string file = many ? path.substr(0, star) + std::to_string(i) + path.substr(star + 1)
                            : single_tmp + ".part" + std::to_string(i);
    Key k(name, {static_cast<int64_t>(i)});
    g.Add(k, Task::Call(WriteCsvOp(), {Arg::Ref(l.keys[i])}, Value(ValueList{Value(file), Value(int64_t{many || i == 0})})));
    writes.push_back(k);
    files.push_back(std::move(file));
  }
  try {
    Get(g, writes, options);
  } catch (...) {
    if (!many) {
      for (const auto& f : files) io::internal::RemoveAll(f);
    }
    throw;
  }
  if (many) return files;
  try {
    std::ofstream out(single_tmp, std::ios::binary | std::ios::trunc);
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      out << in.rdbuf();
      if (!out) throw IOError("to_csv: cannot write '" + single_tmp + "'");
    }
    out.close();
    if (!out) throw IOError("to_csv: cannot write '" + single_tmp + "'");
    io::internal::RenamePath(single_tmp, path);
  } catch (...) {
    io::internal::RemoveAll(single_tmp);
    for (const auto& f : files) io::internal::RemoveAll(f);
    throw;
  }
  for (const auto& f : files) io::internal::RemoveAll(f);
  return {path};
}

}  // namespace skein
