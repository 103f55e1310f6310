// HDF5 datasets through libhdf5's C API (see hdf5.h). Every call into the
// library holds Hdf5Lock(): Debian's libhdf5 is built thread-safe (one
// global lock inside), and this keeps a non-thread-safe build correct too.
// Library errors are read off HDF5's error stack (its printing turned off)
// and rethrown as IOError naming the file and dataset.
#include "skein/io/hdf5.h"

#include <hdf5.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

#include "file_internal.h"
#include "skein/core/op.h"

namespace skein {
namespace {

namespace fs = std::filesystem;

std::mutex& Hdf5Lock() {
  static std::mutex m;
  return m;
}

// HDF5 prints its error stack to stderr unless told not to (per thread in
// thread-safe builds).
void QuietErrors() {
  thread_local bool quiet = false;
  if (!quiet) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    quiet = true;
  }
}

// The innermost description on the error stack (the most specific), then
// the stack cleared.
std::string LastError() {
  std::string msg;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* data) -> herr_t {
        if (e->desc && *e->desc) *static_cast<std::string*>(data) = e->desc;
        return 0;
      },
      &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? "HDF5 call failed" : msg;
}

std::string Where(const std::string& path, const std::string& dataset) {
  return "HDF5 file '" + path + "'" + (dataset.empty() ? "" : ", dataset '" + dataset + "'");
}

// An HDF5 identifier closed on destruction.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t), const std::string& where) : id_(id), close_(close) {
    if (id_ < 0) throw IOError(where + ": " + LastError());
  }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), close_(o.close_) {}
  Handle& operator=(Handle&& o) noexcept {
    Reset();
    id_ = std::exchange(o.id_, -1);
    close_ = o.close_;
    return *this;
  }
  ~Handle() { Reset(); }
  void Reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: passed straight to the C API

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

void Check(herr_t rc, const std::string& where) {
  if (rc < 0) throw IOError(where + ": " + LastError());
}

// h5py's bool: an int8 enum {FALSE = 0, TRUE = 1}.
Handle BoolType(const std::string& where) {
  Handle t(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose, where);
  int8_t v = 0;
  Check(H5Tenum_insert(t, "FALSE", &v), where);
  v = 1;
  Check(H5Tenum_insert(t, "TRUE", &v), where);
  return t;
}

enum class TypeUse { kMemory, kFile };

// The element type of `t` in memory (native), or as written to new files
// (little-endian, as NumPy and h5py write); bool is h5py's enum either way.
Handle ElementType(DType t, TypeUse use, const std::string& where) {
  const bool file = use == TypeUse::kFile;
  hid_t base;
  switch (t) {
    case DType::kBool: return BoolType(where);
    case DType::kUInt8: base = file ? H5T_STD_U8LE : H5T_NATIVE_UINT8; break;
    case DType::kInt32: base = file ? H5T_STD_I32LE : H5T_NATIVE_INT32; break;
    case DType::kInt64: base = file ? H5T_STD_I64LE : H5T_NATIVE_INT64; break;
    case DType::kFloat32: base = file ? H5T_IEEE_F32LE : H5T_NATIVE_FLOAT; break;
    default: base = file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE; break;
  }
  return Handle(H5Tcopy(base), H5Tclose, where);
}

