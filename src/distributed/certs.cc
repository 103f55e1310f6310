// Certificate authority and member certificates for mutual TLS (`skein
// certs`), with OpenSSL 3 from Debian.
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "distributed/tls_internal.h"
#include "skein/core/error.h"
#include "skein/distributed/security.h"

namespace skein::distributed {
namespace {

namespace fs = std::filesystem;

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;

std::string OpensslError(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  return what + ": " + buf;
}

KeyPtr NewKey() {
  KeyPtr k(EVP_EC_gen("P-256"));
  if (!k) throw Error(OpensslError("creating an EC key"));
  return k;
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) throw Error(OpensslError(std::string("certificate extension ") + value));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, signed by (issuer, issuer_key); a
// self-signed CA when issuer is null.
CertPtr MakeCert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, int days) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("skein"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                             0);
  bool is_ca = issuer == nullptr;
  X509_set_issuer_name(cert.get(), is_ca ? name : X509_get_subject_name(issuer));
  X509* signer = is_ca ? cert.get() : issuer;
  if (is_ca) {
    AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    AddExtension(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyAgreement");
    AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth,clientAuth");
    // Every member answers to the cluster's name (see tls_internal.h).
    std::string san = std::string("DNS:") + internal::kClusterTlsName + ",DNS:localhost,IP:127.0.0.1";
    AddExtension(cert.get(), signer, NID_subject_alt_name, san.c_str());
  }
  AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (!X509_sign(cert.get(), is_ca ? key : issuer_key, EVP_sha256())) throw Error(OpensslError("signing " + cn));
  return cert;
}

void WritePem(const fs::path& path, bool secret, const std::function<int(FILE*)>& write) {
  // Keys are created 0600 from the start (never briefly world-readable).
  mode_t old = umask(secret ? 077 : 022);
  FILE* f = std::fopen(path.c_str(), "w");
  umask(old);
  if (!f) throw IOError("cannot write " + path.string());
  int ok = write(f);
  bool closed = std::fclose(f) == 0;
  if (!ok || !closed) throw IOError("writing " + path.string() + " failed");
  if (secret) chmod(path.c_str(), 0600);
}

// Reads one PEM object with `read` (PEM_read_PrivateKey, PEM_read_X509).
template <class Ptr, class T>
Ptr ReadPem(const fs::path& path, T* (*read)(FILE*, T**, pem_password_cb*, void*), const char* what) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) throw IOError("cannot read " + path.string());
  Ptr p(read(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!p) throw IOError(path.string() + " is not a PEM " + what);
  return p;
}

}  // namespace

CertificateFiles CreateCertificates(const std::string& dir, const std::string& name, int days) {
  if (name.empty() || name.find('/') != std::string::npos || name == "ca") {
    throw Error("certificate name '" + name + "' must be a plain file name other than 'ca'");
  }
  if (days <= 0) throw Error("certificate validity must be a positive number of days, not " + std::to_string(days));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IOError("cannot create " + dir + ": " + ec.message());
  CertificateFiles out{(fs::path(dir) / "ca.pem").string(), (fs::path(dir) / "ca-key.pem").string(),
                       (fs::path(dir) / (name + ".pem")).string(), (fs::path(dir) / (name + "-key.pem")).string()};
  KeyPtr ca_key;
  CertPtr ca;
  if (fs::exists(out.ca_cert) && fs::exists(out.ca_key)) {
    ca_key = ReadPem<KeyPtr>(out.ca_key, PEM_read_PrivateKey, "private key");
    ca = ReadPem<CertPtr>(out.ca_cert, PEM_read_X509, "certificate");
  } else {
    ca_key = NewKey();
    ca = MakeCert(ca_key.get(), "skein cluster CA", nullptr, nullptr, days);
    WritePem(out.ca_key, true, [&](FILE* f) {
      return PEM_write_PrivateKey(f, ca_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    WritePem(out.ca_cert, false, [&](FILE* f) { return PEM_write_X509(f, ca.get()); });
  }
  KeyPtr key = NewKey();
  CertPtr cert = MakeCert(key.get(), "skein " + name, ca.get(), ca_key.get(), days);
  WritePem(out.key, true, [&](FILE* f) {
    return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  WritePem(out.cert, false, [&](FILE* f) { return PEM_write_X509(f, cert.get()); });
  return out;
}

}  // namespace skein::distributed
