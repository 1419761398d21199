#include "request/inference_request.h"

#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "proto/service_methods.h"
#include "proto/tensor_codec.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::request {
namespace {

namespace pb = ::google::protobuf;
namespace v1 = ::tensorops::v1;
using inference::InferParameter;
using inference::ModelInferRequest;

// The models: the protocol's name of each TensorOps RPC that computes on
// tensors. Everything else about a model is read from its messages.
constexpr struct {
  absl::string_view name;
  absl::string_view method;
} kModelNames[] = {
    {"zeros_like", "ZerosLike"},
    {"ones_like", "OnesLike"},
    {"topk", "TopK"},
    {"sort", "Sort"},
    {"kthvalue", "KthValue"},
    {"max", "Max"},
    {"min", "Min"},
    {"median", "Median"},
    {"topk_backward", "Backward"},
};

// The protocol's datatype names (its "Tensor Data Types" table).
constexpr struct {
  DType dtype;
  absl::string_view name;
} kDatatypes[] = {
    {DType::kFloat32, "FP32"}, {DType::kFloat64, "FP64"},
    {DType::kFloat16, "FP16"}, {DType::kBFloat16, "BF16"},
    {DType::kInt8, "INT8"},    {DType::kInt16, "INT16"},
    {DType::kInt32, "INT32"},  {DType::kInt64, "INT64"},
    {DType::kUInt8, "UINT8"},  {DType::kBool, "BOOL"},
};

// Request parameters that Triton's clients may send on their own and that
// mean nothing for an operation; accepted and ignored.
constexpr absl::string_view kIgnoredParameters[] = {
    "sequence_id", "sequence_start", "sequence_end",
    "priority",    "timeout",        "binary_data_output"};

bool IsTensorField(const pb::FieldDescriptor& field) {
  return field.message_type() == v1::Tensor::descriptor();
}

InferenceModel DescribeModel(absl::string_view name, absl::string_view method) {
  const pb::MethodDescriptor* rpc =
      wire::TensorOpsServiceDescriptor().FindMethodByName(std::string(method));
  InferenceModel model;
  model.name = name;
  model.method = method;
  model.request = rpc->input_type();
  model.response = rpc->output_type();
  for (int i = 0; i < model.request->field_count(); ++i) {
    const pb::FieldDescriptor* field = model.request->field(i);
    if (IsTensorField(*field)) {
      model.inputs.push_back(field);
    } else if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      model.parameters.push_back(field);
    }
  }
  for (int i = 0; i < model.response->field_count(); ++i) {
    const pb::FieldDescriptor* field = model.response->field(i);
    if (IsTensorField(*field)) model.outputs.push_back(field);
    if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
      model.response_parameters.push_back(field);
    }
  }
  return model;
}

template <typename Fields>
std::string NameList(const Fields& fields) {
  std::string list;
  for (const pb::FieldDescriptor* field : fields) {
    absl::StrAppend(&list, list.empty() ? "" : ", ", field->name());
  }
  return list.empty() ? "none" : list;
}

// "2,5", "[2, 5]" or "" (a 0-d shape) into dims.
absl::Status ParseIntList(absl::string_view text, absl::string_view where,
                          const pb::FieldDescriptor& field,
                          pb::Message& message) {
  text = absl::StripAsciiWhitespace(text);
  absl::ConsumePrefix(&text, "[");
  absl::ConsumeSuffix(&text, "]");
  if (absl::StripAsciiWhitespace(text).empty()) return absl::OkStatus();
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(item), &value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " must list integers like \"2,5\"; got \"", text, "\""));
    }
    message.GetReflection()->AddInt64(&message, &field, value);
  }
  return absl::OkStatus();
}

absl::StatusOr<DType> DTypeFromAnyName(absl::string_view name,
                                       absl::string_view where) {
  if (std::optional<DType> torch = DTypeFromName(name)) return *torch;
  return DTypeFromDatatype(name, where);
}

