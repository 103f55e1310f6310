// Thrift compact-protocol encoding of Parquet's metadata structures (the
// footer and page headers, generated from parquet.thrift), over memory.
#pragma once

#include <thrift/TConfiguration.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <climits>
#include <cstdint>
#include <memory>
#include <string>

#include "parquet_types.h"
#include "skein/core/error.h"

namespace skein::io::parquet {

namespace format = skein::io::parquet::format;

/// Decodes one `T` from the start of [p, p + n); returns the bytes it took.
/// IOError naming `what` when the bytes are not a valid `T`.
template <class T>
size_t ThriftRead(const uint8_t* p, size_t n, T* out, const std::string& what) {
  using apache::thrift::TConfiguration;
  using apache::thrift::transport::TMemoryBuffer;
  if (n > UINT32_MAX) n = UINT32_MAX;
  try {
    auto config = std::make_shared<TConfiguration>(INT_MAX, INT_MAX, 64);
    auto buf = std::make_shared<TMemoryBuffer>(const_cast<uint8_t*>(p), static_cast<uint32_t>(n), TMemoryBuffer::OBSERVE, config);
    apache::thrift::protocol::TCompactProtocolT<TMemoryBuffer> proto(buf);
    out->read(&proto);
    return n - buf->available_read();
  } catch (const apache::thrift::TException& e) {
    throw IOError(what + ": corrupt metadata (" + e.what() + ")");
  }
}

/// Appends the compact encoding of `v` to `out`.
template <class T>
void ThriftWrite(const T& v, std::string* out) {
  using apache::thrift::transport::TMemoryBuffer;
  auto buf = std::make_shared<TMemoryBuffer>();
  apache::thrift::protocol::TCompactProtocolT<TMemoryBuffer> proto(buf);
  v.write(&proto);
  uint8_t* data = nullptr;
  uint32_t size = 0;
  buf->getBuffer(&data, &size);
  out->append(reinterpret_cast<const char*>(data), size);
}

}  // namespace skein::io::parquet
