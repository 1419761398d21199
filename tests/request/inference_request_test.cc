#include "request/inference_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "proto/service_methods.h"
#include "request/inference_json.h"
#include "tensorops/v1/tensor_ops.pb.h"
#include "tests/support/status_matchers.h"

namespace tensorops::request {
namespace {

namespace v1 = ::tensorops::v1;
using ::tensorops::testing::IsOk;
using ::tensorops::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Names(
    const std::vector<const google::protobuf::FieldDescriptor*>& fields) {
  std::vector<std::string> names;
  for (const auto* field : fields) names.push_back(field->name());
  return names;
}

inference::ModelInferRequest TopKOf(std::vector<float> values) {
  inference::ModelInferRequest request;
  request.set_model_name("topk");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  input->add_shape(static_cast<int64_t>(values.size()));
  std::string raw(values.size() * sizeof(float), '\0');
  std::memcpy(raw.data(), values.data(), raw.size());
  request.add_raw_input_contents(raw);
  (*request.mutable_parameters())["k"].set_int64_param(1);
  return request;
}

TEST(InferenceModelsTest, EveryModelRunsAServedMethod) {
  ASSERT_FALSE(InferenceModels().empty());
  for (const InferenceModel& model : InferenceModels()) {
    EXPECT_TRUE(wire::MethodIndex(model.method).has_value()) << model.name;
    EXPECT_FALSE(model.inputs.empty()) << model.name;
    EXPECT_FALSE(model.outputs.empty()) << model.name;
  }
}

TEST(InferenceModelsTest, TensorsAndParametersComeFromTheMessages) {
  const InferenceModel* topk = FindInferenceModel("topk");
  ASSERT_NE(topk, nullptr);
  EXPECT_THAT(Names(topk->inputs), ElementsAre("input"));
  EXPECT_THAT(Names(topk->outputs), ElementsAre("values", "indices"));
  EXPECT_THAT(
      Names(topk->parameters),
      ElementsAre("k", "dim", "largest", "sorted", "save_for_backward"));
  EXPECT_THAT(Names(topk->response_parameters), ElementsAre("session_id"));
  const InferenceModel* backward = FindInferenceModel("topk_backward");
  ASSERT_NE(backward, nullptr);
  EXPECT_THAT(Names(backward->inputs), ElementsAre("grad_values", "indices"));
}

TEST(DatatypeTest, EveryDTypeHasAName) {
#define TENSOROPS_CHECK_DATATYPE_(enumerator, ...)                             \
  EXPECT_THAT(DTypeFromDatatype(DatatypeName(DType::enumerator), ""), IsOk()); \
  EXPECT_EQ(*DTypeFromDatatype(DatatypeName(DType::enumerator), ""),           \
            DType::enumerator);
  TENSOROPS_FOR_EACH_DTYPE(TENSOROPS_CHECK_DATATYPE_)
#undef TENSOROPS_CHECK_DATATYPE_
  EXPECT_THAT(DTypeFromDatatype("BYTES", "input"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("FP32")));
}

TEST(TranslateInferRequestTest, ParametersSetTheRequestFields) {
  inference::ModelInferRequest request = TopKOf({1, 2, 3});
  (*request.mutable_parameters())["dim"].set_int64_param(-1);
  (*request.mutable_parameters())["largest"].set_bool_param(false);
  absl::StatusOr<InferCall> call = TranslateInferRequest(request);
  ASSERT_THAT(call.status(), IsOk());
  const auto& topk = static_cast<const v1::TopKRequest&>(*call->request);
  EXPECT_EQ(topk.k(), 1);
  ASSERT_TRUE(topk.has_dim());
  EXPECT_EQ(topk.dim(), -1);
  EXPECT_FALSE(topk.largest());
  EXPECT_FALSE(topk.has_sorted());
  EXPECT_EQ(topk.input().dtype(), v1::DTYPE_FLOAT32);
  ASSERT_TRUE(call->input_bytes[0].has_value());
  EXPECT_EQ(call->input_bytes[0]->size(), 12u);
}

TEST(TranslateInferRequestTest, RawBytesAreReadInPlace) {
  inference::ModelInferRequest request = TopKOf({1, 2});
  absl::StatusOr<InferCall> call = TranslateInferRequest(request);
  ASSERT_THAT(call.status(), IsOk());
  EXPECT_EQ(
      call->input_bytes[0]->chunks()[0].data(),
      reinterpret_cast<const std::byte*>(request.raw_input_contents(0).data()));
}

TEST(TranslateInferRequestTest, UnknownModelIsNotFound) {
  inference::ModelInferRequest request = TopKOf({1});
  request.set_model_name("resnet50");
  EXPECT_THAT(TranslateInferRequest(request).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("topk")));
}

TEST(TranslateInferRequestTest, WrongParameterTypeIsInvalid) {
  inference::ModelInferRequest request = TopKOf({1});
  (*request.mutable_parameters())["k"].set_string_param("1");
  EXPECT_THAT(TranslateInferRequest(request).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("must be an integer")));
}