// Sets `field` of `message` from a parameter's value, of the type the field
// needs.
absl::Status SetParameter(const pb::FieldDescriptor& field,
                          const InferParameter& value, absl::string_view model,
                          pb::Message& message) {
  const pb::Reflection& reflection = *message.GetReflection();
  const std::string where =
      absl::StrCat("parameter '", field.name(), "' of model ", model);
  const auto wrong_type = [&](absl::string_view expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " must be ", expected));
  };
  const auto choice = value.parameter_choice_case();
  if (field.is_repeated()) {
    if (choice != InferParameter::kStringParam) {
      return wrong_type("a string_param listing integers, like \"2,5\"");
    }
    return ParseIntList(value.string_param(), where, field, message);
  }
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT64:
      if (choice == InferParameter::kInt64Param) {
        reflection.SetInt64(&message, &field, value.int64_param());
        return absl::OkStatus();
      }
      if (choice == InferParameter::kUint64Param &&
          value.uint64_param() <=
              static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        reflection.SetInt64(&message, &field,
                            static_cast<int64_t>(value.uint64_param()));
        return absl::OkStatus();
      }
      return wrong_type("an integer (int64_param)");
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      if (choice != InferParameter::kBoolParam) {
        return wrong_type("a boolean (bool_param)");
      }
      reflection.SetBool(&message, &field, value.bool_param());
      return absl::OkStatus();
    case pb::FieldDescriptor::CPPTYPE_STRING:
      if (choice != InferParameter::kStringParam) {
        return wrong_type("a string (string_param)");
      }
      reflection.SetString(&message, &field, value.string_param());
      return absl::OkStatus();
    case pb::FieldDescriptor::CPPTYPE_ENUM: {  // a dtype
      if (choice != InferParameter::kStringParam) {
        return wrong_type("a datatype name like \"FP32\" (string_param)");
      }
      TENSOROPS_ASSIGN_OR_RETURN(DType dtype,
                                 DTypeFromAnyName(value.string_param(), where));
      reflection.SetEnumValue(&message, &field, wire::DTypeToProto(dtype));
      return absl::OkStatus();
    }
    default:
      return absl::InternalError(absl::StrCat(where, " has no conversion"));
  }
}

// Copies `values` as `Out` elements into raw little-endian bytes, checking
// each fits `Out` (a typed contents field is wider than INT8/UINT8...).
template <typename Out, typename Values>
absl::StatusOr<std::unique_ptr<std::string>> PackContents(
    const Values& values, int64_t elements, absl::string_view where,
    absl::string_view contents_field) {
  if (static_cast<int64_t>(values.size()) != elements) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " has ", values.size(), " values in contents.", contents_field,
        "; its shape and datatype expect ", elements));
  }
  auto bytes = std::make_unique<std::string>(values.size() * sizeof(Out), '\0');
  char* out = bytes->data();
  for (const auto& value : values) {
    if constexpr (!std::is_same_v<Out, bool> &&
                  !std::is_floating_point_v<Out>) {
      if (value < std::numeric_limits<Out>::min() ||
          value > std::numeric_limits<Out>::max()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " holds ", value, " in contents.",
                         contents_field, ", out of its datatype's range"));
      }
    }
    const Out element = static_cast<Out>(value);
    std::memcpy(out, &element, sizeof(Out));
    out += sizeof(Out);
  }
  return bytes;
}

