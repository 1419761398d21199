// The Open Inference Protocol's HTTP/REST bodies (open_inference_rest.yaml)
// to and from its gRPC messages, so that REST calls go through the very same
// translation and checks (request/inference_request.h). No transport here.
#ifndef TENSOROPS_REQUEST_INFERENCE_JSON_H_
#define TENSOROPS_REQUEST_INFERENCE_JSON_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "inference/open_inference.pb.h"

namespace tensorops::request {

// A JSON inference request ("$request_body": id, parameters, inputs with
// name, shape, datatype and data (flat or nested, row-major), outputs) for
// `model_name` at `model_version` (from the URL), as a ModelInferRequest
// with typed contents. FP16 and BF16 data are taken as numbers and rounded
// as PyTorch does. INVALID_ARGUMENT, saying what was expected, for JSON
// that does not parse or does not have the protocol's shape; also for more
// than `max_elements` values in all.
absl::StatusOr<inference::ModelInferRequest> InferRequestFromJson(
    absl::string_view body, absl::string_view model_name,
    absl::string_view model_version, int64_t max_elements);

// The JSON inference response: model_name, model_version, id, parameters
// and outputs with name, datatype, shape and data (flat), read from the
// response's raw_output_contents. Non-finite floats, which JSON cannot
// write, become the strings "nan", "inf" and "-inf".
std::string InferResponseToJson(const inference::ModelInferResponse& response);

// The metadata bodies: /v2 and /v2/models/{name}.
std::string ServerMetadataToJson(
    const inference::ServerMetadataResponse& metadata);
std::string ModelMetadataToJson(
    const inference::ModelMetadataResponse& metadata);

// {"error": message}: the protocol's error body.
std::string ErrorToJson(absl::string_view message);

}  // namespace tensorops::request

#endif  // TENSOROPS_REQUEST_INFERENCE_JSON_H_
