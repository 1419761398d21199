// Helpers for the tests of callers and their limits: temporary files (token
// files, certificates) and a client that calls as one caller.
#ifndef TENSOROPS_TESTS_SERVER_CALLER_TEST_UTIL_H_
#define TENSOROPS_TESTS_SERVER_CALLER_TEST_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tensorops/v1/tensor_ops.grpc.pb.h"

namespace tensorops::server::testing {

namespace v1 = ::tensorops::v1;

inline constexpr char kAliceToken[] = "alice-token-0123456789abcdef";
inline constexpr char kBobToken[] = "bob-token-0123456789abcdef";

// A fresh directory under the test's temporary directory.
std::filesystem::path MakeTempDir(const std::string& name);
void WriteFile(const std::filesystem::path& path, const std::string& text);
std::string ReadFile(const std::filesystem::path& path);

// Calls with an optional bearer token; float32 1-d tensors.
class Caller {
 public:
  explicit Caller(std::shared_ptr<grpc::Channel> channel,
                  std::string token = "");

  // A context with `timeout` and the token.
  std::unique_ptr<grpc::ClientContext> Context(
      absl::Duration timeout = absl::Seconds(10)) const;

  grpc::Status TopK(const std::vector<float>& values, int64_t k, bool save,
                    v1::TopKResponse* response) const;
  // A session's Backward; `grad_input` gets the result if given.
  grpc::Status Backward(const std::string& session,
                        const std::vector<float>& grad,
                        std::vector<float>* grad_input = nullptr) const;
  grpc::Status Release(const std::string& session) const;
  grpc::Status ZerosLike(const std::vector<int64_t>& shape) const;
  grpc::Status Info(v1::GetServerInfoResponse* response = nullptr) const;

  v1::TensorOps::Stub& stub() { return *stub_; }

 private:
  std::unique_ptr<v1::TensorOps::Stub> stub_;
  std::string token_;
};

}  // namespace tensorops::server::testing

#endif  // TENSOROPS_TESTS_SERVER_CALLER_TEST_UTIL_H_
