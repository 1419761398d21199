#include "request/stream_request.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/op_plans.h"
#include "core/status_macros.h"
#include "request/missing_field.h"

namespace tensorops::request {
namespace {

namespace v1 = ::tensorops::v1;

absl::Status NoResultRegion(bool has_ref, absl::string_view field) {
  if (!has_ref) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field,
      " is set, but a streamed call sends its results in chunks; use the "
      "unary call for results in shared memory"));
}

absl::Status CheckBuffered(int64_t bytes, absl::string_view what,
                           const RequestLimits& limits) {
  if (bytes <= limits.max_stream_buffer_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      what, " takes ", bytes,
      " bytes, which a streamed call holds whole, more than this server's "
      "limit of ",
      limits.max_stream_buffer_bytes, " (--max_stream_buffer_bytes); ",
      "expected smaller slices (select along a later dim, e.g. the last)"));
}

// A fill stream's request carries no bytes and wants none in a region.
absl::Status CheckStreamedFill(const v1::Tensor* input, bool has_output_ref,
                               const RequestLimits& limits) {
  if (input != nullptr) {
    TENSOROPS_RETURN_IF_ERROR(
        StreamedTensorSpec(*input, "input", limits).status());
  }
  return NoResultRegion(has_output_ref, "output_shared_memory");
}

}  // namespace

absl::StatusOr<StreamPart> ClassifyStreamMessage(bool has_request,
                                                 bool has_chunk,
                                                 bool request_seen,
                                                 absl::string_view method) {
  if (has_request == has_chunk) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", method, " message carries ",
        has_request ? "both request and chunk" : "neither request nor chunk",
        "; expected the request first, then chunks of its tensors' bytes"));
  }
  if (has_request && request_seen) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", method,
        " stream sent its request twice; expected one request, then only "
        "chunks"));
  }
  if (has_chunk && !request_seen) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", method,
        " stream began with a chunk; expected its first message to carry "
        "the request (dtype and shape of the tensors the chunks hold)"));
  }
  return has_request ? StreamPart::kRequest : StreamPart::kChunk;
}

absl::StatusOr<wire::TensorSpec> StreamedTensorSpec(
    const v1::Tensor& tensor, absl::string_view field,
    const RequestLimits& limits) {
  if (!tensor.data().empty() || tensor.has_shared_memory()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " carries ",
        tensor.has_shared_memory() ? "shared_memory" : "data",
        " in a streamed call's request; expected dtype and shape only, with "
        "its bytes in the chunks that follow"));
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      wire::TensorSpec spec,
      wire::SpecFromProto(tensor, field, wire::DataPolicy::kOptional));
  TENSOROPS_RETURN_IF_ERROR(
      CheckElementLimit(StreamedLimits(limits), spec.shape, field));
  return spec;
}

absl::StatusOr<StreamedTopKPlan> PlanStreamedTopK(
    const v1::TopKRequest& request, const RequestLimits& limits) {
  if (!request.has_input()) {
    return MissingField("input", "the tensor to select from (dtype and shape)");
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      wire::TensorSpec spec,
      StreamedTensorSpec(request.input(), "input", limits));
  TENSOROPS_RETURN_IF_ERROR(NoResultRegion(request.has_values_shared_memory(),
                                           "values_shared_memory"));
  TENSOROPS_RETURN_IF_ERROR(NoResultRegion(request.has_indices_shared_memory(),
                                           "indices_shared_memory"));
  StreamedTopKPlan out;
  TENSOROPS_ASSIGN_OR_RETURN(
      out.call,
      PlanTopKCall(request, spec.dtype, spec.shape, StreamedLimits(limits)));
  out.dtype = spec.dtype;
  out.shape = std::move(spec.shape);
  out.input_bytes = spec.byte_size;
  if (out.input_bytes > 0) {
    // Every factor is positive, so outer divides the byte count exactly.
    out.slices = out.call.plan.input.outer;
    out.slice_bytes = out.input_bytes / out.slices;
    TENSOROPS_RETURN_IF_ERROR(
        CheckBuffered(out.slice_bytes,
                      absl::StrCat("one slice of the input along dim ",
                                   out.call.plan.input.dim),
                      limits));
  }
  return out;
}

