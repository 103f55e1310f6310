// Depth-first post-order priorities (see order.h).
#include "skein/core/order.h"

#include <algorithm>

namespace skein {

std::vector<uint32_t> Order(const Graph& g, const GraphIndex& ix, std::span<const uint32_t> outputs) {
  enum : uint8_t { kNew = 0, kOnStack = 1, kDone = 2 };
  const uint32_t n = static_cast<uint32_t>(ix.size());
  std::vector<uint8_t> state(n, kNew);
  std::vector<uint32_t> sequence;
  sequence.reserve(n);
  struct Frame {
    uint32_t task;
    uint32_t next;  // next dependency to visit
  };
  std::vector<Frame> stack;
  for (uint32_t root : outputs) {
    if (state[root] != kNew) continue;
    state[root] = kOnStack;
    stack.push_back({root, 0});
    while (!stack.empty()) {
      Frame& f = stack.back();
      auto deps = ix.DepsOf(f.task);
      if (f.next < deps.size()) {
        uint32_t d = deps[f.next++];
        if (state[d] == kNew) {
          state[d] = kOnStack;
          stack.push_back({d, 0});
        } else if (state[d] == kOnStack) {
          // The stack from d's frame to the top is the cycle.
          std::string path;
          auto it = std::find_if(stack.begin(), stack.end(), [&](const Frame& x) { return x.task == d; });
          for (; it != stack.end(); ++it) path += g.key(it->task).ToString() + " -> ";
          path += g.key(d).ToString();
          throw GraphError("graph has a cycle: " + path + " (each key depends on the next)");
        }
      } else {
        state[f.task] = kDone;
        sequence.push_back(f.task);
        stack.pop_back();
      }
    }
  }
  return sequence;
}

}  // namespace skein
