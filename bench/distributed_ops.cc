// Operations distributed_bench uploads to its cluster's workers (a loadable
// module resolved against the worker program, like any user's library).
#include <cstdint>
#include <cstring>
#include <vector>

#include "skein/core/buffer.h"
#include "skein/core/op.h"

SKEIN_REGISTER("bench.noop", [] { return int64_t{1}; });
SKEIN_REGISTER("bench.count", [](std::vector<int64_t> xs) {
  int64_t s = 0;
  for (int64_t x : xs) s += x;
  return s;
});
// n bytes (a buffer: how arrays and tables carry their data).
SKEIN_REGISTER("bench.bytes", [](int64_t n) {
  std::byte* p = nullptr;
  skein::Buffer b = skein::Buffer::Allocate(static_cast<size_t>(n), &p);
  std::memset(p, 1, static_cast<size_t>(n));
  return b;
});
SKEIN_REGISTER("bench.len", [](const skein::Buffer& b) { return static_cast<int64_t>(b.size()); });
