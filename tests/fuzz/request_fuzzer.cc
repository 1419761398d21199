// libFuzzer target: what the server does with a request's bytes. Each input
// is parsed as a tensorops.v1 request, validated with the same sequence of
// codec, op-plan and limit checks as server/tensor_ops_service.cc
// (PrepareFill, PrepareTopK, PrepareBackward, with the server's default
// flags; the gRPC service itself is not linked), and
// when valid and small, run on a CpuBackend and checked against a reference
// computed here. Any broken invariant aborts, which libFuzzer reports as a
// crash with the input that caused it.
//
// Input layout: byte 0 picks the request (modulo 5), the rest is the
// serialized message:
//   0 ZerosLikeRequest, 1 OnesLikeRequest, 2 TopKRequest,
//   3 BackwardRequest (stateless; one with a session_id stops where the
//     server would look the session up),
//   4 a TopK saved for backward followed by a Backward on that session:
//     bytes 1-2 are the TopKRequest's length (little-endian), then the
//     TopKRequest, then the BackwardRequest.
// tests/fuzz/make_corpus.py writes seeds in this layout.
//
// For ZerosLike-, OnesLike- and TopKRequests it also checks the server's
// copy-free parsing (proto/lifted_field.h) against protobuf: the message is
// split into chunks (their size from byte 0), input.data lifted out, and the
// rest parsed must equal the whole message parsed; for a valid TopK, the
// backend's TopK on the lifted chunks must equal TopK on the whole data.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/backend.h"
#include "core/buffer_pool.h"
#include "core/cpu/cpu_backend.h"
#include "core/dtype.h"
#include "core/op_plans.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "proto/lifted_field.h"
#include "proto/tensor_codec.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::fuzz {
namespace {

namespace v1 = ::tensorops::v1;
using server::DataPolicy;

// The server's defaults of --max_message_bytes (600 MiB) and
// --max_tensor_elements.
constexpr int64_t kMaxMessageBytes = int64_t{600} << 20;
constexpr int64_t kMaxTensorElements = int64_t{1} << 28;
// Larger outputs are validated but not computed, to keep executions fast.
constexpr int64_t kMaxElements = int64_t{1} << 20;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "request_fuzzer: invariant broken: %s\n", what.c_str());
  std::abort();
}

void Check(bool ok, const std::string& what) {
  if (!ok) Fail(what);
}

// Validation may only refuse with the codes the service documents for it.
void CheckValidationError(const absl::Status& status) {
  Check(!status.ok(), "CheckValidationError on OK");
  Check(status.code() == absl::StatusCode::kInvalidArgument ||
            status.code() == absl::StatusCode::kResourceExhausted,
        absl::StrCat("validation failed with an unexpected code: ",
                     status.ToString()));
  Check(!status.message().empty(), "validation error without a message");
}

// TensorOpsService::CheckResponseFits with the default message limit.
absl::Status CheckResponseFits(int64_t data_bytes, size_t total_rank,
                               int tensors) {
  const int64_t overhead =
      static_cast<int64_t>(total_rank) * 10 + int64_t{64} * (tensors + 1);
  if (data_bytes <= kMaxMessageBytes - overhead) return absl::OkStatus();
  return absl::ResourceExhaustedError("response too large");
}

// TensorOpsService::CheckElementLimit with the default limit.
absl::Status CheckElementLimit(ShapeView shape) {
  absl::StatusOr<int64_t> count = NumElements(shape);
  if (count.ok() && *count <= kMaxTensorElements) return absl::OkStatus();
  return absl::ResourceExhaustedError("too many elements");
}

Backend& TheBackend() {
  // One thread: no oneTBB workers, and every execution is deterministic.
  static CpuBackend* const backend = new CpuBackend({.num_threads = 1});
  return *backend;
}

// Product of dims [begin, end), computed here rather than by the code under
// test. Only called on shapes with between 1 and kMaxElements elements, whose
// partial products cannot overflow.
int64_t Product(ShapeView shape, size_t begin, size_t end) {
  int64_t product = 1;
  for (size_t d = begin; d < end; ++d) product *= shape[d];
  return product;
}

bool SameBytes(const Tensor& tensor, int64_t i, const Tensor& other,
               int64_t j) {
  const size_t size = DTypeSize(tensor.dtype());
  return std::memcmp(tensor.data() + i * size, other.data() + j * size, size) ==
         0;
}

// --- ZerosLike / OnesLike -------------------------------------------------

