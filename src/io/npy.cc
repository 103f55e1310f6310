// .npy reading and writing (see npy.h). Format: "\x93NUMPY", version, header
// length, a Python dict literal {'descr': '<f8', 'fortran_order': False,
// 'shape': (3, 4), } padded to 64 bytes, then the elements.
#include "skein/io/npy.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "../array/block_copy_internal.h"
#include "file_internal.h"
#include "skein/array/creation.h"
#include "skein/core/op.h"
#include "skein/core/serialize.h"

namespace skein {
namespace {

using io::internal::File;

struct NpyHeader {
  DType dtype;
  Shape shape;
  bool fortran = false;
  int64_t data_offset = 0;
};

[[noreturn]] void Bad(const std::string& path, const std::string& what) {
  throw IOError("'" + path + "' is not a valid .npy file: " + what);
}

// Value of `key` in the header dict, as raw text up to the next top-level ','
// or '}' (tuples kept whole).
std::string DictValue(const std::string& dict, const std::string& key, const std::string& path) {
  size_t k = dict.find("'" + key + "'");
  if (k == std::string::npos) Bad(path, "header has no '" + key + "'");
  size_t colon = dict.find(':', k);
  if (colon == std::string::npos) Bad(path, "malformed header");
  size_t i = colon + 1, depth = 0, start = i;
  for (; i < dict.size(); ++i) {
    char c = dict[i];
    if (c == '(') ++depth;
    else if (c == ')') {
      if (depth == 0) Bad(path, "unbalanced parentheses in header");
      --depth;
    } else if ((c == ',' || c == '}') && depth == 0) {
      break;
    }
  }
  std::string v = dict.substr(start, i - start);
  v.erase(0, v.find_first_not_of(" \t"));
  v.erase(v.find_last_not_of(" \t") + 1);
  return v;
}

DType NpyDType(std::string descr, const std::string& path) {
  if (descr.size() < 3 || (descr.front() != '\'' && descr.front() != '"')) Bad(path, "bad descr " + descr);
  descr = descr.substr(1, descr.size() - 2);
  if (descr.empty()) Bad(path, "empty descr");
  const char order = descr[0];
  if (order == '>') throw IOError("'" + path + "': big-endian .npy data (" + descr + ") is not supported");
  const std::string t = (order == '<' || order == '|' || order == '=') ? descr.substr(1) : descr;
  if (t == "b1") return DType::kBool;
  if (t == "u1") return DType::kUInt8;
  if (t == "i4") return DType::kInt32;
  if (t == "i8") return DType::kInt64;
  if (t == "f4") return DType::kFloat32;
  if (t == "f8") return DType::kFloat64;
  throw IOError("'" + path + "': unsupported .npy dtype '" + descr + "' (supported: b1 u1 i4 i8 f4 f8)");
}

NpyHeader ReadHeader(const File& f) {
  const std::string& path = f.path();
  const int64_t size = f.Size();
  if (size < 10) Bad(path, "file is only " + std::to_string(size) + " bytes");
  unsigned char pre[12];
  f.ReadAt(0, pre, std::min<int64_t>(12, size));
  if (std::memcmp(pre, "\x93NUMPY", 6) != 0) Bad(path, "missing magic string");
  const int major = pre[6];
  int64_t len, at;
  if (major == 1) {
    len = pre[8] | (pre[9] << 8);
    at = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) Bad(path, "truncated header");
    len = static_cast<int64_t>(pre[8]) | (static_cast<int64_t>(pre[9]) << 8) | (static_cast<int64_t>(pre[10]) << 16) |
          (static_cast<int64_t>(pre[11]) << 24);
    at = 12;
  } else {
    Bad(path, "unknown format version " + std::to_string(major));
  }
  if (len > (1 << 20) || at + len > size) Bad(path, "header length " + std::to_string(len) + " exceeds the file");
  std::string dict(static_cast<size_t>(len), '\0');
  f.ReadAt(at, dict.data(), len);
  NpyHeader h;
  h.dtype = NpyDType(DictValue(dict, "descr", path), path);
  std::string fo = DictValue(dict, "fortran_order", path);
  if (fo != "True" && fo != "False") Bad(path, "bad fortran_order " + fo);
  h.fortran = fo == "True";
  std::string shape = DictValue(dict, "shape", path);
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') Bad(path, "bad shape " + shape);
  std::string inner = shape.substr(1, shape.size() - 2);
  size_t pos = 0;
  while (pos < inner.size()) {
    size_t comma = inner.find(',', pos);
    std::string item = inner.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    item.erase(0, item.find_first_not_of(" "));
    item.erase(item.find_last_not_of(" ") + 1);
    if (!item.empty()) {
      char* end = nullptr;
      long long v = std::strtoll(item.c_str(), &end, 10);
      if (*end != '\0' || v < 0) Bad(path, "bad shape " + shape);
      h.shape.push_back(v);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  h.data_offset = at + len;
  int64_t n;
  try {
    n = ShapeSize(h.shape);
  } catch (const Error&) {
    Bad(path, "shape " + shape + " is too large");
  }
  if (n > INT64_MAX / static_cast<int64_t>(ItemSize(h.dtype))) Bad(path, "shape " + shape + " is too large");
  const int64_t want = n * static_cast<int64_t>(ItemSize(h.dtype));
  if (size - h.data_offset < want) {
    throw IOError("'" + path + "' is truncated: shape " + ShapeToString(h.shape) + " of " +
                  std::string(DTypeName(h.dtype)) + " needs " + std::to_string(want) + " bytes of data, the file has " +
                  std::to_string(size - h.data_offset));
  }
  return h;
}

std::string HeaderBytes(DType t, const Shape& shape) {
  const char* descr = t == DType::kBool ? "|b1" : t == DType::kUInt8 ? "|u1" : t == DType::kInt32 ? "<i4"
                      : t == DType::kInt64 ? "<i8" : t == DType::kFloat32 ? "<f4" : "<f8";
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + ShapeToString(shape) + ", }";
  // Magic (6) + version (2) + length (2) + dict + padding + '\n', a multiple of 64.
  size_t total = 10 + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(dict.size() & 0xff));
  out.push_back(static_cast<char>(dict.size() >> 8));
  return out + dict;
}

class NpyWriter final : public ArrayWriter {
 public:
  explicit NpyWriter(std::string path) : path_(std::move(path)) {}
  /// Another process's view of an opened output (reopen_state()): writes
  /// blocks into the temporary file, which must exist.
  static std::unique_ptr<ArrayWriter> Reopen(std::string_view state) {
    ByteReader r(state, "npy writer state");
    auto w = std::make_unique<NpyWriter>(std::string(r.Str()));
    w->tmp_ = std::string(r.Str());
    w->dtype_ = static_cast<DType>(r.U8());
    w->data_offset_ = r.I64();
    w->shape_.resize(r.U64());
    for (int64_t& d : w->shape_) d = r.I64();
    w->file_ = std::make_unique<File>(File::OpenWrite(w->tmp_));
    return w;
  }
  std::string reopen_format() const override { return "npy"; }
  std::string reopen_state() const override {
    std::string out;
    ByteWriter b(&out);
    b.Str(path_);
    b.Str(tmp_);
    b.U8(static_cast<uint8_t>(dtype_));
    b.I64(data_offset_);
    b.U64(shape_.size());
    for (int64_t d : shape_) b.I64(d);
    return out;
  }
  void Open(const Shape& shape, DType dtype, const Chunks&) override {
    shape_ = shape;
    dtype_ = dtype;
    tmp_ = io::internal::TempNameFor(path_);
    file_ = std::make_unique<File>(File::Create(tmp_));
    std::string header = HeaderBytes(dtype, shape);
    if (header.size() > 65535) throw IOError("cannot write '" + path_ + "': header too long");
    data_offset_ = static_cast<int64_t>(header.size());
    file_->WriteAt(0, header.data(), data_offset_);
    file_->Truncate(data_offset_ + ShapeSize(shape) * static_cast<int64_t>(ItemSize(dtype)));
  }
  void WriteBlock(std::span<const int64_t>, std::span<const int64_t> start, const NDArray& data) override {
    if (data.dtype() != dtype_) throw TypeError("npy store: block dtype does not match '" + path_ + "'");
    // One write per contiguous run: rows of the block's last axis.
    const int nd = data.ndim();
    const int64_t item = static_cast<int64_t>(ItemSize(dtype_));
    const Shape fs = ContiguousStrides(shape_);
    if (nd == 0) {
      file_->WriteAt(data_offset_, data.bytes(), item);
      return;
    }
    const int64_t row = data.shape()[nd - 1];
    const int64_t rows = row == 0 ? 0 : data.size() / row;
    std::vector<int64_t> idx(nd, 0);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t off = 0;
      for (int d = 0; d < nd; ++d) off += (start[d] + idx[d]) * fs[d];
      file_->WriteAt(data_offset_ + off * item, data.bytes() + r * row * item, row * item);
      for (int d = nd - 2; d >= 0; --d) {
        if (++idx[d] < data.shape()[d]) break;
        idx[d] = 0;
      }
    }
  }
  void Commit() override {
    file_->Sync();
    file_.reset();
    io::internal::RenamePath(tmp_, path_);
  }
  void Abort() noexcept override {
    file_.reset();
    if (!tmp_.empty()) io::internal::RemoveAll(tmp_);
  }
  std::string path() const override { return path_; }

