// ProgressBar and Profiler, both SchedulerObservers.
#include "skein/api/diagnostics.h"

#include "core/json_internal.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "skein/core/config.h"
#include "skein/core/error.h"

namespace skein {

using Clock = std::chrono::steady_clock;

// ---- ProgressBar --------------------------------------------------------------

class ProgressBar::Impl final : public SchedulerObserver {
 public:
  explicit Impl(Options o) : o_(o) {
    if (o_.minimum < 0) o_.minimum = config::Get<double>("progress.minimum", 1.0);
    if (o_.interval < 0) o_.interval = config::Get<double>("progress.interval", 0.1);
    if (!o_.out) o_.out = &std::cerr;
    enabled_ = o_.force || (o_.out == &std::cerr && ::isatty(STDERR_FILENO)) || (o_.out == &std::cout && ::isatty(STDOUT_FILENO));
  }

  void OnRunStart(const RunEvent& e) override {
    std::lock_guard lock(mu_);
    runs_[e.run_id] = {e.num_tasks, 0, Clock::now()};
    if (enabled_ && !drawer_.joinable()) drawer_ = std::thread([this] { DrawLoop(); });
  }
  void OnTaskEnd(const TaskEvent& e) override {
    std::lock_guard lock(mu_);
    if (auto it = runs_.find(e.run_id); it != runs_.end()) ++it->second.done;
  }
  void OnRunEnd(const RunEvent& e, bool ok) override {
    std::lock_guard lock(mu_);
    auto it = runs_.find(e.run_id);
    if (it == runs_.end()) return;
    if (enabled_ && Elapsed(it->second) >= o_.minimum) {
      Draw(it->second, ok ? it->second.total : it->second.done);
      *o_.out << (ok ? "\n" : " (failed)\n") << std::flush;
    }
    runs_.erase(it);
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      cv_.notify_all();
    }
    if (drawer_.joinable()) drawer_.join();
  }

 private:
  struct Run {
    size_t total;
    size_t done;
    Clock::time_point start;
  };
  static double Elapsed(const Run& r) { return std::chrono::duration<double>(Clock::now() - r.start).count(); }

  void Draw(const Run& r, size_t done) {
    double frac = r.total ? static_cast<double>(done) / static_cast<double>(r.total) : 1.0;
    int filled = static_cast<int>(frac * o_.width);
    char line[256];
    std::snprintf(line, sizeof line, "\r[%s%s] | %3d%% Completed | %.1fs", std::string(filled, '#').c_str(),
                  std::string(o_.width - filled, ' ').c_str(), static_cast<int>(frac * 100), Elapsed(r));
    *o_.out << line << std::flush;
  }

  void DrawLoop() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::duration<double>(o_.interval));
      for (auto& [id, r] : runs_) {
        if (Elapsed(r) >= o_.minimum) Draw(r, r.done);
      }
    }
  }

  Options o_;
  bool enabled_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<uint64_t, Run> runs_;  // guarded by mu_
  bool stop_ = false;                        // guarded by mu_
  std::thread drawer_;
};

ProgressBar::ProgressBar() : ProgressBar(Options{}) {}
ProgressBar::ProgressBar(Options options) : impl_(std::make_shared<Impl>(options)) { AddObserver(impl_); }
ProgressBar::~ProgressBar() {
  RemoveObserver(impl_);
  impl_->Stop();
}

// ---- Profiler -----------------------------------------------------------------

class Profiler::Impl final : public SchedulerObserver {
 public:
  void OnTaskStart(const TaskEvent& e) override {
    int64_t now = Now();
    std::lock_guard lock(mu_);
    started_[Slot(e)] = now;
  }
  void OnTaskEnd(const TaskEvent& e) override {
    int64_t now = Now();
    std::string key = e.key.ToString();
    std::string prefix(e.key.name());
    // "inc-0123abcd..." -> "inc", as dask's key_split.
    if (size_t dash = prefix.rfind('-'); dash != std::string::npos && prefix.size() - dash == 17) prefix.resize(dash);
    std::lock_guard lock(mu_);
    auto it = started_.find(Slot(e));
    int64_t start = it == started_.end() ? now : it->second;
    records_.push_back({std::move(key), std::move(prefix), start, now, e.worker, e.ok});
  }
  std::vector<TaskRecord> records() const {
    std::lock_guard lock(mu_);
    return records_;
  }

 private:
  static uint64_t Slot(const TaskEvent& e) { return (e.run_id << 16) ^ static_cast<uint64_t>(e.worker + 1); }
  int64_t Now() const { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - origin_).count(); }

  const Clock::time_point origin_ = Clock::now();
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, int64_t> started_;  // guarded by mu_: (run, worker) -> start
  std::vector<TaskRecord> records_;                 // guarded by mu_
};

Profiler::Profiler() : impl_(std::make_shared<Impl>()) { AddObserver(impl_); }
Profiler::~Profiler() { RemoveObserver(impl_); }
std::vector<TaskRecord> Profiler::records() const { return impl_->records(); }


std::string Profiler::ChromeTraceJson() const {
  std::string s = "{\"traceEvents\":[";
  bool first = true;
  for (const TaskRecord& r : records()) {
    if (!first) s += ",";
    first = false;
    char nums[160];
    std::snprintf(nums, sizeof nums, ",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":1,\"tid\":%d", r.start_ns / 1e3,
                  (r.end_ns - r.start_ns) / 1e3, r.worker + 1);
    s += "{\"name\":" + internal::JsonQuote(r.key) + ",\"cat\":" + internal::JsonQuote(r.prefix) + nums +
         ",\"args\":{\"ok\":" + (r.ok ? "true" : "false") + "}}";
  }
  return s + "],\"displayTimeUnit\":\"ms\"}\n";
}

void Profiler::WriteChromeTrace(const std::string& path) const {
  std::ofstream out(path);
  out << ChromeTraceJson();
  if (!out) throw IOError("writing trace " + path + " failed");
}

}  // namespace skein
