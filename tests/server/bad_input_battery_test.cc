// A categorized battery of malformed requests over RPC. Each case names its
// category, the exact gRPC code it must get and text its message must
// contain; afterwards the server must still answer valid requests correctly,
// report SERVING, and its metrics must have counted every refusal under its
// code. validation_rpc_test.cc covers one example per check plus random
// requests; this table sweeps every check across dtypes, fields, positions
// and boundary values.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/status_mapping.h"
#include "tests/server/server_process.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxMessageBytes = int64_t{1} << 20;
// Small enough that a TopK saving 10000 indices (80 KB) cannot fit.
constexpr int64_t kSessionCacheBytes = int64_t{64} << 10;

// Session ids the runner replaces with real ones before sending.
constexpr char kLive[] = "$live";             // saved, never consumed
constexpr char kLiveUpper[] = "$LIVE";        // the live id in upper case
constexpr char kLiveShort[] = "$live-short";  // the live id minus a char
constexpr char kLiveLong[] = "$live-long";    // the live id plus a char
constexpr char kConsumed[] = "$consumed";     // consumed by a Backward
constexpr char kReleased[] = "$released";     // freed by ReleaseSession

using Request =
    std::variant<v1::ZerosLikeRequest, v1::OnesLikeRequest, v1::TopKRequest,
                 v1::BackwardRequest, v1::ReleaseSessionRequest>;
constexpr const char* kMethodNames[] = {"ZerosLike", "OnesLike", "TopK",
                                        "Backward", "ReleaseSession"};

struct Case {
  std::string category;
  std::string name;
  Request request;
  grpc::StatusCode code;
  // Text the error message must contain.
  std::string message;
};

struct DTypeInfo {
  v1::DType dtype;
  const char* name;
  int64_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {v1::DTYPE_FLOAT32, "float32", 4}, {v1::DTYPE_FLOAT64, "float64", 8},
    {v1::DTYPE_FLOAT16, "float16", 2}, {v1::DTYPE_BFLOAT16, "bfloat16", 2},
    {v1::DTYPE_INT8, "int8", 1},       {v1::DTYPE_INT16, "int16", 2},
    {v1::DTYPE_INT32, "int32", 4},     {v1::DTYPE_INT64, "int64", 8},
    {v1::DTYPE_UINT8, "uint8", 1},     {v1::DTYPE_BOOL, "bool", 1}};

bool IsFloating(v1::DType dtype) {
  return dtype == v1::DTYPE_FLOAT32 || dtype == v1::DTYPE_FLOAT64 ||
         dtype == v1::DTYPE_FLOAT16 || dtype == v1::DTYPE_BFLOAT16;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    absl::StrAppend(&text, i == 0 ? "" : ", ", shape[i]);
  }
  return text + "]";
}

// A wire tensor with `data_bytes` bytes of data (any content).
v1::Tensor Wire(v1::DType dtype, const std::vector<int64_t>& shape,
                int64_t data_bytes) {
  v1::Tensor tensor;
  tensor.set_dtype(dtype);
  for (int64_t d : shape) tensor.add_shape(d);
  tensor.mutable_data()->assign(static_cast<size_t>(data_bytes), '\1');
  return tensor;
}

// A wire tensor whose data matches its shape (which must be small).
v1::Tensor Valid(v1::DType dtype, const std::vector<int64_t>& shape,
                 int64_t size) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  return Wire(dtype, shape, count * size);
}

v1::TopKRequest TopK(v1::Tensor input, int64_t k) {
  v1::TopKRequest request;
  *request.mutable_input() = std::move(input);
  request.set_k(k);
  return request;
}

// A Backward on `session` (a placeholder or an id) with a float32 [2] grad,
// which fits the live session (TopK k=2 of a [4] input).
v1::BackwardRequest OnSession(const std::string& session) {
  v1::BackwardRequest request;
  request.set_session_id(session);
  request.set_retain_session(true);
  *request.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {2}, {1, 2});
  return request;
}

v1::ReleaseSessionRequest Release(const std::string& session) {
  v1::ReleaseSessionRequest request;
  request.set_session_id(session);
  return request;
}

// Session ids that are not 32 lowercase hex characters.
std::vector<std::pair<std::string, std::string>> MalformedIds() {
  return {
      {"one char", "x"},
      {"31 hex", std::string(31, 'a')},
      {"33 hex", std::string(33, 'a')},
      {"64 hex", std::string(64, '0')},
      {"upper-case hex", std::string(32, 'A')},
      {"mixed case", "0123456789ABCDEF0123456789abcdef"},
      {"non-hex letters", std::string(32, 'g')},
      {"0x prefix", "0x" + std::string(30, 'f')},
      {"spaces", std::string(16, 'a') + std::string(16, ' ')},
      {"leading space", " " + std::string(31, 'a')},
      {"trailing newline", std::string(31, 'a') + "\n"},
      {"dashes (uuid)", "01234567-89ab-cdef-0123-456789abcdef"},
      {"embedded NUL",
       std::string(16, 'a') + std::string(1, '\0') + std::string(15, 'a')},
      {"punctuation", std::string(32, '%')},
      {"path traversal", "../../../../etc/passwd/aaaaaaaaaa"},
      {"512 KiB of hex", std::string(size_t{512} << 10, 'a')},
      {"live id upper-cased", kLiveUpper},
      {"live id minus a char", kLiveShort},
      {"live id plus a char", kLiveLong},
  };
}

