// The CUDA backend's factory in builds without CUDA.
#include "absl/status/status.h"
#include "core/cuda/cuda_backend.h"

namespace tensorops {

bool CudaBackendBuilt() { return false; }

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(CudaBackendOptions) {
  return absl::UnimplementedError(
      "built without CUDA: reconfigure with -DTENSOROPS_WITH_CUDA=ON on a "
      "machine with the CUDA toolkit");
}

}  // namespace tensorops