// Our dtype for a dataset's element type (lossless widening of the integer
// widths we do not have); IOError for anything else.
DType DTypeOf(hid_t type, const std::string& where) {
  const size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      return size > 4 ? DType::kFloat64 : DType::kFloat32;
    case H5T_INTEGER: {
      const bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
      if (is_signed) return size <= 4 ? DType::kInt32 : DType::kInt64;
      if (size == 1) return DType::kUInt8;
      if (size == 2) return DType::kInt32;
      if (size == 4) return DType::kInt64;
      throw IOError(where + ": unsigned " + std::to_string(size * 8) + "-bit integers are not supported");
    }
    case H5T_ENUM: {
      char* a = H5Tget_nmembers(type) == 2 ? H5Tget_member_name(type, 0) : nullptr;
      char* b = a ? H5Tget_member_name(type, 1) : nullptr;
      const bool is_bool = a && b && std::string(a) == "FALSE" && std::string(b) == "TRUE";
      if (a) H5free_memory(a);
      if (b) H5free_memory(b);
      if (is_bool) return DType::kBool;
      throw IOError(where + ": enum types other than h5py's bool are not supported");
    }
    default: {
      static const std::map<H5T_class_t, const char*> names = {
          {H5T_TIME, "time"},       {H5T_STRING, "string"},  {H5T_BITFIELD, "bitfield"}, {H5T_OPAQUE, "opaque"},
          {H5T_COMPOUND, "compound"}, {H5T_REFERENCE, "reference"}, {H5T_VLEN, "variable-length"}, {H5T_ARRAY, "array"}};
      auto it = names.find(H5Tget_class(type));
      throw IOError(where + ": " + (it == names.end() ? "this" : it->second) +
                    " element type is not supported (float, integer or bool)");
    }
  }
}

// Opens the file read-only; IOError if it is missing or not HDF5.
Handle OpenForRead(const std::string& path) {
  const std::string where = Where(path, "");
  if (!fs::exists(path)) throw IOError(where + " does not exist");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw IOError(where + " is not an HDF5 file");
  }
  return Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, where);
}

Handle OpenDataset(hid_t file, const std::string& path, const std::string& dataset) {
  const std::string where = Where(path, dataset);
  // H5Lexists fails (rather than answering no) when a parent group is missing.
  htri_t exists = H5Lexists(file, dataset.c_str(), H5P_DEFAULT);
  if (exists <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw IOError(where + ": no such dataset");
  }
  H5O_info_t info;
  Check(H5Oget_info_by_name(file, dataset.c_str(), &info, H5P_DEFAULT), where);
  if (info.type != H5O_TYPE_DATASET) throw IOError(where + ": not a dataset (a group or named type)");
  return Handle(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT), H5Dclose, where);
}

std::vector<hsize_t> Hsize(std::span<const int64_t> v) { return {v.begin(), v.end()}; }

// Selects the hyperslab [start, start + count) of `dataset`; returns the file
// and memory dataspaces.
std::pair<Handle, Handle> Slab(hid_t dataset, std::span<const int64_t> start, std::span<const int64_t> count,
                               const std::string& where) {
  Handle file_space(H5Dget_space(dataset), H5Sclose, where);
  if (start.empty()) return {std::move(file_space), Handle(H5Screate(H5S_SCALAR), H5Sclose, where)};
  auto s = Hsize(start), c = Hsize(count);
  Check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, s.data(), nullptr, c.data(), nullptr), where);
  Handle mem_space(H5Screate_simple(static_cast<int>(c.size()), c.data(), nullptr), H5Sclose, where);
  return {std::move(file_space), std::move(mem_space)};
}

// "io.hdf5-block" params: [path, dataset, dtype, start, block shape].
const OpPtr& ReadBlockOp() {
  static const OpPtr op = RegisterOp("io.hdf5-block", [](std::span<const Value>, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    const std::string& path = p.at(0).get<std::string>();
    const std::string& dataset = p.at(1).get<std::string>();
    const DType t = static_cast<DType>(p.at(2).as<int64_t>());
    const std::vector<int64_t> start = p.at(3).as<std::vector<int64_t>>(), count = p.at(4).as<std::vector<int64_t>>();
    NDArray out = NDArray::Empty(t, count);
    if (out.size() == 0) return Value::From(std::move(out));
    const std::string where = Where(path, dataset);
    std::lock_guard lock(Hdf5Lock());
    QuietErrors();
    Handle file = OpenForRead(path);
    Handle d = OpenDataset(file, path, dataset);
    Handle file_type(H5Dget_type(d), H5Tclose, where);
    if (DTypeOf(file_type, where) != t) throw IOError(where + ": element type changed since the array was made");
    auto [file_space, mem_space] = Slab(d, start, count, where);
    Handle mem_type = ElementType(t, TypeUse::kMemory, where);
    Check(H5Dread(d, mem_type, mem_space, file_space, H5P_DEFAULT, out.mutable_bytes()), where);
    return Value::From(std::move(out));
  });
  return op;
}

