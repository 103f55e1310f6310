// read_csv: expanding the glob, inferring the schema from the first file,
// and planning the partitions (one per block of `blocksize` bytes).
#include <glob.h>

#include <algorithm>
#include <cctype>

#include "io/file_internal.h"
#include "plan_internal.h"

namespace skein {

using dataframe::internal::CsvSource;
using dataframe::internal::PlanNode;

namespace dataframe::internal {

bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])), db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      size_t ei = i, ej = j;
      while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei]))) ++ei;
      while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej]))) ++ej;
      // Compare the numbers by value: fewer significant digits is smaller.
      size_t zi = i, zj = j;
      while (zi + 1 < ei && a[zi] == '0') ++zi;
      while (zj + 1 < ej && b[zj] == '0') ++zj;
      if (ei - zi != ej - zj) return ei - zi < ej - zj;
      const int c = a.compare(zi, ei - zi, b, zj, ej - zj);
      if (c != 0) return c < 0;
      i = ei;
      j = ej;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::vector<std::string> ExpandGlob(const std::string& pattern, const char* who) {
  if (pattern.find_first_of("*?[") == std::string::npos) return {pattern};
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> out;
  for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  globfree(&g);
  if (out.empty()) throw IOError(std::string(who) + ": no files match '" + pattern + "'");
  std::sort(out.begin(), out.end(), NaturalLess);
  return out;
}

}  // namespace dataframe::internal

namespace {

}  // namespace

namespace dataframe::internal {
std::vector<CsvBlock> PlanBlocks(const std::vector<std::string>& files, const CsvOptions& options) {
  std::vector<CsvBlock> blocks;
  for (const auto& f : files) {
    for (CsvBlock& b : PlanCsvBlocks(f, options)) {
      if (b.end > b.begin) blocks.push_back(std::move(b));
    }
  }
  if (blocks.empty()) blocks.push_back({files[0], 0, 0, 0});  // one empty partition
  return blocks;
}

// The start of a file up to a row boundary: enough for inference.
std::string Prefix(const std::string& path, int64_t limit) {
  io::internal::File f = io::internal::File::OpenRead(path);
  const int64_t size = f.Size();
  const int64_t n = std::min(size, limit);
  std::string text(static_cast<size_t>(n), '\0');
  if (n) f.ReadAt(0, text.data(), n);
  if (n < size) {
    const size_t last = text.rfind('\n');
    if (last != std::string::npos) text.resize(last + 1);
  }
  return text;
}
}  // namespace dataframe::internal

using dataframe::internal::Prefix;

DataFrame read_csv(const std::string& pattern, const CsvOptions& options) {
  if (options.blocksize < 1) throw Error("read_csv: blocksize must be >= 1");
  std::vector<std::string> files = dataframe::internal::ExpandGlob(pattern, "read_csv");
  auto src = std::make_shared<CsvSource>();
  src->options = options;
  src->schema = InferCsvSchema(Prefix(files[0], 4 << 20), options, files[0]);
  for (size_t i = 1; i < files.size(); ++i) {
    CsvOptions names_only = options;
    names_only.sample_rows = 0;
    CsvSchema other = InferCsvSchema(Prefix(files[i], 1 << 20), names_only, files[i]);
    if (other.names != src->schema.names) {
      throw IOError("read_csv: '" + files[i] + "' has different columns from '" + files[0] + "'");
    }
  }
  src->blocks = dataframe::internal::PlanBlocks(files, options);
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kCsv;
  node->schema = src->schema.fields;
  node->npartitions = static_cast<int>(src->blocks.size());
  node->csv = std::move(src);
  return DataFrame(std::move(node));
}

}  // namespace skein
