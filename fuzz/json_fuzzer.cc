// libFuzzer target: JSON lines (src/io/json.cc). Any bytes must parse or
// fail with skein::Error; never crash or hang.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "skein/core/error.h"
#include "skein/io/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/skein-json-fuzz-" + std::to_string(::getpid()) + ".jsonl";
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  skein::JsonOptions opt;
  opt.sample_rows = size % 3 == 0 ? 1 : 1000;  // sometimes meet keys and types after the sample
  try {
    skein::Table t = skein::ParseJsonFile(path, opt);
    (void)t.ToString();
  } catch (const skein::Error&) {
  }
  return 0;
}
