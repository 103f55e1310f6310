// Loading TLS material and the bind rule (see tls_internal.h).
#include <arpa/inet.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "distributed/tls_internal.h"
#include "skein/core/error.h"

namespace skein::distributed {

Security Security::FromDirectory(const std::string& dir) {
  namespace fs = std::filesystem;
  return {(fs::path(dir) / "ca.pem").string(), (fs::path(dir) / "node.pem").string(),
          (fs::path(dir) / "node-key.pem").string()};
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

namespace internal {
namespace {

std::string ReadPem(const std::string& what, const std::string& path, const char* marker) {
  if (path.empty()) throw Error("TLS needs " + what + " too (CA, certificate and key are all required)");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IOError("TLS " + what + " " + path + " cannot be read");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  if (text.find(marker) == std::string::npos) {
    throw IOError("TLS " + what + " " + path + " is not a PEM file (no '" + marker + "')");
  }
  return text;
}

}  // namespace

std::shared_ptr<const TlsMaterial> LoadTls(const Security& s) {
  if (!s.enabled()) return nullptr;
  auto m = std::make_shared<TlsMaterial>();
  m->ca = ReadPem("CA certificate", s.ca_file, "BEGIN CERTIFICATE");
  m->cert = ReadPem("certificate", s.cert_file, "BEGIN CERTIFICATE");
  m->key = ReadPem("private key", s.key_file, "PRIVATE KEY");
  return m;
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const TlsMaterial* tls) {
  if (!tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = tls->ca;
  o.pem_cert_chain = tls->cert;
  o.pem_private_key = tls->key;
  return grpc::SslCredentials(o);
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsMaterial* tls) {
  if (!tls) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  o.pem_root_certs = tls->ca;
  o.pem_key_cert_pairs.push_back({tls->key, tls->cert});
  return grpc::SslServerCredentials(o);
}

void CheckBindAllowed(const std::string& role, const std::string& host, const TlsMaterial* tls,
                      bool allow_insecure) {
  if (tls || allow_insecure || IsLoopbackHost(host)) return;
  throw Error(role + " refuses to listen on " + host +
              " without TLS: anyone who can reach it could run code here. Give it certificates (create them "
              "with `skein certs DIR`, pass --tls-dir DIR) or allow it explicitly with --insecure");
}

}  // namespace internal
}  // namespace skein::distributed
