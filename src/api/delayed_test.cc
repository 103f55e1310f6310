// delayed: composition, shared work, persist, arithmetic, DOT output.
#include "skein/api/delayed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>

namespace skein {
namespace {

using ::testing::HasSubstr;

SKEIN_REGISTER("test.delayed.inc", [](int64_t x) { return x + 1; });

TEST(Delayed, ComputesComposedCalls) {
  auto inc = delayed("test.delayed.inc");
  auto mul = delayed([](int64_t a, int64_t b) { return a * b; }, "mul");
  Delayed x = inc(1);
  Delayed y = mul(x, inc(x));
  EXPECT_EQ(y.compute(), Value(6));
  EXPECT_THAT(std::string(y.key().name()), HasSubstr("mul-"));
  EXPECT_EQ(y.graph().size(), 3u);
}

TEST(Delayed, ComputeSeveralSharesCommonWork) {
  std::atomic<int> calls{0};
  auto expensive = delayed([&calls](int64_t x) { ++calls; return x * 10; }, "expensive");
  auto plus = delayed([](int64_t a, int64_t b) { return a + b; }, "plus");
  Delayed base = expensive(4);
  auto [a, b] = compute(plus(base, 1), plus(base, 2));
  EXPECT_EQ(a, Value(41));
  EXPECT_EQ(b, Value(42));
  EXPECT_EQ(calls.load(), 1);
}

TEST(Delayed, ListsOfDelayedBecomeListsOfResults) {
  auto inc = delayed("test.delayed.inc");
  std::vector<Delayed> parts;
  for (int i = 0; i < 10; ++i) parts.push_back(inc(i));
  auto total = delayed([](std::vector<int64_t> xs) {
    int64_t s = 0;
    for (int64_t x : xs) s += x;
    return s;
  }, "total")(parts);
  EXPECT_EQ(total.compute(), Value(55));
}

TEST(Delayed, PersistKeepsTheResultUnderTheSameKey) {
  std::atomic<int> calls{0};
  Delayed d = delayed([&calls] { ++calls; return std::string("done"); }, "once")();
  Delayed p = d.persist();
  EXPECT_EQ(p.key(), d.key());
  EXPECT_EQ(p.graph().size(), 1u);
  EXPECT_EQ(p.compute(), Value("done"));
  EXPECT_EQ(p.compute(), Value("done"));
  EXPECT_EQ(calls.load(), 1);
}

TEST(Delayed, ArithmeticOnDelayedNumbers) {
  Delayed a = Delayed::Of(6), b = Delayed::Of(4);
  EXPECT_EQ(((a + b) * 2 - 1).compute(), Value(19));
  EXPECT_EQ((a / b).compute(), Value(1.5));
  EXPECT_THROW((Delayed::Of("text") + a).compute(), TaskError);
}

TEST(Delayed, ErrorsCarryTheKey) {
  Delayed d = delayed([](int64_t) -> int64_t { throw std::runtime_error("nope"); }, "broken")(1);
  try {
    d.compute();
    FAIL();
  } catch (const TaskError& e) {
    EXPECT_EQ(e.key(), d.key().ToString());
    EXPECT_EQ(e.message(), "nope");
  }
  // A name nobody registered fails when computed, naming the op.
  Delayed unknown = delayed("test.delayed.not_registered")(1);
  try {
    unknown.compute();
    FAIL();
  } catch (const OpError& e) {
    EXPECT_NE(std::string(e.what()).find("test.delayed.not_registered"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Delayed().compute(), Error);
}

TEST(Delayed, VisualizeWritesDot) {
  Delayed d = delayed("test.delayed.inc")(delayed("test.delayed.inc")(1));
  std::string path = ::testing::TempDir() + "/skein_delayed_test.dot";
  d.visualize(path);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("digraph"));
  EXPECT_THAT(text, HasSubstr("->"));
  std::filesystem::remove(path);
  EXPECT_THROW(d.visualize(path + ".bmp"), Error);
  if (std::system("command -v dot >/dev/null 2>&1") == 0) {
    std::string svg = ::testing::TempDir() + "/skein_delayed_test.svg";
    d.visualize(svg);
    EXPECT_TRUE(std::filesystem::file_size(svg) > 100);
    std::filesystem::remove(svg);
  }
}

}  // namespace
}  // namespace skein
