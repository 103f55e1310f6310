// Helpers the multi-process tests share: a temporary directory for a
// cluster's processes (their $TMPDIR), and counting the worker directories
// left in it.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "skein/deploy/local_cluster.h"

namespace skein::cluster_testing {

/// A new empty directory under the system's temporary one, named
/// `prefix` and six random characters.
inline std::string MakeTempDirectory(const std::string& prefix) {
  std::string dir = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!mkdtemp(dir.data())) throw std::runtime_error("mkdtemp failed for " + dir);
  return dir;
}

/// A LocalCluster whose processes get `tmpdir` as their $TMPDIR (it reads
/// the variable as it starts them; this process's is restored after).
inline std::unique_ptr<LocalCluster> ClusterUnder(const std::string& tmpdir, LocalClusterOptions options) {
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  setenv("TMPDIR", tmpdir.c_str(), 1);
  std::unique_ptr<LocalCluster> cluster;
  try {
    cluster = std::make_unique<LocalCluster>(std::move(options));
  } catch (...) {
    if (old) setenv("TMPDIR", saved.c_str(), 1); else unsetenv("TMPDIR");
    throw;
  }
  if (old) setenv("TMPDIR", saved.c_str(), 1); else unsetenv("TMPDIR");
  return cluster;
}

/// Worker directories (skein-worker-*) anywhere under `dir`.
inline size_t WorkerDirectoriesIn(const std::filesystem::path& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    n += e.path().filename().string().rfind("skein-worker-", 0) == 0;
  }
  return n;
}

}  // namespace skein::cluster_testing
