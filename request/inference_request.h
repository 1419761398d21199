// The Open Inference Protocol (KServe v2) as a front of the TensorOps
// requests: each operation is a model, and a ModelInferRequest is
// translated into the tensorops.v1 request it means, so that the request
// layer's planners validate it exactly as they validate our own API's.
//
// What a model takes is read from its TensorOps request message: its
// inputs are the message's Tensor fields (by field name: "input";
// "grad_values", "indices"), its parameters the scalar fields ("k", "dim",
// "largest", ...), and its outputs the Tensor fields of the response
// ("values", "indices"; "output"; "grad_input"), whose string fields
// ("session_id") come back as response parameters. No transport here: gRPC
// and HTTP/JSON both build a ModelInferRequest and call the same function.
#ifndef TENSOROPS_REQUEST_INFERENCE_REQUEST_H_
#define TENSOROPS_REQUEST_INFERENCE_REQUEST_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/chunked_tensor.h"
#include "core/dtype.h"
#include "google/protobuf/message.h"
#include "inference/open_inference.pb.h"

namespace tensorops::request {

// One model: a TensorOps RPC under the protocol's name.
struct InferenceModel {
  absl::string_view name;    // "topk"
  absl::string_view method;  // "TopK": its tensorops.v1.TensorOps RPC
  const google::protobuf::Descriptor* request = nullptr;   // TopKRequest
  const google::protobuf::Descriptor* response = nullptr;  // TopKResponse
  // Derived from the messages: the Tensor fields of the request (inputs)
  // and of the response (outputs), the request's scalar fields
  // (parameters) and the response's string fields (response parameters).
  std::vector<const google::protobuf::FieldDescriptor*> inputs;
  std::vector<const google::protobuf::FieldDescriptor*> outputs;
  std::vector<const google::protobuf::FieldDescriptor*> parameters;
  std::vector<const google::protobuf::FieldDescriptor*> response_parameters;
};

// Every model, in the TensorOps service's method order.
absl::Span<const InferenceModel> InferenceModels();
// The model called `name`; null if there is none.
const InferenceModel* FindInferenceModel(absl::string_view name);
// "zeros_like, ones_like, topk, ..."
std::string InferenceModelList();

// The protocol's datatype name of a dtype ("FP32", "BF16", "BOOL", ...).
absl::string_view DatatypeName(DType dtype);
// Inverse of DatatypeName; INVALID_ARGUMENT naming `field` for names this
// server does not serve (e.g. "BYTES", "UINT16").
absl::StatusOr<DType> DTypeFromDatatype(absl::string_view datatype,
                                        absl::string_view field);

// A ModelInferRequest as its TensorOps request.
struct InferCall {
  const InferenceModel* model = nullptr;
  // The model's request message (e.g. a tensorops.v1.TopKRequest), its
  // parameters set and its input tensors' dtype and shape set, their data
  // left empty: the bytes are in input_bytes.
  std::unique_ptr<google::protobuf::Message> request;
  // Per model input (model->inputs' order): the tensor's bytes, read in
  // place from raw_input_contents or converted from typed contents (owned
  // below); nullopt when the request did not give that input.
  std::vector<std::optional<ChunkedBytes>> input_bytes;
  // Per model output: whether to return it (the request's `outputs`, or
  // all when it names none).
  std::vector<bool> returned;
  // Typed contents converted to raw bytes, which input_bytes point into.
  std::vector<std::unique_ptr<std::string>> converted;
};

// Translates `request`. INVALID_ARGUMENT, with a message saying what was
// expected, for a request that names no model or one with an unknown
// model, wrong version, unknown, duplicate or missing inputs, an unknown
// datatype, contents that do not match the datatype or shape, raw and typed
// contents mixed, an unknown parameter or one of the wrong type, or an
// unknown requested output. (An unknown model is reported as NOT_FOUND.)
// The returned call reads `request`'s raw_input_contents in place: the
// request must outlive it.
absl::StatusOr<InferCall> TranslateInferRequest(
    const inference::ModelInferRequest& request);

// The model's metadata (ModelMetadata): name, version "1", platform
// "tensorops", and each input and output with its datatype where fixed
// (indices: INT64) and shape [-1] (any rank).
inference::ModelMetadataResponse ModelMetadataOf(const InferenceModel& model);

}  // namespace tensorops::request

#endif  // TENSOROPS_REQUEST_INFERENCE_REQUEST_H_
