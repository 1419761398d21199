#include "core/backend.h"

#include "core/status_macros.h"

namespace tensorops {

absl::StatusOr<TopKResult> Backend::TopKOfChunks(const ChunkedTensor& input,
                                                 const TopKOptions& options) {
  TENSOROPS_ASSIGN_OR_RETURN(Tensor contiguous, input.Materialize());
  return TopK(contiguous, options);
}

absl::StatusOr<Tensor> ZerosLike(Backend& backend, const Tensor& like,
                                 std::optional<DType> dtype) {
  return backend.Zeros(dtype.value_or(like.dtype()), like.shape());
}

absl::StatusOr<Tensor> OnesLike(Backend& backend, const Tensor& like,
                                std::optional<DType> dtype) {
  return backend.Ones(dtype.value_or(like.dtype()), like.shape());
}

}  // namespace tensorops
