// store(): one graph computing every array and writing its blocks (see store.h).
#include "skein/io/store.h"

#include <mutex>
#include <unordered_map>

#include "skein/core/layer.h"
#include "skein/core/op.h"

namespace skein {
namespace {

std::mutex& FormatsMutex() {
  static std::mutex mu;
  return mu;
}
std::unordered_map<std::string, internal::WriterReopener>& Formats() {
  static std::unordered_map<std::string, internal::WriterReopener> formats;
  return formats;
}

// "store.block" params: [format, state, start]: reopens the output the
// client opened (reopen_format/reopen_state) and writes the task's one
// argument there as the block at the task key's index. Runs on workers.
const OpPtr& StoreBlockOp() {
  static const OpPtr op = RegisterOp("store.block", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    std::unique_ptr<ArrayWriter> w = internal::ReopenWriter(p.at(0).get<std::string>(), p.at(1).get<std::string>());
    const std::vector<int64_t> start = p.at(2).as<std::vector<int64_t>>();
    w->WriteBlock(ctx.key.index(), start, args[0].get<NDArray>());
    return Value();
  });
  return op;
}

[[maybe_unused]] const bool kOpsRegistered = (StoreBlockOp(), true);

}  // namespace

bool internal::RegisterWriterFormat(const std::string& format, WriterReopener reopen) {
  std::lock_guard lock(FormatsMutex());
  Formats()[format] = std::move(reopen);
  return true;
}

std::unique_ptr<ArrayWriter> internal::ReopenWriter(const std::string& format, std::string_view state) {
  WriterReopener reopen;
  {
    std::lock_guard lock(FormatsMutex());
    auto it = Formats().find(format);
    if (it == Formats().end()) throw Error("store: no writer format '" + format + "' is registered in this process");
    reopen = it->second;
  }
  return reopen(state);
}

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
    // Where every target can be reopened elsewhere, each block is written
    // by a registered op wherever it was computed (on a cluster's workers);
    // otherwise by this process's writer objects, here even with a Client
    // connected (blocks persisted on a cluster are fetched from it).
    bool anywhere = true;
    for (const auto& t : targets) anywhere = anywhere && !t->reopen_format().empty();
    Graph g = Materialize(internal::LayersOf(arrays));
    std::vector<Key> outputs;
    for (size_t i = 0; i < arrays.size(); ++i) {
      const Array& a = arrays[i];
      std::shared_ptr<ArrayWriter> w = targets[i];
      std::vector<std::vector<int64_t>> offsets;
      for (const auto& c : a.chunks()) offsets.push_back(BlockOffsets(c));
      auto start_of = [offsets](std::span<const int64_t> block) {
        std::vector<int64_t> start(block.size());
        for (size_t d = 0; d < block.size(); ++d) start[d] = offsets[d][block[d]];
        return start;
      };
      OpPtr write = anywhere ? StoreBlockOp()
                             : LocalOp(
                                   [w, start_of](std::span<const Value> args, const OpContext& ctx) {
                                     w->WriteBlock(ctx.key.index(), start_of(ctx.key.index()), args[0].get<NDArray>());
                                     return Value();
                                   },
                                   "store");
      const Value format(w->reopen_format()), state(anywhere ? w->reopen_state() : std::string());
      Key name("store-" + a.name());
      for (const auto& block : AllBlocks(a.chunks())) {
        Key k = name.At(block);
        Value params;
        if (anywhere) {
          ValueList start;
          for (int64_t v : start_of(block)) start.push_back(v);
          params = Value(ValueList{format, state, Value(std::move(start))});
        }
        g.AddUnchecked(k, Task::Call(write, {Arg::Ref(a.key(block))}, std::move(params)));
        outputs.push_back(k);
      }
    }
    Get(g, outputs, anywhere ? options : RunHere(options));
    for (const auto& t : targets) t->Commit();
  } catch (...) {
    for (size_t i = 0; i < opened; ++i) targets[i]->Abort();
    throw;
  }
}

}  // namespace skein
