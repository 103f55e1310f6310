// skein/io/npy.h — NumPy's .npy files (format versions 1.0 to 3.0).
//
//   skein::NDArray a = skein::read_npy("x.npy");               // whole, in memory
//   skein::Array x = skein::from_npy("big.npy", 1000);         // lazy, block by block
//   skein::write_npy("y.npy", a);
//   skein::store({x * 2}, {skein::NpyTarget("out.npy")});     // in parallel, block by block
//
// Little-endian bool, uint8, int32, int64, float32 and float64; C or Fortran
// order on reading (Fortran-ordered files are read whole). Malformed files
// get an IOError naming the path and what is wrong.
#pragma once

#include <memory>
#include <string>

#include "skein/array/array.h"
#include "skein/io/store.h"

namespace skein {

NDArray read_npy(const std::string& path);
/// Writes under a temporary name, then renames.
void write_npy(const std::string& path, const NDArray& a);
/// An array over the file's elements; each block reads only its own bytes.
Array from_npy(const std::string& path, const ChunkSpec& chunks = {});
/// A store() target writing one .npy file.
std::shared_ptr<ArrayWriter> NpyTarget(std::string path);

}  // namespace skein