absl::StatusOr<FillPlan> PlanStreamedZerosLike(
    const v1::ZerosLikeRequest& request, const RequestLimits& limits) {
  TENSOROPS_RETURN_IF_ERROR(
      CheckStreamedFill(request.has_input() ? &request.input() : nullptr,
                        request.has_output_shared_memory(), limits));
  return PlanZerosLike(request, std::nullopt, StreamedLimits(limits));
}

absl::StatusOr<FillPlan> PlanStreamedOnesLike(
    const v1::OnesLikeRequest& request, const RequestLimits& limits) {
  TENSOROPS_RETURN_IF_ERROR(
      CheckStreamedFill(request.has_input() ? &request.input() : nullptr,
                        request.has_output_shared_memory(), limits));
  return PlanOnesLike(request, std::nullopt, StreamedLimits(limits));
}

absl::StatusOr<StreamedBackwardLayout> PlanStreamedBackward(
    const v1::BackwardRequest& request, const RequestLimits& limits) {
  if (!request.has_grad_values()) {
    return MissingField("grad_values",
                        "the gradient with respect to TopK's values (dtype "
                        "and shape)");
  }
  TENSOROPS_RETURN_IF_ERROR(NoResultRegion(
      request.has_grad_input_shared_memory(), "grad_input_shared_memory"));
  StreamedBackwardLayout layout;
  TENSOROPS_ASSIGN_OR_RETURN(
      layout.grad_values,
      StreamedTensorSpec(request.grad_values(), "grad_values", limits));
  if (request.session_id().empty() && request.has_indices()) {
    TENSOROPS_ASSIGN_OR_RETURN(
        wire::TensorSpec indices,
        StreamedTensorSpec(request.indices(), "indices", limits));
    layout.indices = std::move(indices);
  }
  // The session and stateless fields as the unary call checks them, on
  // empty tensors of the same dtypes (their shapes are checked below).
  v1::BackwardRequest fields = request;
  fields.mutable_grad_values()->clear_shape();
  fields.mutable_grad_values()->add_shape(0);
  if (fields.has_indices()) {
    fields.mutable_indices()->clear_shape();
    fields.mutable_indices()->add_shape(0);
  }
  TENSOROPS_ASSIGN_OR_RETURN(
      const BackwardInputs inputs,
      DecodeBackwardRequest(fields, StreamedLimits(limits)));
  if (!inputs.uses_session) {
    TENSOROPS_RETURN_IF_ERROR(
        PlanTopKBackward(layout.grad_values.dtype, layout.grad_values.shape,
                         layout.indices->dtype, layout.indices->shape,
                         inputs.input_shape, inputs.dim)
            .status());
    TENSOROPS_RETURN_IF_ERROR(
        CheckElementLimit(StreamedLimits(limits), inputs.input_shape,
                          "the gradient of input_shape (Backward's result)"));
  }
  TENSOROPS_RETURN_IF_ERROR(CheckBuffered(
      layout.total_bytes(),
      layout.indices ? "grad_values and indices together" : "grad_values",
      limits));
  return layout;
}

absl::Status CheckStreamedBackwardSlice(const BackwardRequestPlan& plan,
                                        const RequestLimits& limits) {
  if (plan.output_bytes == 0) return absl::OkStatus();
  TENSOROPS_ASSIGN_OR_RETURN(
      const int64_t dim,
      WrapDim(plan.dim, static_cast<int64_t>(plan.input_shape.size())));
  const DimGeometry geometry = GeometryAround(plan.input_shape, dim);
  return CheckBuffered(
      plan.output_bytes / geometry.outer,
      absl::StrCat("one slice of grad_input along dim ", geometry.dim), limits);
}

ChunkCounter::ChunkCounter(int64_t expected_bytes, std::string what)
    : expected_(expected_bytes), what_(std::move(what)) {}

absl::Status ChunkCounter::Add(int64_t bytes) {
  if (complete()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a chunk arrived after all ", expected_, " bytes of ",
                     what_, "; expected the stream to end there"));
  }
  if (bytes > expected_ - received_) {
    return absl::InvalidArgumentError(
        absl::StrCat("the chunks carry at least ", received_ + bytes,
                     " bytes, more than the ", expected_, " bytes of ", what_,
                     "; expected exactly the bytes of the request's tensors"));
  }
  received_ += bytes;
  return absl::OkStatus();
}

absl::Status ChunkCounter::CheckComplete() const {
  if (complete()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "the stream ended after ", received_, " of the ", expected_, " bytes of ",
      what_, "; expected all of them before the end"));
}

}  // namespace tensorops::request