// Blocks for `shape`: the user's spec, or for "auto" on a chunked dataset,
// auto sizes rounded to whole multiples of the stored chunks.
Chunks ChooseChunks(const ChunkSpec& spec, const Shape& shape, DType t, const std::vector<int64_t>& stored) {
  Chunks chunks = spec.Normalize(shape, t);
  if (!spec.IsAuto() || stored.empty()) return chunks;
  for (size_t d = 0; d < shape.size(); ++d) {
    const int64_t want = chunks[d][0], unit = std::max<int64_t>(stored[d], 1);
    const int64_t size = std::min(std::max<int64_t>(1, (want + unit / 2) / unit) * unit, std::max<int64_t>(shape[d], 1));
    chunks[d] = RegularChunks(shape[d], size);
  }
  return chunks;
}

// One output file, shared by every Hdf5Target of the same path that is open
// at the same time (several datasets written by one store()).
struct PendingFile {
  std::string path;
  std::string tmp;  // the temporary file, or empty when adding to an existing file
  Handle file;
  int uncommitted = 0;  // targets opened and neither committed nor aborted
};

std::map<std::string, std::weak_ptr<PendingFile>>& OpenFiles() {
  static std::map<std::string, std::weak_ptr<PendingFile>> files;
  return files;
}

class Hdf5Writer final : public ArrayWriter {
 public:
  Hdf5Writer(std::string path, std::string dataset, Hdf5Options options)
      : path_(std::move(path)), dataset_(std::move(dataset)), options_(std::move(options)) {
    if (dataset_.empty() || dataset_.back() == '/') throw Error("Hdf5Target: bad dataset name '" + dataset_ + "'");
    if (options_.compression != "none" && options_.compression != "gzip") {
      throw Error("Hdf5Target: unknown compression '" + options_.compression + "' (none, gzip)");
    }
    if (options_.compression == "gzip" && (options_.level < 1 || options_.level > 9)) {
      throw Error("Hdf5Target: gzip level " + std::to_string(options_.level) + " is not in 1..9");
    }
  }
  ~Hdf5Writer() override { Abort(); }

