#include "core/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/cancellation.h"
#include "core/cuda/cuda_status.h"
#include "core/cuda/kernels.h"
#include "core/cuda/pinned_host_pool.h"
#include "core/dtype.h"
#include "core/op_plans.h"
#include "core/status_macros.h"

namespace tensorops {
namespace {

using cuda::CudaStatus;

// Pinned staging memory kept for reuse across requests.
constexpr size_t kMaxCachedPinnedBytes = size_t{1} << 30;

std::optional<cuda::KernelDType> KernelDTypeOf(DType dtype) {
  switch (dtype) {
#define TENSOROPS_KERNEL_DTYPE_CASE_(enumerator, ...) \
  case DType::enumerator:                             \
    return cuda::KernelDType::enumerator;
    TENSOROPS_FOR_EACH_NUMERIC_DTYPE(TENSOROPS_KERNEL_DTYPE_CASE_)
#undef TENSOROPS_KERNEL_DTYPE_CASE_
    case DType::kBool:
      break;
  }
  return std::nullopt;
}

cuda::SliceGeometry SliceGeometryOf(const DimGeometry& geometry, int64_t k) {
  return {.outer = geometry.outer,
          .size = geometry.size,
          .inner = geometry.inner,
          .k = k};
}

// One operation's stream, device memory (from the device's pool) and pinned
// staging buffers. Nothing is freed before the stream's work is done.
class Request final : public cuda::ScratchAllocator {
 public:
  Request(cudaMemPool_t pool, cuda::PinnedHostPool& pinned)
      : pool_(pool), pinned_(pinned) {}

  ~Request() override {
    if (stream_ == nullptr) return;
    for (void* pointer : device_) cudaFreeAsync(pointer, stream_);
    // Also waits for the work of an operation that failed half-way.
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
    for (const cuda::PinnedHostPool::Buffer& buffer : staging_) {
      pinned_.Release(buffer);
    }
  }

  // CANCELLED if the thread's CurrentCancellation() is already cancelled:
  // device work, once queued, runs to the end (it takes milliseconds).
  absl::Status Start(int device) {
    if (const Cancellation* cancellation = CurrentCancellation();
        cancellation != nullptr && cancellation->cancelled()) {
      return CancelledComputationError();
    }
    TENSOROPS_CUDA_RETURN_IF_ERROR(cudaSetDevice(device), "cudaSetDevice");
    TENSOROPS_CUDA_RETURN_IF_ERROR(
        cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
        "cudaStreamCreateWithFlags");
    return absl::OkStatus();
  }

  cudaStream_t stream() const { return stream_; }

  cudaError_t Allocate(size_t bytes, void** pointer) override {
    const cudaError_t error =
        cudaMallocFromPoolAsync(pointer, bytes, pool_, stream_);
    if (error == cudaSuccess) device_.push_back(*pointer);
    return error;
  }

  absl::StatusOr<void*> DeviceBuffer(size_t bytes) {
    void* pointer = nullptr;
    TENSOROPS_CUDA_RETURN_IF_ERROR(
        Allocate(std::max<size_t>(bytes, 1), &pointer),
        "cudaMallocFromPoolAsync");
    return pointer;
  }

  // A device copy of `tensor`, staged through pinned memory (the tensor may
  // be an unaligned view of a request message).
  absl::StatusOr<void*> Upload(const Tensor& tensor) {
    TENSOROPS_ASSIGN_OR_RETURN(void* device, DeviceBuffer(tensor.byte_size()));
    if (tensor.byte_size() == 0) return device;
    TENSOROPS_ASSIGN_OR_RETURN(cuda::PinnedHostPool::Buffer staging,
                               pinned_.Acquire(tensor.byte_size()));
    staging_.push_back(staging);
    std::memcpy(staging.data, tensor.data(), tensor.byte_size());
    TENSOROPS_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(device, staging.data, tensor.byte_size(),
                        cudaMemcpyHostToDevice, stream_),
        "cudaMemcpyAsync to the device");
    return device;
  }

