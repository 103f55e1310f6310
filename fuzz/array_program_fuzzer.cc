// libFuzzer target: elementwise programs as they arrive in task parameters
// (src/array/expr_internal.h). Any bytes must either be rejected by
// Program::Decode with skein::Error, or decode into a program that evaluates
// on blocks of the types it names, or raises skein::Error; never a crash or
// an out-of-bounds read (a lying program must not make a kernel misread).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "../src/array/expr_internal.h"
#include "../src/array/reduce_internal.h"
#include "skein/core/error.h"

namespace ai = skein::array::internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ai::Program p;
  try {
    p = ai::Program::Decode(bytes);
  } catch (const skein::Error&) {
    return 0;
  }
  if (p.num_inputs > 4 || p.nodes.size() > 64) return 0;
  (void)p.ToString();
  // Inputs of the dtype each input node asks for, in a few shapes so that
  // broadcasting, permutations and the row range all get exercised.
  std::vector<skein::DType> types(static_cast<size_t>(p.num_inputs), skein::DType::kFloat64);
  for (const ai::ExprNode& n : p.nodes) {
    if (n.kind == ai::ExprKind::kInput) types[static_cast<size_t>(n.a)] = n.dtype;
  }
  const skein::Shape shapes[] = {{3, 4}, {4}, {1, 4}, {4, 3}, {2, 3, 4}};
  std::vector<skein::NDArray> blocks;
  for (size_t k = 0; k < types.size(); ++k) {
    blocks.push_back(skein::NDArray::Zeros(types[k], shapes[(size + k) % 5]));
  }
  std::vector<const skein::NDArray*> in;
  for (const auto& b : blocks) in.push_back(&b);
  try {
    (void)ai::Evaluate(p, in);
    (void)ai::Evaluate(p, in, 1, 2);
  } catch (const skein::Error&) {
  }
  // The reductions' fused paths: the pieces into a reducer, the one-loop
  // element map, and the signed-sum match (its walk must end).
  for (auto kind : {ai::ReduceKind::kSum, ai::ReduceKind::kMax, ai::ReduceKind::kStd, ai::ReduceKind::kAll}) {
    try {
      auto reducer = ai::MakeRunReducer(kind, p.nodes.back().dtype);
      ai::EvaluateInto(p, in, reducer.get());
      (void)reducer->Finish(2);
      ai::ElementMap map;
      if (ai::MatchElementMap(p, &map)) {
        auto mapped = ai::MakeRunReducer(kind, p.nodes.back().dtype);
        mapped->ConsumeMapped(in[0]->bytes(), in[0]->size(), map);
        (void)mapped->Finish(2);
      }
    } catch (const skein::Error&) {
    }
  }
  std::vector<ai::SignedTerm> terms;
  if (ai::MatchSignedSum(p, &terms)) {
    for (const ai::SignedTerm& t : terms) {
      if (t.input < 0 || t.input >= p.num_inputs) __builtin_trap();
    }
  }
  // Whatever decodes must re-encode to the same bytes.
  if (p.Encode() != bytes) __builtin_trap();
  return 0;
}