// The little-endian bytes of 1 in `dtype`, written out independently of the
// fill kernel.
std::vector<uint8_t> OneBytes(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return {0x00, 0x00, 0x80, 0x3f};
    case DType::kFloat64:
      return {0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
    case DType::kFloat16:
      return {0x00, 0x3c};
    case DType::kBFloat16:
      return {0x80, 0x3f};
    case DType::kInt16:
      return {1, 0};
    case DType::kInt32:
      return {1, 0, 0, 0};
    case DType::kInt64:
      return {1, 0, 0, 0, 0, 0, 0, 0};
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kBool:
      return {1};
  }
  Fail("unknown dtype");
}

void FuzzFill(const v1::Tensor* input, int dtype, bool ones) {
  // TensorOpsService::PrepareFill.
  if (input == nullptr) return;
  absl::StatusOr<server::TensorSpec> spec =
      server::SpecFromProto(*input, "input", DataPolicy::kOptional);
  if (!spec.ok()) return CheckValidationError(spec.status());
  DType output_dtype = spec->dtype;
  if (dtype != v1::DTYPE_UNSPECIFIED) {
    absl::StatusOr<DType> requested = server::DTypeFromProto(dtype, "dtype");
    if (!requested.ok()) return CheckValidationError(requested.status());
    output_dtype = *requested;
  }
  absl::StatusOr<int64_t> output_bytes = ByteSize(output_dtype, spec->shape);
  if (!output_bytes.ok()) return CheckValidationError(output_bytes.status());
  if (!CheckResponseFits(*output_bytes, spec->shape.size(), 1).ok() ||
      !CheckElementLimit(spec->shape).ok()) {
    return;
  }

  const int64_t count = *output_bytes / DTypeSize(output_dtype);
  if (count > kMaxElements) return;
  absl::StatusOr<Tensor> result =
      ones ? TheBackend().Ones(output_dtype, spec->shape)
           : TheBackend().Zeros(output_dtype, spec->shape);
  Check(result.ok(),
        absl::StrCat("a validated fill failed: ", result.status().ToString()));
  Check(result->dtype() == output_dtype, "fill dtype");
  Check(result->shape() == spec->shape, "fill shape");
  Check(result->num_elements() == count, "fill element count");
  const std::vector<uint8_t> one = OneBytes(output_dtype);
  const size_t size = DTypeSize(output_dtype);
  Check(one.size() == size, "DTypeSize disagrees with the dtype");
  for (int64_t i = 0; i < count; ++i) {
    const auto* element =
        reinterpret_cast<const uint8_t*>(result->data() + i * size);
    for (size_t b = 0; b < size; ++b) {
      Check(element[b] == (ones ? one[b] : 0),
            absl::StrCat("fill element ", i, " byte ", b));
    }
  }
}

// --- TopK -----------------------------------------------------------------

// An element of a topk input seen as a number: floats widened to double
// (exactly, for every dtype here), integers as int64.
struct Number {
  bool is_float;
  bool nan;
  double f;
  int64_t i;
};

float HalfToFloat(uint16_t h) {
  const int sign = h >> 15;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  float value;
  if (exponent == 0) {
    value = std::ldexp(static_cast<float>(mantissa), -24);
  } else if (exponent == 31) {
    value = mantissa == 0 ? INFINITY : NAN;
  } else {
    value = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  }
  return sign ? -value : value;
}

Number Read(const Tensor& t, int64_t i) {
  Number n{
      .is_float = IsFloatingPoint(t.dtype()), .nan = false, .f = 0, .i = 0};
  switch (t.dtype()) {
    case DType::kFloat32:
      n.f = t.Load<float>(i);
      break;
    case DType::kFloat64:
      n.f = t.Load<double>(i);
      break;
    case DType::kFloat16:
      n.f = HalfToFloat(t.Load<uint16_t>(i));
      break;
    case DType::kBFloat16: {
      const uint32_t bits = uint32_t{t.Load<uint16_t>(i)} << 16;
      float value;
      std::memcpy(&value, &bits, sizeof(value));
      n.f = value;
      break;
    }
    case DType::kInt8:
      n.i = t.Load<int8_t>(i);
      break;
    case DType::kInt16:
      n.i = t.Load<int16_t>(i);
      break;
    case DType::kInt32:
      n.i = t.Load<int32_t>(i);
      break;
    case DType::kInt64:
      n.i = t.Load<int64_t>(i);
      break;
    case DType::kUInt8:
      n.i = t.Load<uint8_t>(i);
      break;
    case DType::kBool:
      Fail("bool topk passed validation");
  }
  n.nan = n.is_float && std::isnan(n.f);
  return n;
}

