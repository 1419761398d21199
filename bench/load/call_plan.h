// The requests tensorops-load sends, serialized once, and the checks of
// their responses against results computed locally by the CPU backend.
#ifndef TENSOROPS_BENCH_LOAD_CALL_PLAN_H_
#define TENSOROPS_BENCH_LOAD_CALL_PLAN_H_

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/load/load_options.h"
#include "core/tensor.h"

namespace tensorops::load {

class CallPlan {
 public:
  static absl::StatusOr<CallPlan> Create(const LoadOptions& options);

  // The first (for chains, the TopK) call of every unit. The buffer shares
  // its bytes with each copy, so every call sends the same slices.
  const std::string& method() const { return method_; }
  const grpc::ByteBuffer& request() const { return request_; }
  int64_t request_bytes() const { return request_bytes_; }

  // Chains: the Backward request for the session a TopK response names
  // (the gradient is all ones, in float32).
  static const std::string& BackwardMethod();
  absl::StatusOr<grpc::ByteBuffer> BackwardRequestFor(
      grpc::ByteBuffer topk_response) const;

  // Compares a response of method() (or, with `backward`, of the chain's
  // Backward) with the local result.
  absl::Status Check(grpc::ByteBuffer response, bool backward = false) const;

 private:
  CallPlan() = default;
  // TopK, its gradient for all-ones grad_values, from input_.
  absl::Status ComputeTopKResults(const LoadOptions& options);

  CallKind kind_ = CallKind::kTopK;
  std::string method_;
  grpc::ByteBuffer request_;
  int64_t request_bytes_ = 0;
  // Local results.
  Tensor input_;
  Tensor expected_output_;  // ZerosLike / OnesLike
  Tensor expected_values_;  // TopK
  Tensor expected_indices_;
  Tensor grad_values_;    // ones in float32, the shape of the TopK values
  Tensor expected_grad_;  // Backward
};

}  // namespace tensorops::load

#endif  // TENSOROPS_BENCH_LOAD_CALL_PLAN_H_