  // Queues a copy of `bytes` at `device` into `host`, which Finish() fills.
  absl::Status Download(const void* device, size_t bytes, void* host) {
    if (bytes == 0) return absl::OkStatus();
    TENSOROPS_ASSIGN_OR_RETURN(cuda::PinnedHostPool::Buffer staging,
                               pinned_.Acquire(bytes));
    staging_.push_back(staging);
    TENSOROPS_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(staging.data, device, bytes, cudaMemcpyDeviceToHost,
                        stream_),
        "cudaMemcpyAsync to the host");
    downloads_.push_back({staging.data, bytes, host});
    return absl::OkStatus();
  }

  // Waits for the stream and copies the downloads out of staging.
  absl::Status Finish() {
    TENSOROPS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_),
                                   "cudaStreamSynchronize");
    for (const PendingDownload& download : downloads_) {
      std::memcpy(download.host, download.staging, download.bytes);
    }
    return absl::OkStatus();
  }

 private:
  struct PendingDownload {
    const void* staging;
    size_t bytes;
    void* host;
  };

  cudaMemPool_t pool_;
  cuda::PinnedHostPool& pinned_;
  cudaStream_t stream_ = nullptr;
  std::vector<void*> device_;
  std::vector<cuda::PinnedHostPool::Buffer> staging_;
  std::vector<PendingDownload> downloads_;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, cudaMemPool_t pool, int multiprocessors)
      : device_(device),
        pool_(pool),
        multiprocessors_(multiprocessors),
        pinned_(kMaxCachedPinnedBytes) {}

  std::string_view name() const override { return "cuda"; }

 protected:
  absl::Status RunFill(uint64_t element_bits, Tensor& output) override {
    if (output.num_elements() == 0) return absl::OkStatus();
    Request request(pool_, pinned_);
    TENSOROPS_RETURN_IF_ERROR(request.Start(device_));
    TENSOROPS_ASSIGN_OR_RETURN(void* device,
                               request.DeviceBuffer(output.byte_size()));
    if (element_bits == 0) {
      TENSOROPS_CUDA_RETURN_IF_ERROR(
          cudaMemsetAsync(device, 0, output.byte_size(), request.stream()),
          "cudaMemsetAsync");
    } else {
      TENSOROPS_CUDA_RETURN_IF_ERROR(
          cuda::LaunchFill(device, output.num_elements(),
                           static_cast<int>(DTypeSize(output.dtype())),
                           element_bits, request.stream()),
          "fill kernel");
    }
    TENSOROPS_RETURN_IF_ERROR(
        request.Download(device, output.byte_size(), output.mutable_data()));
    return request.Finish();
  }

  absl::Status RunTopK(const Tensor& input, const TopKPlan& plan,
                       const TopKOptions& options,
                       TopKResult& result) override {
    if (result.values.num_elements() == 0) return absl::OkStatus();
    const std::optional<cuda::KernelDType> kernel_dtype =
        KernelDTypeOf(input.dtype());
    if (!kernel_dtype.has_value()) {
      return absl::UnimplementedError(
          absl::StrCat("topk on the CUDA backend does not support dtype ",
                       DTypeName(input.dtype())));
    }

    Request request(pool_, pinned_);
    TENSOROPS_RETURN_IF_ERROR(request.Start(device_));
    TENSOROPS_ASSIGN_OR_RETURN(void* device_input, request.Upload(input));
    TENSOROPS_ASSIGN_OR_RETURN(void* values,
                               request.DeviceBuffer(result.values.byte_size()));
    TENSOROPS_ASSIGN_OR_RETURN(
        void* indices, request.DeviceBuffer(result.indices.byte_size()));
    TENSOROPS_CUDA_RETURN_IF_ERROR(
        cuda::LaunchTopK(
            *kernel_dtype, device_input, SliceGeometryOf(plan.input, plan.k),
            options.largest, options.sorted, 4 * multiprocessors_, values,
            static_cast<int64_t*>(indices), request, request.stream()),
        "topk kernels");
    TENSOROPS_RETURN_IF_ERROR(request.Download(
        values, result.values.byte_size(), result.values.mutable_data()));
    TENSOROPS_RETURN_IF_ERROR(request.Download(
        indices, result.indices.byte_size(), result.indices.mutable_data()));
    return request.Finish();
  }

  absl::Status RunTopKBackward(const Tensor& grad_values, const Tensor& indices,
                               const TopKBackwardPlan& plan,
                               Tensor& grad_input) override {
    if (grad_input.num_elements() == 0) return absl::OkStatus();

    Request request(pool_, pinned_);
    TENSOROPS_RETURN_IF_ERROR(request.Start(device_));
    TENSOROPS_ASSIGN_OR_RETURN(void* device_grad, request.Upload(grad_values));
    TENSOROPS_ASSIGN_OR_RETURN(void* device_indices, request.Upload(indices));
    TENSOROPS_ASSIGN_OR_RETURN(void* output,
                               request.DeviceBuffer(grad_input.byte_size()));
    TENSOROPS_ASSIGN_OR_RETURN(void* first_bad,
                               request.DeviceBuffer(sizeof(uint64_t)));
    TENSOROPS_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(output, 0, grad_input.byte_size(), request.stream()),
        "cudaMemsetAsync");
    // All ones: UINT64_MAX means "every index is in range".
    TENSOROPS_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(first_bad, 0xff, sizeof(uint64_t), request.stream()),
        "cudaMemsetAsync");
    TENSOROPS_CUDA_RETURN_IF_ERROR(
        cuda::LaunchScatter(
            static_cast<int>(DTypeSize(grad_values.dtype())), device_grad,
            static_cast<const int64_t*>(device_indices),
            SliceGeometryOf(plan.output, plan.k), output,
            static_cast<unsigned long long*>(first_bad), request.stream()),
        "topk backward scatter kernel");
    uint64_t bad = 0;
    TENSOROPS_RETURN_IF_ERROR(request.Download(output, grad_input.byte_size(),
                                               grad_input.mutable_data()));
    TENSOROPS_RETURN_IF_ERROR(request.Download(first_bad, sizeof(bad), &bad));
    TENSOROPS_RETURN_IF_ERROR(request.Finish());
    if (bad == UINT64_MAX) return absl::OkStatus();
    // The same message as the CPU backend's.
    return TopKBackwardIndexError(indices, static_cast<int64_t>(bad), plan);
  }

 private:
  const int device_;
  const cudaMemPool_t pool_;
  const int multiprocessors_;
  cuda::PinnedHostPool pinned_;
};

}  // namespace