// -1, 0 or 1 as a is below, equal to or above b in topk's order for
// largest=true: NaN above everything (NaNs equal), -0.0 equal to +0.0.
int Compare(const Number& a, const Number& b) {
  if (a.is_float) {
    if (a.nan || b.nan) return a.nan == b.nan ? 0 : (a.nan ? 1 : -1);
    return a.f < b.f ? -1 : (a.f > b.f ? 1 : 0);
  }
  return a.i < b.i ? -1 : (a.i > b.i ? 1 : 0);
}

// Checks a TopK result against the definition: per slice, k distinct
// indices in range, values equal to the input there bit for bit, ordered
// best-first (sorted) or by index (unsorted), and no unselected element
// ranking before the worst selected one. Ties rank by lower index first.
void CheckTopK(const Tensor& input, const TopKOptions& options,
               const Shape& output_shape, const TopKResult& result) {
  Check(result.values.dtype() == input.dtype(), "topk values dtype");
  Check(result.indices.dtype() == DType::kInt64, "topk indices dtype");
  Check(result.values.shape() == output_shape, "topk values shape");
  Check(result.indices.shape() == output_shape, "topk indices shape");
  if (result.values.num_elements() == 0) return;

  const ShapeView shape = input.shape();
  const int64_t rank = input.rank();
  const size_t dim =
      rank == 0 ? 0
                : static_cast<size_t>(options.dim < 0 ? options.dim + rank
                                                      : options.dim);
  const int64_t outer = rank == 0 ? 1 : Product(shape, 0, dim);
  const int64_t size = rank == 0 ? 1 : shape[dim];
  const int64_t inner = rank == 0 ? 1 : Product(shape, dim + 1, shape.size());
  const int64_t k = rank == 0 ? 1 : options.k;
  Check(result.values.num_elements() == outer * k * inner,
        "topk output element count");

  std::vector<char> selected(size);
  std::vector<int64_t> picks(k);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t s) { return (o * size + s) * inner + i; };
      // a ranks strictly before b.
      auto before = [&](int64_t a, int64_t b) {
        int c = Compare(Read(input, at(a)), Read(input, at(b)));
        if (!options.largest) c = -c;
        return c > 0 || (c == 0 && a < b);
      };
      std::fill(selected.begin(), selected.end(), 0);
      for (int64_t j = 0; j < k; ++j) {
        const int64_t out = (o * k + j) * inner + i;
        const int64_t s = result.indices.Load<int64_t>(out);
        Check(s >= 0 && s < size,
              absl::StrCat("topk index ", s, " out of [0, ", size, ")"));
        Check(!selected[s], absl::StrCat("topk index ", s, " repeated"));
        selected[s] = 1;
        Check(SameBytes(result.values, out, input, at(s)),
              "topk value differs from the input at its index");
        picks[j] = s;
      }
      int64_t worst = picks[0];
      for (int64_t j = 1; j < k; ++j) {
        const bool in_order = options.sorted ? before(picks[j - 1], picks[j])
                                             : picks[j - 1] < picks[j];
        Check(in_order, absl::StrCat("topk slice out of order at ", j));
        if (before(worst, picks[j])) worst = picks[j];
      }
      for (int64_t s = 0; s < size; ++s) {
        Check(selected[s] || before(worst, s),
              absl::StrCat("topk left out element ", s,
                           ", which ranks before a selected one"));
      }
    }
  }
}

struct ValidTopK {
  Tensor input;
  TopKOptions options;
  TopKPlan plan;
};