absl::StatusOr<std::unique_ptr<std::string>> ContentsToBytes(
    const ModelInferRequest::InferInputTensor& input, DType dtype,
    int64_t elements, absl::string_view where) {
  const inference::InferTensorContents& c = input.contents();
  switch (dtype) {
    case DType::kFloat32:
      return PackContents<float>(c.fp32_contents(), elements, where,
                                 "fp32_contents");
    case DType::kFloat64:
      return PackContents<double>(c.fp64_contents(), elements, where,
                                  "fp64_contents");
    case DType::kInt8:
      return PackContents<int8_t>(c.int_contents(), elements, where,
                                  "int_contents");
    case DType::kInt16:
      return PackContents<int16_t>(c.int_contents(), elements, where,
                                   "int_contents");
    case DType::kInt32:
      return PackContents<int32_t>(c.int_contents(), elements, where,
                                   "int_contents");
    case DType::kInt64:
      return PackContents<int64_t>(c.int64_contents(), elements, where,
                                   "int64_contents");
    case DType::kUInt8:
      return PackContents<uint8_t>(c.uint_contents(), elements, where,
                                   "uint_contents");
    case DType::kBool:
      return PackContents<bool>(c.bool_contents(), elements, where,
                                "bool_contents");
    case DType::kFloat16:
    case DType::kBFloat16:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, " is ", input.datatype(),
                   ", which travels only in raw_input_contents (the protocol "
                   "has no typed contents for 16-bit floats)"));
}

int FieldIndex(const std::vector<const pb::FieldDescriptor*>& fields,
               absl::string_view name) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i]->name() == name) return static_cast<int>(i);
  }
  return -1;
}

absl::Status TranslateInputs(const ModelInferRequest& request,
                             const InferenceModel& model, InferCall& call) {
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request has ", request.raw_input_contents_size(),
                     " raw_input_contents for ", request.inputs_size(),
                     " inputs; expected one per input, in the inputs' order"));
  }
  call.input_bytes.assign(model.inputs.size(), std::nullopt);
  std::vector<bool> given(model.inputs.size(), false);
  const pb::Reflection& reflection = *call.request->GetReflection();
  for (int i = 0; i < request.inputs_size(); ++i) {
    const ModelInferRequest::InferInputTensor& input = request.inputs(i);
    const std::string where = absl::StrCat("input '", input.name(), "'");
    const int slot = FieldIndex(model.inputs, input.name());
    if (slot < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("model ", model.name, " has no ", where,
                       "; its inputs are: ", NameList(model.inputs)));
    }
    if (given[slot]) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " is given twice; expected once"));
    }
    given[slot] = true;
    if (!input.parameters().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " has parameters (", input.parameters().begin()->first,
          "); inputs take none here: send the tensor's bytes (for shared "
          "memory, use tensorops.v1.TensorOps)"));
    }
    TENSOROPS_ASSIGN_OR_RETURN(
        DType dtype,
        DTypeFromDatatype(input.datatype(), absl::StrCat(where, " datatype")));
    TENSOROPS_ASSIGN_OR_RETURN(Shape shape,
                               wire::ShapeFromProto(input.shape(), where));
    auto* tensor = static_cast<v1::Tensor*>(
        reflection.MutableMessage(call.request.get(), model.inputs[slot]));
    wire::SpecToProto(dtype, shape, tensor);
    if (raw) {
      if (input.has_contents()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where,
                         " has typed contents in a request with "
                         "raw_input_contents; send every input one way"));
      }
      const std::string& bytes = request.raw_input_contents(i);
      call.input_bytes[slot] = ChunkedBytes({absl::MakeConstSpan(
          reinterpret_cast<const std::byte*>(bytes.data()), bytes.size())});
    } else if (input.has_contents()) {
      TENSOROPS_ASSIGN_OR_RETURN(int64_t elements, NumElements(shape));
      TENSOROPS_ASSIGN_OR_RETURN(
          std::unique_ptr<std::string> bytes,
          ContentsToBytes(input, dtype, elements, where));
      call.input_bytes[slot] = ChunkedBytes({absl::MakeConstSpan(
          reinterpret_cast<const std::byte*>(bytes->data()), bytes->size())});
      call.converted.push_back(std::move(bytes));
    }
  }
  // The first input is the one every operation needs; the request layer
  // says what the others need (Backward's indices, with or without a
  // session).
  if (!given[0]) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model ", model.name, " needs input '", model.inputs[0]->name(),
        "'; its inputs are: ", NameList(model.inputs)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Span<const InferenceModel> InferenceModels() {
  static const std::vector<InferenceModel>* const models = [] {
    auto* all = new std::vector<InferenceModel>();
    for (const auto& entry : kModelNames) {
      all->push_back(DescribeModel(entry.name, entry.method));
    }
    return all;
  }();
  return *models;
}