  void Open(const Shape& shape, DType dtype, const Chunks& chunks) override {
    const std::string where = Where(path_, dataset_);
    Shape chunk(shape.size());
    int64_t chunk_bytes = ItemSize(dtype);
    for (size_t d = 0; d < shape.size(); ++d) {
      chunk[d] = std::max<int64_t>(1, *std::max_element(chunks[d].begin(), chunks[d].end()));
      chunk_bytes *= chunk[d];
    }
    if (chunk_bytes >= (int64_t{1} << 32)) {
      throw Error("chunks " + ChunksToString(chunks) + " do not fit " + where +
                  ": an HDF5 chunk must be under 4 GiB; rechunk first");
    }
    std::lock_guard lock(Hdf5Lock());
    QuietErrors();
    file_ = Acquire(where);
    ++file_->uncommitted;
    link_ = file_->tmp.empty() ? io::internal::TempNameFor(dataset_) : dataset_;
    Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose, where);
    Check(H5Pset_create_intermediate_group(lcpl, 1), where);
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, where);
    Handle space;
    if (shape.empty()) {
      space = Handle(H5Screate(H5S_SCALAR), H5Sclose, where);
    } else {
      auto dims = Hsize(shape), cdims = Hsize(chunk);
      space = Handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose, where);
      Check(H5Pset_chunk(dcpl, static_cast<int>(cdims.size()), cdims.data()), where);
      if (options_.compression == "gzip") {
        if (options_.shuffle) Check(H5Pset_shuffle(dcpl), where);
        Check(H5Pset_deflate(dcpl, static_cast<unsigned>(options_.level)), where);
      }
    }
    Handle type = ElementType(dtype, TypeUse::kFile, where);
    dtype_ = dtype;
    dataset_id_ = Handle(H5Dcreate2(file_->file, link_.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT), H5Dclose, where);
  }

  void WriteBlock(std::span<const int64_t>, std::span<const int64_t> start, const NDArray& data) override {
    if (data.size() == 0) return;
    const std::string where = Where(path_, dataset_);
    std::lock_guard lock(Hdf5Lock());
    QuietErrors();
    auto [file_space, mem_space] = Slab(dataset_id_, start, data.shape(), where);
    Handle mem_type = ElementType(dtype_, TypeUse::kMemory, where);
    Check(H5Dwrite(dataset_id_, mem_type, mem_space, file_space, H5P_DEFAULT, data.bytes()), where);
  }

  void Commit() override {
    const std::string where = Where(path_, dataset_);
    std::lock_guard lock(Hdf5Lock());
    QuietErrors();
    dataset_id_.Reset();
    if (!file_) return;
    if (file_->tmp.empty()) {  // adding to an existing file: move the finished dataset into place
      if (H5Lexists(file_->file, dataset_.c_str(), H5P_DEFAULT) > 0) {
        Check(H5Ldelete(file_->file, dataset_.c_str(), H5P_DEFAULT), where);
      }
      H5Eclear2(H5E_DEFAULT);
      Check(H5Lmove(file_->file, link_.c_str(), file_->file, dataset_.c_str(), H5P_DEFAULT, H5P_DEFAULT), where);
    }
    std::shared_ptr<PendingFile> f = std::move(file_);
    if (--f->uncommitted == 0) Finish(*f, where);
  }

  void Abort() noexcept override {
    std::lock_guard lock(Hdf5Lock());
    QuietErrors();
    dataset_id_.Reset();
    if (!file_) return;
    std::shared_ptr<PendingFile> f = std::move(file_);
    --f->uncommitted;
    if (f->tmp.empty()) {
      if (f->file.get() >= 0) H5Ldelete(f->file, link_.c_str(), H5P_DEFAULT);
      H5Eclear2(H5E_DEFAULT);
      if (f->uncommitted == 0) f->file.Reset();
    } else {  // a new file: nothing of it may stay
      f->file.Reset();
      io::internal::RemoveAll(f->tmp);
    }
  }

  std::string path() const override { return path_; }

 private:
  // The file this target writes into: the one another open target of the
  // same path already uses, or a new temporary file, or the existing file.
  std::shared_ptr<PendingFile> Acquire(const std::string& where) {
    const std::string key = fs::absolute(path_).lexically_normal().string();
    auto& slot = OpenFiles()[key];
    if (auto f = slot.lock(); f && f->file.get() >= 0) return f;
    auto f = std::make_shared<PendingFile>();
    f->path = path_;
    if (fs::exists(path_)) {
      if (H5Fis_hdf5(path_.c_str()) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        throw IOError(Where(path_, "") + " exists and is not an HDF5 file; not overwriting it");
      }
      f->file = Handle(H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose, where);
    } else {
      f->tmp = io::internal::TempNameFor(path_);
      f->file = Handle(H5Fcreate(f->tmp.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT), H5Fclose, where);
    }
    slot = f;
    return f;
  }

  // The last target of a file is done: close it (flushing) and rename a new one into place.
  static void Finish(PendingFile& f, const std::string& where) {
    if (f.file.get() >= 0) Check(H5Fflush(f.file, H5F_SCOPE_GLOBAL), where);
    f.file.Reset();
    if (!f.tmp.empty()) {
      io::internal::RenamePath(f.tmp, f.path);
      f.tmp.clear();
    }
  }

  std::string path_, dataset_;
  Hdf5Options options_;
  std::shared_ptr<PendingFile> file_;
  std::string link_;
  Handle dataset_id_;
  DType dtype_ = DType::kFloat64;
};

}  // namespace

