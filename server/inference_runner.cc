#include "server/inference_runner.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "request/backward_request.h"
#include "request/fill_request.h"
#include "request/selection_request.h"
#include "request/topk_request.h"
#include "server/session_effects.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::server {
namespace {

namespace v1 = ::tensorops::v1;
using inference::ModelInferResponse;

// A result tensor under the name of the model's output it is.
struct NamedResult {
  absl::string_view name;
  Tensor tensor;
};

// The response of `call`: its results, in the model's output order, as raw
// contents (those the request asked for), and the response parameters.
ModelInferResponse Respond(const request::InferCall& call,
                           const std::string& id,
                           std::vector<NamedResult> results,
                           const std::string* session_id) {
  ModelInferResponse response;
  response.set_model_name(std::string(call.model->name));
  response.set_model_version("1");
  response.set_id(id);
  for (size_t i = 0; i < call.model->outputs.size(); ++i) {
    if (!call.returned[i]) continue;
    for (const NamedResult& result : results) {
      if (result.name != call.model->outputs[i]->name()) continue;
      ModelInferResponse::InferOutputTensor* output = response.add_outputs();
      output->set_name(std::string(result.name));
      output->set_datatype(
          std::string(request::DatatypeName(result.tensor.dtype())));
      for (int64_t dim : result.tensor.shape()) output->add_shape(dim);
      const absl::Span<const std::byte> bytes = result.tensor.bytes();
      response.add_raw_output_contents(
          reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
  }
  if (session_id != nullptr) {
    (*response.mutable_parameters())["session_id"].set_string_param(
        *session_id);
  }
  return response;
}

template <typename Message>
const Message& RequestAs(const request::InferCall& call) {
  return static_cast<const Message&>(*call.request);
}

}  // namespace

absl::StatusOr<InferenceWork> InferenceRunner::Prepare(
    const request::InferCall& call, const std::string& id,
    const std::string& caller, CallOutcome& outcome) const {
  const absl::string_view method = call.model->method;
  if (method == "ZerosLike" || method == "OnesLike") {
    return PrepareFill(call, id);
  }
  if (method == "TopK") return PrepareTopK(call, id, caller, outcome);
  if (method == "Backward") return PrepareBackward(call, id, caller, outcome);
  return PrepareSelection(call, id, caller, outcome);
}

absl::StatusOr<InferenceWork> InferenceRunner::PrepareFill(
    const request::InferCall& call, const std::string& id) const {
  absl::StatusOr<request::FillPlan> plan =
      call.model->method == "ZerosLike"
          ? request::PlanZerosLike(RequestAs<v1::ZerosLikeRequest>(call),
                                   call.input_bytes[0], limits_)
          : request::PlanOnesLike(RequestAs<v1::OnesLikeRequest>(call),
                                  call.input_bytes[0], limits_);
  if (!plan.ok()) return plan.status();
  const int64_t bytes = plan->output_bytes;
  const int64_t response_bytes = plan->response_bytes;
  return InferenceWork{
      .bytes = bytes,
      .response_bytes = response_bytes,
      .run = [this, &call, id,
              plan = *std::move(plan)]() -> absl::StatusOr<ModelInferResponse> {
        TENSOROPS_ASSIGN_OR_RETURN(
            Tensor output, plan.ones ? backend_.Ones(plan.dtype, plan.shape)
                                     : backend_.Zeros(plan.dtype, plan.shape));
        std::vector<NamedResult> results;
        results.push_back({"output", std::move(output)});
        return Respond(call, id, std::move(results), nullptr);
      }};
}

// TopK and the selection family compute alike: values and indices, and,
// when asked (`session` set; its indices come from the result), a session
// of the indices, kept if the response is delivered.
absl::StatusOr<InferenceWork> InferenceRunner::SelectionWork(
    const request::InferCall& call, const std::string& id,
    const std::string& caller, CallOutcome& outcome,
    std::optional<request::SavedSelection> session, int64_t indices_bytes,
    int64_t bytes, int64_t response_bytes, SelectionCompute compute) const {
  if (session.has_value()) {
    TENSOROPS_RETURN_IF_ERROR(
        sessions_.CheckFits(SessionCache::SessionFootprintBytes(
            indices_bytes, session->input_shape.size())));
  }
  return InferenceWork{
      .bytes = bytes,
      .response_bytes = response_bytes,
      .run = [this, &call, id, caller, &outcome, session = std::move(session),
              compute = std::move(
                  compute)]() mutable -> absl::StatusOr<ModelInferResponse> {
        TENSOROPS_ASSIGN_OR_RETURN(TopKResult result, std::move(compute)());
        std::string session_id;
        if (session.has_value()) {
          session->indices = result.indices;
          TENSOROPS_ASSIGN_OR_RETURN(
              session_id, SaveSessionIfDelivered(sessions_, *std::move(session),
                                                 caller, outcome));
        }
        std::vector<NamedResult> results;
        results.push_back({"values", std::move(result.values)});
        results.push_back({"indices", std::move(result.indices)});
        return Respond(call, id, std::move(results),
                       session.has_value() ? &session_id : nullptr);
      }};
}

absl::StatusOr<InferenceWork> InferenceRunner::PrepareTopK(
    const request::InferCall& call, const std::string& id,
    const std::string& caller, CallOutcome& outcome) const {
  const auto& message = RequestAs<v1::TopKRequest>(call);
  TENSOROPS_ASSIGN_OR_RETURN(
      request::TopKRequestPlan plan,
      request::PlanTopKRequest(message, call.input_bytes[0], limits_));
  std::optional<request::SavedSelection> session;
  if (plan.call.save_for_backward) {
    session = request::SavedSelection{.indices = Tensor(),
                                      .input_shape = plan.input.shape(),
                                      .dim = plan.call.wrapped_dim,
                                      .op = request::SelectionOp::kTopK};
  }
  const int64_t indices_bytes = plan.call.indices_bytes;
  return SelectionWork(
      call, id, caller, outcome, std::move(session), indices_bytes,
      plan.work_bytes(), plan.call.response_bytes,
      [this, plan = std::move(plan)]() {
        return backend_.TopKOfChunks(plan.input, plan.call.options);
      });
}

absl::StatusOr<InferenceWork> InferenceRunner::PrepareSelection(
    const request::InferCall& call, const std::string& id,
    const std::string& caller, CallOutcome& outcome) const {
  const absl::string_view method = call.model->method;
  request::SelectionFields fields;
  if (method == "Sort") {
    fields = request::FieldsOf(RequestAs<v1::SortRequest>(call));
  } else if (method == "KthValue") {
    fields = request::FieldsOf(RequestAs<v1::KthValueRequest>(call));
  } else if (method == "Max") {
    fields = request::FieldsOf(RequestAs<v1::MaxRequest>(call));
  } else if (method == "Min") {
    fields = request::FieldsOf(RequestAs<v1::MinRequest>(call));
  } else if (method == "Median") {
    fields = request::FieldsOf(RequestAs<v1::MedianRequest>(call));
  } else {
    return absl::InternalError(
        absl::StrCat("model ", call.model->name, " has no runner"));
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      request::SelectionRequestPlan plan,
      request::PlanSelectionRequest(fields, call.input_bytes[0], limits_));
  std::optional<request::SavedSelection> session;
  if (plan.fields.save_for_backward) {
    session = request::SavedSelection{.indices = Tensor(),
                                      .input_shape = plan.input.shape(),
                                      .dim = plan.wrapped_dim,
                                      .op = plan.fields.op,
                                      .keeps_dim = plan.keeps_dim};
  }
  const int64_t indices_bytes = plan.indices_bytes;
  return SelectionWork(
      call, id, caller, outcome, std::move(session), indices_bytes,
      plan.work_bytes(), plan.response_bytes, [this, plan = std::move(plan)]() {
        return backend_.SelectOfChunks(plan.input, plan.fields.options, {});
      });
}

absl::StatusOr<InferenceWork> InferenceRunner::PrepareBackward(
    const request::InferCall& call, const std::string& id,
    const std::string& caller, CallOutcome& outcome) const {
  const auto& message = RequestAs<v1::BackwardRequest>(call);
  request::BackwardTensorBytes elsewhere{.grad_values = call.input_bytes[0],
                                         .indices = call.input_bytes[1]};
  TENSOROPS_ASSIGN_OR_RETURN(
      request::BackwardInputs inputs,
      request::DecodeBackwardRequest(message, limits_, elsewhere));
  // The session is looked up between the pure checks, and claimed only
  // once the request is known to be good.
  std::shared_ptr<const request::SavedSelection> saved;
  if (inputs.uses_session) {
    TENSOROPS_ASSIGN_OR_RETURN(saved,
                               sessions_.Get(message.session_id(), caller));
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      request::BackwardRequestPlan plan,
      request::PlanBackwardRequest(std::move(inputs), saved.get(), limits_));
  if (saved != nullptr && !message.retain_session()) {
    TENSOROPS_RETURN_IF_ERROR(ConsumeSessionIfDelivered(
        sessions_, message.session_id(), caller, outcome));
  }
  const int64_t bytes = plan.work_bytes();
  const int64_t response_bytes = plan.response_bytes;
  return InferenceWork{
      .bytes = bytes,
      .response_bytes = response_bytes,
      .run = [this, &call, id, plan = std::move(plan),
              saved =
                  std::move(saved)]() -> absl::StatusOr<ModelInferResponse> {
        TENSOROPS_ASSIGN_OR_RETURN(
            Tensor grad_input,
            backend_.TopKBackwardOfChunks(plan.grad, plan.indices,
                                          plan.input_shape, plan.dim));
        std::vector<NamedResult> results;
        results.push_back({"grad_input", std::move(grad_input)});
        return Respond(call, id, std::move(results), nullptr);
      }};
}

}  // namespace tensorops::server
