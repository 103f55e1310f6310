// Worker memory rule and spill files (see worker_memory_internal.h).
#include "distributed/worker_memory_internal.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "skein/core/error.h"
#include "skein/core/serialize.h"

namespace skein::distributed::internal {

MemoryDecision DecideMemory(const MemoryThresholds& t, int64_t limit, int64_t managed, int64_t rss) {
  MemoryDecision d;
  if (limit <= 0) return d;
  const double lim = static_cast<double>(limit);
  auto target = static_cast<int64_t>(t.target * lim);
  d.spill_bytes = std::max<int64_t>(0, managed - target);
  if (static_cast<double>(rss) > t.spill * lim) {
    // Process memory is what the OS kills for: bring it back to the target.
    d.spill_bytes = std::max(d.spill_bytes, std::min(managed, rss - target));
  }
  d.pause = static_cast<double>(rss) > t.pause * lim;
  d.terminate = static_cast<double>(rss) > t.terminate * lim;
  return d;
}

// A spill file: "SKSP", then the serialized value's type and header, then
// each frame compressed on its own ([raw size][block size][block]). Frames
// are written from the value's own memory and read straight into their
// final buffers: spilling a value never holds a second whole copy of it.
namespace {

constexpr char kSpillMagic[4] = {'S', 'K', 'S', 'P'};

void PutU64(std::ofstream& f, uint64_t v) { f.write(reinterpret_cast<const char*>(&v), 8); }

void PutStr(std::ofstream& f, std::string_view s) {
  PutU64(f, s.size());
  f.write(s.data(), static_cast<std::streamsize>(s.size()));
}

class SpillReader {
 public:
  SpillReader(const std::string& path) : path_(path), f_(path, std::ios::binary) {
    if (!f_) throw SpillError("spill file " + path + " cannot be opened");
    f_.seekg(0, std::ios::end);
    left_ = static_cast<uint64_t>(f_.tellg());
    f_.seekg(0);
  }
  uint64_t U64() {
    uint64_t v = 0;
    Read(&v, 8);
    return v;
  }
  std::string Str() {
    uint64_t n = U64();
    Need(n);
    std::string s(n, '\0');
    Read(s.data(), n);
    return s;
  }
  void Read(void* out, uint64_t n) {
    Need(n);
    f_.read(static_cast<char*>(out), static_cast<std::streamsize>(n));
    if (!f_) throw SpillError("spill file " + path_ + " could not be read");
    left_ -= n;
  }
  void Need(uint64_t n) const {
    if (n > left_) throw SpillError("spill file " + path_ + " is truncated");
  }
  uint64_t left() const { return left_; }

 private:
  std::string path_;
  std::ifstream f_;
  uint64_t left_ = 0;
};

}  // namespace

std::string SpillFiles::Write(const std::string& key_text, const Value& v) {
  Serialized s;
  try {
    s = Serialize(v);
  } catch (const Error& e) {
    throw SpillError("cannot spill " + key_text + " (" + v.type_name() + "): " + e.what());
  }
  std::error_code ec;
  std::filesystem::create_directories(directory_, ec);
  std::string path = directory_ + "/" + std::to_string(counter_.fetch_add(1)) + ".spill";
  int64_t written = 0;
  try {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw IOError("cannot create the file");
    f.write(kSpillMagic, 4);
    PutStr(f, s.type);
    PutStr(f, s.header);
    PutU64(f, s.frames.size());
    for (const Buffer& frame : s.frames) {
      std::string block = Compress(codec_, frame.view());
      PutU64(f, frame.size());
      PutStr(f, block);
    }
    f.flush();
    if (!f) throw IOError("write failed (disk full?)");
    written = static_cast<int64_t>(f.tellp());
  } catch (const Error& e) {
    std::filesystem::remove(path, ec);
    throw SpillError("spilling " + key_text + " to " + path + " failed: " + e.what());
  }
  disk_bytes_ += written;
  return path;
}

Value SpillFiles::Read(const std::string& path) const {
  try {
    SpillReader r(path);
    char magic[4];
    r.Read(magic, 4);
    if (std::memcmp(magic, kSpillMagic, 4) != 0) throw SpillError("spill file " + path + " has bad magic bytes");
    Serialized s;
    s.type = r.Str();
    s.header = r.Str();
    uint64_t n = r.U64();
    if (n > r.left() / 16) throw SpillError("spill file " + path + " claims " + std::to_string(n) + " frames");
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t raw = r.U64();
      std::string block = r.Str();
      if (DecompressedSize(block, "spill file " + path) != raw) {
        throw SpillError("spill file " + path + ": frame " + std::to_string(i) + " does not match its size");
      }
      std::byte* out = nullptr;
      Buffer b = Buffer::AllocateUninitialized(raw, &out);
      DecompressInto(block, out, raw, "spill file " + path);
      s.frames.push_back(std::move(b));
    }
    if (r.left() != 0) throw SpillError("spill file " + path + " has trailing bytes");
    return Deserialize(s);
  } catch (const SpillError&) {
    throw;
  } catch (const Error& e) {
    throw SpillError("reading back spill file " + path + " failed: " + e.what());
  }
}

void SpillFiles::Remove(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) disk_bytes_ -= static_cast<int64_t>(st.st_size);
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

}  // namespace skein::distributed::internal
