// Operations a client uploads to a cluster in cluster_test (built as a
// loadable module that links nothing from skein: the worker's own copy
// resolves its symbols, registry included).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "skein/core/op.h"

SKEIN_REGISTER("cluster.inc", [](int64_t x) { return x + 1; });
SKEIN_REGISTER("cluster.add", [](int64_t a, int64_t b) { return a + b; });
SKEIN_REGISTER("cluster.sum", [](std::vector<int64_t> xs) {
  int64_t s = 0;
  for (int64_t x : xs) s += x;
  return s;
});
SKEIN_REGISTER("cluster.fail", [](int64_t x) -> int64_t {
  throw std::invalid_argument("cluster.fail got " + std::to_string(x));
});
// Sleeps `ms` milliseconds, then returns x: keeps tasks running while a test
// kills their worker.
SKEIN_REGISTER("cluster.slow", [](int64_t x, int64_t ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return x;
});
// Kills the process running it: a task that takes every worker down.
SKEIN_REGISTER("cluster.crash", [](int64_t x) -> int64_t {
  kill(getpid(), SIGKILL);
  return x;
});
// A vector of n bytes (for transfers).
SKEIN_REGISTER("cluster.bytes", [](int64_t n) { return std::vector<uint8_t>(static_cast<size_t>(n), 7); });
SKEIN_REGISTER("cluster.len", [](const std::vector<uint8_t>& v) { return static_cast<int64_t>(v.size()); });
// The pid of the worker running it.
SKEIN_REGISTER("cluster.pid", [](int64_t) { return static_cast<int64_t>(getpid()); });
// Holds `bytes` of touched memory for `ms` milliseconds, then frees it:
// drives a worker's process memory over its thresholds.
SKEIN_REGISTER("cluster.hog", [](int64_t bytes, int64_t ms) {
  std::vector<uint8_t> block(static_cast<size_t>(bytes));
  for (size_t i = 0; i < block.size(); i += 4096) block[i] = 1;
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return static_cast<int64_t>(block.size());
});
// Sleeps `ms` with an input, then says which worker ran it.
SKEIN_REGISTER("cluster.pid_after", [](const std::vector<uint8_t>& input, int64_t ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return static_cast<int64_t>(getpid()) + static_cast<int64_t>(input.size() & 0);
});
// Sleeps `ms`, then creates the file `path`: a side effect to observe.
SKEIN_REGISTER("cluster.touch", [](std::string path, int64_t ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  std::ofstream(path) << "done";
  return int64_t{1};
});
