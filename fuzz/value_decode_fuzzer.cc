// libFuzzer target: the decoders of untrusted bytes (spill files today, network
// frames later). Any input must decode or raise skein::Error; never crash,
// hang or read out of bounds. Run: make fuzz (bounded time).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "skein/core/compression.h"
#include "skein/core/serialize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    skein::Value v = skein::Deserialize(skein::Unpack(bytes, "fuzz input"));
    (void)v.ToString();
    (void)skein::Pack(skein::Serialize(v));  // whatever decodes must re-encode
  } catch (const skein::Error&) {
  }
  try {
    (void)skein::Decompress(bytes, "fuzz block");
  } catch (const skein::Error&) {
  }
  return 0;
}
