// libFuzzer target: Parquet files (src/io/parquet). The input is a whole
// file: footer, schema, page headers, levels, every encoding and codec.
// Any input must read or fail with skein::Error; never crash or hang.
// Oracle: a file that reads writes back (skein's writer) and reads again
// to the same table. Files declaring over a million rows are not read:
// the reader allocates what the footer declares, as every reader does.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "skein/core/error.h"
#include "skein/io/parquet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/skein-parquet-fuzz-" + std::to_string(::getpid()) + ".parquet";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  skein::Table t;
  try {
    skein::ParquetFile f = skein::ParquetFile::Open(path);
    int64_t rows = 0;
    for (int g = 0; g < f.num_row_groups(); ++g) rows += f.row_group_rows(g);
    if (rows > 1000000) return 0;
    for (int g = 0; g < f.num_row_groups(); ++g) (void)f.stats(g, 0);
    t = f.Read();
  } catch (const skein::Error&) {
    return 0;
  }
  if (t.num_columns() == 0) return 0;
  skein::ParquetWriteOptions o;
  o.data_page_version = 1 + static_cast<int>(size % 2);
  skein::WriteParquet(path, t, o);
  const skein::Table back = skein::ParquetFile::Open(path).Read();
  if (!(back == t)) std::abort();
  return 0;
}
