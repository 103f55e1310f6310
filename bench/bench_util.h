// Small helpers the benchmark programs share: wall-clock seconds and the
// process's peak resident memory.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace skein::bench {

using Clock = std::chrono::steady_clock;

/// Seconds since `t`.
inline double Seconds(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// Peak resident memory of this process so far, in MiB (getrusage).
inline double PeakRssMiB() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

/// Median of a non-empty sample.
inline double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace skein::bench