std::vector<Case> BuildBattery() {
  std::vector<Case> cases;
  auto add = [&cases](const std::string& category, const std::string& name,
                      Request request, grpc::StatusCode code,
                      const std::string& message) {
    cases.push_back(Case{category, name, std::move(request), code, message});
  };
  const auto kInvalid = grpc::StatusCode::INVALID_ARGUMENT;
  const auto kNotFound = grpc::StatusCode::NOT_FOUND;
  const auto kExhausted = grpc::StatusCode::RESOURCE_EXHAUSTED;

  // --- missing tensors -----------------------------------------------------
  add("missing tensor", "ZerosLike without input", v1::ZerosLikeRequest(),
      kInvalid, "input is not set");
  add("missing tensor", "OnesLike without input", v1::OnesLikeRequest(),
      kInvalid, "input is not set");
  add("missing tensor", "TopK without input", v1::TopKRequest(), kInvalid,
      "input is not set");
  add("missing tensor", "Backward without anything", v1::BackwardRequest(),
      kInvalid, "grad_values is not set");
  {
    v1::BackwardRequest request = ValidStatelessBackward();
    request.clear_grad_values();
    add("missing tensor", "stateless Backward without grad_values", request,
        kInvalid, "grad_values is not set");
    request = ValidStatelessBackward();
    request.clear_indices();
    add("missing tensor", "stateless Backward without indices", request,
        kInvalid, "indices is not set");
  }

  // --- data sizes that do not match shape x dtype size ---------------------
  for (const DTypeInfo& info : kDTypes) {
    const std::vector<int64_t> shape = {2, 3};
    const int64_t need = 6 * info.size;
    std::vector<int64_t> sizes = {0, need - 1, need + 1, need - info.size,
                                  2 * need};
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    for (int64_t size : sizes) {
      if (size == need) continue;
      const std::string name = absl::StrCat(info.name, " ", ShapeText(shape),
                                            " with ", size, " data bytes");
      const std::string message = absl::StrCat(
          ".data has ", size, " bytes but a ", info.name,
          " tensor of shape [2, 3] needs exactly ", need, " bytes");
      if (info.dtype != v1::DTYPE_BOOL) {
        add("data size", "TopK input " + name,
            TopK(Wire(info.dtype, shape, size), 1), kInvalid,
            "input" + message);
      }
      // Data is optional for the fills (empty is fine), checked if present.
      if (size != 0) {
        v1::ZerosLikeRequest zeros;
        *zeros.mutable_input() = Wire(info.dtype, shape, size);
        add("data size", "ZerosLike input " + name, zeros, kInvalid,
            "input" + message);
        v1::OnesLikeRequest ones;
        *ones.mutable_input() = Wire(info.dtype, shape, size);
        add("data size", "OnesLike input " + name, ones, kInvalid,
            "input" + message);
      }
      if (IsFloating(info.dtype)) {
        v1::BackwardRequest request = ValidStatelessBackward();
        *request.mutable_grad_values() = Wire(info.dtype, {2, 2}, size);
        add("data size", "Backward grad_values " + name, request, kInvalid,
            "grad_values.data has");
      }
    }
  }
  for (int64_t size : {0, 1, 31, 33, 64}) {
    v1::BackwardRequest request = ValidStatelessBackward();
    *request.mutable_indices() = Wire(v1::DTYPE_INT64, {2, 2}, size);
    add("data size",
        absl::StrCat("Backward indices int64 [2, 2] with ", size,
                     " data bytes"),
        request, kInvalid,
        absl::StrCat("indices.data has ", size,
                     " bytes but a int64 tensor of shape [2, 2] needs "
                     "exactly 32 bytes"));
  }
  for (int64_t size : {0, 7, 9}) {
    v1::BackwardRequest request = OnSession(kLive);
    *request.mutable_grad_values() = Wire(v1::DTYPE_FLOAT32, {2}, size);
    add("data size",
        absl::StrCat("session Backward grad with ", size, " bytes"), request,
        kInvalid, "grad_values.data has");
  }

  // --- negative dimensions -------------------------------------------------
  for (int64_t negative :
       {int64_t{-1}, int64_t{-2}, int64_t{-(1ll << 40)}, kInt64Min}) {
    for (int position = 0; position < 3; ++position) {
      std::vector<int64_t> shape = {2, 2, 2};
      shape[position] = negative;
      const std::string where = absl::StrCat("[", position, "] = ", negative);
      const std::string message =
          absl::StrCat(".shape[", position, "] is ", negative,
                       "; expected every dimension to be >= 0");
      add("negative shape", "TopK input.shape" + where,
          TopK(Wire(v1::DTYPE_FLOAT32, shape, 32), 1), kInvalid,
          "input" + message);
      v1::ZerosLikeRequest zeros;
      *zeros.mutable_input() = Wire(v1::DTYPE_INT32, shape, 0);
      add("negative shape", "ZerosLike input.shape" + where, zeros, kInvalid,
          "input" + message);
      v1::BackwardRequest request = ValidStatelessBackward();
      request.clear_input_shape();
      for (int64_t d : shape) request.add_input_shape(d);
      add("negative shape", "Backward input_shape" + where, request, kInvalid,
          absl::StrCat("input_shape[", position, "] is ", negative));
    }
    v1::BackwardRequest grad = ValidStatelessBackward();
    grad.mutable_grad_values()->set_shape(1, negative);
    add("negative shape",
        absl::StrCat("Backward grad_values.shape[1] = ", negative), grad,
        kInvalid, absl::StrCat("grad_values.shape[1] is ", negative));
    v1::BackwardRequest indices = ValidStatelessBackward();
    indices.mutable_indices()->set_shape(0, negative);
    add("negative shape",
        absl::StrCat("Backward indices.shape[0] = ", negative), indices,
        kInvalid, absl::StrCat("indices.shape[0] is ", negative));
  }

  // --- shapes whose element count or byte size exceeds int64 ---------------
  // Contract: INVALID_ARGUMENT (malformed), never RESOURCE_EXHAUSTED.
  const std::vector<std::vector<int64_t>> kTooManyElements = {
      {int64_t{1} << 32, int64_t{1} << 32},
      {int64_t{1} << 62, 4},
      {3, int64_t{1} << 62},
      {kInt64Max, 2},
      {int64_t{1} << 31, int64_t{1} << 31, int64_t{1} << 31},
      {kInt64Max, kInt64Max},
      {2, 2, 2, 2, int64_t{1} << 60},
  };
  for (const auto& shape : kTooManyElements) {
    const std::string text = ShapeText(shape);
    add("overflowing shape", "TopK input " + text,
        TopK(Wire(v1::DTYPE_FLOAT32, shape, 0), 1), kInvalid,
        "more elements than fit in int64");
    v1::ZerosLikeRequest zeros;
    *zeros.mutable_input() = Wire(v1::DTYPE_UINT8, shape, 0);
    add("overflowing shape", "ZerosLike input " + text, zeros, kInvalid,
        "more elements than fit in int64");
    v1::OnesLikeRequest ones;
    *ones.mutable_input() = Wire(v1::DTYPE_BOOL, shape, 0);
    add("overflowing shape", "OnesLike input " + text, ones, kInvalid,
        "more elements than fit in int64");
    v1::BackwardRequest request = ValidStatelessBackward();
    request.clear_input_shape();
    for (int64_t d : shape) request.add_input_shape(d);
    add("overflowing shape", "Backward input_shape " + text, request, kInvalid,
        "more elements than fit in int64");
    v1::BackwardRequest grad = ValidStatelessBackward();
    *grad.mutable_grad_values() = Wire(v1::DTYPE_FLOAT32, shape, 0);
    add("overflowing shape", "Backward grad_values " + text, grad, kInvalid,
        "more elements than fit in int64");
  }
  // The element count fits in int64 but the byte size does not.
  const std::vector<std::pair<DTypeInfo, int64_t>> kTooManyBytes = {
      {kDTypes[0], int64_t{1} << 62},   // float32: 2^64 bytes
      {kDTypes[1], int64_t{1} << 61},   // float64
      {kDTypes[2], int64_t{1} << 62},   // float16
      {kDTypes[5], kInt64Max / 2 + 1},  // int16
      {kDTypes[7], kInt64Max / 4},      // int64
  };
  for (const auto& [info, count] : kTooManyBytes) {
    const std::string name = absl::StrCat(info.name, " [", count, "]");
    add("overflowing shape", "TopK input " + name,
        TopK(Wire(info.dtype, {count}, 0), 1), kInvalid,
        "byte size beyond int64");
    v1::ZerosLikeRequest zeros;
    *zeros.mutable_input() = Wire(info.dtype, {count}, 0);
    add("overflowing shape", "ZerosLike input " + name, zeros, kInvalid,
        "byte size beyond int64");
    if (IsFloating(info.dtype)) {
      // Consistent shapes; only grad_input's bytes overflow.
      v1::BackwardRequest request;
      *request.mutable_grad_values() = Wire(info.dtype, {1}, info.size);
      *request.mutable_indices() =
          WireTensor<int64_t>(v1::DTYPE_INT64, {1}, {0});
      request.add_input_shape(count);
      add("overflowing shape", "Backward into input_shape " + name, request,
          kInvalid, "more bytes than fit in int64");
    }
  }
  // uint8 elements fit; the requested output dtype's bytes do not.
  for (const DTypeInfo& info : kDTypes) {
    if (info.size == 1) continue;
    const int64_t count = kInt64Max / info.size + 1;
    v1::ZerosLikeRequest zeros;
    *zeros.mutable_input() = Wire(v1::DTYPE_UINT8, {count}, 0);
    zeros.set_dtype(info.dtype);
    add("overflowing shape",
        absl::StrCat("ZerosLike uint8 [", count, "] as ", info.name), zeros,
        kInvalid, "byte size beyond int64");
    v1::OnesLikeRequest ones;
    *ones.mutable_input() = Wire(v1::DTYPE_UINT8, {count}, 0);
    ones.set_dtype(info.dtype);
    add("overflowing shape",
        absl::StrCat("OnesLike uint8 [", count, "] as ", info.name), ones,
        kInvalid, "byte size beyond int64");
  }

  // --- unknown or unset dtypes ---------------------------------------------
  for (int value : {0, 11, 12, 100, -1, std::numeric_limits<int>::max(),
                    std::numeric_limits<int>::min()}) {
    const auto dtype = static_cast<v1::DType>(value);
    const std::string what = value == 0
                                 ? "is DTYPE_UNSPECIFIED"
                                 : absl::StrCat("has unknown value ", value);
    add("unknown dtype", absl::StrCat("TopK input.dtype ", value),
        TopK(Wire(dtype, {4}, 16), 1), kInvalid, "input.dtype " + what);
    v1::ZerosLikeRequest zeros;
    *zeros.mutable_input() = Wire(dtype, {4}, 0);
    add("unknown dtype", absl::StrCat("ZerosLike input.dtype ", value), zeros,
        kInvalid, "input.dtype " + what);
    v1::BackwardRequest grad = ValidStatelessBackward();
    grad.mutable_grad_values()->set_dtype(dtype);
    add("unknown dtype", absl::StrCat("Backward grad_values.dtype ", value),
        grad, kInvalid, "grad_values.dtype " + what);
    v1::BackwardRequest indices = ValidStatelessBackward();
    indices.mutable_indices()->set_dtype(dtype);
    add("unknown dtype", absl::StrCat("Backward indices.dtype ", value),
        indices, kInvalid, "indices.dtype " + what);
    v1::BackwardRequest session = OnSession(kLive);
    session.mutable_grad_values()->set_dtype(dtype);
    add("unknown dtype",
        absl::StrCat("session Backward grad_values.dtype ", value), session,
        kInvalid, "grad_values.dtype " + what);
    if (value == 0) continue;  // an unset output dtype means the input's
    v1::ZerosLikeRequest zeros_out;
    *zeros_out.mutable_input() = Wire(v1::DTYPE_INT8, {4}, 4);
    zeros_out.set_dtype(dtype);
    add("unknown dtype", absl::StrCat("ZerosLike dtype ", value), zeros_out,
        kInvalid, "dtype " + what);
    v1::OnesLikeRequest ones_out;
    *ones_out.mutable_input() = Wire(v1::DTYPE_INT8, {4}, 4);
    ones_out.set_dtype(dtype);
    add("unknown dtype", absl::StrCat("OnesLike dtype ", value), ones_out,
        kInvalid, "dtype " + what);
  }

  // --- k out of [0, size(dim)] ---------------------------------------------
  const std::vector<std::vector<int64_t>> kShapes = {{5}, {3, 4}, {2, 3, 4}};
  for (const auto& shape : kShapes) {
    const int64_t size = shape.back();
    for (int64_t k : {size + 1, size + 1000, int64_t{1} << 31, int64_t{1} << 32,
                      int64_t{1} << 62, kInt64Max, int64_t{-1}, -size,
                      int64_t{-(1ll << 31)}, kInt64Min}) {
      add("k out of range", absl::StrCat("k = ", k, " for ", ShapeText(shape)),
          TopK(Valid(v1::DTYPE_FLOAT32, shape, 4), k), kInvalid,
          absl::StrCat("k = ", k, " is out of range for dimension ",
                       shape.size() - 1, " of size ", size));
    }
  }
  // A zero-size dimension allows only k = 0; a 0-d input only 0 or 1.
  for (int64_t k : {int64_t{1}, int64_t{2}, kInt64Max}) {
    add("k out of range", absl::StrCat("k = ", k, " along a zero-size dim"),
        TopK(Wire(v1::DTYPE_FLOAT32, {3, 0}, 0), k), kInvalid,
        "expected 0 <= k <= 0");
  }
  for (int64_t k : {int64_t{2}, int64_t{-1}, kInt64Max}) {
    add("k out of range", absl::StrCat("k = ", k, " for a 0-d input"),
        TopK(Wire(v1::DTYPE_FLOAT32, {}, 4), k), kInvalid,
        "expected 0 <= k <= 1");
  }

  // --- dim out of [-rank, rank) ---------------------------------------------
  for (int rank = 0; rank <= 3; ++rank) {
    const int64_t extent = rank == 0 ? 1 : rank;
    const std::vector<int64_t> shape(rank, 2);
    for (int64_t dim : {extent, extent + 1, -extent - 1, int64_t{1} << 32,
                        kInt64Max, kInt64Min}) {
      v1::TopKRequest request = TopK(Valid(v1::DTYPE_INT32, shape, 4), 1);
      request.set_dim(dim);
      const std::string message = absl::StrCat(
          "dim ", dim, " is out of range for a tensor of rank ", rank);
      add("dim out of range", absl::StrCat("TopK dim ", dim, " of rank ", rank),
          request, kInvalid, message);
      // Stateless Backward of TopK(k=1) along the last dim of `shape`.
      v1::BackwardRequest backward;
      std::vector<int64_t> grad_shape = shape;
      if (rank > 0) grad_shape.back() = 1;
      *backward.mutable_grad_values() = Valid(v1::DTYPE_FLOAT64, grad_shape, 8);
      v1::Tensor indices = Valid(v1::DTYPE_INT64, grad_shape, 8);
      std::fill(indices.mutable_data()->begin(), indices.mutable_data()->end(),
                '\0');
      *backward.mutable_indices() = indices;
      for (int64_t d : shape) backward.add_input_shape(d);
      backward.set_dim(dim);
      add("dim out of range",
          absl::StrCat("Backward dim ", dim, " of rank ", rank), backward,
          kInvalid, message);
    }
  }

  // --- topk of bool ----------------------------------------------------------
  for (int64_t k : {0, 1, 3}) {
    add("bool topk", absl::StrCat("bool [3] k = ", k),
        TopK(Valid(v1::DTYPE_BOOL, {3}, 1), k), kInvalid,
        "not implemented for bool");
  }

  // --- gradients that do not fit -------------------------------------------
  for (const DTypeInfo& info : kDTypes) {
    if (IsFloating(info.dtype)) continue;
    v1::BackwardRequest request = ValidStatelessBackward();
    *request.mutable_grad_values() = Valid(info.dtype, {2, 2}, info.size);
    add("wrong grad", absl::StrCat("stateless grad dtype ", info.name), request,
        kInvalid,
        absl::StrCat("grad_values has dtype ", info.name,
                     "; expected a floating-point dtype"));
    v1::BackwardRequest session = OnSession(kLive);
    *session.mutable_grad_values() = Valid(info.dtype, {2}, info.size);
    add("wrong grad", absl::StrCat("session grad dtype ", info.name), session,
        kInvalid,
        absl::StrCat("grad_values does not fit the saved TopK: grad_values "
                     "has dtype ",
                     info.name));
  }
  // The live session is TopK(k=2) of a [4] input: grad must have the saved
  // indices' shape, [2].
  for (const auto& shape : std::vector<std::vector<int64_t>>{
           {}, {1}, {3}, {4}, {5}, {2, 1}, {1, 2}, {0}, {2, 2}}) {
    v1::BackwardRequest request = OnSession(kLive);
    *request.mutable_grad_values() = Valid(v1::DTYPE_FLOAT32, shape, 4);
    add("wrong grad", "session grad shape " + ShapeText(shape), request,
        kInvalid,
        absl::StrCat("grad_values does not fit the saved TopK: grad_values "
                     "has shape ",
                     ShapeText(shape), " but indices has shape [2]"));
  }
  // Stateless: grad [2, 2] and indices [2, 2] against input_shape.
  for (const auto& input_shape : std::vector<std::vector<int64_t>>{
           {2}, {4}, {2, 3, 1}, {}, {3, 3}, {1, 3}, {2, 1}, {0, 3}}) {
    v1::BackwardRequest request = ValidStatelessBackward();
    request.clear_input_shape();
    for (int64_t d : input_shape) request.add_input_shape(d);
    const bool rank_differs = input_shape.size() != 2;
    add("wrong grad", "stateless input_shape " + ShapeText(input_shape),
        request, kInvalid,
        rank_differs ? "expected equal ranks" : "does not fit input_shape");
  }
  for (const auto& indices_shape : std::vector<std::vector<int64_t>>{
           {2}, {4}, {2, 1}, {1, 2}, {2, 2, 1}, {}}) {
    v1::BackwardRequest request = ValidStatelessBackward();
    *request.mutable_indices() = Valid(v1::DTYPE_INT64, indices_shape, 8);
    std::fill(request.mutable_indices()->mutable_data()->begin(),
              request.mutable_indices()->mutable_data()->end(), '\0');
    add("wrong grad", "stateless indices shape " + ShapeText(indices_shape),
        request, kInvalid,
        absl::StrCat("grad_values has shape [2, 2] but indices has shape ",
                     ShapeText(indices_shape), "; expected equal shapes"));
  }
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == v1::DTYPE_INT64) continue;
    v1::BackwardRequest request = ValidStatelessBackward();
    *request.mutable_indices() = Valid(info.dtype, {2, 2}, info.size);
    add("wrong grad", absl::StrCat("stateless indices dtype ", info.name),
        request, kInvalid,
        absl::StrCat("indices has dtype ", info.name, "; expected int64"));
  }

  // --- indices outside [0, input_shape[dim]) in stateless Backward ----------
  // input_shape [2, 3], dim -1: valid indices are 0..2.
  for (int64_t bad :
       {int64_t{3}, int64_t{4}, int64_t{1} << 31, int64_t{1} << 32, kInt64Max,
        int64_t{-1}, int64_t{-3}, int64_t{-(1ll << 32)}, kInt64Min}) {
    for (int position : {0, 3}) {
      std::vector<int64_t> values = {2, 1, 0, 2};
      values[position] = bad;
      v1::BackwardRequest request = ValidStatelessBackward();
      *request.mutable_indices() =
          WireTensor<int64_t>(v1::DTYPE_INT64, {2, 2}, values);
      add("index out of range",
          absl::StrCat("index ", bad, " at flat position ", position), request,
          kInvalid,
          absl::StrCat("indices element ", position, " (flat, row-major) is ",
                       bad,
                       ", out of range for dimension 1 of input_shape "
                       "[2, 3]; expected 0 <= index < 3"));
    }
  }
  {
    // Along dim 0: valid indices are 0..1.
    v1::BackwardRequest request = ValidStatelessBackward();
    request.set_dim(0);
    *request.mutable_indices() =
        WireTensor<int64_t>(v1::DTYPE_INT64, {2, 2}, {0, 1, 2, 0});
    *request.mutable_grad_values() =
        WireTensor<float>(v1::DTYPE_FLOAT32, {2, 2}, {1, 2, 3, 4});
    request.set_input_shape(1, 2);
    add("index out of range", "index 2 along dim 0 of size 2", request,
        kInvalid, "expected 0 <= index < 2");
  }

  // --- session ids -----------------------------------------------------------
  for (const auto& [name, id] : MalformedIds()) {
    add("malformed session id", "Backward with " + name, OnSession(id),
        kInvalid, "malformed session_id");
    add("malformed session id", "ReleaseSession of " + name, Release(id),
        kInvalid, "malformed session_id");
  }
  add("malformed session id", "ReleaseSession of \"\"", Release(""), kInvalid,
      "session_id is empty");
  for (const auto& [name, id] :
       std::vector<std::pair<std::string, std::string>>{
           {"all zeros", std::string(32, '0')},
           {"all f", std::string(32, 'f')},
           {"counting", "0123456789abcdef0123456789abcdef"},
           {"deadbeef", "deadbeefdeadbeefdeadbeefdeadbeef"}}) {
    add("unknown session id", "Backward with " + name, OnSession(id), kNotFound,
        "unknown session_id");
    add("unknown session id", "ReleaseSession of " + name, Release(id),
        kNotFound, "unknown session_id");
  }
  add("used session id", "Backward on a consumed session", OnSession(kConsumed),
      grpc::StatusCode::FAILED_PRECONDITION, "already consumed");
  {
    v1::BackwardRequest request = OnSession(kConsumed);
    request.set_retain_session(false);
    add("used session id", "consuming Backward on a consumed session", request,
        grpc::StatusCode::FAILED_PRECONDITION, "already consumed");
  }
  add("used session id", "ReleaseSession of a consumed session",
      Release(kConsumed), kNotFound, "already consumed");
  add("used session id", "Backward on a released session", OnSession(kReleased),
      kNotFound, "released by ReleaseSession");
  add("used session id", "ReleaseSession of a released session",
      Release(kReleased), kNotFound, "released by ReleaseSession");
  {
    // Session plus stateless fields: ambiguous, refused.
    v1::BackwardRequest with_indices = OnSession(kLive);
    *with_indices.mutable_indices() =
        WireTensor<int64_t>(v1::DTYPE_INT64, {2}, {0, 1});
    v1::BackwardRequest with_shape = OnSession(kLive);
    with_shape.add_input_shape(4);
    v1::BackwardRequest with_dim = OnSession(kLive);
    with_dim.set_dim(0);
    v1::BackwardRequest unknown_with_dim = OnSession(std::string(32, 'c'));
    unknown_with_dim.set_dim(-1);
    for (auto& [name, request] :
         std::vector<std::pair<std::string, v1::BackwardRequest>>{
             {"indices", with_indices},
             {"input_shape", with_shape},
             {"dim", with_dim},
             {"dim (unknown session)", unknown_with_dim}}) {
      add("session plus stateless fields", "session_id with " + name, request,
          kInvalid, "must be left unset when session_id is given");
    }
  }

  // --- well-formed but larger than this server's limits ---------------------
  // (Element counts stay below --max_tensor_elements' default of 2^28, whose
  // refusals are another test's.)
  for (const DTypeInfo& info : kDTypes) {
    const int64_t count = kMaxMessageBytes / info.size + 1;
    v1::ZerosLikeRequest zeros;
    *zeros.mutable_input() = Wire(info.dtype, {count}, 0);
    add("too large", absl::StrCat("ZerosLike ", info.name, " [", count, "]"),
        zeros, kExhausted, "--max_message_bytes");
  }
  for (const auto& shape :
       std::vector<std::vector<int64_t>>{{(int64_t{1} << 20) + 1},
                                         {int64_t{1} << 10, int64_t{1} << 12},
                                         {int64_t{1} << 26}}) {
    v1::OnesLikeRequest ones;
    *ones.mutable_input() = Wire(v1::DTYPE_INT8, shape, 0);
    add("too large", "OnesLike int8 " + ShapeText(shape), ones, kExhausted,
        "--max_message_bytes");
  }
  // Consistent shapes, but a grad_input beyond the message limit.
  for (int64_t size :
       {(kMaxMessageBytes / 4) + 1, int64_t{1} << 20, int64_t{1} << 26}) {
    v1::BackwardRequest request;
    *request.mutable_grad_values() =
        WireTensor<float>(v1::DTYPE_FLOAT32, {1}, {1});
    *request.mutable_indices() = WireTensor<int64_t>(v1::DTYPE_INT64, {1}, {0});
    request.add_input_shape(size);
    add("too large",
        absl::StrCat("stateless Backward into float32 [", size, "]"), request,
        kExhausted, "--max_message_bytes");
  }
  {
    // Its int64 indices (8 bytes each) outgrow the 1 MiB message limit.
    v1::TopKRequest request = TopK(Valid(v1::DTYPE_INT8, {200000}, 1), 200000);
    add("too large", "TopK whose indices exceed the message limit", request,
        kExhausted, "message limit");
    // 10000 int64 indices (80 KB) cannot fit a 64 KiB session cache.
    v1::TopKRequest save = TopK(Valid(v1::DTYPE_FLOAT32, {10000}, 4), 10000);
    save.set_save_for_backward(true);
    add("too large", "TopK saving more than the session cache holds", save,
        kExhausted, "--session_cache_bytes");
    // Refused by the service (and counted), not silently by gRPC.
    v1::TopKRequest big = TopK(Valid(v1::DTYPE_FLOAT32, {300000}, 4), 1);
    add("too large", "TopK request over the message limit", big, kExhausted,
        "--max_message_bytes");
  }
  return cases;
}

class BadInputBatteryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerConfig config = TestConfig();
    config.max_message_bytes = kMaxMessageBytes;
    config.session_cache_bytes = kSessionCacheBytes;
    config.metrics_address = "127.0.0.1:0";
    server_ = TestServer::Start(config);
    ASSERT_NE(server_, nullptr);
  }

  v1::TensorOps::Stub& stub() { return server_->stub(); }

  // A TopK(k=2) of [3, 1, 4, 2] saved for Backward; its id.
  std::string SaveSession() {
    return SaveTopK(stub(), {3, 1, 4, 2}, 2).session_id();
  }

  // Sends `request` with its session placeholders replaced.
  grpc::Status Send(Request request) {
    auto substitute = [this](std::string* id) {
      if (id->empty() || (*id)[0] != '$') return;
      const std::string& live = sessions_.at(kLive);
      if (*id == kLiveUpper) {
        *id = absl::AsciiStrToUpper(live);
      } else if (*id == kLiveShort) {
        *id = live.substr(0, live.size() - 1);
      } else if (*id == kLiveLong) {
        *id = live + "0";
      } else {
        *id = sessions_.at(*id);
      }
    };
    auto context = ContextWithTimeout();
    if (auto* r = std::get_if<v1::ZerosLikeRequest>(&request)) {
      v1::ZerosLikeResponse response;
      return stub().ZerosLike(context.get(), *r, &response);
    }
    if (auto* r = std::get_if<v1::OnesLikeRequest>(&request)) {
      v1::OnesLikeResponse response;
      return stub().OnesLike(context.get(), *r, &response);
    }
    if (auto* r = std::get_if<v1::TopKRequest>(&request)) {
      v1::TopKResponse response;
      return stub().TopK(context.get(), *r, &response);
    }
    if (auto* r = std::get_if<v1::BackwardRequest>(&request)) {
      substitute(r->mutable_session_id());
      v1::BackwardResponse response;
      return stub().Backward(context.get(), *r, &response);
    }
    auto& release = std::get<v1::ReleaseSessionRequest>(request);
    substitute(release.mutable_session_id());
    v1::ReleaseSessionResponse response;
    return stub().ReleaseSession(context.get(), release, &response);
  }

  // Polls the in-process server's /metrics until `series` is `value`
  // (calls are counted once done on the server, a moment after their
  // client returns); the last value seen.
  static std::optional<double> WaitForMetric(int port,
                                             const std::string& series,
                                             double value) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    std::optional<double> seen;
    do {
      seen = MetricValue(HttpGet(port, "/metrics"), series);
      if (seen == value) break;
      absl::SleepFor(absl::Milliseconds(10));
    } while (absl::Now() < deadline);
    return seen;
  }

  std::unique_ptr<TestServer> server_;
  std::map<std::string, std::string> sessions_;
};

