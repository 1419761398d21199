#include "request/inference_json.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/dtype.h"
#include "core/half_float.h"
#include "core/status_macros.h"
#include "request/inference_request.h"

namespace tensorops::request {
namespace {

using inference::InferParameter;
using nlohmann::json;

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(what);
}

absl::StatusOr<InferParameter> ParameterFromJson(const json& value,
                                                 absl::string_view where) {
  InferParameter parameter;
  if (value.is_boolean()) {
    parameter.set_bool_param(value.get<bool>());
  } else if (value.is_number_unsigned()) {
    const uint64_t number = value.get<uint64_t>();
    if (number <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      parameter.set_int64_param(static_cast<int64_t>(number));
    } else {
      parameter.set_uint64_param(number);
    }
  } else if (value.is_number_integer()) {
    parameter.set_int64_param(value.get<int64_t>());
  } else if (value.is_number_float()) {
    parameter.set_double_param(value.get<double>());
  } else if (value.is_string()) {
    parameter.set_string_param(value.get<std::string>());
  } else {
    return Malformed(
        absl::StrCat(where, " must be a boolean, a number or a string"));
  }
  return parameter;
}

absl::Status ParametersFromJson(
    const json& object, absl::string_view where,
    google::protobuf::Map<std::string, InferParameter>* out) {
  if (!object.is_object()) {
    return Malformed(absl::StrCat(where, " must be an object"));
  }
  for (const auto& [name, value] : object.items()) {
    TENSOROPS_ASSIGN_OR_RETURN(
        (*out)[name], ParameterFromJson(value, absl::StrCat(where, ".", name)));
  }
  return absl::OkStatus();
}

template <typename T>
void AppendBytes(T value, std::string* out) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out->append(bytes, sizeof(T));
}

template <typename T>
bool AppendInteger(const json& value, std::string* out) {
  if (!value.is_number_integer()) return false;
  if (value.is_number_unsigned()) {
    const uint64_t number = value.get<uint64_t>();
    if (number > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
      return false;
    }
    AppendBytes(static_cast<T>(number), out);
    return true;
  }
  const int64_t number = value.get<int64_t>();
  if (number < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
      (number > 0 &&
       static_cast<uint64_t>(number) >
           static_cast<uint64_t>(std::numeric_limits<T>::max()))) {
    return false;
  }
  AppendBytes(static_cast<T>(number), out);
  return true;
}

// One element of `dtype` from a JSON value, as little-endian bytes; false
// if the value is not one of that datatype.
bool AppendElement(DType dtype, const json& value, std::string* out) {
  switch (dtype) {
    case DType::kBool:
      if (!value.is_boolean()) return false;
      out->push_back(value.get<bool>() ? 1 : 0);
      return true;
    case DType::kInt8:
      return AppendInteger<int8_t>(value, out);
    case DType::kInt16:
      return AppendInteger<int16_t>(value, out);
    case DType::kInt32:
      return AppendInteger<int32_t>(value, out);
    case DType::kInt64:
      return AppendInteger<int64_t>(value, out);
    case DType::kUInt8:
      return AppendInteger<uint8_t>(value, out);
    case DType::kFloat32:
    case DType::kFloat64:
    case DType::kFloat16:
    case DType::kBFloat16:
      break;
  }
  if (!value.is_number()) return false;
  const double number = value.get<double>();
  switch (dtype) {
    case DType::kFloat64:
      AppendBytes(number, out);
      break;
    case DType::kFloat32:
      AppendBytes(static_cast<float>(number), out);
      break;
    case DType::kFloat16:
      AppendBytes(FloatToHalf(static_cast<float>(number)), out);
      break;
    default:
      AppendBytes(FloatToBFloat16(static_cast<float>(number)), out);
      break;
  }
  return true;
}

// Appends the elements of `data` (flat or nested arrays), row-major.
absl::Status AppendData(DType dtype, const json& data, absl::string_view where,
                        int64_t& budget, std::string* out) {
  if (data.is_array()) {
    for (const json& item : data) {
      TENSOROPS_RETURN_IF_ERROR(AppendData(dtype, item, where, budget, out));
    }
    return absl::OkStatus();
  }
  if (--budget < 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        where,
        " makes the request hold more values than this server takes "
        "(--max_tensor_elements); send large tensors over gRPC"));
  }
  if (!AppendElement(dtype, data, out)) {
    return Malformed(absl::StrCat(where, " holds ", data.dump(),
                                  ", which is not a ", DatatypeName(dtype),
                                  " value"));
  }
  return absl::OkStatus();
}

