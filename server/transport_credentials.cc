#include "server/transport_credentials.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tensorops::server {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* x509) const { X509_free(x509); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate of a PEM bundle; null if there is none.
X509Ptr FirstCertificate(const std::string& pem) {
  BioPtr bio = MemoryBio(pem);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

absl::Status Invalid(absl::string_view flag, const std::string& path,
                     absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": ", why));
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        absl::string_view flag) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return Invalid(flag, path,
                   absl::StrCat("cannot open: ", std::strerror(errno)));
  }
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerConfig& config) {
  if (config.tls_cert_file.empty()) return grpc::InsecureServerCredentials();

  absl::StatusOr<std::string> cert =
      ReadPemFile(config.tls_cert_file, "--tls_cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key =
      ReadPemFile(config.tls_key_file, "--tls_key");
  if (!key.ok()) return key.status();
  X509Ptr leaf = FirstCertificate(*cert);
  if (leaf == nullptr) {
    return Invalid("--tls_cert", config.tls_cert_file,
                   "holds no PEM certificate; expected '-----BEGIN "
                   "CERTIFICATE-----' blocks, the server's first");
  }
  BioPtr key_bio = MemoryBio(*key);
  KeyPtr private_key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (private_key == nullptr) {
    return Invalid("--tls_key", config.tls_key_file,
                   "holds no unencrypted PEM private key");
  }
  if (X509_check_private_key(leaf.get(), private_key.get()) != 1) {
    return Invalid("--tls_key", config.tls_key_file,
                   absl::StrCat("is not the private key of the certificate in "
                                "--tls_cert ",
                                config.tls_cert_file));
  }

  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!config.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca =
        ReadPemFile(config.tls_client_ca_file, "--tls_client_ca");
    if (!ca.ok()) return ca.status();
    if (FirstCertificate(*ca) == nullptr) {
      return Invalid("--tls_client_ca", config.tls_client_ca_file,
                     "holds no PEM certificate");
    }
    options.pem_root_certs = *ca;
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    options.client_certificate_request =
        GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace tensorops::server
