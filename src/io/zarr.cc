// Zarr v2 stores (see zarr.h): ".zarray" metadata (JSON, read with simdjson)
// plus one file per chunk named "i.j.k".
#include "skein/io/zarr.h"

#include <blosc.h>
#include <simdjson.h>
#include <zlib.h>
#include <zstd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "../array/block_copy_internal.h"
#include "file_internal.h"
#include "skein/core/op.h"
#include "skein/core/serialize.h"

namespace skein {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxChunks = int64_t{1} << 24;

struct ZarrMeta {
  Shape shape, chunks;
  DType dtype;
  std::string compressor;  // "none", "zlib", "gzip", "zstd", "blosc"
  double fill = 0;
  char separator = '.';
};

[[noreturn]] void Bad(const std::string& path, const std::string& what) {
  throw IOError("Zarr store '" + path + "': " + what);
}

std::string ReadText(const std::string& path) {
  io::internal::File f = io::internal::File::OpenRead(path);
  std::string s(static_cast<size_t>(f.Size()), '\0');
  f.ReadAt(0, s.data(), static_cast<int64_t>(s.size()));
  return s;
}

std::string ZarrDType(DType t) {
  switch (t) {
    case DType::kBool: return "|b1";
    case DType::kUInt8: return "|u1";
    case DType::kInt32: return "<i4";
    case DType::kInt64: return "<i8";
    case DType::kFloat32: return "<f4";
    default: return "<f8";
  }
}

ZarrMeta ReadMeta(const std::string& path) {
  const std::string meta_path = (fs::path(path) / ".zarray").string();
  if (!fs::exists(meta_path)) Bad(path, "no .zarray (not a Zarr v2 array)");
  simdjson::dom::parser parser;
  simdjson::padded_string text(ReadText(meta_path));
  simdjson::dom::element doc;
  if (auto err = parser.parse(text).get(doc)) Bad(path, std::string(".zarray is not valid JSON: ") + simdjson::error_message(err));
  ZarrMeta m;
  try {
    int64_t format = doc["zarr_format"].get_int64();
    if (format != 2) Bad(path, "zarr_format " + std::to_string(format) + " is not supported (only 2)");
    for (auto v : doc["shape"].get_array()) m.shape.push_back(v.get_int64());
    for (auto v : doc["chunks"].get_array()) m.chunks.push_back(v.get_int64());
    std::string_view dt = doc["dtype"].get_string();
    if (!dt.empty() && dt[0] == '>') Bad(path, "big-endian dtype " + std::string(dt) + " is not supported");
    try {
      m.dtype = ParseDType(dt);
    } catch (const TypeError&) {
      Bad(path, "unsupported dtype " + std::string(dt));
    }
    std::string_view order = doc["order"].get_string();
    if (order != "C") Bad(path, "order '" + std::string(order) + "' is not supported (only C)");
    simdjson::dom::element filters;
    if (doc["filters"].get(filters) == simdjson::SUCCESS && !filters.is_null()) Bad(path, "filters are not supported");
    simdjson::dom::element comp = doc["compressor"];
    if (comp.is_null()) {
      m.compressor = "none";
    } else {
      m.compressor = std::string(std::string_view(comp["id"].get_string()));
      if (m.compressor != "zlib" && m.compressor != "gzip" && m.compressor != "zstd" && m.compressor != "blosc") {
        Bad(path, "compressor '" + m.compressor + "' is not supported (none, zlib, gzip, zstd, blosc)");
      }
    }
    simdjson::dom::element fill = doc["fill_value"];
    if (fill.is_null()) m.fill = 0;
    else if (fill.is_string()) {
      std::string_view f = fill.get_string();
      m.fill = f == "NaN" ? std::numeric_limits<double>::quiet_NaN()
               : f == "Infinity" ? std::numeric_limits<double>::infinity()
               : f == "-Infinity" ? -std::numeric_limits<double>::infinity() : 0;
    } else if (fill.is_bool()) m.fill = fill.get_bool() ? 1 : 0;
    else m.fill = fill.get_double();
    simdjson::dom::element sep;
    if (doc["dimension_separator"].get(sep) == simdjson::SUCCESS) {
      std::string_view s = sep.get_string();
      if (s != "." && s != "/") Bad(path, "dimension_separator '" + std::string(s) + "'");
      m.separator = s[0];
    }
  } catch (const simdjson::simdjson_error& e) {
    Bad(path, std::string(".zarray: ") + e.what());
  }
  if (m.shape.size() != m.chunks.size()) Bad(path, "shape and chunks have different ranks");
  for (size_t d = 0; d < m.shape.size(); ++d) {
    if (m.shape[d] < 0 || m.chunks[d] <= 0) Bad(path, "bad shape or chunks in .zarray");
  }
  try {
    if (ShapeSize(m.shape) > INT64_MAX / 8 || ShapeSize(m.chunks) > INT64_MAX / 8) throw Error("");
  } catch (const Error&) {
    Bad(path, "shape or chunks too large");
  }
  // A graph of more chunks than this is a lie or a mistake, not a dataset.
  double count = 1;
  for (size_t d = 0; d < m.shape.size(); ++d) count *= std::ceil(static_cast<double>(m.shape[d]) / static_cast<double>(m.chunks[d]));
  if (count > static_cast<double>(kMaxChunks)) {
    Bad(path, "shape " + ShapeToString(m.shape) + " in chunks " + ShapeToString(m.chunks) + " makes more than " +
                  std::to_string(kMaxChunks) + " chunks");
  }
  return m;
}

std::string ChunkName(std::span<const int64_t> block, char sep) {
  std::string s;
  for (size_t d = 0; d < block.size(); ++d) {
    if (d) s.push_back(sep);
    s += std::to_string(block[d]);
  }
  return block.empty() ? "0" : s;
}

// Decoded bytes of one chunk file (exactly `raw_size` of them).
// Sizes are checked against what the compressed bytes can hold before the
// output is allocated, so metadata that lies about the chunk shape cannot
// make a reader allocate without bound.
std::string Decode(const std::string& data, const std::string& compressor, size_t raw_size, const std::string& where) {
  if (compressor == "none") {
    if (data.size() != raw_size) throw IOError(where + ": " + std::to_string(data.size()) + " bytes, expected " + std::to_string(raw_size));
    return data;
  }
  auto corrupt = [&] { return IOError(where + ": corrupt " + compressor + " chunk"); };
  if (compressor == "zstd") {
    const unsigned long long declared = ZSTD_getFrameContentSize(data.data(), data.size());
    if (declared == ZSTD_CONTENTSIZE_ERROR || (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != raw_size)) throw corrupt();
    if (declared == ZSTD_CONTENTSIZE_UNKNOWN && raw_size / 32768 > data.size()) throw corrupt();
  } else if (compressor == "blosc") {
    size_t nbytes = 0, cbytes = 0, bsize = 0;
    if (data.size() < 16) throw corrupt();
    blosc_cbuffer_sizes(data.data(), &nbytes, &cbytes, &bsize);
    if (nbytes != raw_size || cbytes > data.size()) throw corrupt();
  } else if (raw_size / 1032 > data.size() + 64) {  // deflate cannot expand more than ~1032:1
    throw corrupt();
  }
  std::string out(raw_size, '\0');
  if (compressor == "zstd") {
    size_t n = ZSTD_decompress(out.data(), raw_size, data.data(), data.size());
    if (ZSTD_isError(n) || n != raw_size) throw IOError(where + ": corrupt zstd chunk");
    return out;
  }
  if (compressor == "blosc") {
    int n = blosc_decompress_ctx(data.data(), out.data(), raw_size, 1);
    if (n < 0 || static_cast<size_t>(n) != raw_size) throw IOError(where + ": corrupt blosc chunk");
    return out;
  }
  // zlib and gzip through inflate (windowBits 15 + 16 accepts gzip, + 32 both).
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw IOError(where + ": zlib init failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(raw_size);
  int rc = inflate(&zs, Z_FINISH);
  size_t produced = raw_size - zs.avail_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || produced != raw_size) throw IOError(where + ": corrupt " + compressor + " chunk");
  return out;
}

std::string Encode(const void* data, size_t n, const std::string& compressor, int level, size_t item) {
  if (compressor == "none") return std::string(static_cast<const char*>(data), n);
  if (compressor == "zstd") {
    std::string out(ZSTD_compressBound(n), '\0');
    size_t m = ZSTD_compress(out.data(), out.size(), data, n, level);
    if (ZSTD_isError(m)) throw IOError("zstd compression failed");
    out.resize(m);
    return out;
  }
  if (compressor == "blosc") {
    std::string out(n + BLOSC_MAX_OVERHEAD, '\0');
    int m = blosc_compress_ctx(level, BLOSC_SHUFFLE, item, n, data, out.data(), out.size(), "lz4", 0, 1);
    if (m <= 0) throw IOError("blosc compression failed");
    out.resize(static_cast<size_t>(m));
    return out;
  }
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, compressor == "gzip" ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw IOError("zlib init failed");
  }
  std::string out(deflateBound(&zs, n) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<void*>(data));
  zs.avail_in = static_cast<uInt>(n);
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw IOError("zlib compression failed");
  return out;
}

