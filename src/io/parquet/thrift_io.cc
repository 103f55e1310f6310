// The one place Thrift's compact protocol is instantiated. Thrift 0.17's
// container size check multiplies a file's element count by the element
// size in `int` (TCompactProtocol.h, checkReadBytesAvailable), which can
// overflow on hostile input; the wrapped value only weakens that check,
// and the read then fails on the bytes that are not there. This file is
// built with -fno-sanitize=signed-integer-overflow (CMakeLists.txt) so
// the sanitizer and fuzz builds test our code, not that line.
#include "thrift_io.h"

#include <thrift/TConfiguration.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <climits>
#include <memory>

#include "skein/core/error.h"

namespace skein::io::parquet {

namespace {

using apache::thrift::TConfiguration;
using apache::thrift::transport::TMemoryBuffer;
using Compact = apache::thrift::protocol::TCompactProtocolT<TMemoryBuffer>;

template <class T>
size_t Read(const uint8_t* p, size_t n, T* out, const std::string& what) {
  if (n > UINT32_MAX) n = UINT32_MAX;
  try {
    auto config = std::make_shared<TConfiguration>(INT_MAX, INT_MAX, 64);
    auto buf = std::make_shared<TMemoryBuffer>(const_cast<uint8_t*>(p), static_cast<uint32_t>(n), TMemoryBuffer::OBSERVE, config);
    Compact proto(buf);
    out->read(&proto);
    return n - buf->available_read();
  } catch (const apache::thrift::TException& e) {
    throw IOError(what + ": corrupt metadata (" + e.what() + ")");
  }
}

template <class T>
void Write(const T& v, std::string* out) {
  auto buf = std::make_shared<TMemoryBuffer>();
  Compact proto(buf);
  v.write(&proto);
  uint8_t* data = nullptr;
  uint32_t size = 0;
  buf->getBuffer(&data, &size);
  out->append(reinterpret_cast<const char*>(data), size);
}

}  // namespace

size_t ThriftRead(const uint8_t* p, size_t n, format::FileMetaData* out, const std::string& what) { return Read(p, n, out, what); }
size_t ThriftRead(const uint8_t* p, size_t n, format::PageHeader* out, const std::string& what) { return Read(p, n, out, what); }
void ThriftWrite(const format::FileMetaData& v, std::string* out) { Write(v, out); }
void ThriftWrite(const format::PageHeader& v, std::string* out) { Write(v, out); }

}  // namespace skein::io::parquet
