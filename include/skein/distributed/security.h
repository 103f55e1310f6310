// skein/distributed/security.h — mutual TLS for cluster connections.
//
// Every process of a secured cluster (scheduler, workers, clients) presents
// a certificate signed by the cluster's own certificate authority and
// accepts only peers that present one too; a shared token is checked on top.
// Identity is "signed by this CA", as in Dask's TLS setup: certificates are
// not tied to host names, so the same files work on every host.
//
//   skein certs /etc/skein            # once: ca.pem, node.pem, node-key.pem
//   auto sec = skein::distributed::Security::FromDirectory("/etc/skein");
//   skein::Client client("tls://10.0.0.1:8786", {.token = "...", .security = sec});
//
// Off by default for a loopback-only LocalCluster. A scheduler or worker
// binding a non-loopback address without it refuses to start unless told
// `allow_insecure` (`--insecure`).
#pragma once

#include <string>
#include <vector>

namespace skein::distributed {

struct Security {
  /// PEM files: the CA that signs every member, this process's certificate
  /// and its private key. All empty: no TLS.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;

  bool enabled() const { return !ca_file.empty() || !cert_file.empty() || !key_file.empty(); }
  /// The files `skein certs DIR` writes: DIR/ca.pem, DIR/node.pem, DIR/node-key.pem.
  static Security FromDirectory(const std::string& dir);
};

/// What CreateCertificates wrote.
struct CertificateFiles {
  std::string ca_cert, ca_key, cert, key;
};

/// Creates a certificate authority in `dir` (ca.pem, ca-key.pem) unless one
/// is there already, and a certificate signed by it for cluster members
/// (`name`.pem, `name`-key.pem; EC P-256, valid `days`). Keys are written
/// readable by their owner only. IOError naming the file on failure.
CertificateFiles CreateCertificates(const std::string& dir, const std::string& name = "node", int days = 365);

/// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);

}  // namespace skein::distributed