TEST(BadInputBatteryTableTest, CoversEveryCategory) {
  const std::vector<Case> cases = BuildBattery();
  EXPECT_GE(cases.size(), 200u);
  std::map<std::string, int> per_category;
  for (const Case& c : cases) ++per_category[c.category];
  for (const char* category :
       {"missing tensor", "data size", "negative shape", "overflowing shape",
        "unknown dtype", "k out of range", "dim out of range", "bool topk",
        "wrong grad", "index out of range", "malformed session id",
        "unknown session id", "used session id",
        "session plus stateless fields", "too large"}) {
    EXPECT_GE(per_category[category], 3) << category;
  }
  EXPECT_EQ(per_category.size(), 15u);
}

TEST_F(BadInputBatteryTest, EveryCaseGetsItsCodeAndTheServerKeepsServing) {
  // The sessions the table refers to.
  sessions_[kLive] = SaveSession();
  sessions_[kConsumed] = SaveSession();
  sessions_[kReleased] = SaveSession();
  {
    v1::BackwardRequest consume = OnSession(sessions_[kConsumed]);
    consume.set_retain_session(false);
    ASSERT_TRUE(Send(consume).ok());
    ASSERT_TRUE(Send(Release(sessions_[kReleased])).ok());
  }

  const std::vector<Case> cases = BuildBattery();
  std::map<std::string, int> per_category;
  // (method, code) -> calls the service should have counted.
  std::map<std::pair<std::string, std::string>, int> expected_counts;
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("[", c.category, "] ", c.name));
    const grpc::Status status = Send(c.request);
    ++per_category[c.category];
    EXPECT_EQ(status.error_code(), c.code)
        << "message: " << status.error_message();
    EXPECT_FALSE(status.error_message().empty());
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
    // Messages quote what was wrong, but never echo a huge input back.
    EXPECT_LT(status.error_message().size(), 1024u);
    ++expected_counts[{kMethodNames[c.request.index()],
                       StatusCodeName(c.code)}];
  }
  std::string summary;
  for (const auto& [category, count] : per_category) {
    absl::StrAppend(&summary, "  ", category, ": ", count, "\n");
  }
  std::printf("%zu malformed requests by category:\n%s", cases.size(),
              summary.c_str());

  // The error paths consumed no session: the live one still works and is
  // the only one held.
  {
    v1::BackwardRequest request = OnSession(sessions_[kLive]);
    request.set_retain_session(false);
    v1::BackwardResponse response;
    grpc::Status status =
        stub().Backward(ContextWithTimeout().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(WireValues<float>(response.grad_input()),
              std::vector<float>({2, 0, 1, 0}));
  }
  v1::GetServerInfoResponse info;
  ASSERT_TRUE(stub()
                  .GetServerInfo(ContextWithTimeout().get(),
                                 v1::GetServerInfoRequest(), &info)
                  .ok());
  EXPECT_EQ(info.session_count(), 0);
  EXPECT_EQ(info.session_bytes(), 0);

  // Valid requests still get correct answers.
  v1::TopKRequest topk;
  *topk.mutable_input() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {2, 3}, {1, 5, 3, 6, 4, 2});
  topk.set_k(2);
  topk.set_save_for_backward(true);
  v1::TopKResponse selected;
  grpc::Status status =
      stub().TopK(ContextWithTimeout().get(), topk, &selected);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(WireValues<float>(selected.values()),
            std::vector<float>({5, 3, 6, 4}));
  EXPECT_EQ(WireValues<int64_t>(selected.indices()),
            std::vector<int64_t>({1, 2, 0, 1}));
  v1::BackwardRequest backward;
  backward.set_session_id(selected.session_id());
  *backward.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {2, 2}, {10, 20, 30, 40});
  v1::BackwardResponse grad;
  status = stub().Backward(ContextWithTimeout().get(), backward, &grad);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(WireValues<float>(grad.grad_input()),
            std::vector<float>({0, 10, 20, 30, 40, 0}));
  v1::BackwardResponse stateless;
  status = stub().Backward(ContextWithTimeout().get(), ValidStatelessBackward(),
                           &stateless);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(WireValues<float>(stateless.grad_input()),
            std::vector<float>({0, 2, 1, 3, 0, 4}));
  v1::ZerosLikeRequest zeros;
  *zeros.mutable_input() = WireTensor<int16_t>(v1::DTYPE_INT16, {3}, {7, 8, 9});
  zeros.set_dtype(v1::DTYPE_FLOAT64);
  v1::ZerosLikeResponse zeroed;
  status = stub().ZerosLike(ContextWithTimeout().get(), zeros, &zeroed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(zeroed.output().dtype(), v1::DTYPE_FLOAT64);
  EXPECT_EQ(WireValues<double>(zeroed.output()),
            std::vector<double>({0, 0, 0}));

  RawResponse health =
      RawUnary(server_->channel(), "/grpc.health.v1.Health/Check", "");
  ASSERT_TRUE(health.status.ok()) << health.status.error_message();
  EXPECT_EQ(health.message, std::string("\x08\x01", 2));  // SERVING

  // Every refusal was counted under its method and code (recorded when
  // each call is done on the server, a moment after its client returns).
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  std::vector<std::string> mismatches;
  do {
    mismatches.clear();
    const std::string metrics =
        HttpGet(server_->server().metrics_port(), "/metrics");
    for (const auto& [key, count] : expected_counts) {
      const std::optional<double> value =
          MetricValue(metrics, RequestsSeries(key.first, key.second));
      if (value != count) {
        mismatches.push_back(absl::StrCat(key.first, " ", key.second,
                                          ": expected ", count, ", got ",
                                          value.value_or(-1)));
      }
    }
    if (mismatches.empty()) break;
    absl::SleepFor(absl::Milliseconds(20));
  } while (absl::Now() < deadline);
  EXPECT_THAT(mismatches, ::testing::IsEmpty());
}

