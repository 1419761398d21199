// The CUDA implementation of Backend. This header is plain C++ (no CUDA
// headers), so callers build the same way with or without CUDA; a build
// without CUDA links a stub whose factory returns UNIMPLEMENTED.
#ifndef TENSOROPS_CORE_CUDA_CUDA_BACKEND_H_
#define TENSOROPS_CORE_CUDA_CUDA_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "core/backend.h"

namespace tensorops {

struct CudaBackendOptions {
  // CUDA device ordinal.
  int device = 0;
};

// True when this binary was built with the CUDA backend
// (-DTENSOROPS_WITH_CUDA=ON).
bool CudaBackendBuilt();

// A backend running every operation on `options.device`, bit-identical to
// CpuBackend. Errors: UNIMPLEMENTED "built without CUDA" in a build without
// it; FAILED_PRECONDITION "no CUDA device: <reason>" when the driver reports
// no usable device (e.g. no GPU or no driver).
absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(
    CudaBackendOptions options = {});

}  // namespace tensorops

#endif  // TENSOROPS_CORE_CUDA_CUDA_BACKEND_H_