 private:
  std::string path_, tmp_;
  Shape shape_;
  DType dtype_ = DType::kFloat64;
  int64_t data_offset_ = 0;
  std::unique_ptr<File> file_;
};

// "io.npy-block" params: [path, data offset, dtype, file shape, block start,
// block shape]: reads one block's bytes, row by row.
const OpPtr& ReadBlockOp() {
  static const OpPtr op = RegisterOp("io.npy-block", [](std::span<const Value>, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    const std::string& path = p.at(0).get<std::string>();
    const int64_t data_offset = p.at(1).as<int64_t>();
    const DType t = static_cast<DType>(p.at(2).as<int64_t>());
    const Shape fshape = p.at(3).as<std::vector<int64_t>>(), start = p.at(4).as<std::vector<int64_t>>(),
                bshape = p.at(5).as<std::vector<int64_t>>();
    File f = File::OpenRead(path);
    NDArray out = NDArray::Empty(t, bshape);
    const int nd = static_cast<int>(bshape.size());
    const int64_t item = static_cast<int64_t>(ItemSize(t));
    const Shape fs = ContiguousStrides(fshape);
    if (out.size() == 0) return Value::From(std::move(out));
    if (nd == 0) {
      f.ReadAt(data_offset, out.mutable_bytes(), item);
      return Value::From(std::move(out));
    }
    // Merge the trailing axes the block spans whole into one contiguous run.
    int inner = nd - 1;
    int64_t run = bshape[nd - 1];
    while (inner > 0 && bshape[inner] == fshape[inner] && start[inner] == 0) {
      --inner;
      run *= bshape[inner];
    }
    const int64_t runs = out.size() / run;
    std::vector<int64_t> idx(nd, 0);
    auto* o = static_cast<std::byte*>(out.mutable_bytes());
    for (int64_t r = 0; r < runs; ++r) {
      int64_t off = 0;
      for (int d = 0; d < nd; ++d) off += (start[d] + idx[d]) * fs[d];
      f.ReadAt(data_offset + off * item, o + r * run * item, run * item);
      for (int d = inner - 1; d >= 0; --d) {
        if (++idx[d] < bshape[d]) break;
        idx[d] = 0;
      }
    }
    return Value::From(std::move(out));
  });
  return op;
}

}  // namespace

