// skein/io/hdf5.h — HDF5 datasets, read and written block by block (libhdf5).
//
//   skein::Array x = skein::from_hdf5("data.h5", "/group/x");     // blocks follow the dataset's chunks
//   skein::to_hdf5("out.h5", "/y", x * 2);                          // one dataset
//   skein::store({x, y}, {skein::Hdf5Target("out.h5", "/x"),        // several datasets, one file,
//                         skein::Hdf5Target("out.h5", "/y", "gzip")});  // one graph
//
// Reading: any rank; float64/32, int64/32, uint8 and h5py's bool enum read as
// themselves; narrower integers widen losslessly (int8/int16/uint16 as int32,
// uint32 as int64); big-endian data is converted. Each block reads one
// hyperslab. With "auto" chunks the blocks are whole multiples of the
// dataset's own chunks, near config "array.chunk-size".
//
// Writing: a new file is written under a temporary name and renamed when
// every dataset in it is complete. Writing into an existing file adds (or
// replaces) the dataset: it is written under a temporary link name in the
// same group and moved to its name at the end, so a failed store never
// leaves a dataset that looks complete. Datasets are chunked like the array
// ("none" or "gzip" compression, optionally with byte shuffling).
//
// libhdf5 serializes its calls with one global lock, so reads and writes of
// different blocks do not overlap inside the library.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "skein/array/array.h"
#include "skein/io/store.h"

namespace skein {

/// IOError naming the file and dataset if either is missing or the element
/// type is not one of the above.
Array from_hdf5(const std::string& path, const std::string& dataset, const ChunkSpec& chunks = {});

struct Hdf5Options {
  std::string compression = "none";  ///< "none" or "gzip"
  int level = 4;                     ///< gzip level 1..9
  bool shuffle = false;              ///< byte shuffle before gzip (helps numeric data)
};

std::shared_ptr<ArrayWriter> Hdf5Target(std::string path, std::string dataset, Hdf5Options options = {});
/// For brevity: Hdf5Target(path, dataset, {compression}).
std::shared_ptr<ArrayWriter> Hdf5Target(std::string path, std::string dataset, std::string compression);

void to_hdf5(const std::string& path, const std::string& dataset, const Array& a, Hdf5Options options = {},
             const ComputeOptions& compute = {});
/// Several datasets of one file in one graph (shared work computed once).
void to_hdf5(const std::string& path, const std::vector<std::pair<std::string, Array>>& datasets,
             Hdf5Options options = {}, const ComputeOptions& compute = {});

}  // namespace skein
