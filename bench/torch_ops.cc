#include "bench/torch_ops.h"

#include <cstring>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace tensorops::bench {

absl::StatusOr<at::Tensor> ToTorch(const Tensor& tensor) {
  at::ScalarType scalar_type;
  switch (tensor.dtype()) {
    case DType::kFloat32:
      scalar_type = at::kFloat;
      break;
    case DType::kInt64:
      scalar_type = at::kLong;
      break;
    case DType::kBFloat16:
      scalar_type = at::kBFloat16;
      break;
    case DType::kFloat16:
      scalar_type = at::kHalf;
      break;
    case DType::kInt32:
      scalar_type = at::kInt;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "no libtorch copy for dtype ", DTypeName(tensor.dtype())));
  }
  at::Tensor copy = at::empty(tensor.shape(), at::TensorOptions(scalar_type));
  if (tensor.byte_size() > 0) {
    std::memcpy(copy.data_ptr(), tensor.data(), tensor.byte_size());
  }
  return copy;
}

absl::StatusOr<TorchInputs> ToTorchInputs(const BenchCase& bench_case,
                                          const CaseInputs& inputs) {
  TorchInputs torch_inputs;
  switch (bench_case.op) {
    case BenchOp::kTopK:
    case BenchOp::kSelect: {
      TENSOROPS_ASSIGN_OR_RETURN(torch_inputs.input, ToTorch(inputs.input));
      break;
    }
    case BenchOp::kTopKBackward: {
      // The backward never reads topk's input, only its shape.
      TENSOROPS_ASSIGN_OR_RETURN(torch_inputs.grad_values,
                                 ToTorch(inputs.grad_values));
      TENSOROPS_ASSIGN_OR_RETURN(torch_inputs.indices, ToTorch(inputs.indices));
      break;
    }
    case BenchOp::kZerosLike:
    case BenchOp::kOnesLike:
      torch_inputs.input = at::empty(bench_case.shape, at::kFloat);
      break;
  }
  return torch_inputs;
}

namespace {

// The values of libtorch's op for `options` (the call users make: sort
// without stable, which libtorch's CPU sort is anyway).
at::Tensor RunTorchSelection(const SelectionOptions& options,
                             const at::Tensor& input) {
  switch (options.kind) {
    case SelectionKind::kSort:
      return std::get<0>(at::sort(input, options.dim, options.descending));
    case SelectionKind::kKthValue:
      return std::get<0>(
          at::kthvalue(input, options.k, options.dim, options.keepdim));
    case SelectionKind::kMax:
      return std::get<0>(at::max(input, options.dim, options.keepdim));
    case SelectionKind::kMin:
      return std::get<0>(at::min(input, options.dim, options.keepdim));
    case SelectionKind::kMedian:
      return std::get<0>(at::median(input, options.dim, options.keepdim));
  }
  TORCH_CHECK(false, "unknown selection kind");
}

}  // namespace

absl::StatusOr<at::Tensor> RunTorch(const BenchCase& bench_case,
                                    const TorchInputs& inputs) {
  try {
    switch (bench_case.op) {
      case BenchOp::kTopK:
        // libtorch 1.13 has no CPU topk for float16: its users go through
        // float32 and back (exact both ways), which is timed here.
        if (inputs.input.scalar_type() == at::kHalf) {
          return std::get<0>(at::topk(inputs.input.to(at::kFloat), bench_case.k,
                                      bench_case.dim))
              .to(at::kHalf);
        }
        return std::get<0>(
            at::topk(inputs.input, bench_case.k, bench_case.dim));
      case BenchOp::kTopKBackward:
        return at::zeros(bench_case.shape, inputs.grad_values.options())
            .scatter_(bench_case.dim, inputs.indices, inputs.grad_values);
      case BenchOp::kZerosLike:
        return at::zeros_like(inputs.input);
      case BenchOp::kOnesLike:
        return at::ones_like(inputs.input);
      case BenchOp::kSelect:
        return RunTorchSelection(bench_case.selection, inputs.input);
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("libtorch: ", e.what_without_backtrace()));
  }
  return absl::InternalError("unknown benchmark op");
}

absl::Status CompareWithTorch(const Tensor& ours, const at::Tensor& theirs) {
  const at::Tensor contiguous = theirs.contiguous();
  if (contiguous.sizes() != at::IntArrayRef(ours.shape()) ||
      contiguous.element_size() !=
          static_cast<int64_t>(DTypeSize(ours.dtype()))) {
    return absl::InternalError(
        absl::StrCat("ours and libtorch disagree: ours is ",
                     DTypeName(ours.dtype()), " ", ShapeToString(ours.shape()),
                     ", libtorch's ", c10::toString(contiguous.scalar_type()),
                     " ", ShapeToString(contiguous.sizes().vec())));
  }
  const size_t element_size = DTypeSize(ours.dtype());
  const auto* theirs_bytes =
      static_cast<const std::byte*>(contiguous.data_ptr());
  int64_t differing = 0;
  int64_t first = -1;
  for (int64_t i = 0; i < ours.num_elements(); ++i) {
    if (std::memcmp(ours.data() + i * element_size,
                    theirs_bytes + i * element_size, element_size) != 0) {
      if (differing++ == 0) first = i;
    }
  }
  if (differing == 0) return absl::OkStatus();
  std::string ours_value, theirs_value;
  if (ours.dtype() == DType::kFloat32) {
    ours_value = absl::StrCat(ours.Load<float>(first));
    theirs_value = absl::StrCat(contiguous.data_ptr<float>()[first]);
  } else if (ours.dtype() == DType::kInt64) {
    ours_value = absl::StrCat(ours.Load<int64_t>(first));
    theirs_value = absl::StrCat(contiguous.data_ptr<int64_t>()[first]);
  }
  return absl::InternalError(
      absl::StrCat(differing, " of ", ours.num_elements(),
                   " output elements differ; first at flat index ", first,
                   ": ours ", ours_value, ", libtorch ", theirs_value));
}

}  // namespace tensorops::bench
