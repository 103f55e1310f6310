// Array: metadata, graph, compute, persist and printing (see array.h).
#include "skein/array/array.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "block_copy_internal.h"
#include "skein/api/delayed.h"

namespace skein {

namespace internal {

Array MakeArray(std::string name, Shape shape, Chunks chunks, DType dtype, Graph tasks, std::vector<LayerPtr> deps,
                std::shared_ptr<const Fusable> fusable) {
  auto node = std::make_shared<ArrayNode>();
  node->fusable = std::move(fusable);
  node->layer = Layer::Make(name, std::move(tasks), std::move(deps));
  node->name = std::move(name);
  node->shape = std::move(shape);
  node->chunks = std::move(chunks);
  node->dtype = dtype;
  return Array(std::move(node));
}

std::vector<LayerPtr> LayersOf(const std::vector<Array>& arrays) {
  std::vector<LayerPtr> out;
  out.reserve(arrays.size());
  for (const Array& a : arrays) {
    if (std::find(out.begin(), out.end(), a.layer()) == out.end()) out.push_back(a.layer());  // x and x.T read one layer
  }
  return out;
}

std::string NewArrayName(std::string_view op) { return NewKeyName(op); }

int NormalizeAxis(int axis, int ndim, std::string_view op) {
  int a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) {
    throw Error(std::string(op) + ": axis " + std::to_string(axis) + " is out of bounds for an array of rank " +
                std::to_string(ndim));
  }
  return a;
}

void CheckValid(const Array& a, std::string_view op) {
  if (!a.valid()) throw Error(std::string(op) + ": the array is empty (default-constructed)");
}

}  // namespace internal

const internal::ArrayNode& Array::n() const {
  if (!node_) throw Error("operation on an empty (default-constructed) skein::Array");
  return *node_;
}

const std::string& Array::name() const { return n().name; }
const Shape& Array::shape() const { return n().shape; }
const Chunks& Array::chunks() const { return n().chunks; }
DType Array::dtype() const { return n().dtype; }
const LayerPtr& Array::layer() const { return n().layer; }

Shape Array::chunksize() const {
  Shape out;
  for (const auto& c : chunks()) out.push_back(*std::max_element(c.begin(), c.end()));
  return out;
}

Key Array::key(std::span<const int64_t> block) const {
  if (block.size() != chunks().size()) {
    throw Error("block index of rank " + std::to_string(block.size()) + " for an array of rank " +
                std::to_string(ndim()));
  }
  return Key(name(), block);
}

std::vector<Key> Array::keys() const {
  std::vector<Key> out;
  Key base(name());
  for (const auto& b : AllBlocks(chunks())) out.push_back(base.At(b));
  return out;
}

Graph Array::graph() const { return Materialize({layer()}); }
size_t Array::num_tasks() const { return CountTasks({layer()}); }

namespace {

// Checks a computed block against the array's metadata.
const NDArray& CheckBlock(const Array& a, const Key& key, const Value& v, std::span<const int64_t> block) {
  if (!v.is<NDArray>()) {
    throw TypeError("block " + key.ToString() + " of array '" + a.name() + "' is a " + v.type_name() +
                    ", not an NDArray");
  }
  const NDArray& b = v.get<NDArray>();
  Shape want = BlockShape(a.chunks(), block);
  if (b.shape() != want || b.dtype() != a.dtype()) {
    throw Error("block " + key.ToString() + " of array '" + a.name() + "' has shape " + ShapeToString(b.shape()) +
                " and dtype " + std::string(DTypeName(b.dtype())) + "; the array's chunks say " +
                ShapeToString(want) + " and " + std::string(DTypeName(a.dtype())));
  }
  return b;
}

NDArray Assemble(const Array& a, std::span<const Value> values) {
  std::vector<std::vector<int64_t>> blocks = AllBlocks(a.chunks());
  std::vector<Key> keys = a.keys();
  if (blocks.size() == 1) return CheckBlock(a, keys[0], values[0], blocks[0]);
  NDArray out = NDArray::Empty(a.dtype(), a.shape());
  std::vector<std::vector<int64_t>> offsets;
  for (const auto& c : a.chunks()) offsets.push_back(BlockOffsets(c));
  Shape zero(a.ndim(), 0), start(a.ndim());
  for (size_t i = 0; i < blocks.size(); ++i) {
    const NDArray& b = CheckBlock(a, keys[i], values[i], blocks[i]);
    for (int d = 0; d < a.ndim(); ++d) start[d] = offsets[d][blocks[i][d]];
    array::internal::CopyRegion(b, zero, b.shape(), &out, start);
  }
  return out;
}

}  // namespace

std::vector<NDArray> compute(const std::vector<Array>& arrays, const ComputeOptions& options) {
  for (const Array& a : arrays) internal::CheckValid(a, "compute");
  Graph g = Materialize(internal::LayersOf(arrays));
  std::vector<Key> keys;
  std::vector<size_t> first;
  for (const Array& a : arrays) {
    first.push_back(keys.size());
    std::vector<Key> k = a.keys();
    keys.insert(keys.end(), k.begin(), k.end());
  }
  std::vector<Value> values = Get(g, keys, options);
  std::vector<NDArray> out;
  for (size_t i = 0; i < arrays.size(); ++i) {
    size_t end = i + 1 < arrays.size() ? first[i + 1] : values.size();
    out.push_back(Assemble(arrays[i], std::span(values).subspan(first[i], end - first[i])));
  }
  return out;
}

NDArray Array::compute(const ComputeOptions& options) const { return skein::compute({*this}, options)[0]; }

Array Array::persist(const ComputeOptions& options) const {
  std::vector<Key> ks = keys();
  // Values here, or handles on blocks the cluster keeps (then checked when
  // they are gathered).
  std::vector<Task> held = Persist(graph(), ks, options);
  std::vector<std::vector<int64_t>> blocks = AllBlocks(chunks());
  Graph g;
  for (size_t i = 0; i < ks.size(); ++i) {
    if (held[i].is_literal()) CheckBlock(*this, ks[i], held[i].args()[0].literal(), blocks[i]);
    g.Add(ks[i], std::move(held[i]));
  }
  return internal::MakeArray(name(), shape(), chunks(), dtype(), std::move(g), {});
}

namespace {
std::string FormatBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (b >= 1024 && u < 5) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.2f %s", b, units[u]);
  return buf;
}
}  // namespace

std::string Array::ToString() const {
  if (!node_) return "skein.array<empty>";
  std::string prefix = name().substr(0, name().rfind('-'));
  int64_t nblocks = 1;
  for (int64_t k : numblocks()) nblocks *= k;
  return "skein.array<" + prefix + ", shape=" + ShapeToString(shape()) + ", dtype=" + std::string(DTypeName(dtype())) +
         ", chunksize=" + ShapeToString(chunksize()) + ", chunks=" + std::to_string(nblocks) +
         ", tasks=" + std::to_string(num_tasks()) + ", nbytes=" + FormatBytes(static_cast<double>(nbytes())) + ">";
}

std::ostream& operator<<(std::ostream& os, const Array& a) { return os << a.ToString(); }

}  // namespace skein