NDArray read_npy(const std::string& path) {
  File f = File::OpenRead(path);
  NpyHeader h = ReadHeader(f);
  if (h.fortran) {
    Shape rev(h.shape.rbegin(), h.shape.rend());
    NDArray raw = NDArray::Empty(h.dtype, rev);
    f.ReadAt(h.data_offset, raw.mutable_bytes(), static_cast<int64_t>(raw.buffer().size()));
    if (h.dtype == DType::kBool) io::internal::CheckBoolBytes(raw.bytes(), raw.size(), "'" + path + "'");
    std::vector<int> perm;
    for (int d = static_cast<int>(rev.size()) - 1; d >= 0; --d) perm.push_back(d);
    return array::internal::Transpose(raw, perm);
  }
  NDArray out = NDArray::Empty(h.dtype, h.shape);
  f.ReadAt(h.data_offset, out.mutable_bytes(), static_cast<int64_t>(out.buffer().size()));
  if (h.dtype == DType::kBool) io::internal::CheckBoolBytes(out.bytes(), out.size(), "'" + path + "'");
  return out;
}

void write_npy(const std::string& path, const NDArray& a) {
  NpyWriter w(path);
  try {
    w.Open(a.shape(), a.dtype(), {});
    Shape zero(a.ndim(), 0);
    w.WriteBlock({}, zero, a);
    w.Commit();
  } catch (...) {
    w.Abort();
    throw;
  }
}

Array from_npy(const std::string& path, const ChunkSpec& spec) {
  File f = File::OpenRead(path);
  NpyHeader h = ReadHeader(f);
  if (h.fortran || h.dtype == DType::kBool) return from_array(read_npy(path), spec);
  Chunks chunks = spec.Normalize(h.shape, h.dtype);
  std::string name = internal::NewArrayName("from-npy");
  Graph g;
  std::vector<std::vector<int64_t>> offsets;
  for (const auto& c : chunks) offsets.push_back(BlockOffsets(c));
  ValueList fshape;
  for (int64_t d : h.shape) fshape.push_back(d);
  for (const auto& block : AllBlocks(chunks)) {
    ValueList start, bshape;
    for (size_t d = 0; d < block.size(); ++d) {
      start.push_back(offsets[d][block[d]]);
      bshape.push_back(chunks[d][block[d]]);
    }
    g.AddUnchecked(Key(name, block), Task::Call(ReadBlockOp(), {}, Value(ValueList{path, h.data_offset, int64_t(h.dtype), fshape,
                                                                                 std::move(start), std::move(bshape)})));
  }
  return internal::MakeArray(name, h.shape, std::move(chunks), h.dtype, std::move(g), {});
}

std::shared_ptr<ArrayWriter> NpyTarget(std::string path) { return std::make_shared<NpyWriter>(std::move(path)); }

// Every op above registers when the library loads, not on first use, so a
// worker knows it by name before it has built such a graph itself.
[[maybe_unused]] const bool kOpsRegistered =
    (ReadBlockOp(), internal::RegisterWriterFormat("npy", &NpyWriter::Reopen), true);

}  // namespace skein
