// libFuzzer target: what the server does with a request's bytes. Each input
// is parsed as a tensorops.v1 request and validated by the server's own
// request layer (request/: the same functions, with the server's default
// limits, that the service calls; the gRPC service itself is not linked);
// when valid and small, it is run on a CpuBackend and checked against a
// reference computed here. Any broken invariant aborts, which libFuzzer
// reports as a crash with the input that caused it.
//
// Input layout: byte 0 names the request kind, byte 1 the chunk size for the
// lifting check below (1 + byte 1), the rest is the serialized message.
// Kinds below kFirstScenarioKind are methods of tensorops.v1.TensorOps by
// their index in the service descriptor (proto/service_methods.h; methods
// are only ever appended, so a kind keeps its meaning); kinds from
// kFirstScenarioKind up are sequences of calls:
//   kTopKThenBackward  a TopK saved for backward, then a Backward on that
//     session: bytes 2-3 are the TopKRequest's length (little-endian), then
//     the TopKRequest, then the BackwardRequest.
// Other kinds are ignored. tests/fuzz/make_corpus.py writes seeds in this
// layout.
//
// For the requests whose input.data the server lifts (ZerosLike, OnesLike,
// TopK) it also checks the server's copy-free parsing
// (proto/lifted_field.h) against protobuf: the message is split into
// chunks, input.data lifted out, and the rest parsed must equal the whole
// message parsed; for TopK, the request layer must accept the lifted form
// exactly when it accepts the whole one, and the backend's TopK on the
// lifted chunks must equal TopK on the whole data.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
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
#include "proto/service_methods.h"
#include "proto/tensor_codec.h"
#include "request/backward_request.h"
#include "request/fill_request.h"
#include "request/limits.h"
#include "request/saved_selection.h"
#include "request/selection_request.h"
#include "request/session_request.h"
#include "request/shared_memory_request.h"
#include "request/stream_request.h"
#include "request/topk_request.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::fuzz {
namespace {

namespace v1 = ::tensorops::v1;

// The server's default limits.
const request::RequestLimits kLimits;
// The first kind byte that names a sequence of calls rather than a method.
constexpr int kFirstScenarioKind = 128;
constexpr int kTopKThenBackward = kFirstScenarioKind;
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

// `request` is a ZerosLikeRequest or OnesLikeRequest.
template <typename Request>
void FuzzFill(const Request& request, bool ones) {
  absl::StatusOr<request::FillPlan> plan;
  if constexpr (std::is_same_v<Request, v1::OnesLikeRequest>) {
    plan = request::PlanOnesLike(request, std::nullopt, kLimits);
  } else {
    plan = request::PlanZerosLike(request, std::nullopt, kLimits);
  }
  if (!plan.ok()) return CheckValidationError(plan.status());
  // What the plan says, against the request read here.
  Check(request.has_input(), "a fill without input validated");
  const int wire_dtype = request.dtype() != v1::DTYPE_UNSPECIFIED
                             ? request.dtype()
                             : request.input().dtype();
  Check(wire::DTypeToProto(plan->dtype) == wire_dtype, "fill plan dtype");
  Check(std::equal(plan->shape.begin(), plan->shape.end(),
                   request.input().shape().begin(),
                   request.input().shape().end()),
        "fill plan shape differs from the input's");
  Check(plan->ones == ones, "fill plan value");
  const DType output_dtype = plan->dtype;
  const size_t size = DTypeSize(output_dtype);
  absl::StatusOr<int64_t> count = NumElements(plan->shape);
  Check(count.ok() && plan->output_bytes == *count * static_cast<int64_t>(size),
        "fill plan byte count");
  Check(plan->response_bytes >=
                request::ResultWireBytes(plan->output_bytes,
                                         request.has_output_shared_memory()) &&
            plan->response_bytes <= kLimits.max_message_bytes,
        "fill response bound");
  if (*count > kMaxElements) return;
  absl::StatusOr<Tensor> result =
      ones ? TheBackend().Ones(output_dtype, plan->shape)
           : TheBackend().Zeros(output_dtype, plan->shape);
  Check(result.ok(),
        absl::StrCat("a validated fill failed: ", result.status().ToString()));
  Check(result->dtype() == output_dtype, "fill dtype");
  Check(result->shape() == plan->shape, "fill shape");
  Check(result->num_elements() == *count, "fill element count");
  const std::vector<uint8_t> one = OneBytes(output_dtype);
  Check(one.size() == size, "DTypeSize disagrees with the dtype");
  for (int64_t i = 0; i < *count; ++i) {
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

// Runs a validated TopK and checks it; the result, or an error if it was
// too large to run here.
absl::StatusOr<TopKResult> RunTopK(const request::TopKRequestPlan& plan) {
  if (plan.input.num_elements() > kMaxElements) {
    return absl::ResourceExhaustedError("skipped: too large to run here");
  }
  absl::StatusOr<Tensor> input = plan.input.Materialize();
  Check(input.ok(), "materializing a validated input failed");
  absl::StatusOr<TopKResult> result =
      TheBackend().TopKOfChunks(plan.input, plan.call.options);
  Check(result.ok(),
        absl::StrCat("a validated topk failed: ", result.status().ToString()));
  CheckTopK(*input, plan.call.options, plan.call.plan.output_shape, *result);
  return result;
}

// The plan's sizes and options, against the request read here.
void CheckTopKPlan(const v1::TopKRequest& request,
                   const request::TopKRequestPlan& plan) {
  Check(plan.call.options.k == request.k(), "topk plan k");
  Check(plan.call.options.dim == (request.has_dim() ? request.dim() : -1),
        "topk plan dim");
  Check(plan.call.options.largest ==
            (!request.has_largest() || request.largest()),
        "topk plan largest");
  Check(plan.call.options.sorted == (!request.has_sorted() || request.sorted()),
        "topk plan sorted");
  absl::StatusOr<int64_t> count = NumElements(plan.call.plan.output_shape);
  Check(count.ok() && *count <= plan.input.num_elements(),
        "topk output larger than its input");
  Check(plan.call.values_bytes ==
            *count * static_cast<int64_t>(DTypeSize(plan.input.dtype())),
        "topk values bytes");
  Check(plan.call.indices_bytes == *count * 8, "topk indices bytes");
  Check(plan.call.response_bytes >=
                request::ResultWireBytes(plan.call.values_bytes,
                                         request.has_values_shared_memory()) +
                    request::ResultWireBytes(
                        plan.call.indices_bytes,
                        request.has_indices_shared_memory()) &&
            plan.call.response_bytes <= kLimits.max_message_bytes,
        "topk response bound");
  Check(plan.call.save_for_backward == request.save_for_backward(),
        "topk plan save_for_backward");
  if (plan.call.save_for_backward) {
    const int64_t rank = plan.input.rank();
    Check(plan.call.wrapped_dim >= 0 &&
              plan.call.wrapped_dim < std::max<int64_t>(rank, 1),
          "topk plan wrapped dim out of range");
  }
}

void FuzzTopK(const v1::TopKRequest& request) {
  absl::StatusOr<request::TopKRequestPlan> plan =
      request::PlanTopKRequest(request, std::nullopt, kLimits);
  if (!plan.ok()) return CheckValidationError(plan.status());
  CheckTopKPlan(request, *plan);
  RunTopK(*plan).IgnoreError();
}

// --- Lifting ----------------------------------------------------------------

// The request layer accepts the lifted form (the rest plus the chunks, as
// the server sees a large request) exactly when it accepts the whole
// message, with the same code, and TopK on the lifted chunks equals TopK on
// the whole data.
void CheckChunkedTopK(const v1::TopKRequest& whole, const v1::TopKRequest& rest,
                      const std::optional<ChunkedBytes>& data) {
  absl::StatusOr<request::TopKRequestPlan> want =
      request::PlanTopKRequest(whole, std::nullopt, kLimits);
  absl::StatusOr<request::TopKRequestPlan> got =
      request::PlanTopKRequest(rest, data, kLimits);
  Check(
      want.status().code() == got.status().code(),
      absl::StrCat("the lifted request validates differently: ",
                   want.status().ToString(), " vs ", got.status().ToString()));
  if (!want.ok() || want->input.num_elements() > kMaxElements) return;
  absl::StatusOr<TopKResult> want_result =
      TheBackend().TopKOfChunks(want->input, want->call.options);
  absl::StatusOr<TopKResult> got_result =
      TheBackend().TopKOfChunks(got->input, got->call.options);
  Check(want_result.ok() == got_result.ok(),
        "TopK of the chunks and of the whole disagree on success");
  if (!want_result.ok()) return;
  Check(std::equal(want_result->values.bytes().begin(),
                   want_result->values.bytes().end(),
                   got_result->values.bytes().begin(),
                   got_result->values.bytes().end()) &&
            std::equal(want_result->indices.bytes().begin(),
                       want_result->indices.bytes().end(),
                       got_result->indices.bytes().begin(),
                       got_result->indices.bytes().end()),
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
  std::optional<wire::LiftedMessage> lifted = wire::LiftBytesFields(
      ChunkedBytes(std::move(chunks)), {wire::kInputDataPath});
  if (!lifted.has_value()) return;  // the server parses it whole
  Request whole;
  Request rest;
  const bool whole_ok = whole.ParseFromArray(message, length);
  Check(rest.ParseFromString(lifted->rest) == whole_ok,
        "the lifted rest parses differently from the whole message");
  if (!whole_ok) return;
  Check(rest.input().data().empty(), "input.data left in the lifted rest");
  Request merged = rest;
  if (lifted->fields[0].has_value()) {
    std::string data(lifted->fields[0]->size(), '\0');
    lifted->fields[0]->CopyTo(0, data.size(),
                              reinterpret_cast<std::byte*>(data.data()));
    merged.mutable_input()->set_data(std::move(data));
  }
  Check(google::protobuf::util::MessageDifferencer::Equals(merged, whole),
        "the lifted message differs from the whole message");
  if constexpr (std::is_same_v<Request, v1::TopKRequest>) {
    CheckChunkedTopK(whole, rest, lifted->fields[0]);
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

// Plans a Backward with the request layer, as the service does (`saved`:
// the session's state when the request names one), and runs and checks it
// when valid.
void PlanAndRunBackward(request::BackwardInputs inputs,
                        const request::SavedSelection* saved,
                        bool indices_known_good) {
  const Shape expected_shape =
      saved != nullptr ? saved->input_shape : inputs.input_shape;
  const bool to_region = inputs.grad_input_to_region;
  absl::StatusOr<request::BackwardRequestPlan> plan =
      request::PlanBackwardRequest(std::move(inputs), saved, kLimits);
  if (!plan.ok()) return CheckValidationError(plan.status());
  Check(plan->input_shape == expected_shape, "backward plan output shape");
  absl::StatusOr<int64_t> output_bytes =
      ByteSize(plan->grad.dtype(), plan->input_shape);
  Check(output_bytes.ok() && *output_bytes == plan->output_bytes,
        "backward plan byte count");
  Check(plan->response_bytes >=
                request::ResultWireBytes(plan->output_bytes, to_region) &&
            plan->response_bytes <= kLimits.max_message_bytes,
        "backward response bound");
  // The request's tensors are one private chunk each: views.
  absl::StatusOr<Tensor> grad = plan->grad.Materialize();
  absl::StatusOr<Tensor> indices = plan->indices.Materialize();
  Check(grad.ok() && indices.ok(), "viewing a backward plan's tensors failed");
  RunBackward(*grad, *indices, plan->input_shape, plan->dim,
              indices_known_good);
}

void FuzzBackward(const v1::BackwardRequest& request) {
  absl::StatusOr<request::BackwardInputs> inputs =
      request::DecodeBackwardRequest(request, kLimits);
  if (!inputs.ok()) return CheckValidationError(inputs.status());
  Check(inputs->uses_session == !request.session_id().empty(),
        "backward decoded the wrong form");
  // A session id the cache would not know: the service answers NOT_FOUND
  // before planning (FuzzSession covers a known one).
  if (inputs->uses_session) return;
  PlanAndRunBackward(*std::move(inputs), nullptr,
                     /*indices_known_good=*/false);
}

// TopK(save_for_backward) then Backward(session_id): the session holds what
// the service saves (the TopK's indices, input shape and wrapped dim).
void FuzzSession(const v1::TopKRequest& topk,
                 const v1::BackwardRequest& backward) {
  absl::StatusOr<request::TopKRequestPlan> plan =
      request::PlanTopKRequest(topk, std::nullopt, kLimits);
  if (!plan.ok()) return CheckValidationError(plan.status());
  CheckTopKPlan(topk, *plan);
  absl::StatusOr<TopKResult> result = RunTopK(*plan);
  if (!result.ok()) return;
  const int64_t wrapped_dim =
      plan->call.save_for_backward
          ? plan->call.wrapped_dim
          : *WrapDim(plan->call.options.dim, plan->input.rank());  // validated
  const request::SavedSelection saved{.indices = result->indices,
                                      .input_shape = plan->input.shape(),
                                      .dim = wrapped_dim,
                                      .op = request::SelectionOp::kTopK};

  absl::StatusOr<request::BackwardInputs> inputs =
      request::DecodeBackwardRequest(backward, kLimits);
  if (!inputs.ok()) return CheckValidationError(inputs.status());
  if (!inputs->uses_session) return;  // the stateless form: FuzzBackward
  PlanAndRunBackward(*std::move(inputs), &saved,
                     /*indices_known_good=*/true);
}

// --- Sort, KthValue, Max, Min, Median ----------------------------------------

// Plans a selection request as the service does and, when valid, runs it:
// results of the planned shape, every index in range and every value the
// input's element at its index, bit for bit. Then Backward on the session
// the service would save (with dim put back where the op dropped it) must
// equal the reference scatter.
template <typename Request>
void FuzzSelection(const Request& request) {
  absl::StatusOr<request::SelectionRequestPlan> plan =
      request::PlanSelectionRequest(request::FieldsOf(request), std::nullopt,
                                    kLimits);
  if (!plan.ok()) return CheckValidationError(plan.status());
  if (plan->input.num_elements() > kMaxElements) return;
  absl::StatusOr<SelectionResult> result =
      TheBackend().SelectOfChunks(plan->input, plan->fields.options, {});
  Check(result.ok(), absl::StrCat("a validated selection failed: ",
                                  result.status().ToString()));
  const Shape& output_shape = plan->plan.output_shape;
  Check(result->values.shape() == output_shape &&
            result->indices.shape() == output_shape,
        "selection result shape is not the planned one");
  absl::StatusOr<Tensor> input = plan->input.Materialize();
  Check(input.ok(), "materializing a selection's input failed");
  const DimGeometry& g = plan->plan.input;
  const int64_t along = plan->plan.reduces() ? 1 : g.size;
  const size_t element = DTypeSize(input->dtype());
  for (int64_t p = 0; p < result->values.num_elements(); ++p) {
    const int64_t index = result->indices.Load<int64_t>(p);
    Check(index >= 0 && index < std::max<int64_t>(g.size, 1),
          "selection index out of range");
    const int64_t o = p / (along * g.inner);
    const int64_t c = p % g.inner;
    const int64_t from = (o * g.size + index) * g.inner + c;
    Check(std::memcmp(result->values.data() + p * element,
                      input->data() + from * element, element) == 0,
          "a selected value is not the input's element at its index");
  }
  request::SavedSelection saved;
  saved.indices = result->indices;
  saved.input_shape = plan->input.shape();
  saved.dim = plan->wrapped_dim;
  saved.op = plan->fields.op;
  saved.keeps_dim = plan->keeps_dim;
  const std::vector<float> ones(result->values.num_elements(), 1.0f);
  absl::StatusOr<Tensor> grad =
      Tensor::CopyOf(DType::kFloat32, output_shape,
                     {reinterpret_cast<const std::byte*>(ones.data()),
                      ones.size() * sizeof(float)});
  Check(grad.ok(), "building a selection's gradient failed");
  request::BackwardInputs inputs;
  inputs.grad = ChunkedTensor::Of(*grad);
  inputs.uses_session = true;
  PlanAndRunBackward(std::move(inputs), &saved, /*indices_known_good=*/true);
}

void FuzzReleaseSession(const v1::ReleaseSessionRequest& request) {
  const absl::Status status = request::ValidateReleaseSession(request);
  Check(status.ok() == !request.session_id().empty(),
        "ReleaseSession validation disagrees with its session_id");
  if (!status.ok()) CheckValidationError(status);
}

// Shared memory requests are validated alone (mapping is the registry's,
// after validation); a valid one must satisfy what the checks promise.
void FuzzRegisterSharedMemory(const v1::RegisterSharedMemoryRequest& request) {
  const absl::Status status = request::ValidateRegisterSharedMemory(request);
  if (!status.ok()) return CheckValidationError(status);
  Check(request.key().empty() != request.file().empty(),
        "a registration with not exactly one source validated");
  Check(request.offset() >= 0 && request.byte_size() > 0 &&
            request.byte_size() <=
                std::numeric_limits<int64_t>::max() - request.offset(),
        "a registration with a bad range validated");
  Check(request::ValidateRegionName(request.name(), "name").ok(),
        "a registration with a bad name validated");
}

void FuzzUnregisterSharedMemory(
    const v1::UnregisterSharedMemoryRequest& request) {
  const absl::Status status = request::ValidateUnregisterSharedMemory(request);
  if (!status.ok()) return CheckValidationError(status);
  Check(request.name().size() <= request::kMaxRegionNameLength,
        "an over-long region name validated");
}

template <typename Request>
bool Parse(const uint8_t* message, int length, Request& request) {
  return request.ParseFromArray(message, length);
}

// A streamed call's message: classified (as the first message and as a
// later one), its request planned as the server plans it, its chunk counted
// against `expected_bytes` (the input's 1 + data[1]).
template <typename StreamRequest, typename Plan>
void FuzzStreamMessage(const uint8_t* message, int length,
                       size_t expected_bytes, Plan plan) {
  StreamRequest stream;
  if (!Parse(message, length, stream)) return;
  const bool has_request = stream.has_request();
  const bool has_chunk = stream.part_case() == StreamRequest::kChunk;
  for (const bool request_seen : {false, true}) {
    absl::StatusOr<request::StreamPart> part = request::ClassifyStreamMessage(
        has_request, has_chunk, request_seen, "FuzzStream");
    const bool one_part = has_request != has_chunk;
    Check(
        part.ok() == (one_part && (has_request ? !request_seen : request_seen)),
        "stream message classified wrongly");
    if (!part.ok()) CheckValidationError(part.status());
  }
  if (has_request) plan(stream.request());
  if (has_chunk) {
    request::ChunkCounter counter(static_cast<int64_t>(expected_bytes),
                                  "fuzzed bytes");
    const int64_t size = static_cast<int64_t>(stream.chunk().size());
    const absl::Status added = counter.Add(size);
    Check(added.ok() == (size <= static_cast<int64_t>(expected_bytes)),
          "chunk counted wrongly");
    if (!added.ok()) CheckValidationError(added);
    Check(counter.CheckComplete().ok() ==
              (added.ok() && size == static_cast<int64_t>(expected_bytes)),
          "stream completeness wrong");
  }
}

void FuzzStreamedTopK(const v1::TopKRequest& request) {
  absl::StatusOr<request::StreamedTopKPlan> plan =
      request::PlanStreamedTopK(request, kLimits);
  if (!plan.ok()) return CheckValidationError(plan.status());
  Check(request.input().data().empty(), "streamed input with data planned");
  absl::StatusOr<int64_t> bytes = ByteSize(plan->dtype, plan->shape);
  Check(bytes.ok() && *bytes == plan->input_bytes, "streamed input bytes");
  Check(plan->slices * plan->slice_bytes == plan->input_bytes,
        "streamed slices do not cover the input");
  Check(plan->slice_bytes <= kLimits.max_stream_buffer_bytes,
        "streamed slice over the buffer limit");
}

void FuzzStreamedBackward(const v1::BackwardRequest& request) {
  absl::StatusOr<request::StreamedBackwardLayout> layout =
      request::PlanStreamedBackward(request, kLimits);
  if (!layout.ok()) return CheckValidationError(layout.status());
  Check(layout->indices.has_value() == request.session_id().empty(),
        "streamed backward layout form");
  Check(layout->total_bytes() <= kLimits.max_stream_buffer_bytes,
        "streamed backward over the buffer limit");
}

template <typename Request>
void FuzzStreamedFill(const Request& request,
                      absl::StatusOr<request::FillPlan> (*plan_fill)(
                          const Request&, const request::RequestLimits&)) {
  absl::StatusOr<request::FillPlan> plan = plan_fill(request, kLimits);
  if (!plan.ok()) return CheckValidationError(plan.status());
  Check(request.input().data().empty(), "streamed fill with data planned");
  absl::StatusOr<int64_t> count = NumElements(plan->shape);
  Check(count.ok() && *count <= kLimits.max_streamed_tensor_elements,
        "streamed fill over the element limit");
}

// The fuzzing of one method's request, by method name; every method of the
// service must have one (checked at start).
struct MethodFuzzer {
  absl::string_view method;
  void (*fuzz)(const uint8_t* message, int length, size_t chunk_bytes);
};

const MethodFuzzer kMethodFuzzers[] = {
    {"ZerosLike",
     [](const uint8_t* message, int length, size_t chunk_bytes) {
       CheckLifting<v1::ZerosLikeRequest>(message, length, chunk_bytes);
       v1::ZerosLikeRequest request;
       if (Parse(message, length, request)) FuzzFill(request, /*ones=*/false);
     }},
    {"OnesLike",
     [](const uint8_t* message, int length, size_t chunk_bytes) {
       CheckLifting<v1::OnesLikeRequest>(message, length, chunk_bytes);
       v1::OnesLikeRequest request;
       if (Parse(message, length, request)) FuzzFill(request, /*ones=*/true);
     }},
    {"TopK",
     [](const uint8_t* message, int length, size_t chunk_bytes) {
       CheckLifting<v1::TopKRequest>(message, length, chunk_bytes);
       v1::TopKRequest request;
       if (Parse(message, length, request)) FuzzTopK(request);
     }},
    {"Sort",
     [](const uint8_t* message, int length, size_t chunk_bytes) {
       CheckLifting<v1::SortRequest>(message, length, chunk_bytes);
       v1::SortRequest request;
       if (Parse(message, length, request)) FuzzSelection(request);
     }},
    {"KthValue",
     [](const uint8_t* message, int length, size_t chunk_bytes) {
       CheckLifting<v1::KthValueRequest>(message, length, chunk_bytes);
       v1::KthValueRequest request;
       if (Parse(message, length, request)) FuzzSelection(request);
     }},
    {"Max",
     [](const uint8_t* message, int length, size_t chunk_bytes) {
       CheckLifting<v1::MaxRequest>(message, length, chunk_bytes);
       v1::MaxRequest request;
       if (Parse(message, length, request)) FuzzSelection(request);
     }},
    {"Min",
     [](const uint8_t* message, int length, size_t chunk_bytes) {
       CheckLifting<v1::MinRequest>(message, length, chunk_bytes);
       v1::MinRequest request;
       if (Parse(message, length, request)) FuzzSelection(request);
     }},
    {"Median",
     [](const uint8_t* message, int length, size_t chunk_bytes) {
       CheckLifting<v1::MedianRequest>(message, length, chunk_bytes);
       v1::MedianRequest request;
       if (Parse(message, length, request)) FuzzSelection(request);
     }},
    {"Backward",
     [](const uint8_t* message, int length, size_t) {
       v1::BackwardRequest request;
       if (Parse(message, length, request)) FuzzBackward(request);
     }},
    {"ReleaseSession",
     [](const uint8_t* message, int length, size_t) {
       v1::ReleaseSessionRequest request;
       if (Parse(message, length, request)) FuzzReleaseSession(request);
     }},
    {"RegisterSharedMemory",
     [](const uint8_t* message, int length, size_t) {
       v1::RegisterSharedMemoryRequest request;
       if (Parse(message, length, request)) FuzzRegisterSharedMemory(request);
     }},
    {"UnregisterSharedMemory",
     [](const uint8_t* message, int length, size_t) {
       v1::UnregisterSharedMemoryRequest request;
       if (Parse(message, length, request)) {
         FuzzUnregisterSharedMemory(request);
       }
     }},
    // Nothing in the request to validate: parsing is the whole check.
    {"ListSharedMemory",
     [](const uint8_t* message, int length, size_t) {
       v1::ListSharedMemoryRequest request;
       Parse(message, length, request);
     }},
    {"GetServerInfo",
     [](const uint8_t* message, int length, size_t) {
       v1::GetServerInfoRequest request;
       Parse(message, length, request);
     }},
    {"TopKStream",
     [](const uint8_t* message, int length, size_t chunk_bytes) {
       FuzzStreamMessage<v1::TopKStreamRequest>(message, length, chunk_bytes,
                                                FuzzStreamedTopK);
     }},
    {"BackwardStream",
     [](const uint8_t* message, int length, size_t chunk_bytes) {
       FuzzStreamMessage<v1::BackwardStreamRequest>(
           message, length, chunk_bytes, FuzzStreamedBackward);
     }},
    {"ZerosLikeStream",
     [](const uint8_t* message, int length, size_t chunk_bytes) {
       FuzzStreamMessage<v1::ZerosLikeStreamRequest>(
           message, length, chunk_bytes,
           [](const v1::ZerosLikeRequest& request) {
             FuzzStreamedFill(request, &request::PlanStreamedZerosLike);
           });
     }},
    {"OnesLikeStream",
     [](const uint8_t* message, int length, size_t chunk_bytes) {
       FuzzStreamMessage<v1::OnesLikeStreamRequest>(
           message, length, chunk_bytes,
           [](const v1::OnesLikeRequest& request) {
             FuzzStreamedFill(request, &request::PlanStreamedOnesLike);
           });
     }},
    // The server ignores what a hold's client sends: parsing is the check.
    {"HoldSharedMemory",
     [](const uint8_t* message, int length, size_t) {
       v1::HoldSharedMemoryRequest request;
       Parse(message, length, request);
     }},
};

// kMethodFuzzers by method index.
std::vector<const MethodFuzzer*> FuzzersByMethod() {
  std::vector<const MethodFuzzer*> by_method(wire::MethodCount(), nullptr);
  for (const MethodFuzzer& fuzzer : kMethodFuzzers) {
    std::optional<int> index = wire::MethodIndex(fuzzer.method);
    Check(index.has_value(),
          absl::StrCat("a fuzzer for a method the service lacks: ",
                       fuzzer.method));
    by_method[*index] = &fuzzer;
  }
  for (int m = 0; m < wire::MethodCount(); ++m) {
    Check(by_method[m] != nullptr,
          absl::StrCat("no fuzzer for ", wire::MethodName(m)));
  }
  Check(wire::MethodCount() < kFirstScenarioKind, "too many methods");
  return by_method;
}

const std::vector<const MethodFuzzer*>& Fuzzers() {
  static const auto* const fuzzers =
      new std::vector<const MethodFuzzer*>(FuzzersByMethod());
  return *fuzzers;
}

int FuzzOne(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int kind = data[0];
  const size_t chunk_bytes = 1 + data[1];
  const uint8_t* message = data + 2;
  const int length = static_cast<int>(size - 2);
  if (kind < static_cast<int>(Fuzzers().size())) {
    Fuzzers()[kind]->fuzz(message, length, chunk_bytes);
    return 0;
  }
  if (kind != kTopKThenBackward || length < 2) return 0;
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

}  // namespace
}  // namespace tensorops::fuzz

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Strings with invalid UTF-8 (session_id) make protobuf log an error per
  // parse; that is expected here and would flood the output.
  google::protobuf::SetLogHandler(nullptr);
  tensorops::fuzz::Fuzzers();  // every method has a fuzzer, or abort now
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