const InferenceModel* FindInferenceModel(absl::string_view name) {
  for (const InferenceModel& model : InferenceModels()) {
    if (model.name == name) return &model;
  }
  return nullptr;
}

std::string InferenceModelList() {
  std::string list;
  for (const InferenceModel& model : InferenceModels()) {
    absl::StrAppend(&list, list.empty() ? "" : ", ", model.name);
  }
  return list;
}

absl::string_view DatatypeName(DType dtype) {
  for (const auto& entry : kDatatypes) {
    if (entry.dtype == dtype) return entry.name;
  }
  return "";
}

absl::StatusOr<DType> DTypeFromDatatype(absl::string_view datatype,
                                        absl::string_view field) {
  for (const auto& entry : kDatatypes) {
    if (entry.name == datatype) return entry.dtype;
  }
  std::string served;
  for (const auto& entry : kDatatypes) {
    absl::StrAppend(&served, served.empty() ? "" : ", ", entry.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is \"", datatype, "\"; expected one of ", served));
}

absl::StatusOr<InferCall> TranslateInferRequest(
    const ModelInferRequest& request) {
  const InferenceModel* model = FindInferenceModel(request.model_name());
  if (model == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no model \"", request.model_name(),
                     "\"; the models are: ", InferenceModelList()));
  }
  if (!request.model_version().empty() && request.model_version() != "1") {
    return absl::NotFoundError(
        absl::StrCat("model ", model->name, " has no version \"",
                     request.model_version(), "\"; its only version is 1"));
  }
  InferCall call;
  call.model = model;
  call.request.reset(pb::MessageFactory::generated_factory()
                         ->GetPrototype(model->request)
                         ->New());
  for (const auto& [name, value] : request.parameters()) {
    const int index = FieldIndex(model->parameters, name);
    if (index < 0) {
      bool ignored = false;
      for (absl::string_view skip : kIgnoredParameters) ignored |= skip == name;
      if (ignored) continue;
      return absl::InvalidArgumentError(
          absl::StrCat("model ", model->name, " takes no parameter '", name,
                       "'; its parameters are: ", NameList(model->parameters)));
    }
    TENSOROPS_RETURN_IF_ERROR(SetParameter(*model->parameters[index], value,
                                           model->name, *call.request));
  }
  TENSOROPS_RETURN_IF_ERROR(TranslateInputs(request, *model, call));
  call.returned.assign(model->outputs.size(), request.outputs_size() == 0);
  for (const auto& output : request.outputs()) {
    const int index = FieldIndex(model->outputs, output.name());
    if (index < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("model ", model->name, " has no output '", output.name(),
                       "'; its outputs are: ", NameList(model->outputs)));
    }
    call.returned[index] = true;
  }
  return call;
}

inference::ModelMetadataResponse ModelMetadataOf(const InferenceModel& model) {
  inference::ModelMetadataResponse metadata;
  metadata.set_name(std::string(model.name));
  *metadata.add_versions() = std::string("1");
  metadata.set_platform("tensorops");
  const auto describe =
      [](const pb::FieldDescriptor* field,
         inference::ModelMetadataResponse::TensorMetadata* out) {
        out->set_name(field->name());
        // Indices are int64; every other tensor takes (or follows) any of the
        // datatypes, which the protocol has no name for: left empty.
        if (field->name() == "indices") out->set_datatype("INT64");
        out->add_shape(-1);
      };
  for (const pb::FieldDescriptor* field : model.inputs) {
    describe(field, metadata.add_inputs());
  }
  for (const pb::FieldDescriptor* field : model.outputs) {
    describe(field, metadata.add_outputs());
  }
  return metadata;
}

}  // namespace tensorops::request
