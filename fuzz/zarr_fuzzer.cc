// libFuzzer target: Zarr v2 metadata and chunks (src/io/zarr.cc). The input
// is ".zarray" text, a NUL byte, then the bytes of chunk 0 (written under the
// names a rank 1 to 3 array would use). Any store must read, or fail with
// skein::Error; never crash, hang or allocate without bound.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "skein/core/error.h"
#include "skein/io/zarr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  static const fs::path dir = fs::temp_directory_path() / ("skein-zarr-fuzz-" + std::to_string(::getpid()) + ".zarr");
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t cut = all.find('\0');
  std::string_view meta = all.substr(0, cut), chunk = cut == std::string_view::npos ? "" : all.substr(cut + 1);
  std::ofstream(dir / ".zarray", std::ios::binary).write(meta.data(), static_cast<std::streamsize>(meta.size()));
  for (const char* name : {"0", "0.0", "0.0.0"}) {
    std::ofstream(dir / name, std::ios::binary).write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  }
  try {
    skein::Array x = skein::from_zarr(dir.string());
    int64_t blocks = 1;
    for (int64_t n : x.numblocks()) blocks *= n;
    if (x.size() <= (1 << 16) && blocks <= 64) (void)x.compute();
  } catch (const skein::Error&) {
  }
  return 0;
}
