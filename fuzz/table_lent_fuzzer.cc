// libFuzzer target: serialized tables (skein.Table) from untrusted bytes,
// decoded whole and concatenated as lent parts (as compute() reads a
// cluster's partitions): any input must give a table or raise skein::Error;
// never crash, hang or read out of bounds. Input: a packed value
// (skein::Pack). Run: make fuzz (bounded time).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dataframe/table_serial_internal.h"
#include "skein/core/lent_value.h"
#include "skein/core/serialize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  skein::Serialized s;
  try {
    s = skein::Unpack(bytes, "fuzz input");
  } catch (const skein::Error&) {
    return 0;
  }
  s.type = "skein.Table";
  try {
    (void)skein::Deserialize(s).get<skein::Table>().ToString();
  } catch (const skein::Error&) {
  }
  try {
    // Twice: the second part's columns are checked against the first's.
    (void)skein::dataframe::internal::ConcatLent({skein::LendFrames(s), skein::LendFrames(s)}).ToString();
  } catch (const skein::Error&) {
  }
  return 0;
}
