#include "core/op_plans.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace tensorops {

namespace {

// Product of shape[begin, end): 0 if any of them is 0, else saturated at
// INT64_MAX. NumElements accepts a shape with a zero dimension whose other
// dimensions multiply past int64 (e.g. [2^62, 2^62, 0]); multiplying those
// plainly is undefined behaviour. Only such a tensor, which has no elements
// and is never indexed, can saturate.
int64_t ProductOf(ShapeView shape, size_t begin, size_t end) {
  int64_t product = 1;
  bool saturated = false;
  for (size_t d = begin; d < end; ++d) {
    if (shape[d] == 0) return 0;
    saturated =
        saturated || __builtin_mul_overflow(product, shape[d], &product);
  }
  return saturated ? std::numeric_limits<int64_t>::max() : product;
}

}  // namespace

DimGeometry GeometryAround(ShapeView shape, int64_t dim) {
  DimGeometry geometry;
  geometry.dim = dim;
  if (shape.empty()) return geometry;
  geometry.outer = ProductOf(shape, 0, dim);
  geometry.size = shape[dim];
  geometry.inner = ProductOf(shape, dim + 1, shape.size());
  return geometry;
}

absl::StatusOr<TopKPlan> PlanTopK(DType dtype, ShapeView input_shape,
                                  const TopKOptions& options) {
  if (dtype == DType::kBool) {
    return absl::InvalidArgumentError(
        "topk is not implemented for bool tensors (as in PyTorch); expected a "
        "floating-point or integer dtype");
  }
  TENSOROPS_RETURN_IF_ERROR(ByteSize(dtype, input_shape).status());
  const int64_t rank = static_cast<int64_t>(input_shape.size());
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t dim, WrapDim(options.dim, rank));
  TopKPlan plan;
  plan.input = GeometryAround(input_shape, dim);
  if (options.k < 0 || options.k > plan.input.size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "k = ", options.k, " is out of range for dimension ", dim, " of size ",
        plan.input.size, " (input shape ", ShapeToString(input_shape),
        "); expected 0 <= k <= ", plan.input.size));
  }
  plan.output_shape.assign(input_shape.begin(), input_shape.end());
  if (rank == 0) {
    // PyTorch returns the scalar itself for k = 0 and k = 1 alike.
    plan.k = 1;
  } else {
    plan.k = options.k;
    plan.output_shape[dim] = options.k;
  }
  return plan;
}

absl::StatusOr<TopKBackwardPlan> PlanTopKBackward(
    DType grad_dtype, ShapeView grad_shape, DType indices_dtype,
    ShapeView indices_shape, ShapeView input_shape, int64_t dim) {
  if (!IsFloatingPoint(grad_dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "grad_values has dtype ", DTypeName(grad_dtype),
        "; expected a floating-point dtype (float32, float64, float16 or "
        "bfloat16)"));
  }
  if (indices_dtype != DType::kInt64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "indices has dtype ", DTypeName(indices_dtype), "; expected int64"));
  }
  if (grad_shape != indices_shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("grad_values has shape ", ShapeToString(grad_shape),
                     " but indices has shape ", ShapeToString(indices_shape),
                     "; expected equal shapes"));
  }
  TENSOROPS_RETURN_IF_ERROR(ByteSize(grad_dtype, input_shape).status());
  if (grad_shape.size() != input_shape.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("grad_values has rank ", grad_shape.size(), " (shape ",
                     ShapeToString(grad_shape), ") but input_shape ",
                     ShapeToString(input_shape), " has rank ",
                     input_shape.size(), "; expected equal ranks"));
  }
  const int64_t rank = static_cast<int64_t>(input_shape.size());
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t wrapped, WrapDim(dim, rank));
  for (int64_t d = 0; d < rank; ++d) {
    const bool ok = d == wrapped ? grad_shape[d] <= input_shape[d]
                                 : grad_shape[d] == input_shape[d];
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("grad_values shape ", ShapeToString(grad_shape),
                       " does not fit input_shape ", ShapeToString(input_shape),
                       " along dim ", wrapped,
                       ": expected equal sizes in every other "
                       "dimension and at most ",
                       rank == 0 ? 1 : input_shape[wrapped], " along dim ",
                       wrapped, " (mismatch at dimension ", d, ")"));
    }
  }
  TopKBackwardPlan plan;
  plan.output = GeometryAround(input_shape, wrapped);
  plan.k = rank == 0 ? 1 : grad_shape[wrapped];
  plan.output_shape.assign(input_shape.begin(), input_shape.end());
  return plan;
}