template <typename T>
T Load(const std::string& raw, size_t i) {
  T value;
  std::memcpy(&value, raw.data() + i * sizeof(T), sizeof(T));
  return value;
}

json FloatToJson(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

json DataToJson(DType dtype, const std::string& raw) {
  json data = json::array();
  const size_t count = raw.size() / DTypeSize(dtype);
  for (size_t i = 0; i < count; ++i) {
    switch (dtype) {
      case DType::kFloat32:
        data.push_back(FloatToJson(Load<float>(raw, i)));
        break;
      case DType::kFloat64:
        data.push_back(FloatToJson(Load<double>(raw, i)));
        break;
      case DType::kFloat16:
        data.push_back(FloatToJson(HalfToFloat(Load<uint16_t>(raw, i))));
        break;
      case DType::kBFloat16:
        data.push_back(FloatToJson(BFloat16ToFloat(Load<uint16_t>(raw, i))));
        break;
      case DType::kInt8:
        data.push_back(Load<int8_t>(raw, i));
        break;
      case DType::kInt16:
        data.push_back(Load<int16_t>(raw, i));
        break;
      case DType::kInt32:
        data.push_back(Load<int32_t>(raw, i));
        break;
      case DType::kInt64:
        data.push_back(Load<int64_t>(raw, i));
        break;
      case DType::kUInt8:
        data.push_back(Load<uint8_t>(raw, i));
        break;
      case DType::kBool:
        data.push_back(raw[i] != 0);
        break;
    }
  }
  return data;
}

json ParameterToJson(const InferParameter& parameter) {
  switch (parameter.parameter_choice_case()) {
    case InferParameter::kBoolParam:
      return parameter.bool_param();
    case InferParameter::kInt64Param:
      return parameter.int64_param();
    case InferParameter::kUint64Param:
      return parameter.uint64_param();
    case InferParameter::kDoubleParam:
      return parameter.double_param();
    case InferParameter::kStringParam:
      return parameter.string_param();
    case InferParameter::PARAMETER_CHOICE_NOT_SET:
      break;
  }
  return nullptr;
}

absl::Status InputFromJson(const json& input, int index, int64_t& budget,
                           inference::ModelInferRequest* request) {
  const std::string where = absl::StrCat("inputs[", index, "]");
  if (!input.is_object()) {
    return Malformed(absl::StrCat(where, " must be an object"));
  }
  auto* tensor = request->add_inputs();
  for (absl::string_view key : {"name", "datatype"}) {
    const auto field = input.find(key);
    if (field == input.end() || !field->is_string()) {
      return Malformed(absl::StrCat(where, ".", key, " must be a string"));
    }
  }
  tensor->set_name(input["name"].get<std::string>());
  tensor->set_datatype(input["datatype"].get<std::string>());
  const auto shape = input.find("shape");
  if (shape == input.end() || !shape->is_array()) {
    return Malformed(
        absl::StrCat(where, ".shape must be an array of integers"));
  }
  for (const json& dim : *shape) {
    if (!dim.is_number_integer() ||
        (dim.is_number_unsigned() &&
         dim.get<uint64_t>() >
             static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))) {
      return Malformed(
          absl::StrCat(where, ".shape must be an array of integers"));
    }
    tensor->add_shape(dim.get<int64_t>());
  }
  if (const auto parameters = input.find("parameters");
      parameters != input.end()) {
    TENSOROPS_RETURN_IF_ERROR(
        ParametersFromJson(*parameters, absl::StrCat(where, ".parameters"),
                           tensor->mutable_parameters()));
  }
  // Every input travels as raw bytes: the one form that takes every
  // datatype (16-bit floats have no typed contents).
  std::string* raw = request->add_raw_input_contents();
  const auto data = input.find("data");
  if (data == input.end()) return absl::OkStatus();  // *_like need none
  TENSOROPS_ASSIGN_OR_RETURN(
      DType dtype,
      DTypeFromDatatype(tensor->datatype(), absl::StrCat(where, ".datatype")));
  return AppendData(dtype, *data, absl::StrCat(where, ".data"), budget, raw);
}

}  // namespace

