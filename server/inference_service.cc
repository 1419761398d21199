#include "server/inference_service.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "proto/service_methods.h"
#include "request/inference_request.h"
#include "server/status_mapping.h"

namespace tensorops::server {
namespace {

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

absl::StatusOr<const request::InferenceModel*> FindServedModel(
    absl::string_view name, absl::string_view version) {
  const request::InferenceModel* model = request::FindInferenceModel(name);
  if (model == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no model \"", name,
                     "\"; the models are: ", request::InferenceModelList()));
  }
  if (!version.empty() && version != "1") {
    return absl::NotFoundError(absl::StrCat("model ", name,
                                            " has no version \"", version,
                                            "\"; its only version is 1"));
  }
  return model;
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(
    grpc::CallbackServerContext* context, const inference::ServerLiveRequest*,
    inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(
    grpc::CallbackServerContext* context, const inference::ServerReadyRequest*,
    inference::ServerReadyResponse* response) {
  response->set_ready(!tensor_ops_.draining());
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(
    grpc::CallbackServerContext* context,
    const inference::ModelReadyRequest* request,
    inference::ModelReadyResponse* response) {
  absl::StatusOr<const request::InferenceModel*> model =
      FindServedModel(request->name(), request->version());
  if (!model.ok()) return Finish(context, model.status());
  response->set_ready(!tensor_ops_.draining());
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(
    grpc::CallbackServerContext* context,
    const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  response->set_name("tensorops");
  response->set_version(version_);
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(
    grpc::CallbackServerContext* context,
    const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  absl::StatusOr<const request::InferenceModel*> model =
      FindServedModel(request->name(), request->version());
  if (!model.ok()) return Finish(context, model.status());
  *response = request::ModelMetadataOf(**model);
  return Finish(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return tensor_ops_.ServeCall(
      context, wire::ModelInferMethod(), *request, response,
      std::make_unique<inference::ModelInferRequest>(),
      std::make_unique<inference::ModelInferResponse>(),
      [this](const std::string& caller,
             InflightCall& call) -> absl::StatusOr<TensorOpsService::Work> {
        const auto& message =
            static_cast<const inference::ModelInferRequest&>(*call.request());
        // Shared with the work, which reads its tensors in place (the
        // request message lives until the call is done).
        auto infer = std::make_shared<request::InferCall>();
        TENSOROPS_ASSIGN_OR_RETURN(*infer,
                                   request::TranslateInferRequest(message));
        TENSOROPS_ASSIGN_OR_RETURN(
            InferenceWork work,
            runner_.Prepare(*infer, message.id(), caller, call.outcome()));
        auto* out =
            static_cast<inference::ModelInferResponse*>(call.response());
        return TensorOpsService::Work{
            .bytes = work.bytes,
            .response_bytes = work.response_bytes,
            .run = [infer = std::move(infer), run = std::move(work.run),
                    out]() mutable -> absl::Status {
              TENSOROPS_ASSIGN_OR_RETURN(*out, std::move(run)());
              return absl::OkStatus();
            }};
      });
}

}  // namespace tensorops::server