absl::StatusOr<Tensor> AllocateOutput(DType dtype, ShapeView shape,
                                      const OutputMemory* into) {
  Shape dims(shape.begin(), shape.end());
  if (into == nullptr) return Tensor::Allocate(dtype, std::move(dims));
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t bytes, ByteSize(dtype, dims));
  if (static_cast<int64_t>(into->bytes.size()) < bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the memory given for a ", DTypeName(dtype),
                     " result of shape ", ShapeToString(dims), " has ",
                     into->bytes.size(), " bytes; expected at least ", bytes));
  }
  return Tensor::WritableView(dtype, std::move(dims),
                              into->bytes.first(static_cast<size_t>(bytes)),
                              into->owner);
}

namespace {

// Values of `dtype` and int64 indices, both of `shape`.
absl::StatusOr<TopKResult> AllocateValuesAndIndices(DType dtype,
                                                    ShapeView shape,
                                                    TopKOutputMemory into) {
  TopKResult result;
  TENSOROPS_ASSIGN_OR_RETURN(result.values,
                             AllocateOutput(dtype, shape, into.values));
  TENSOROPS_ASSIGN_OR_RETURN(
      result.indices, AllocateOutput(DType::kInt64, shape, into.indices));
  return result;
}

}  // namespace

absl::StatusOr<TopKResult> AllocateTopKResult(DType dtype, const TopKPlan& plan,
                                              TopKOutputMemory into) {
  return AllocateValuesAndIndices(dtype, plan.output_shape, into);
}

absl::StatusOr<SelectionResult> AllocateSelectionResult(
    DType dtype, const SelectionPlan& plan, TopKOutputMemory into) {
  return AllocateValuesAndIndices(dtype, plan.output_shape, into);
}

absl::Status TopKBackwardIndexError(const Tensor& indices, int64_t position,
                                    const TopKBackwardPlan& plan) {
  return TopKBackwardIndexError(position, indices.Load<int64_t>(position),
                                plan);
}

absl::Status TopKBackwardIndexError(int64_t position, int64_t value,
                                    const TopKBackwardPlan& plan) {
  return absl::InvalidArgumentError(
      absl::StrCat("indices element ", position, " (flat, row-major) is ",
                   value, ", out of range for dimension ", plan.output.dim,
                   " of input_shape ", ShapeToString(plan.output_shape),
                   "; expected 0 <= index < ", plan.output.size));
}

absl::Status CheckTopKBackwardIndices(const Tensor& indices,
                                      const TopKBackwardPlan& plan) {
  const uint64_t size = static_cast<uint64_t>(plan.output.size);
  for (int64_t i = 0; i < indices.num_elements(); ++i) {
    // Negative values wrap to huge ones: one comparison checks both ends.
    if (static_cast<uint64_t>(indices.Load<int64_t>(i)) >= size) {
      return TopKBackwardIndexError(indices, i, plan);
    }
  }
  return absl::OkStatus();
}

uint64_t OneBits(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return 0x3f800000u;
    case DType::kFloat64:
      return 0x3ff0000000000000ull;
    case DType::kFloat16:
      return 0x3c00u;
    case DType::kBFloat16:
      return 0x3f80u;
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kUInt8:
    case DType::kBool:
      return 1;
  }
  return 1;
}

}  // namespace tensorops
