// ProgressBar and Profiler.
#include "skein/api/diagnostics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "skein/api/delayed.h"

namespace skein {
namespace {

using ::testing::HasSubstr;

std::vector<Delayed> Work(int n) {
  auto inc = delayed([](int64_t x) { return x + 1; }, "inc");
  std::vector<Delayed> out;
  for (int i = 0; i < n; ++i) out.push_back(inc(i));
  return out;
}

TEST(Profiler, RecordsEveryTaskAndWritesChromeTrace) {
  Profiler prof;
  compute(Work(20));
  std::vector<TaskRecord> records = prof.records();
  ASSERT_EQ(records.size(), 20u);
  for (const TaskRecord& r : records) {
    EXPECT_EQ(r.prefix, "inc");
    EXPECT_LE(r.start_ns, r.end_ns);
    EXPECT_TRUE(r.ok);
  }
  std::string json = prof.ChromeTraceJson();
  EXPECT_THAT(json, HasSubstr("\"traceEvents\""));
  EXPECT_THAT(json, HasSubstr("\"ph\":\"X\""));
  EXPECT_THAT(json, HasSubstr("\"cat\":\"inc\""));
}

TEST(ProgressBar, DrawsToAForcedStreamAndEndsAtHundredPercent) {
  std::ostringstream out;
  {
    ProgressBar bar(ProgressBar::Options{.minimum = 0, .interval = 0.01, .width = 10, .out = &out, .force = true});
    compute(Work(50));
  }
  EXPECT_THAT(out.str(), HasSubstr("[##########] | 100% Completed |"));
}

TEST(ProgressBar, StaysSilentWhenNotATerminal) {
  std::ostringstream out;
  {
    ProgressBar bar(ProgressBar::Options{.minimum = 0, .out = &out});
    compute(Work(5));
  }
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace skein
