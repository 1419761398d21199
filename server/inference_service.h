// inference.GRPCInferenceService, the Open Inference Protocol (KServe v2),
// on the gRPC callback API, beside tensorops.v1.TensorOps on the same port.
#ifndef TENSOROPS_SERVER_INFERENCE_SERVICE_H_
#define TENSOROPS_SERVER_INFERENCE_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "inference/open_inference.grpc.pb.h"
#include "server/inference_runner.h"
#include "server/tensor_ops_service.h"

namespace tensorops::server {

// ModelInfer is served by the TensorOps service's machinery
// (TensorOpsService::ServeCall): the same drain, tokens, admission limits,
// message limit, executor, metrics (method="ModelInfer") and request log,
// and the same request-layer checks, through InferenceRunner. Its request
// arrives as raw bytes, so that one over the message limit is refused
// before it is parsed. ServerLive, ServerReady, ModelReady, ServerMetadata
// and ModelMetadata answer at once, without a token (as the gRPC health
// service does): they reveal only what the models are.
//
// Thread-safe; `tensor_ops` and `runner` must outlive it.
class InferenceService final
    : public inference::GRPCInferenceService::WithRawCallbackMethod_ModelInfer<
          inference::GRPCInferenceService::CallbackService> {
 public:
  InferenceService(TensorOpsService& tensor_ops, InferenceRunner& runner,
                   std::string version)
      : tensor_ops_(tensor_ops),
        runner_(runner),
        version_(std::move(version)) {}

  grpc::ServerUnaryReactor* ServerLive(
      grpc::CallbackServerContext* context,
      const inference::ServerLiveRequest* request,
      inference::ServerLiveResponse* response) override;
  // Ready until the server starts draining.
  grpc::ServerUnaryReactor* ServerReady(
      grpc::CallbackServerContext* context,
      const inference::ServerReadyRequest* request,
      inference::ServerReadyResponse* response) override;
  // Every model is ready while the server is; NOT_FOUND for an unknown
  // model or version.
  grpc::ServerUnaryReactor* ModelReady(
      grpc::CallbackServerContext* context,
      const inference::ModelReadyRequest* request,
      inference::ModelReadyResponse* response) override;
  // Name "tensorops", the server's version, no extensions.
  grpc::ServerUnaryReactor* ServerMetadata(
      grpc::CallbackServerContext* context,
      const inference::ServerMetadataRequest* request,
      inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(
      grpc::CallbackServerContext* context,
      const inference::ModelMetadataRequest* request,
      inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;

 private:
  TensorOpsService& tensor_ops_;
  InferenceRunner& runner_;
  const std::string version_;
};

// The model `name` at `version` ("" or "1"); NOT_FOUND naming the models
// there are otherwise. For every transport's metadata and readiness.
absl::StatusOr<const request::InferenceModel*> FindServedModel(
    absl::string_view name, absl::string_view version);

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_INFERENCE_SERVICE_H_
