// skein/core/config.h — configuration by dotted key, like dask.config.
//
// Values come from, lowest precedence first: defaults in code; YAML files in
// /etc/skein/, ~/.config/skein/ and the files or folders named by
// $SKEIN_CONFIG (colon separated); environment variables SKEIN_A__B_C=value,
// which set key "a.b-c" (double underscore nests, '_' and '-' are the same);
// and finally Set() / ScopedSet in the program.
//
//   int64_t n = skein::config::Get<int64_t>("num-workers");
//   {
//     skein::config::ScopedSet s({{"scheduler", "sync"}});   // like dask.config.set
//     ...
//   }
//   int64_t limit = skein::config::GetBytes("memory-limit");  // "4GiB" -> bytes, 0 if unset
//
// Safe for concurrent use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "skein/core/value.h"

namespace skein::config {

/// The value at `key`, or nullopt. Keys are normalized ('_' == '-', case-insensitive).
std::optional<Value> Find(std::string_view key);
/// The value at `key`; ConfigError naming the key if it is not set.
Value GetValue(std::string_view key);

/// The value converted to T; ConfigError naming the key and types on mismatch.
/// Strings convert to numbers and booleans when they parse as such.
template <class T>
T Get(std::string_view key);
template <class T>
T Get(std::string_view key, T fallback) {
  return Find(key) ? Get<T>(key) : fallback;
}

template <> Value Get<Value>(std::string_view key);
template <> bool Get<bool>(std::string_view key);
template <> int64_t Get<int64_t>(std::string_view key);
template <> double Get<double>(std::string_view key);
template <> std::string Get<std::string>(std::string_view key);

/// A byte size: an integer, or a string like "512MiB", "4 GB", "1.5e9".
/// 0 when the key is null or unset. ConfigError on anything else.
int64_t GetBytes(std::string_view key);
/// Parses "4GiB", "500 MB", "1e9" into bytes; ConfigError naming `what`.
int64_t ParseBytes(std::string_view text, std::string_view what = "size");

/// Sets a key for the rest of the program.
void Set(std::string_view key, Value value);

/// Sets keys for the lifetime of the object, then restores them.
class ScopedSet {
 public:
  explicit ScopedSet(std::vector<std::pair<std::string, Value>> values);
  ~ScopedSet();
  ScopedSet(const ScopedSet&) = delete;
  ScopedSet& operator=(const ScopedSet&) = delete;

 private:
  std::vector<std::pair<std::string, std::optional<Value>>> previous_;
};

/// Merges a YAML document (nested maps become dotted keys); ConfigError on bad YAML.
void LoadYaml(std::string_view yaml, std::string_view source = "<string>");
/// Re-reads defaults, files and environment, dropping Set() values.
void Refresh();
/// Every key and its value, sorted, one "key: value" per line.
std::string Dump();

}  // namespace skein::config
