// libFuzzer target: what dataframe tasks decode from their parameters,
// column expressions and per-partition steps (src/dataframe/expr.cc,
// steps.cc). Decoding either fails with skein::Error or gives something
// that runs on a small table without crashing (errors allowed).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../src/dataframe/plan_internal.h"
#include "skein/core/error.h"
#include "skein/dataframe/expr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  static const skein::Table table({{"i", skein::Column::FromVector<int64_t>({1, -2, 3}, {true, true, false})},
                                   {"f", skein::Column::FromVector<double>({0.5, 2, -1})},
                                   {"s", skein::Column::FromStrings({"ab", std::nullopt, "c"})},
                                   {"b", skein::Column::FromBools({true, false, std::nullopt})}});
  try {
    skein::Expr e = skein::Expr::Decode(bytes);
    (void)e.ToString();
    (void)e.Evaluate(table);
  } catch (const skein::Error&) {
  }
  try {
    auto steps = skein::dataframe::internal::DecodeSteps(bytes);
    (void)skein::dataframe::internal::RunSteps(steps, table);
  } catch (const skein::Error&) {
  }
  return 0;
}
