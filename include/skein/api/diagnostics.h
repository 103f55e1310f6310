// skein/api/diagnostics.h — progress bar and profiler, as dask.diagnostics.
//
//   {
//     skein::ProgressBar bar;              // draws on stderr when it is a TTY
//     skein::compute(total);
//   }
//   skein::Profiler prof;                  // records every task while alive
//   skein::compute(total);
//   prof.WriteChromeTrace("trace.json");   // open in Perfetto / chrome://tracing
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "skein/local/observer.h"

namespace skein {

/// A terminal progress bar for computations running while it is alive. It
/// appears once a computation has run `minimum` seconds (config
/// progress.minimum) and only when the stream is a terminal, unless forced.
class ProgressBar {
 public:
  struct Options {
    double minimum = -1;      ///< seconds before drawing; < 0: config progress.minimum
    double interval = -1;     ///< seconds between redraws; < 0: config progress.interval
    int width = 40;           ///< characters in the bar
    std::ostream* out = nullptr;  ///< default std::cerr
    bool force = false;       ///< draw even when `out` is not a terminal
  };
  ProgressBar();
  explicit ProgressBar(Options options);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

/// One task as recorded by the Profiler.
struct TaskRecord {
  std::string key;
  std::string prefix;  ///< key name without the token, e.g. "inc" for "inc-0f3a..."
  int64_t start_ns;    ///< since the profiler was created
  int64_t end_ns;
  int worker;          ///< pool thread, -1 for the caller's thread
  bool ok;
};

/// Records start, end and thread of every task run while it is alive.
/// Safe for concurrent use.
class Profiler {
 public:
  Profiler();
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  /// Tasks finished so far, in finishing order.
  std::vector<TaskRecord> records() const;
  /// Chrome trace event JSON (complete events, one track per thread).
  std::string ChromeTraceJson() const;
  void WriteChromeTrace(const std::string& path) const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace skein
