#include "core/backend.h"

namespace tensorops {

absl::StatusOr<Tensor> ZerosLike(Backend& backend, const Tensor& like,
                                 std::optional<DType> dtype) {
  return backend.Zeros(dtype.value_or(like.dtype()), like.shape());
}

absl::StatusOr<Tensor> OnesLike(Backend& backend, const Tensor& like,
                                std::optional<DType> dtype) {
  return backend.Ones(dtype.value_or(like.dtype()), like.shape());
}

}  // namespace tensorops
