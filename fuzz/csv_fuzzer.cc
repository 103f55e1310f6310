// libFuzzer target: CSV text (src/io/csv.cc). The first byte picks the
// options (delimiter, header, forced types, category); the rest is the
// file. Any input must parse or fail with skein::Error; never crash or
// hang. Oracles: when the whole file parses, parsing it in small blocks at
// the planned row boundaries gives the same table; and text without quotes
// parses the same with "\r\n" line ends (the fast path against the general
// tokenizer).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "skein/core/error.h"
#include "skein/io/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const std::string path = "/tmp/skein-csv-fuzz-" + std::to_string(::getpid()) + ".csv";
  const uint8_t mode = data[0];
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  skein::CsvOptions opt;
  opt.delimiter = ",;\t|"[mode & 3];
  opt.header = (mode & 4) == 0;
  if (mode & 8) opt.dtype = {{opt.header ? "a" : "0", skein::TypeId::kInt64}};
  if (mode & 16) opt.dtype = {{opt.header ? "b" : "1", skein::TypeId::kCategory}};
  if (mode & 32) opt.parse_dates = {opt.header ? "a" : "0"};
  opt.blocksize = 1 + (mode >> 6) * 7;
  skein::Table whole;
  skein::CsvSchema schema;
  try {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    whole = skein::ParseCsvFile(path, opt);
    (void)whole.ToString();
    (void)skein::FormatCsv(whole);
    schema = skein::InferCsvSchema(text, opt, path);
  } catch (const skein::Error&) {
    return 0;
  }
  std::vector<skein::Table> parts;
  try {
    for (const skein::CsvBlock& b : skein::PlanCsvBlocks(path, opt)) {
      parts.push_back(skein::ParseCsv(std::string_view(text).substr(static_cast<size_t>(b.begin),
                                                                    static_cast<size_t>(b.end - b.begin)),
                                      schema, opt, path, b.first_line));
    }
  } catch (const skein::Error&) {
    std::abort();  // the whole file parsed, so its blocks must
  }
  if (!parts.empty() && parts[0].num_columns() == whole.num_columns() && !(skein::Table::Concat(parts) == whole)) {
    std::abort();
  }
  // Text without quotes or '\r' parses on the unquoted fast path. With
  // "\r\n" line ends it takes the general tokenizer, which must agree.
  if (text.find_first_of("\"\r") == std::string::npos && text.find('\n') != std::string::npos) {
    std::string crlf;
    for (char c : text) {
      if (c == '\n') crlf += '\r';
      crlf += c;
    }
    const size_t body = text.find('\n') + 1;
    const std::string_view rows = opt.header ? std::string_view(text).substr(body) : std::string_view(text);
    const std::string_view crlf_rows =
        opt.header ? std::string_view(crlf).substr(crlf.find('\n') + 1) : std::string_view(crlf);
    bool fast_ok = true, general_ok = true;
    skein::Table fast, general;
    try {
      fast = skein::ParseCsv(rows, schema, opt, path, 2);
    } catch (const skein::Error&) {
      fast_ok = false;
    }
    try {
      general = skein::ParseCsv(crlf_rows, schema, opt, path, 2);
    } catch (const skein::Error&) {
      general_ok = false;
    }
    if (fast_ok != general_ok || (fast_ok && !(fast == general))) std::abort();
  }
  return 0;
}