// "io.zarr-block" params: [store path, chunk file name, dtype, chunk shape,
// block shape, compressor, fill value].
const OpPtr& ReadChunkOp() {
  static const OpPtr op = RegisterOp("io.zarr-block", [](std::span<const Value>, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    const std::string& store = p.at(0).get<std::string>();
    const std::string file = (fs::path(store) / p.at(1).get<std::string>()).string();
    const DType t = static_cast<DType>(p.at(2).as<int64_t>());
    const Shape cshape = p.at(3).as<std::vector<int64_t>>(), bshape = p.at(4).as<std::vector<int64_t>>();
    const std::string& compressor = p.at(5).get<std::string>();
    const double fill = p.at(6).as<double>();
    NDArray out = NDArray::Empty(t, bshape);
    if (!fs::exists(file)) {
      VisitDType(t, [&]<class T>(T) { std::fill_n(out.mutable_data<T>(), out.size(), static_cast<T>(fill)); });
      return Value::From(std::move(out));
    }
    const size_t raw = static_cast<size_t>(ShapeSize(cshape)) * ItemSize(t);
    std::string bytes = Decode(ReadText(file), compressor, raw, "Zarr chunk '" + file + "'");
    if (t == DType::kBool) io::internal::CheckBoolBytes(bytes.data(), static_cast<int64_t>(bytes.size()), "Zarr chunk '" + file + "'");
    NDArray chunk = NDArray::FromBuffer(t, cshape, Buffer(std::move(bytes)));
    if (cshape == bshape) return Value::From(std::move(chunk));
    Shape zero(bshape.size(), 0);
    array::internal::CopyRegion(chunk, zero, bshape, &out, zero);  // an edge chunk: padded on disk
    return Value::From(std::move(out));
  });
  return op;
}