// TensorOpsService::PrepareTopK up to the session cache's size check (there
// is no cache here); an error when the server would refuse the request.
absl::StatusOr<ValidTopK> ValidateTopK(const v1::TopKRequest& request) {
  if (!request.has_input()) return absl::InvalidArgumentError("no input");
  ValidTopK valid;
  absl::StatusOr<Tensor> input =
      server::ViewFromProto(request.input(), "input");
  if (!input.ok()) return input.status();
  valid.input = *std::move(input);
  if (absl::Status limit = CheckElementLimit(valid.input.shape());
      !limit.ok()) {
    return limit;
  }
  valid.options.k = request.k();
  valid.options.dim = request.has_dim() ? request.dim() : -1;
  valid.options.largest = request.has_largest() ? request.largest() : true;
  valid.options.sorted = request.has_sorted() ? request.sorted() : true;
  absl::StatusOr<TopKPlan> plan =
      PlanTopK(valid.input.dtype(), valid.input.shape(), valid.options);
  if (!plan.ok()) return plan.status();
  valid.plan = *std::move(plan);
  absl::StatusOr<int64_t> count = NumElements(valid.plan.output_shape);
  if (!count.ok()) return count.status();
  Check(*count <= valid.input.num_elements(),
        "topk output larger than its input");
  const int64_t values_bytes =
      *count * static_cast<int64_t>(DTypeSize(valid.input.dtype()));
  const int64_t indices_bytes = *count * int64_t{8};
  if (absl::Status fits = CheckResponseFits(
          values_bytes + indices_bytes, 2 * valid.plan.output_shape.size(), 2);
      !fits.ok()) {
    return fits;
  }
  // The service wraps the dim for the session without checking again.
  Check(WrapDim(valid.options.dim, valid.input.rank()).ok(),
        "WrapDim refused a dim PlanTopK accepted");
  return valid;
}

// Runs a validated TopK and checks it; the result, or an error if it was
// too large to run.
absl::StatusOr<TopKResult> RunTopK(const ValidTopK& valid) {
  if (valid.input.num_elements() > kMaxElements) {
    return absl::ResourceExhaustedError("skipped: too large to run here");
  }
  absl::StatusOr<TopKResult> result =
      TheBackend().TopK(valid.input, valid.options);
  Check(result.ok(),
        absl::StrCat("a validated topk failed: ", result.status().ToString()));
  CheckTopK(valid.input, valid.options, valid.plan.output_shape, *result);
  return result;
}

void FuzzTopK(const v1::TopKRequest& request) {
  absl::StatusOr<ValidTopK> valid = ValidateTopK(request);
  if (!valid.ok()) return CheckValidationError(valid.status());
  RunTopK(*valid).IgnoreError();
}

// --- Lifting ----------------------------------------------------------------

// TopK on the lifted chunks equals TopK on the whole message's data.
void CheckChunkedTopK(const v1::TopKRequest& whole, const v1::TopKRequest& rest,
                      const ChunkedBytes& data) {
  absl::StatusOr<ValidTopK> valid = ValidateTopK(whole);
  if (!valid.ok() || valid->input.num_elements() > kMaxElements) return;
  absl::StatusOr<ChunkedTensor> chunked =
      server::ChunkedViewFromProto(rest.input(), data, "input");
  Check(chunked.ok(), "the lifted data does not make the validated tensor: " +
                          chunked.status().ToString());
  absl::StatusOr<TopKResult> want =
      TheBackend().TopK(valid->input, valid->options);
  absl::StatusOr<TopKResult> got =
      TheBackend().TopKOfChunks(*chunked, valid->options);
  Check(want.ok() == got.ok(), "TopKOfChunks and TopK disagree on success");
  if (!want.ok()) return;
  Check(
      std::equal(want->values.bytes().begin(), want->values.bytes().end(),
                 got->values.bytes().begin(), got->values.bytes().end()) &&
          std::equal(want->indices.bytes().begin(), want->indices.bytes().end(),
                     got->indices.bytes().begin(), got->indices.bytes().end()),
      "TopK of the lifted chunks differs from TopK of the whole data");
}

template <typename Request>
void CheckLifting(const uint8_t* message, int length, size_t chunk_bytes) {
  std::vector<absl::Span<const std::byte>> chunks;
  const auto* bytes = reinterpret_cast<const std::byte*>(message);
  for (size_t at = 0; at < static_cast<size_t>(length); at += chunk_bytes) {
    chunks.emplace_back(
        bytes + at, std::min(chunk_bytes, static_cast<size_t>(length) - at));
  }
  std::optional<server::LiftedMessage> lifted = server::LiftBytesField(
      ChunkedBytes(std::move(chunks)), server::kInputDataPath);
  if (!lifted.has_value()) return;  // the server parses it whole
  Request whole;
  Request rest;
  const bool whole_ok = whole.ParseFromArray(message, length);
  Check(rest.ParseFromString(lifted->rest) == whole_ok,
        "the lifted rest parses differently from the whole message");
  if (!whole_ok) return;
  Check(rest.input().data().empty(), "input.data left in the lifted rest");
  Request merged = rest;
  if (lifted->field.has_value()) {
    std::string data(lifted->field->size(), '\0');
    lifted->field->CopyTo(0, data.size(),
                          reinterpret_cast<std::byte*>(data.data()));
    merged.mutable_input()->set_data(std::move(data));
  }
  Check(google::protobuf::util::MessageDifferencer::Equals(merged, whole),
        "the lifted message differs from the whole message");
  if constexpr (std::is_same_v<Request, v1::TopKRequest>) {
    if (lifted->field.has_value())
      CheckChunkedTopK(whole, rest, *lifted->field);
  }
}

