// skein/io/zarr.h — Zarr v2 directory stores.
//
//   skein::Array x = skein::from_zarr("data.zarr");          // one block per Zarr chunk
//   skein::store({y}, {skein::ZarrTarget("out.zarr", "zstd")});
//   skein::to_zarr(y, "out.zarr");                            // the same, one array
//
// Reads and writes C-ordered arrays of the six dtypes with chunks raw
// (compressor null), zlib, gzip, zstd or blosc compressed; missing chunk
// files read as fill_value, as Zarr defines. Writing needs regular chunks
// (all blocks the same size but the last on each axis). Errors name the
// store path and the chunk.
#pragma once

#include <memory>
#include <string>

#include "skein/array/array.h"
#include "skein/io/store.h"

namespace skein {

Array from_zarr(const std::string& path);
/// `compressor`: "zstd" (default), "zlib", "gzip", "blosc" or "none".
std::shared_ptr<ArrayWriter> ZarrTarget(std::string path, std::string compressor = "zstd", int level = 1);
void to_zarr(const Array& a, const std::string& path, std::string compressor = "zstd", int level = 1,
             const ComputeOptions& options = {});

}  // namespace skein