class ZarrWriter final : public ArrayWriter {
 public:
  ZarrWriter(std::string path, std::string compressor, int level)
      : path_(std::move(path)), compressor_(std::move(compressor)), level_(level) {
    if (compressor_ != "none" && compressor_ != "zlib" && compressor_ != "gzip" && compressor_ != "zstd" &&
        compressor_ != "blosc") {
      throw Error("ZarrTarget: unknown compressor '" + compressor_ + "' (none, zlib, gzip, zstd, blosc)");
    }
  }
  /// Another process's view of an opened store (reopen_state()): writes
  /// chunk files into the temporary directory, which must exist.
  static std::unique_ptr<ArrayWriter> Reopen(std::string_view state) {
    ByteReader r(state, "zarr writer state");
    std::string path(r.Str()), tmp(r.Str()), compressor(r.Str());
    auto w = std::make_unique<ZarrWriter>(std::move(path), std::move(compressor), static_cast<int>(r.I64()));
    w->tmp_ = std::move(tmp);
    w->dtype_ = static_cast<DType>(r.U8());
    w->chunk_shape_.resize(r.U64());
    for (int64_t& d : w->chunk_shape_) d = r.I64();
    if (!fs::is_directory(w->tmp_)) {
      throw IOError("cannot write a block of '" + w->path_ + "': its temporary directory '" + w->tmp_ +
                    "' is not there (is it on a filesystem this process sees?)");
    }
    return w;
  }
  std::string reopen_format() const override { return "zarr"; }
  std::string reopen_state() const override {
    std::string out;
    ByteWriter b(&out);
    b.Str(path_);
    b.Str(tmp_);
    b.Str(compressor_);
    b.I64(level_);
    b.U8(static_cast<uint8_t>(dtype_));
    b.U64(chunk_shape_.size());
    for (int64_t d : chunk_shape_) b.I64(d);
    return out;
  }
  void Open(const Shape& shape, DType dtype, const Chunks& chunks) override {
    dtype_ = dtype;
    chunk_shape_.clear();
    for (size_t d = 0; d < chunks.size(); ++d) {
      const auto& c = chunks[d];
      for (size_t b = 0; b + 1 < c.size(); ++b) {
        if (c[b] != c[0] || (b + 2 == c.size() && c.back() > c[0])) {
          throw Error("chunks " + ChunksToString(chunks) + " do not fit a Zarr store ('" + path_ +
                      "'): Zarr needs equal chunks on each axis (the last may be smaller); rechunk first");
        }
      }
      chunk_shape_.push_back(std::max<int64_t>(c[0], 1));
    }
    tmp_ = io::internal::TempNameFor(path_);
    fs::create_directories(tmp_);
    std::ostringstream j;
    j << "{\n  \"zarr_format\": 2,\n  \"shape\": [";
    for (size_t d = 0; d < shape.size(); ++d) j << (d ? ", " : "") << shape[d];
    j << "],\n  \"chunks\": [";
    for (size_t d = 0; d < chunk_shape_.size(); ++d) j << (d ? ", " : "") << chunk_shape_[d];
    j << "],\n  \"dtype\": \"" << ZarrDType(dtype) << "\",\n  \"compressor\": ";
    if (compressor_ == "none") j << "null";
    else if (compressor_ == "blosc") j << "{\"id\": \"blosc\", \"cname\": \"lz4\", \"clevel\": " << level_ << ", \"shuffle\": 1, \"blocksize\": 0}";
    else j << "{\"id\": \"" << compressor_ << "\", \"level\": " << level_ << "}";
    j << ",\n  \"fill_value\": " << (dtype == DType::kBool ? "false" : "0") << ",\n  \"order\": \"C\",\n  \"filters\": null\n}\n";
    std::string text = j.str();
    io::internal::File f = io::internal::File::Create((fs::path(tmp_) / ".zarray").string());
    f.WriteAt(0, text.data(), static_cast<int64_t>(text.size()));
  }
  void WriteBlock(std::span<const int64_t> block, std::span<const int64_t>, const NDArray& data) override {
    NDArray full = data;
    if (data.shape() != chunk_shape_) {  // edge block: pad to the chunk shape
      full = NDArray::Zeros(dtype_, chunk_shape_);
      Shape zero(data.ndim(), 0);
      array::internal::CopyRegion(data, zero, data.shape(), &full, zero);
    }
    std::string bytes = Encode(full.bytes(), full.buffer().size(), compressor_, level_, full.itemsize());
    io::internal::File f = io::internal::File::Create((fs::path(tmp_) / ChunkName(block, '.')).string());
    f.WriteAt(0, bytes.data(), static_cast<int64_t>(bytes.size()));
  }
  void Commit() override { io::internal::RenamePath(tmp_, path_); }
  void Abort() noexcept override {
    if (!tmp_.empty()) io::internal::RemoveAll(tmp_);
  }
  std::string path() const override { return path_; }