// --- Backward -------------------------------------------------------------

// Runs a validated backward and compares it with
// zeros(input_shape).scatter(dim, indices, grad), computed here (the last
// write in memory order wins). The backend must fail, with
// INVALID_ARGUMENT, exactly when an index is out of range.
void RunBackward(const Tensor& grad, const Tensor& indices,
                 const Shape& input_shape, int64_t dim,
                 bool indices_known_good) {
  // Validated, so this fits int64 (0 when a dimension is 0, however large
  // the others are).
  const int64_t count = *NumElements(input_shape);
  if (count > kMaxElements) return;
  absl::StatusOr<Tensor> result =
      TheBackend().TopKBackward(grad, indices, input_shape, dim);
  if (count == 0) {
    Check(result.ok(), absl::StrCat("an empty backward failed: ",
                                    result.status().ToString()));
    Check(result->shape() == input_shape, "empty backward shape");
    return;
  }

  const size_t rank = input_shape.size();
  const size_t d =
      rank == 0 ? 0 : static_cast<size_t>(dim < 0 ? dim + rank : dim);
  const int64_t outer = rank == 0 ? 1 : Product(input_shape, 0, d);
  const int64_t size = rank == 0 ? 1 : input_shape[d];
  const int64_t inner = rank == 0 ? 1 : Product(input_shape, d + 1, rank);
  const int64_t k = rank == 0 ? 1 : grad.shape()[d];
  const size_t element = DTypeSize(grad.dtype());
  std::vector<std::byte> expected(count * element);
  bool in_range = true;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < k; ++j) {
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t position = (o * k + j) * inner + i;
        const int64_t index = indices.Load<int64_t>(position);
        if (index < 0 || index >= size) {
          in_range = false;
          continue;
        }
        std::memcpy(
            expected.data() + ((o * size + index) * inner + i) * element,
            grad.data() + position * element, element);
      }
    }
  }
  if (indices_known_good) Check(in_range, "topk returned bad indices");
  if (!in_range) {
    Check(!result.ok() &&
              result.status().code() == absl::StatusCode::kInvalidArgument,
          absl::StrCat("backward with an out-of-range index returned ",
                       result.status().ToString()));
    return;
  }
  Check(result.ok(), absl::StrCat("a validated backward failed: ",
                                  result.status().ToString()));
  Check(result->dtype() == grad.dtype(), "backward dtype");
  Check(result->shape() == input_shape, "backward shape is not input_shape");
  Check(result->num_elements() == count, "backward element count");
  Check(expected.empty() ||
            std::memcmp(result->data(), expected.data(), expected.size()) == 0,
        "backward differs from the reference scatter");
}

// The part of TensorOpsService::PrepareBackward after the scatter's inputs
// are known. False (after checking the error) when the server would refuse.
bool ValidateBackwardPlan(const Tensor& grad, const Tensor& indices,
                          const Shape& input_shape, int64_t dim) {
  absl::StatusOr<TopKBackwardPlan> plan =
      PlanTopKBackward(grad.dtype(), grad.shape(), indices.dtype(),
                       indices.shape(), input_shape, dim);
  if (!plan.ok()) {
    CheckValidationError(plan.status());
    return false;
  }
  Check(plan->output_shape == input_shape, "backward plan output shape");
  // The service dereferences this without checking: the plan must have.
  absl::StatusOr<int64_t> output_bytes = ByteSize(grad.dtype(), input_shape);
  Check(output_bytes.ok(), "backward plan accepted an overflowing shape");
  return CheckResponseFits(*output_bytes, input_shape.size(), 1).ok();
}