Array from_hdf5(const std::string& path, const std::string& dataset, const ChunkSpec& spec) {
  const std::string where = Where(path, dataset);
  Shape shape;
  DType t;
  std::vector<int64_t> stored;
  {
    std::lock_guard lock(Hdf5Lock());
    QuietErrors();
    Handle file = OpenForRead(path);
    Handle d = OpenDataset(file, path, dataset);
    Handle space(H5Dget_space(d), H5Sclose, where);
    if (H5Sget_simple_extent_type(space) == H5S_NULL) throw IOError(where + ": has no data (a null dataspace)");
    const int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0) throw IOError(where + ": " + LastError());
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    if (rank > 0) Check(H5Sget_simple_extent_dims(space, dims.data(), nullptr), where);
    shape.assign(dims.begin(), dims.end());
    Handle type(H5Dget_type(d), H5Tclose, where);
    t = DTypeOf(type, where);
    Handle dcpl(H5Dget_create_plist(d), H5Pclose, where);
    if (rank > 0 && H5Pget_layout(dcpl) == H5D_CHUNKED) {
      std::vector<hsize_t> c(static_cast<size_t>(rank));
      if (H5Pget_chunk(dcpl, rank, c.data()) == rank) stored.assign(c.begin(), c.end());
    }
  }
  try {
    ShapeSize(shape);
  } catch (const Error&) {
    throw IOError(where + ": shape " + ShapeToString(shape) + " is too large");
  }
  Chunks chunks = ChooseChunks(spec, shape, t, stored);
  std::string name = internal::NewArrayName("from-hdf5");
  std::vector<std::vector<int64_t>> offsets;
  for (const auto& c : chunks) offsets.push_back(BlockOffsets(c));
  Graph g;
  for (const auto& block : AllBlocks(chunks)) {
    ValueList start, count;
    for (size_t d = 0; d < block.size(); ++d) {
      start.push_back(offsets[d][block[d]]);
      count.push_back(chunks[d][block[d]]);
    }
    g.AddUnchecked(Key(name, block), Task::Call(ReadBlockOp(), {}, Value(ValueList{path, dataset, int64_t(t), std::move(start),
                                                                               std::move(count)})));
  }
  return internal::MakeArray(name, shape, std::move(chunks), t, std::move(g), {});
}

std::shared_ptr<ArrayWriter> Hdf5Target(std::string path, std::string dataset, Hdf5Options options) {
  return std::make_shared<Hdf5Writer>(std::move(path), std::move(dataset), std::move(options));
}

std::shared_ptr<ArrayWriter> Hdf5Target(std::string path, std::string dataset, std::string compression) {
  Hdf5Options o;
  o.compression = std::move(compression);
  return Hdf5Target(std::move(path), std::move(dataset), std::move(o));
}

void to_hdf5(const std::string& path, const std::string& dataset, const Array& a, Hdf5Options options,
             const ComputeOptions& compute) {
  to_hdf5(path, {{dataset, a}}, std::move(options), compute);
}

void to_hdf5(const std::string& path, const std::vector<std::pair<std::string, Array>>& datasets, Hdf5Options options,
             const ComputeOptions& compute) {
  std::vector<Array> arrays;
  std::vector<std::shared_ptr<ArrayWriter>> targets;
  for (const auto& [name, a] : datasets) {
    arrays.push_back(a);
    targets.push_back(Hdf5Target(path, name, options));
  }
  store(arrays, targets, compute);
}

// Every op above registers when the library loads, not on first use, so a
// worker knows it by name before it has built such a graph itself.
[[maybe_unused]] const bool kOpsRegistered = (ReadBlockOp(), true);

}  // namespace skein
