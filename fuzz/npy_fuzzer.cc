// libFuzzer target: .npy files (src/io/npy.cc). Any file must read, or fail
// with skein::Error naming the path; never crash, hang or allocate without
// bound. The bytes go to a file because the readers take paths.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "skein/core/error.h"
#include "skein/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/skein-npy-fuzz-" + std::to_string(::getpid()) + ".npy";
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  try {
    skein::NDArray a = skein::read_npy(path);
    (void)a.ToString();
  } catch (const skein::Error&) {
  }
  try {
    skein::Array x = skein::from_npy(path, 3);
    if (x.size() <= (1 << 16)) (void)x.compute();
  } catch (const skein::Error&) {
  }
  return 0;
}
