// TensorOpsClient's calls of the selection family (Sort, KthValue, Max, Min,
// Median): each builds its request and goes through CallSelection.
#include "client/tensor_ops_client.h"

namespace tensorops::client {
namespace {

namespace v1 = ::tensorops::v1;

// The fields the reductions share, by the same names in each request.
template <typename Request>
Request ReductionRequest(const ReductionParams& params) {
  Request request;
  request.set_dim(params.dim);
  request.set_keepdim(params.keepdim);
  request.set_save_for_backward(params.save_for_backward);
  return request;
}

}  // namespace

absl::StatusOr<SelectionOutput> TensorOpsClient::Sort(const Tensor& input,
                                                      const SortParams& params,
                                                      const CallOptions& call) {
  v1::SortRequest request;
  request.set_dim(params.dim);
  request.set_descending(params.descending);
  request.set_stable(params.stable);
  request.set_save_for_backward(params.save_for_backward);
  return CallSelection("Sort", request, input, call);
}

absl::StatusOr<SelectionOutput> TensorOpsClient::KthValue(
    const Tensor& input, int64_t k, const ReductionParams& params,
    const CallOptions& call) {
  v1::KthValueRequest request = ReductionRequest<v1::KthValueRequest>(params);
  request.set_k(k);
  return CallSelection("KthValue", request, input, call);
}

absl::StatusOr<SelectionOutput> TensorOpsClient::Max(
    const Tensor& input, const ReductionParams& params,
    const CallOptions& call) {
  return CallSelection("Max", ReductionRequest<v1::MaxRequest>(params), input,
                       call);
}

absl::StatusOr<SelectionOutput> TensorOpsClient::Min(
    const Tensor& input, const ReductionParams& params,
    const CallOptions& call) {
  return CallSelection("Min", ReductionRequest<v1::MinRequest>(params), input,
                       call);
}

absl::StatusOr<SelectionOutput> TensorOpsClient::Median(
    const Tensor& input, const ReductionParams& params,
    const CallOptions& call) {
  return CallSelection("Median", ReductionRequest<v1::MedianRequest>(params),
                       input, call);
}

}  // namespace tensorops::client