// A length-delimited field (tag, one-byte length, bytes).
std::string Field(int number, const std::string& value) {
  return std::string(1, static_cast<char>(number << 3 | 2)) +
         std::string(1, static_cast<char>(value.size())) + value;
}

TEST_F(BadInputBatteryTest, BytesThatAreNotARequestGetInvalidArgument) {
  // The service parses requests itself (raw methods), so bytes that are not
  // the method's request get INVALID_ARGUMENT naming the message type, and
  // are counted, instead of gRPC's bare UNIMPLEMENTED.
  const std::vector<std::pair<std::string, std::string>> garbage = {
      {"invalid tag varint", std::string(11, '\xff')},
      {"field number 0", std::string("\x00\x01", 2)},
      {"truncated length-delimited field",
       "\x0a\x05"
       "ab"},
      {"length beyond the message", "\x0a\x7f"},
      {"truncated varint", "\x10\x80"},
      {"unterminated group", "\x0b"},
      {"end-group without start", "\x0c"},
      {"reserved wire type 6", "\x0e"},
      {"reserved wire type 7", "\x0f"},
      {"truncated fixed64", "\x11\x01\x02"},
      {"truncated fixed32", "\x15\x01"},
  };
  const std::string kTopK = "/tensorops.v1.TensorOps/TopK";
  const std::string kBackward = "/tensorops.v1.TensorOps/Backward";
  const std::string kRelease = "/tensorops.v1.TensorOps/ReleaseSession";
  const std::vector<std::string> methods = {
      kTopK, kBackward, "/tensorops.v1.TensorOps/ZerosLike",
      "/tensorops.v1.TensorOps/OnesLike", kRelease};
  // Broken inside a field only some requests have.
  const std::string truncated_tensor =
      "\x1a\x10"
      "abc";                                          // data: 16 of 3
  const std::string bad_tag_tensor = "\x08\xff\xff";  // dtype varint
  const std::string invalid_utf8 = "\xff\xfe\xfd";
  std::map<std::string, std::vector<std::pair<std::string, std::string>>>
      specific = {
          {kTopK,
           {{"input truncated", Field(1, truncated_tensor)},
            {"input with a truncated varint", Field(1, bad_tag_tensor)}}},
          {kBackward,
           {{"grad_values truncated", Field(2, truncated_tensor)},
            {"indices truncated", Field(4, truncated_tensor)},
            {"grad_values with a truncated varint", Field(2, bad_tag_tensor)},
            // proto3 strings must be UTF-8; protobuf refuses to parse them.
            {"invalid UTF-8 session_id", Field(1, invalid_utf8)}}},
          {kRelease, {{"invalid UTF-8 session_id", Field(1, invalid_utf8)}}},
          {"/tensorops.v1.TensorOps/ZerosLike",
           {{"input truncated", Field(1, truncated_tensor)}}},
          {"/tensorops.v1.TensorOps/OnesLike",
           {{"input truncated", Field(1, truncated_tensor)}}},
      };
  int cases = 0;
  std::map<std::string, int> cases_of;
  for (const std::string& method : methods) {
    const std::string name = method.substr(method.rfind('/') + 1);
    auto inputs = garbage;
    inputs.insert(inputs.end(), specific[method].begin(),
                  specific[method].end());
    for (const auto& [what, bytes] : inputs) {
      SCOPED_TRACE(method + ": " + what);
      RawResponse response = RawUnary(server_->channel(), method, bytes);
      EXPECT_EQ(response.status.error_code(),
                grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_THAT(response.status.error_message(),
                  HasSubstr("the request is not a valid tensorops.v1." + name +
                            "Request"));
      EXPECT_TRUE(response.message.empty());
      ++cases;
      ++cases_of[name];
    }
  }
  EXPECT_GE(cases, 50);
  // An unknown method of the service.
  RawResponse unknown =
      RawUnary(server_->channel(), "/tensorops.v1.TensorOps/Nope", "");
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::UNIMPLEMENTED);

  // The service still answers.
  ExpectOnesLikeWorks(stub());
  // Every refusal was counted as INVALID_ARGUMENT of its method.
  const int port = server_->server().metrics_port();
  EXPECT_EQ(WaitForMetric(port, RequestsSeries("OnesLike", "OK"), 1.0), 1.0);
  const std::string metrics = HttpGet(port, "/metrics");
  for (const auto& [method, count] : cases_of) {
    EXPECT_EQ(MetricValue(metrics, RequestsSeries(method, "INVALID_ARGUMENT")),
              count)
        << method;
    for (const char* code : {"UNIMPLEMENTED", "INTERNAL"}) {
      EXPECT_EQ(MetricValue(metrics, RequestsSeries(method, code)),
                std::nullopt)
          << method << " " << code;
    }
  }
}

}  // namespace
}  // namespace tensorops::server::testing
