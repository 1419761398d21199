// CUDA runtime errors as absl::Status.
#ifndef TENSOROPS_CORE_CUDA_CUDA_STATUS_H_
#define TENSOROPS_CORE_CUDA_CUDA_STATUS_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tensorops::cuda {

// OK for cudaSuccess; otherwise RESOURCE_EXHAUSTED for out-of-memory and
// INTERNAL for the rest, naming `what` failed and the CUDA error.
inline absl::Status CudaStatus(cudaError_t error, absl::string_view what) {
  if (error == cudaSuccess) return absl::OkStatus();
  std::string message =
      absl::StrCat("CUDA ", what, " failed: ", cudaGetErrorName(error), " (",
                   cudaGetErrorString(error), ")");
  if (error == cudaErrorMemoryAllocation) {
    return absl::ResourceExhaustedError(std::move(message));
  }
  return absl::InternalError(std::move(message));
}

}  // namespace tensorops::cuda

// Returns from the enclosing function if the CUDA call fails.
#define TENSOROPS_CUDA_RETURN_IF_ERROR(expr, what)                           \
  do {                                                                       \
    absl::Status cuda_status_ = ::tensorops::cuda::CudaStatus((expr), what); \
    if (!cuda_status_.ok()) return cuda_status_;                             \
  } while (0)

#endif  // TENSOROPS_CORE_CUDA_CUDA_STATUS_H_
