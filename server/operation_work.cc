// The work of each tensor operation (TensorOpsService's FillWork,
// SelectionWork for TopK and the selection family, and BackwardWork): from a
// validated plan to the computation, its results attached to the response or
// written to shared memory, and its effects on sessions.
#include <optional>
#include <string>
#include <utility>

#include "core/status_macros.h"
#include "request/backward_request.h"
#include "server/session_effects.h"
#include "server/tensor_ops_service.h"

namespace tensorops::server {
namespace {

namespace v1 = ::tensorops::v1;

// FillWork attaches its result as the output of either response.
static_assert(static_cast<int>(v1::ZerosLikeResponse::kOutputFieldNumber) ==
              static_cast<int>(v1::OnesLikeResponse::kOutputFieldNumber));
constexpr int kFillOutputField = v1::ZerosLikeResponse::kOutputFieldNumber;

// SelectionWork attaches its results as the values and indices of any
// selection's response, which all number them alike.
constexpr int kSelectionValuesField = v1::TopKResponse::kValuesFieldNumber;
constexpr int kSelectionIndicesField = v1::TopKResponse::kIndicesFieldNumber;
#define TENSOROPS_CHECK_SELECTION_FIELDS_(Response)                          \
  static_assert(v1::Response::kValuesFieldNumber == kSelectionValuesField && \
                v1::Response::kIndicesFieldNumber == kSelectionIndicesField)
TENSOROPS_CHECK_SELECTION_FIELDS_(SortResponse);
TENSOROPS_CHECK_SELECTION_FIELDS_(KthValueResponse);
TENSOROPS_CHECK_SELECTION_FIELDS_(MaxResponse);
TENSOROPS_CHECK_SELECTION_FIELDS_(MinResponse);
TENSOROPS_CHECK_SELECTION_FIELDS_(MedianResponse);
#undef TENSOROPS_CHECK_SELECTION_FIELDS_

// Delivers `result`: when it went to shared memory (`ref` set), as the
// reference in `response_tensor` (set exactly then, so that an inline
// result leaves the response's field to the attached tensor); else attached as
// response field `field`, for gRPC to send from its own memory.
void DeliverResult(Tensor result, int field, const v1::SharedMemoryRef* ref,
                   v1::Tensor* response_tensor, InflightCall& call) {
  if (ref != nullptr) {
    RegionResultToProto(result.dtype(), result.shape(), *ref,
                        static_cast<int64_t>(result.byte_size()),
                        response_tensor);
    return;
  }
  call.outgoing().AttachTensor(field, std::move(result));
}

}  // namespace

absl::StatusOr<TensorOpsService::Work> TensorOpsService::FillWork(
    request::FillPlan plan, const v1::SharedMemoryRef* output_ref,
    v1::Tensor* response_output, std::shared_ptr<RegionHolds> holds,
    InflightCall& call) {
  std::optional<OutputMemory> into;
  if (output_ref != nullptr) {
    TENSOROPS_ASSIGN_OR_RETURN(
        into, holds->Output(*output_ref, plan.dtype, plan.output_bytes,
                            "output_shared_memory"));
  }
  const int64_t bytes = plan.output_bytes;
  const int64_t response_bytes = plan.response_bytes;
  return Work{.bytes = bytes,
              .response_bytes = response_bytes,
              .run = [this, plan = std::move(plan), into = std::move(into),
                      output_ref, response_output, holds = std::move(holds),
                      &call]() -> absl::Status {
                const OutputMemory* memory =
                    into.has_value() ? &*into : nullptr;
                TENSOROPS_ASSIGN_OR_RETURN(
                    Tensor result,
                    plan.ones ? backend_.Ones(plan.dtype, plan.shape, memory)
                              : backend_.Zeros(plan.dtype, plan.shape, memory));
                TENSOROPS_RETURN_IF_ERROR(holds->CheckIntact());
                DeliverResult(std::move(result), kFillOutputField, output_ref,
                              response_output, call);
                return absl::OkStatus();
              }};
}

absl::StatusOr<TensorOpsService::Work> TensorOpsService::SelectionWork(
    SelectionDelivery delivery, SelectionCompute compute,
    const std::string& caller, std::shared_ptr<RegionHolds> holds,
    InflightCall& call) {
  if (delivery.saved.has_value()) {
    TENSOROPS_RETURN_IF_ERROR(
        sessions_.CheckFits(SessionCache::SessionFootprintBytes(
            delivery.indices_bytes, delivery.saved->input_shape.size())));
  }
  std::optional<OutputMemory> values_into;
  std::optional<OutputMemory> indices_into;
  if (delivery.values_ref != nullptr) {
    TENSOROPS_ASSIGN_OR_RETURN(
        values_into,
        holds->Output(*delivery.values_ref, delivery.dtype,
                      delivery.values_bytes, "values_shared_memory"));
  }
  if (delivery.indices_ref != nullptr) {
    TENSOROPS_ASSIGN_OR_RETURN(
        indices_into,
        holds->Output(*delivery.indices_ref, DType::kInt64,
                      delivery.indices_bytes, "indices_shared_memory"));
  }
  const int64_t bytes = delivery.work_bytes;
  const int64_t response_bytes = delivery.response_bytes;
  return Work{
      .bytes = bytes,
      .response_bytes = response_bytes,
      .run = [this, delivery = std::move(delivery),
              compute = std::move(compute), caller,
              values_into = std::move(values_into),
              indices_into = std::move(indices_into), holds = std::move(holds),
              &call]() mutable -> absl::Status {
        TENSOROPS_ASSIGN_OR_RETURN(
            TopKResult result,
            std::move(compute)(TopKOutputMemory{
                .values = values_into ? &*values_into : nullptr,
                .indices = indices_into ? &*indices_into : nullptr}));
        TENSOROPS_RETURN_IF_ERROR(holds->CheckIntact());
        if (delivery.saved.has_value()) {
          // The saved indices share the core's buffer with `result` (the
          // response gets its own copy below), or, when they went to the
          // caller's shared memory, which the caller may rewrite, are a
          // private copy.
          delivery.saved->indices = result.indices;
          if (indices_into.has_value()) {
            TENSOROPS_ASSIGN_OR_RETURN(
                delivery.saved->indices,
                Tensor::CopyOf(DType::kInt64, result.indices.shape(),
                               result.indices.bytes()));
          }
          TENSOROPS_ASSIGN_OR_RETURN(
              *delivery.response.session_id,
              SaveSessionIfDelivered(sessions_, *std::move(delivery.saved),
                                     caller, call.outcome()));
        }
        DeliverResult(std::move(result.values), kSelectionValuesField,
                      delivery.values_ref,
                      values_into ? delivery.response.values() : nullptr, call);
        DeliverResult(std::move(result.indices), kSelectionIndicesField,
                      delivery.indices_ref,
                      indices_into ? delivery.response.indices() : nullptr,
                      call);
        return absl::OkStatus();
      }};
}

absl::StatusOr<TensorOpsService::Work> TensorOpsService::TopKWork(
    request::TopKRequestPlan plan, const v1::TopKRequest& request,
    const std::string& caller, v1::TopKResponse* response,
    std::shared_ptr<RegionHolds> holds, InflightCall& call) {
  SelectionDelivery delivery{
      .dtype = plan.input.dtype(),
      .values_bytes = plan.call.values_bytes,
      .indices_bytes = plan.call.indices_bytes,
      .work_bytes = plan.work_bytes(),
      .response_bytes = plan.call.response_bytes,
      .values_ref = request.has_values_shared_memory()
                        ? &request.values_shared_memory()
                        : nullptr,
      .indices_ref = request.has_indices_shared_memory()
                         ? &request.indices_shared_memory()
                         : nullptr,
      .response = {
          .values = [response] { return response->mutable_values(); },
          .indices = [response] { return response->mutable_indices(); },
          .session_id = response->mutable_session_id()},
      .saved = std::nullopt};
  if (plan.call.save_for_backward) {
    delivery.saved.emplace();
    delivery.saved->input_shape = plan.input.shape();
    delivery.saved->dim = plan.call.wrapped_dim;
    delivery.saved->op = request::SelectionOp::kTopK;
  }
  return SelectionWork(
      std::move(delivery),
      [this, plan = std::move(plan)](const TopKOutputMemory& into) {
        return backend_.TopKOfChunks(plan.input, plan.call.options, into);
      },
      caller, std::move(holds), call);
}

absl::StatusOr<TensorOpsService::Work> TensorOpsService::SelectionFamilyWork(
    request::SelectionRequestPlan plan, SelectionResponseFields response,
    const std::string& caller, std::shared_ptr<RegionHolds> holds,
    InflightCall& call) {
  SelectionDelivery delivery{.dtype = plan.input.dtype(),
                             .values_bytes = plan.values_bytes,
                             .indices_bytes = plan.indices_bytes,
                             .work_bytes = plan.work_bytes(),
                             .response_bytes = plan.response_bytes,
                             .values_ref = plan.fields.values_shared_memory,
                             .indices_ref = plan.fields.indices_shared_memory,
                             .response = std::move(response),
                             .saved = std::nullopt};
  if (plan.fields.save_for_backward) {
    delivery.saved.emplace();
    delivery.saved->input_shape = plan.input.shape();
    delivery.saved->dim = plan.wrapped_dim;
    delivery.saved->op = plan.fields.op;
    delivery.saved->keeps_dim = plan.keeps_dim;
  }
  return SelectionWork(
      std::move(delivery),
      [this, plan = std::move(plan)](const TopKOutputMemory& into) {
        return backend_.SelectOfChunks(plan.input, plan.fields.options, into);
      },
      caller, std::move(holds), call);
}

absl::StatusOr<TensorOpsService::Work> TensorOpsService::BackwardWork(
    const v1::BackwardRequest& message, const ReceivedPayload& payload,
    const std::string& caller, v1::BackwardResponse* response,
    InflightCall& call) {
  auto holds = std::make_shared<RegionHolds>(shared_memory_, caller);
  // Each tensor's bytes: in shared memory, else lifted out of the request
  // (read in place), else in the message.
  request::BackwardTensorBytes elsewhere;
  TENSOROPS_ASSIGN_OR_RETURN(
      elsewhere.grad_values,
      holds->Input(message.grad_values(), payload.Lifted(kGradValuesPayload),
                   "grad_values"));
  TENSOROPS_ASSIGN_OR_RETURN(
      elsewhere.indices,
      holds->Input(message.indices(), payload.Lifted(kIndicesPayload),
                   "indices"));
  TENSOROPS_ASSIGN_OR_RETURN(
      request::BackwardInputs inputs,
      request::DecodeBackwardRequest(message, options_.limits, elsewhere));
  // The session's state, looked up (not yet claimed) between the checks.
  std::shared_ptr<const request::SavedSelection> saved;
  if (inputs.uses_session) {
    TENSOROPS_ASSIGN_OR_RETURN(saved,
                               sessions_.Get(message.session_id(), caller));
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      request::BackwardRequestPlan plan,
      request::PlanBackwardRequest(std::move(inputs), saved.get(),
                                   options_.limits));
  std::optional<OutputMemory> into;
  if (message.has_grad_input_shared_memory()) {
    TENSOROPS_ASSIGN_OR_RETURN(
        into,
        holds->Output(message.grad_input_shared_memory(), plan.grad.dtype(),
                      plan.output_bytes, "grad_input_shared_memory"));
  }
  // Claim the session only once the request is known to be good; of
  // several concurrent Backward calls on one session exactly one gets it,
  // and it is consumed only if that call's result is delivered.
  if (saved != nullptr && !message.retain_session()) {
    TENSOROPS_RETURN_IF_ERROR(ConsumeSessionIfDelivered(
        sessions_, message.session_id(), caller, call.outcome()));
  }
  const int64_t bytes = plan.work_bytes();
  const int64_t response_bytes = plan.response_bytes;
  return Work{
      .bytes = bytes,
      .response_bytes = response_bytes,
      .run = [this, plan = std::move(plan), saved = std::move(saved),
              into = std::move(into), holds = std::move(holds), &message,
              response, &call]() -> absl::Status {
        TENSOROPS_ASSIGN_OR_RETURN(
            Tensor grad_input, backend_.TopKBackwardOfChunks(
                                   plan.grad, plan.indices, plan.input_shape,
                                   plan.dim, into ? &*into : nullptr));
        TENSOROPS_RETURN_IF_ERROR(holds->CheckIntact());
        DeliverResult(std::move(grad_input),
                      v1::BackwardResponse::kGradInputFieldNumber,
                      into ? &message.grad_input_shared_memory() : nullptr,
                      into ? response->mutable_grad_input() : nullptr, call);
        return absl::OkStatus();
      }};
}

}  // namespace tensorops::server
