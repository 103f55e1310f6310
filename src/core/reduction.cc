// AddTreeReduction (see reduction.h).
#include "skein/core/reduction.h"

#include <algorithm>
#include <string>

namespace skein {

Key AddTreeReduction(Graph* g, const std::vector<Key>& inputs, std::string_view name, const TreeReduction& spec) {
  if (inputs.empty()) throw Error("tree reduction '" + std::string(name) + "' needs at least one input");
  if (spec.split_every < 2) {
    throw Error("tree reduction '" + std::string(name) + "': split_every must be >= 2, got " +
                std::to_string(spec.split_every));
  }
  const OpPtr& aggregate = spec.aggregate ? spec.aggregate : spec.combine;
  std::vector<Key> level = inputs;
  const size_t fan_in = static_cast<size_t>(spec.split_every);
  std::vector<int64_t> index = spec.group;
  index.push_back(0);
  for (int depth = 0; depth == 0 || level.size() > 1; ++depth) {
    const bool last = level.size() <= fan_in;
    Key prefix(std::string(name) + "-" + std::to_string(depth));
    std::vector<Key> next;
    next.reserve((level.size() + fan_in - 1) / fan_in);
    for (size_t start = 0; start < level.size(); start += fan_in) {
      std::vector<Arg> refs;
      for (size_t k = start; k < std::min(level.size(), start + fan_in); ++k) refs.push_back(Arg::Ref(level[k]));
      index.back() = static_cast<int64_t>(next.size());
      Key key = last && !spec.output.name().empty() ? spec.output : prefix.At(index);
      g->Add(key, Task::Call(last ? aggregate : spec.combine, {Arg::List(std::move(refs))}, spec.params));
      next.push_back(std::move(key));
    }
    level = std::move(next);
  }
  return level[0];
}

}  // namespace skein
