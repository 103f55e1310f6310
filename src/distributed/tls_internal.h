// Private: TLS material loaded for gRPC channels and servers, and the rule
// for which addresses may be served without it (see skein/distributed/security.h).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "skein/distributed/security.h"

namespace skein::distributed::internal {

/// The name every member certificate carries and every channel expects:
/// members are trusted for being signed by the cluster CA, not for a host
/// name (so one set of files serves every host, as in Dask).
inline constexpr char kClusterTlsName[] = "skein-cluster";

/// PEM text of a Security's files.
struct TlsMaterial {
  std::string ca, cert, key;
};

/// Reads and checks the files: null when `s` is not enabled; IOError naming
/// a missing, unreadable or non-PEM file, or Error if one of the three is
/// not given.
std::shared_ptr<const TlsMaterial> LoadTls(const Security& s);

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const TlsMaterial* tls);
/// Mutual TLS: a peer without a certificate signed by the CA is refused.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsMaterial* tls);

/// Refuses (Error naming `role` and `host`) to serve a non-loopback
/// interface without TLS unless `allow_insecure`.
void CheckBindAllowed(const std::string& role, const std::string& host, const TlsMaterial* tls, bool allow_insecure);

}  // namespace skein::distributed::internal
