// store(): one graph computing every array and writing its blocks (see store.h).
#include "skein/io/store.h"

#include "skein/core/layer.h"
#include "skein/core/op.h"

namespace skein {

void store(const std::vector<Array>& arrays, const std::vector<std::shared_ptr<ArrayWriter>>& targets,
           const ComputeOptions& options) {
  if (arrays.size() != targets.size()) {
    throw Error("store: " + std::to_string(arrays.size()) + " arrays for " + std::to_string(targets.size()) + " targets");
  }
  for (size_t i = 0; i < arrays.size(); ++i) {
    internal::CheckValid(arrays[i], "store");
    if (!targets[i]) throw Error("store: target " + std::to_string(i) + " is null");
  }
  size_t opened = 0;
  try {
    for (; opened < arrays.size(); ++opened) {
      targets[opened]->Open(arrays[opened].shape(), arrays[opened].dtype(), arrays[opened].chunks());
    }
    Graph g = Materialize(internal::LayersOf(arrays));
    std::vector<Key> outputs;
    for (size_t i = 0; i < arrays.size(); ++i) {
      const Array& a = arrays[i];
      std::shared_ptr<ArrayWriter> w = targets[i];
      std::vector<std::vector<int64_t>> offsets;
      for (const auto& c : a.chunks()) offsets.push_back(BlockOffsets(c));
      // Writers hold open files and live in this process: a local-only op.
      OpPtr write = LocalOp(
          [w, offsets](std::span<const Value> args, const OpContext& ctx) {
            auto block = ctx.key.index();
            std::vector<int64_t> start(block.size());
            for (size_t d = 0; d < block.size(); ++d) start[d] = offsets[d][block[d]];
            w->WriteBlock(block, start, args[0].get<NDArray>());
            return Value();
          },
          "store");
      Key name("store-" + a.name());
      for (const auto& block : AllBlocks(a.chunks())) {
        Key k = name.At(block);
        g.AddUnchecked(k, Task::Call(write, {Arg::Ref(a.key(block))}));
        outputs.push_back(k);
      }
    }
    // Writers are objects in this process, so the writing runs here even
    // with a Client connected ("auto"); blocks persisted on a cluster are
    // fetched from it. Writing from the workers would need targets they can
    // open themselves (not yet).
    Get(g, outputs, RunHere(options));
    for (const auto& t : targets) t->Commit();
  } catch (...) {
    for (size_t i = 0; i < opened; ++i) targets[i]->Abort();
    throw;
  }
}

}  // namespace skein
