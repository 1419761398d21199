#include "tests/server/caller_test_util.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/caller_identity.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {

std::filesystem::path MakeTempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::filesystem::path dir =
      std::filesystem::path(base != nullptr ? base : "/tmp") /
      absl::StrCat("tensorops-", name, "-", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

Caller::Caller(std::shared_ptr<grpc::Channel> channel, std::string token)
    : stub_(v1::TensorOps::NewStub(std::move(channel))),
      token_(std::move(token)) {}

std::unique_ptr<grpc::ClientContext> Caller::Context(
    absl::Duration timeout) const {
  auto context = ContextWithTimeout(timeout);
  if (!token_.empty()) {
    context->AddMetadata(std::string(kAuthorizationMetadataKey),
                         absl::StrCat("Bearer ", token_));
  }
  return context;
}

grpc::Status Caller::TopK(const std::vector<float>& values, int64_t k,
                          bool save, v1::TopKResponse* response) const {
  v1::TopKRequest request;
  *request.mutable_input() = WireTensor(
      v1::DTYPE_FLOAT32, {static_cast<int64_t>(values.size())}, values);
  request.set_k(k);
  request.set_save_for_backward(save);
  return stub_->TopK(Context().get(), request, response);
}

grpc::Status Caller::Backward(const std::string& session,
                              const std::vector<float>& grad,
                              std::vector<float>* grad_input) const {
  v1::BackwardRequest request;
  request.set_session_id(session);
  *request.mutable_grad_values() =
      WireTensor(v1::DTYPE_FLOAT32, {static_cast<int64_t>(grad.size())}, grad);
  v1::BackwardResponse response;
  grpc::Status status = stub_->Backward(Context().get(), request, &response);
  if (status.ok() && grad_input != nullptr) {
    *grad_input = WireValues<float>(response.grad_input());
  }
  return status;
}

grpc::Status Caller::Release(const std::string& session) const {
  v1::ReleaseSessionRequest request;
  request.set_session_id(session);
  v1::ReleaseSessionResponse response;
  return stub_->ReleaseSession(Context().get(), request, &response);
}

grpc::Status Caller::ZerosLike(const std::vector<int64_t>& shape) const {
  v1::ZerosLikeRequest request;
  request.mutable_input()->set_dtype(v1::DTYPE_FLOAT32);
  for (int64_t dim : shape) request.mutable_input()->add_shape(dim);
  v1::ZerosLikeResponse response;
  return stub_->ZerosLike(Context().get(), request, &response);
}

grpc::Status Caller::Info(v1::GetServerInfoResponse* response) const {
  v1::GetServerInfoResponse ignored;
  return stub_->GetServerInfo(Context().get(), v1::GetServerInfoRequest(),
                              response != nullptr ? response : &ignored);
}

}  // namespace tensorops::server::testing