 private:
  std::string path_, compressor_, tmp_;
  int level_;
  DType dtype_ = DType::kFloat64;
  Shape chunk_shape_;
};

}  // namespace

Array from_zarr(const std::string& path) {
  ZarrMeta m = ReadMeta(path);
  Chunks chunks;
  for (size_t d = 0; d < m.shape.size(); ++d) chunks.push_back(RegularChunks(m.shape[d], m.chunks[d]));
  std::string name = internal::NewArrayName("from-zarr");
  Graph g;
  ValueList cshape;
  for (int64_t c : m.chunks) cshape.push_back(c);
  for (const auto& block : AllBlocks(chunks)) {
    ValueList bshape;
    for (int64_t s : BlockShape(chunks, block)) bshape.push_back(s);
    g.AddUnchecked(Key(name, block),
                   Task::Call(ReadChunkOp(), {}, Value(ValueList{path, ChunkName(block, m.separator), int64_t(m.dtype), cshape,
                                                                  std::move(bshape), m.compressor, m.fill})));
  }
  return internal::MakeArray(name, m.shape, std::move(chunks), m.dtype, std::move(g), {});
}

std::shared_ptr<ArrayWriter> ZarrTarget(std::string path, std::string compressor, int level) {
  return std::make_shared<ZarrWriter>(std::move(path), std::move(compressor), level);
}

void to_zarr(const Array& a, const std::string& path, std::string compressor, int level, const ComputeOptions& options) {
  store({a}, {ZarrTarget(path, std::move(compressor), level)}, options);
}

// Every op above registers when the library loads, not on first use, so a
// worker knows it by name before it has built such a graph itself.
[[maybe_unused]] const bool kOpsRegistered =
    (ReadChunkOp(), internal::RegisterWriterFormat("zarr", &ZarrWriter::Reopen), true);

}  // namespace skein
