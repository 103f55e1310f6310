// to_parquet: one Parquet file per partition in a directory, each written
// by its partition's task under a temporary name (see dataframe.h).
#include <dirent.h>

#include <filesystem>

#include "io/file_internal.h"
#include "plan_internal.h"
#include "skein/api/delayed.h"
#include "skein/core/op.h"
#include "skein/core/serialize.h"

namespace skein {

namespace {

std::string EncodeOptions(const std::string& path, const ParquetWriteOptions& o) {
  std::string out;
  ByteWriter w(&out);
  w.Str(path);
  w.Str(o.compression);
  w.I64(o.row_group_size);
  w.I64(o.page_size);
  w.U8(o.dictionary ? 1 : 0);
  w.I64(o.dictionary_limit);
  w.U8(static_cast<uint8_t>(o.data_page_version));
  return out;
}

// params: the file and how to write it; args: [partition]. Returns its rows.
const OpPtr& WriteParquetOp() {
  static const OpPtr op = RegisterOp("dataframe.to-parquet", [](std::span<const Value> args, const OpContext& ctx) {
    ByteReader r(ctx.params.get<std::string>(), "dataframe.to-parquet params");
    const std::string path(r.Str());
    ParquetWriteOptions o;
    o.compression = std::string(r.Str());
    o.row_group_size = r.I64();
    o.page_size = r.I64();
    o.dictionary = r.U8() != 0;
    o.dictionary_limit = r.I64();
    o.data_page_version = r.U8();
    const Table& t = args[0].get<Table>();
    WriteParquet(path, t, o);
    return Value(t.num_rows());
  });
  return op;
}
[[maybe_unused]] const OpPtr& kRegistered = WriteParquetOp();

bool IsPartFile(const std::string& name, int64_t* index) {
  // part.<i>.parquet
  if (name.rfind("part.", 0) != 0 || name.size() < 14 || name.compare(name.size() - 8, 8, ".parquet") != 0) return false;
  const std::string digits = name.substr(5, name.size() - 13);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 12) return false;
  *index = std::stoll(digits);
  return true;
}

}  // namespace

std::vector<std::string> DataFrame::to_parquet(const std::string& dir, const ParquetWriteOptions& options, bool overwrite,
                                               const ComputeOptions& compute) const {
  if (!valid()) throw Error("to_parquet: the DataFrame is empty (default-constructed)");
  FormatParquet(dataframe::internal::EmptyTable(schema()), options);  // bad options fail now, before any work
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw IOError("to_parquet: cannot create directory '" + dir + "'");
  std::vector<std::string> stale;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 8 && n.compare(n.size() - 8, 8, ".parquet") == 0) stale.push_back(e.path().string());
  }
  if (!stale.empty() && !overwrite) {
    throw IOError("to_parquet: '" + dir + "' already holds " + std::to_string(stale.size()) +
                  " .parquet files; pass overwrite=true to replace them");
  }
  dataframe::internal::Lowered l = dataframe::internal::Lower(node());
  Graph g = Materialize({l.layer});
  std::vector<Key> writes;
  std::vector<std::string> files;
  const std::string name = skein::internal::NewKeyName("to-parquet");
  for (size_t i = 0; i < l.keys.size(); ++i) {
    std::string file = dir + "/part." + std::to_string(i) + ".parquet";
    Key k(name, {static_cast<int64_t>(i)});
    g.Add(k, Task::Call(WriteParquetOp(), {Arg::Ref(l.keys[i])}, Value(EncodeOptions(file, options))));
    writes.push_back(k);
    files.push_back(std::move(file));
  }
  Get(g, writes, compute);
  // Every new file is in place: remove old part files past the new count.
  for (const std::string& f : stale) {
    int64_t index = 0;
    if (IsPartFile(fs::path(f).filename().string(), &index) && index >= static_cast<int64_t>(files.size())) {
      io::internal::RemoveAll(f);
    }
  }
  return files;
}

}  // namespace skein
