// Configuration store: defaults, YAML files, SKEIN_* environment, overrides.
#include "skein/core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <sstream>

extern char** environ;

namespace skein::config {
namespace {

// Defaults in code. Each key is documented where it is read.
constexpr const char* kDefaults = R"(
scheduler: auto               # auto (the connected Client's cluster, else threads) | threads | sync | distributed
num-workers: 0                # threads in the local pool; 0 = all cores
memory-limit: null            # e.g. "4GiB": above it finished results spill to disk
temporary-directory: null     # where spill files go; default $TMPDIR or /tmp
memory:
  pool:
    retain: null              # freed large blocks kept for reuse (bytes); null = 1/8 of memory, at most 4GiB
    decay: 10                 # seconds a kept block waits for reuse before it goes back to the OS
spill:
  compression: lz4            # lz4 | zstd | none
optimization:
  cull: true
  fuse:
    active: true
    max-height: 64
  inline:
    active: true
  min-gain: 0.02              # local scheduler: rewrite only if >= 2% of tasks go away
array:
  chunk-size: 128MiB          # target block bytes of chunks="auto" (dask's array.chunk-size)
  split-every: 8              # fan-in of tree reductions (sum, mean, ...)
progress:
  minimum: 1.0                # seconds before a progress bar appears
  interval: 0.1               # seconds between redraws
)";

std::string Normalize(std::string_view key) {
  std::string out(key);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c == '_') c = '-';
  }
  return out;
}

// YAML 1.1 scalars as dask's yaml.safe_load reads them.
Value ParseScalar(const std::string& s) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l.empty() || l == "null" || l == "~" || l == "none") return Value();
  if (l == "true" || l == "yes" || l == "on") return Value(true);
  if (l == "false" || l == "no" || l == "off") return Value(false);
  int64_t i;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
  if (ec == std::errc() && p == s.data() + s.size()) return Value(i);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str() + s.size() && std::isfinite(d)) return Value(d);
  return Value(s);
}

Value FromYaml(const YAML::Node& n) {
  if (n.IsNull()) return Value();
  if (n.IsScalar()) {
    // Quoted scalars stay strings.
    if (n.Tag() == "!") return Value(n.Scalar());
    return ParseScalar(n.Scalar());
  }
  if (n.IsSequence()) {
    ValueList l;
    for (const auto& x : n) l.push_back(FromYaml(x));
    return Value(std::move(l));
  }
  ValueMap m;
  for (const auto& kv : n) m.emplace(Normalize(kv.first.as<std::string>()), FromYaml(kv.second));
  return Value(std::move(m));
}

class Store {
 public:
  static Store& Get() {
    static Store* s = [] {
      auto* st = new Store();
      st->Reload();
      return st;
    }();
    return *s;
  }

  void Reload() {
    std::map<std::string, Value> fresh;
    MergeYaml(&fresh, kDefaults, "defaults");
    for (const std::string& path : ConfigFiles()) {
      std::ifstream in(path);
      std::stringstream ss;
      ss << in.rdbuf();
      MergeYaml(&fresh, ss.str(), path);
    }
    for (char** e = environ; e && *e; ++e) {
      std::string_view kv(*e);
      if (!kv.starts_with("SKEIN_") || kv.starts_with("SKEIN_CONFIG=")) continue;
      size_t eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      std::string key(kv.substr(6, eq - 6));
      for (size_t p; (p = key.find("__")) != std::string::npos;) key.replace(p, 2, ".");
      fresh[Normalize(key)] = ParseScalar(std::string(kv.substr(eq + 1)));
    }
    std::unique_lock lock(mu_);
    values_ = std::move(fresh);
  }

  void Merge(std::string_view yaml, std::string_view source) {
    std::map<std::string, Value> add;
    MergeYaml(&add, yaml, source);
    std::unique_lock lock(mu_);
    for (auto& [k, v] : add) values_[k] = std::move(v);
  }

  std::optional<Value> Find(std::string_view key) const {
    std::shared_lock lock(mu_);
    auto it = values_.find(Normalize(key));
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }

  std::optional<Value> Put(std::string_view key, std::optional<Value> v) {
    std::string k = Normalize(key);
    std::unique_lock lock(mu_);
    std::optional<Value> old;
    if (auto it = values_.find(k); it != values_.end()) old = it->second;
    if (v) {
      values_[k] = std::move(*v);
    } else {
      values_.erase(k);
    }
    return old;
  }

  std::string Dump() const {
    std::shared_lock lock(mu_);
    std::string s;
    for (const auto& [k, v] : values_) s += k + ": " + v.ToString() + "\n";
    return s;
  }

 private:
  static void Flatten(std::map<std::string, Value>* out, const std::string& prefix, const Value& v) {
    if (v.is<ValueMap>()) {
      for (const auto& [k, x] : v.get<ValueMap>()) Flatten(out, prefix.empty() ? k : prefix + "." + k, x);
    } else {
      (*out)[prefix] = v;
    }
  }