TEST(TranslateInferRequestTest, InputShapeParameterTakesAList) {
  inference::ModelInferRequest request;
  request.set_model_name("topk_backward");
  auto* grad = request.add_inputs();
  grad->set_name("grad_values");
  grad->set_datatype("FP32");
  grad->add_shape(1);
  grad->mutable_contents()->add_fp32_contents(1);
  (*request.mutable_parameters())["input_shape"].set_string_param("[2, 5]");
  absl::StatusOr<InferCall> call = TranslateInferRequest(request);
  ASSERT_THAT(call.status(), IsOk());
  EXPECT_THAT(
      static_cast<const v1::BackwardRequest&>(*call->request).input_shape(),
      ElementsAre(2, 5));
}

TEST(TranslateInferRequestTest, TypedContentsOutOfRangeAreInvalid) {
  inference::ModelInferRequest request;
  request.set_model_name("max");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("INT16");
  input->add_shape(1);
  input->mutable_contents()->add_int_contents(40000);
  EXPECT_THAT(TranslateInferRequest(request).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("out of its datatype's range")));
}

TEST(TranslateInferRequestTest, RawAndTypedContentsDoNotMix) {
  inference::ModelInferRequest request = TopKOf({1});
  request.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
  EXPECT_THAT(TranslateInferRequest(request).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("send every input one way")));
}

TEST(InferRequestFromJsonTest, NestedDataIsFlattenedRowMajor) {
  absl::StatusOr<inference::ModelInferRequest> request = InferRequestFromJson(
      R"({"inputs":[{"name":"input","shape":[2,2],"datatype":"INT32",
          "data":[[1,2],[3,4]]}],"parameters":{"k":1,"largest":false}})",
      "topk", "", 100);
  ASSERT_THAT(request.status(), IsOk());
  ASSERT_EQ(request->raw_input_contents_size(), 1);
  std::vector<int32_t> values(4);
  ASSERT_EQ(request->raw_input_contents(0).size(), 16u);
  std::memcpy(values.data(), request->raw_input_contents(0).data(), 16);
  EXPECT_THAT(values, ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(request->parameters().at("k").int64_param(), 1);
  EXPECT_FALSE(request->parameters().at("largest").bool_param());
}

TEST(InferRequestFromJsonTest, TooManyValuesAreRefused) {
  EXPECT_THAT(InferRequestFromJson(
                  R"({"inputs":[{"name":"input","shape":[3],"datatype":"FP32",
                      "data":[1,2,3]}]})",
                  "topk", "", 2)
                  .status(),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(InferResponseToJsonTest, NonFiniteFloatsBecomeStrings) {
  inference::ModelInferResponse response;
  response.set_model_name("max");
  auto* output = response.add_outputs();
  output->set_name("values");
  output->set_datatype("FP32");
  output->add_shape(2);
  const float values[2] = {std::numeric_limits<float>::infinity(), 1.5f};
  response.add_raw_output_contents(reinterpret_cast<const char*>(values),
                                   sizeof(values));
  EXPECT_THAT(InferResponseToJson(response),
              HasSubstr(R"("data":["inf",1.5])"));
}

}  // namespace
}  // namespace tensorops::request
