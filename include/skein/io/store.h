// skein/io/store.h — writing arrays block by block into files.
//
// A target receives an array's blocks from parallel tasks and only becomes
// visible under its final name once every block is written: files and
// directories are written under a temporary name and renamed at the end, so
// a failed or cancelled store never leaves output that looks complete.
//
//   skein::store({x, y}, {skein::NpyTarget("x.npy"), skein::ZarrTarget("y.zarr")});
//   x.to_npy("x.npy");  // the same for one array
//
// With a Client connected, the workers write the blocks they computed when
// every target can be reopened by another process (npy and Zarr: the
// temporary output must be visible to the workers under the same path, as
// on one host or a shared filesystem, as with Dask). An HDF5 target is one
// open library handle, so its blocks are written by this process.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "skein/array/array.h"

namespace skein {

/// Where an array's blocks go. Implementations: npy, Zarr v2, HDF5.
/// WriteBlock is called concurrently for different blocks.
class ArrayWriter {
 public:
  virtual ~ArrayWriter() = default;
  /// Creates the temporary output for an array of this layout. Error naming
  /// the path if it cannot, or if the chunks do not fit the format.
  virtual void Open(const Shape& shape, DType dtype, const Chunks& chunks) = 0;
  /// Writes one block; `start` is its offset in the array.
  virtual void WriteBlock(std::span<const int64_t> block, std::span<const int64_t> start, const NDArray& data) = 0;
  /// Moves the output to its final name.
  virtual void Commit() = 0;
  /// Removes the temporary output (after a failure). Never throws.
  virtual void Abort() noexcept = 0;
  virtual std::string path() const = 0;
  /// After Open: a format registered with RegisterWriterFormat, and the
  /// bytes from which that format reopens this output in another process to
  /// write blocks (WriteBlock only). An empty format: only this object can.
  virtual std::string reopen_format() const { return ""; }
  virtual std::string reopen_state() const { return ""; }
};

namespace internal {
/// Builds a writer ready for WriteBlock from reopen_state(); Error naming
/// the path if the output is gone.
using WriterReopener = std::function<std::unique_ptr<ArrayWriter>(std::string_view state)>;
/// Registers how `format` is reopened (at load, so every worker knows it).
bool RegisterWriterFormat(const std::string& format, WriterReopener reopen);
/// A writer for blocks of the output another process opened; Error if the
/// format is unknown here, the state malformed or the output gone.
std::unique_ptr<ArrayWriter> ReopenWriter(const std::string& format, std::string_view state);
}  // namespace internal

/// Computes `arrays` in one graph and writes each into its target (same
/// count). Shared work is computed once. On any error every target is
/// aborted (nothing is left under the final names) and the error rethrown.
void store(const std::vector<Array>& arrays, const std::vector<std::shared_ptr<ArrayWriter>>& targets,
           const ComputeOptions& options = {});

}  // namespace skein