absl::StatusOr<inference::ModelInferRequest> InferRequestFromJson(
    absl::string_view body, absl::string_view model_name,
    absl::string_view model_version, int64_t max_elements) {
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Malformed(
        "the request body is not JSON; expected an inference request object "
        "{\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}], ...}");
  }
  if (!parsed.is_object()) {
    return Malformed("the request body must be a JSON object");
  }
  inference::ModelInferRequest request;
  request.set_model_name(std::string(model_name));
  request.set_model_version(std::string(model_version));
  if (const auto id = parsed.find("id"); id != parsed.end()) {
    if (!id->is_string()) return Malformed("id must be a string");
    request.set_id(id->get<std::string>());
  }
  if (const auto parameters = parsed.find("parameters");
      parameters != parsed.end()) {
    TENSOROPS_RETURN_IF_ERROR(ParametersFromJson(*parameters, "parameters",
                                                 request.mutable_parameters()));
  }
  const auto inputs = parsed.find("inputs");
  if (inputs == parsed.end() || !inputs->is_array()) {
    return Malformed("inputs must be an array of tensors");
  }
  int64_t budget = max_elements;
  for (size_t i = 0; i < inputs->size(); ++i) {
    TENSOROPS_RETURN_IF_ERROR(
        InputFromJson((*inputs)[i], static_cast<int>(i), budget, &request));
  }
  if (const auto outputs = parsed.find("outputs"); outputs != parsed.end()) {
    if (!outputs->is_array()) return Malformed("outputs must be an array");
    for (size_t i = 0; i < outputs->size(); ++i) {
      const json& output = (*outputs)[i];
      const auto name = output.is_object() ? output.find("name") : output.end();
      if (!output.is_object() || name == output.end() || !name->is_string()) {
        return Malformed(
            absl::StrCat("outputs[", i, "] must be an object with a name"));
      }
      // Output parameters (binary_data, ...) ask for forms this server
      // does not send; the data comes back as JSON either way.
      request.add_outputs()->set_name(name->get<std::string>());
    }
  }
  return request;
}

std::string InferResponseToJson(const inference::ModelInferResponse& response) {
  json body = {{"model_name", response.model_name()},
               {"model_version", response.model_version()}};
  if (!response.id().empty()) body["id"] = response.id();
  if (!response.parameters().empty()) {
    json parameters = json::object();
    for (const auto& [name, value] : response.parameters()) {
      parameters[name] = ParameterToJson(value);
    }
    body["parameters"] = std::move(parameters);
  }
  json outputs = json::array();
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& output = response.outputs(i);
    json tensor = {{"name", output.name()},
                   {"datatype", output.datatype()},
                   {"shape", json(std::vector<int64_t>(output.shape().begin(),
                                                       output.shape().end()))}};
    absl::StatusOr<DType> dtype = DTypeFromDatatype(output.datatype(), "");
    if (dtype.ok() && i < response.raw_output_contents_size()) {
      tensor["data"] = DataToJson(*dtype, response.raw_output_contents(i));
    }
    outputs.push_back(std::move(tensor));
  }
  body["outputs"] = std::move(outputs);
  return body.dump();
}

std::string ServerMetadataToJson(
    const inference::ServerMetadataResponse& metadata) {
  return json{{"name", metadata.name()},
              {"version", metadata.version()},
              {"extensions",
               json(std::vector<std::string>(metadata.extensions().begin(),
                                             metadata.extensions().end()))}}
      .dump();
}

std::string ModelMetadataToJson(
    const inference::ModelMetadataResponse& metadata) {
  const auto tensors = [](const auto& list) {
    json out = json::array();
    for (const auto& tensor : list) {
      out.push_back(
          {{"name", tensor.name()},
           {"datatype", tensor.datatype()},
           {"shape", json(std::vector<int64_t>(tensor.shape().begin(),
                                               tensor.shape().end()))}});
    }
    return out;
  };
  return json{
      {"name", metadata.name()},
      {"versions", json(std::vector<std::string>(metadata.versions().begin(),
                                                 metadata.versions().end()))},
      {"platform", metadata.platform()},
      {"inputs", tensors(metadata.inputs())},
      {"outputs", tensors(metadata.outputs())}}
      .dump();
}

std::string ErrorToJson(absl::string_view message) {
  return json{{"error", std::string(message)}}.dump();
}

}  // namespace tensorops::request