void FuzzBackward(const v1::BackwardRequest& request) {
  if (!request.has_grad_values()) return;
  absl::StatusOr<Tensor> grad =
      server::ViewFromProto(request.grad_values(), "grad_values");
  if (!grad.ok()) return CheckValidationError(grad.status());
  if (!CheckElementLimit(grad->shape()).ok()) return;
  if (!request.session_id().empty()) return;  // needs the session cache
  if (!request.has_indices()) return;
  absl::StatusOr<Tensor> indices =
      server::ViewFromProto(request.indices(), "indices");
  if (!indices.ok()) return CheckValidationError(indices.status());
  if (!CheckElementLimit(indices->shape()).ok()) return;
  absl::StatusOr<Shape> input_shape =
      server::ShapeFromProto(request.input_shape(), "input_shape");
  if (!input_shape.ok()) return CheckValidationError(input_shape.status());
  const int64_t dim = request.has_dim() ? request.dim() : -1;
  if (!ValidateBackwardPlan(*grad, *indices, *input_shape, dim)) return;
  RunBackward(*grad, *indices, *input_shape, dim,
              /*indices_known_good=*/false);
}

// TopK(save_for_backward) then Backward(session_id): the session holds the
// TopK's indices, input shape and wrapped dim, as SessionCache does.
void FuzzSession(const v1::TopKRequest& topk,
                 const v1::BackwardRequest& backward) {
  absl::StatusOr<ValidTopK> valid = ValidateTopK(topk);
  if (!valid.ok()) return CheckValidationError(valid.status());
  const int64_t wrapped_dim =
      *WrapDim(valid->options.dim, valid->input.rank());  // checked
  absl::StatusOr<TopKResult> result = RunTopK(*valid);
  if (!result.ok()) return;

  if (!backward.has_grad_values()) return;
  absl::StatusOr<Tensor> grad =
      server::ViewFromProto(backward.grad_values(), "grad_values");
  if (!grad.ok()) return CheckValidationError(grad.status());
  if (!CheckElementLimit(grad->shape()).ok()) return;
  if (backward.has_indices() || backward.input_shape_size() > 0 ||
      backward.has_dim()) {
    return;  // refused: the session holds these
  }
  const Shape input_shape = valid->input.shape();
  if (!ValidateBackwardPlan(*grad, result->indices, input_shape, wrapped_dim)) {
    return;
  }
  RunBackward(*grad, result->indices, input_shape, wrapped_dim,
              /*indices_known_good=*/true);
}

int FuzzOne(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t kind = data[0] % 5;
  const uint8_t* message = data + 1;
  const int length = static_cast<int>(size - 1);
  const size_t chunk_bytes = 1 + data[0] / 5;
  switch (kind) {
    case 0:
      CheckLifting<v1::ZerosLikeRequest>(message, length, chunk_bytes);
      break;
    case 1:
      CheckLifting<v1::OnesLikeRequest>(message, length, chunk_bytes);
      break;
    case 2:
      CheckLifting<v1::TopKRequest>(message, length, chunk_bytes);
      break;
    default:
      break;
  }
  switch (kind) {
    case 0:
    case 1: {
      v1::ZerosLikeRequest zeros;
      v1::OnesLikeRequest ones;
      const bool parsed = kind == 0 ? zeros.ParseFromArray(message, length)
                                    : ones.ParseFromArray(message, length);
      if (!parsed) return 0;
      if (kind == 0) {
        FuzzFill(zeros.has_input() ? &zeros.input() : nullptr, zeros.dtype(),
                 /*ones=*/false);
      } else {
        FuzzFill(ones.has_input() ? &ones.input() : nullptr, ones.dtype(),
                 /*ones=*/true);
      }
      return 0;
    }
    case 2: {
      v1::TopKRequest request;
      if (request.ParseFromArray(message, length)) FuzzTopK(request);
      return 0;
    }
    case 3: {
      v1::BackwardRequest request;
      if (request.ParseFromArray(message, length)) FuzzBackward(request);
      return 0;
    }
    default: {
      if (length < 2) return 0;
      const int topk_length = message[0] | (message[1] << 8);
      if (topk_length > length - 2) return 0;
      v1::TopKRequest topk;
      v1::BackwardRequest backward;
      if (!topk.ParseFromArray(message + 2, topk_length) ||
          !backward.ParseFromArray(message + 2 + topk_length,
                                   length - 2 - topk_length)) {
        return 0;
      }
      FuzzSession(topk, backward);
      return 0;
    }
  }
}

}  // namespace
}  // namespace tensorops::fuzz

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Strings with invalid UTF-8 (session_id) make protobuf log an error per
  // parse; that is expected here and would flood the output.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int result = tensorops::fuzz::FuzzOne(data, size);
  // Hand pooled blocks back to ASan's allocator: a later use of a tensor's
  // memory after its release is then reported, and the pool does not hold
  // up to 1 GiB across runs.
  tensorops::BufferPool::Default().Trim();
  return result;
}
