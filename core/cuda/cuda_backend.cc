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
#include "core/cpu/fill_kernel.h"
#include "core/cuda/cuda_status.h"
#include "core/cuda/kernels.h"
#include "core/cuda/pinned_host_pool.h"
#include "core/op_plans.h"
#include "core/status_macros.h"

namespace tensorops {
namespace {

using cuda::CudaStatus;

// Pinned staging memory kept for reuse across requests.
constexpr size_t kMaxCachedPinnedBytes = size_t{1} << 30;

std::optional<cuda::KernelDType> KernelDTypeOf(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return cuda::KernelDType::kFloat32;
    case DType::kFloat64:
      return cuda::KernelDType::kFloat64;
    case DType::kFloat16:
      return cuda::KernelDType::kFloat16;
    case DType::kBFloat16:
      return cuda::KernelDType::kBFloat16;
    case DType::kInt8:
      return cuda::KernelDType::kInt8;
    case DType::kInt16:
      return cuda::KernelDType::kInt16;
    case DType::kInt32:
      return cuda::KernelDType::kInt32;
    case DType::kInt64:
      return cuda::KernelDType::kInt64;
    case DType::kUInt8:
      return cuda::KernelDType::kUInt8;
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

  absl::StatusOr<Tensor> Zeros(DType dtype, ShapeView shape) override {
    return Filled(dtype, shape, 0);
  }
  absl::StatusOr<Tensor> Ones(DType dtype, ShapeView shape) override {
    return Filled(dtype, shape, cpu::OneBits(dtype));
  }

  absl::StatusOr<TopKResult> TopK(const Tensor& input,
                                  const TopKOptions& options) override {
    TENSOROPS_ASSIGN_OR_RETURN(TopKPlan plan,
                               PlanTopK(input.dtype(), input.shape(), options));
    TENSOROPS_ASSIGN_OR_RETURN(TopKResult result,
                               AllocateTopKResult(input.dtype(), plan));
    if (result.values.num_elements() == 0) return result;
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
    TENSOROPS_RETURN_IF_ERROR(request.Finish());
    return result;
  }

  absl::StatusOr<Tensor> TopKBackward(const Tensor& grad_values,
                                      const Tensor& indices,
                                      ShapeView input_shape,
                                      int64_t dim) override {
    TENSOROPS_ASSIGN_OR_RETURN(
        TopKBackwardPlan plan,
        PlanTopKBackward(grad_values.dtype(), grad_values.shape(),
                         indices.dtype(), indices.shape(), input_shape, dim));
    TENSOROPS_ASSIGN_OR_RETURN(
        Tensor grad_input,
        Tensor::Allocate(grad_values.dtype(), plan.output_shape));
    if (grad_input.num_elements() == 0) return grad_input;

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
    if (bad == UINT64_MAX) return grad_input;
    // The same message as the CPU backend's.
    const int64_t position = static_cast<int64_t>(bad);
    return absl::InvalidArgumentError(absl::StrCat(
        "indices element ", position, " (flat, row-major) is ",
        indices.Load<int64_t>(position), ", out of range for dimension ",
        plan.output.dim, " of input_shape ", ShapeToString(plan.output_shape),
        "; expected 0 <= index < ", plan.output.size));
  }

 private:
  absl::StatusOr<Tensor> Filled(DType dtype, ShapeView shape, uint64_t bits) {
    TENSOROPS_ASSIGN_OR_RETURN(
        Tensor output,
        Tensor::Allocate(dtype, Shape(shape.begin(), shape.end())));
    if (output.num_elements() == 0) return output;
    Request request(pool_, pinned_);
    TENSOROPS_RETURN_IF_ERROR(request.Start(device_));
    TENSOROPS_ASSIGN_OR_RETURN(void* device,
                               request.DeviceBuffer(output.byte_size()));
    if (bits == 0) {
      TENSOROPS_CUDA_RETURN_IF_ERROR(
          cudaMemsetAsync(device, 0, output.byte_size(), request.stream()),
          "cudaMemsetAsync");
    } else {
      TENSOROPS_CUDA_RETURN_IF_ERROR(
          cuda::LaunchFill(device, output.num_elements(),
                           static_cast<int>(DTypeSize(dtype)), bits,
                           request.stream()),
          "fill kernel");
    }
    TENSOROPS_RETURN_IF_ERROR(
        request.Download(device, output.byte_size(), output.mutable_data()));
    TENSOROPS_RETURN_IF_ERROR(request.Finish());
    return output;
  }

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