bool CudaBackendBuilt() { return true; }

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(
    CudaBackendOptions options) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no CUDA device: cudaGetDeviceCount failed with ",
        cudaGetErrorName(error), " (", cudaGetErrorString(error), ")"));
  }
  if (count == 0) {
    return absl::FailedPreconditionError(
        "no CUDA device: the driver reports 0 devices");
  }
  if (options.device < 0 || options.device >= count) {
    return absl::FailedPreconditionError(
        absl::StrCat("no CUDA device: device ", options.device,
                     " requested, the driver reports ", count));
  }
  TENSOROPS_CUDA_RETURN_IF_ERROR(cudaSetDevice(options.device),
                                 "cudaSetDevice");
  int pools_supported = 0;
  TENSOROPS_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&pools_supported, cudaDevAttrMemoryPoolsSupported,
                             options.device),
      "cudaDeviceGetAttribute(MemoryPoolsSupported)");
  if (!pools_supported) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CUDA device ", options.device,
        " does not support stream-ordered memory pools (cudaMallocAsync)"));
  }
  int multiprocessors = 0;
  TENSOROPS_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount,
                             options.device),
      "cudaDeviceGetAttribute(MultiProcessorCount)");
  cudaMemPool_t pool = nullptr;
  TENSOROPS_CUDA_RETURN_IF_ERROR(
      cudaDeviceGetDefaultMemPool(&pool, options.device),
      "cudaDeviceGetDefaultMemPool");
  // Keep freed memory in the pool instead of returning it to the driver at
  // every synchronization, so requests reuse it without cudaMalloc.
  uint64_t release_threshold = UINT64_MAX;
  TENSOROPS_CUDA_RETURN_IF_ERROR(
      cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold,
                              &release_threshold),
      "cudaMemPoolSetAttribute(ReleaseThreshold)");
  return std::make_unique<CudaBackend>(options.device, pool,
                                       std::max(multiprocessors, 1));
}

}  // namespace tensorops