  static void MergeYaml(std::map<std::string, Value>* out, std::string_view yaml, std::string_view source) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(yaml));
    } catch (const YAML::Exception& e) {
      throw ConfigError("cannot parse configuration " + std::string(source) + ": " + e.what());
    }
    if (!root || root.IsNull()) return;
    if (!root.IsMap()) {
      throw ConfigError("configuration " + std::string(source) + " must be a YAML mapping");
    }
    Flatten(out, "", FromYaml(root));
  }

  static std::vector<std::string> ConfigFiles() {
    namespace fs = std::filesystem;
    std::vector<std::string> places = {"/etc/skein"};
    if (const char* home = std::getenv("HOME")) places.push_back(std::string(home) + "/.config/skein");
    if (const char* extra = std::getenv("SKEIN_CONFIG")) {
      std::string_view rest(extra);
      while (!rest.empty()) {
        size_t c = rest.find(':');
        places.emplace_back(rest.substr(0, c));
        rest = c == std::string_view::npos ? std::string_view() : rest.substr(c + 1);
      }
    }
    std::vector<std::string> files;
    for (const std::string& p : places) {
      std::error_code ec;
      if (fs::is_regular_file(p, ec)) {
        files.push_back(p);
      } else if (fs::is_directory(p, ec)) {
        std::vector<std::string> in_dir;
        for (const auto& entry : fs::directory_iterator(p, ec)) {
          auto ext = entry.path().extension();
          if (ext == ".yaml" || ext == ".yml") in_dir.push_back(entry.path().string());
        }
        std::sort(in_dir.begin(), in_dir.end());
        files.insert(files.end(), in_dir.begin(), in_dir.end());
      }
    }
    return files;
  }

  mutable std::shared_mutex mu_;
  std::map<std::string, Value> values_;
};

[[noreturn]] void WrongType(std::string_view key, const Value& v, const char* want) {
  throw ConfigError("configuration key '" + std::string(key) + "' should be " + want + ", got " +
                    v.type_name() + " " + v.ToString());
}

}  // namespace

std::optional<Value> Find(std::string_view key) { return Store::Get().Find(key); }

Value GetValue(std::string_view key) {
  std::optional<Value> v = Find(key);
  if (!v) throw ConfigError("configuration key '" + std::string(key) + "' is not set");
  return *v;
}

template <>
Value Get<Value>(std::string_view key) {
  return GetValue(key);
}

template <>
bool Get<bool>(std::string_view key) {
  Value v = GetValue(key);
  if (v.is_bool()) return v.as<bool>();
  if (v.is_int()) return v.as<int64_t>() != 0;
  WrongType(key, v, "a boolean");
}

template <>
int64_t Get<int64_t>(std::string_view key) {
  Value v = GetValue(key);
  if (v.is_int()) return v.as<int64_t>();
  if (v.is_double() && std::floor(v.as<double>()) == v.as<double>()) return static_cast<int64_t>(v.as<double>());
  WrongType(key, v, "an integer");
}

template <>
double Get<double>(std::string_view key) {
  Value v = GetValue(key);
  if (v.is_int() || v.is_double()) return v.as<double>();
  WrongType(key, v, "a number");
}

template <>
std::string Get<std::string>(std::string_view key) {
  Value v = GetValue(key);
  if (v.is<std::string>()) return v.get<std::string>();
  if (v.is_none()) return "";
  if (!v.is_object()) return v.ToString();
  WrongType(key, v, "a string");
}

int64_t ParseBytes(std::string_view text, std::string_view what) {
  std::string s(text);
  s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }), s.end());
  char* end = nullptr;
  double number = std::strtod(s.c_str(), &end);
  std::string unit(end);
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::map<std::string, double> kUnits = {
      {"", 1},           {"b", 1},           {"kb", 1e3},           {"mb", 1e6},
      {"gb", 1e9},       {"tb", 1e12},       {"kib", 1024.0},       {"mib", 1048576.0},
      {"gib", 1073741824.0}, {"tib", 1099511627776.0}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}};
  auto it = kUnits.find(unit);
  if (end == s.c_str() || it == kUnits.end() || !std::isfinite(number) || number < 0) {
    throw ConfigError(std::string(what) + ": cannot parse '" + std::string(text) +
                      "' as a byte size (examples: 512MiB, 4GB, 1e9)");
  }
  return static_cast<int64_t>(number * it->second);
}

int64_t GetBytes(std::string_view key) {
  std::optional<Value> v = Find(key);
  if (!v || v->is_none()) return 0;
  if (v->is_int()) return v->as<int64_t>();
  if (v->is_double()) return static_cast<int64_t>(v->as<double>());
  if (v->is<std::string>()) return ParseBytes(v->get<std::string>(), "configuration key '" + std::string(key) + "'");
  WrongType(key, *v, "a byte size");
}

void Set(std::string_view key, Value value) { Store::Get().Put(key, std::move(value)); }

ScopedSet::ScopedSet(std::vector<std::pair<std::string, Value>> values) {
  for (auto& [k, v] : values) previous_.emplace_back(k, Store::Get().Put(k, std::move(v)));
}

ScopedSet::~ScopedSet() {
  for (auto it = previous_.rbegin(); it != previous_.rend(); ++it) Store::Get().Put(it->first, it->second);
}

void LoadYaml(std::string_view yaml, std::string_view source) { Store::Get().Merge(yaml, source); }
void Refresh() { Store::Get().Reload(); }
std::string Dump() { return Store::Get().Dump(); }

}  // namespace skein::config
