// Every request check, over RPC: the status code, a message saying what was
// expected, and a server that keeps serving afterwards.
#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/shape.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class ValidationRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerConfig config = TestConfig();
    config.max_message_bytes = int64_t{1} << 20;
    server_ = TestServer::Start(config);
    ASSERT_NE(server_, nullptr);
  }

  void TearDown() override {
    // Whatever the test sent, the server still answers correctly.
    ExpectOnesLikeWorks(stub());
  }

  v1::TensorOps::Stub& stub() { return server_->stub(); }

  grpc::Status ZerosLike(const v1::ZerosLikeRequest& request) {
    v1::ZerosLikeResponse response;
    return stub().ZerosLike(ContextWithTimeout().get(), request, &response);
  }
  grpc::Status TopK(const v1::TopKRequest& request) {
    v1::TopKResponse response;
    return stub().TopK(ContextWithTimeout().get(), request, &response);
  }
  grpc::Status Backward(const v1::BackwardRequest& request) {
    v1::BackwardResponse response;
    return stub().Backward(ContextWithTimeout().get(), request, &response);
  }

  std::unique_ptr<TestServer> server_;
};

MATCHER_P2(HasCodeAndMessage, code, message_matcher, "") {
  *result_listener << "status " << arg.error_code() << " \""
                   << arg.error_message() << "\"";
  return arg.error_code() == code &&
         ::testing::ExplainMatchResult(message_matcher, arg.error_message(),
                                       result_listener);
}

auto InvalidArgument(const char* text) {
  return HasCodeAndMessage(grpc::StatusCode::INVALID_ARGUMENT, HasSubstr(text));
}

v1::TopKRequest ValidTopK() {
  v1::TopKRequest request;
  *request.mutable_input() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {2, 3}, {1, 2, 3, 4, 5, 6});
  request.set_k(2);
  return request;
}

TEST_F(ValidationRpcTest, TheValidRequestsHereSucceed) {
  EXPECT_TRUE(TopK(ValidTopK()).ok());
  EXPECT_TRUE(Backward(ValidStatelessBackward()).ok());
}

TEST_F(ValidationRpcTest, MissingInput) {
  EXPECT_THAT(ZerosLike(v1::ZerosLikeRequest()),
              InvalidArgument("input is not set"));
  EXPECT_THAT(TopK(v1::TopKRequest()), InvalidArgument("input is not set"));
  EXPECT_THAT(Backward(v1::BackwardRequest()),
              InvalidArgument("grad_values is not set"));
}

TEST_F(ValidationRpcTest, UnsetOrUnknownDType) {
  v1::ZerosLikeRequest zeros;
  zeros.mutable_input()->add_shape(2);
  EXPECT_THAT(ZerosLike(zeros),
              InvalidArgument("input.dtype is DTYPE_UNSPECIFIED"));
  zeros.mutable_input()->set_dtype(static_cast<v1::DType>(42));
  EXPECT_THAT(ZerosLike(zeros), InvalidArgument("unknown value 42"));
  zeros.mutable_input()->set_dtype(v1::DTYPE_INT8);
  zeros.set_dtype(static_cast<v1::DType>(-3));
  EXPECT_THAT(ZerosLike(zeros), InvalidArgument("dtype has unknown value -3"));
}

TEST_F(ValidationRpcTest, NegativeDimension) {
  v1::TopKRequest request = ValidTopK();
  request.mutable_input()->set_shape(1, -3);
  EXPECT_THAT(TopK(request), InvalidArgument("input.shape[1] is -3"));
}

TEST_F(ValidationRpcTest, ElementCountOverflow) {
  v1::ZerosLikeRequest request;
  request.mutable_input()->set_dtype(v1::DTYPE_UINT8);
  for (int i = 0; i < 3; ++i)
    request.mutable_input()->add_shape(int64_t{1} << 30);
  EXPECT_THAT(ZerosLike(request), InvalidArgument("int64"));
  // Fits as uint8 elements, overflows as float64 bytes.
  v1::ZerosLikeRequest widened;
  widened.mutable_input()->set_dtype(v1::DTYPE_UINT8);
  widened.mutable_input()->add_shape(int64_t{1} << 61);
  widened.set_dtype(v1::DTYPE_FLOAT64);
  EXPECT_THAT(ZerosLike(widened), InvalidArgument("byte size beyond int64"));
}

TEST_F(ValidationRpcTest, DataSizeMustMatchShapeTimesDTypeSize) {
  v1::TopKRequest request = ValidTopK();
  request.mutable_input()->mutable_data()->pop_back();
  EXPECT_THAT(TopK(request),
              InvalidArgument("input.data has 23 bytes but a float32 tensor "
                              "of shape [2, 3] needs exactly 24 bytes"));
  // Optional for ZerosLike, but checked when present.
  v1::ZerosLikeRequest zeros;
  *zeros.mutable_input() = WireTensor<int16_t>(v1::DTYPE_INT16, {3}, {1, 2});
  zeros.mutable_input()->set_shape(0, 3);
  EXPECT_THAT(ZerosLike(zeros), InvalidArgument("needs exactly 6 bytes"));
}

TEST_F(ValidationRpcTest, ResultLargerThanTheMessageLimit) {
  v1::ZerosLikeRequest request;
  request.mutable_input()->set_dtype(v1::DTYPE_FLOAT32);
  request.mutable_input()->add_shape(int64_t{1} << 40);  // 4 TiB, no data
  EXPECT_THAT(ZerosLike(request),
              HasCodeAndMessage(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                HasSubstr("--max_message_bytes")));
  // The input fits the 1 MiB limit, its int64 indices (8 bytes each) do not.
  v1::TopKRequest topk;
  *topk.mutable_input() =
      WireTensor(v1::DTYPE_INT8, {200000}, std::vector<int8_t>(200000, 1));
  topk.set_k(200000);
  EXPECT_THAT(TopK(topk),
              HasCodeAndMessage(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                HasSubstr("message limit")));
}

TEST_F(ValidationRpcTest, StatelessBackwardIntoAHugeInputShape) {
  // Consistent shapes, but a 4 TiB grad_input: refused before allocating.
  v1::BackwardRequest request;
  *request.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {1}, {1});
  *request.mutable_indices() = WireTensor<int64_t>(v1::DTYPE_INT64, {1}, {0});
  request.add_input_shape(int64_t{1} << 40);
  EXPECT_THAT(Backward(request),
              HasCodeAndMessage(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                HasSubstr("--max_message_bytes")));
}

TEST_F(ValidationRpcTest, RequestLargerThanTheMessageLimit) {
  v1::TopKRequest request;
  *request.mutable_input() =
      WireTensor(v1::DTYPE_FLOAT32, {300000}, std::vector<float>(300000, 1.f));
  request.set_k(1);
  EXPECT_EQ(TopK(request).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// A 2 MB request of rank 2,000,000 used to get a 6 MB grpc-message (from
// rank ~10^4 a default client saw only "received initial metadata size
// exceeds limit"). Absurd ranks are refused early, with a short message that
// a default client receives.
TEST_F(ValidationRpcTest, AbsurdRanksAreRefusedWithAShortMessage) {
  for (int64_t rank :
       {int64_t{kMaxRank} + 1, int64_t{20000}, int64_t{200000}}) {
    v1::TopKRequest request;
    request.mutable_input()->set_dtype(v1::DTYPE_FLOAT32);
    for (int64_t d = 0; d < rank; ++d) request.mutable_input()->add_shape(1);
    request.mutable_input()->set_data(std::string(4, '\0'));
    request.set_k(1);
    const grpc::Status status = TopK(request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << rank;
    EXPECT_THAT(status.error_message(),
                AllOf(HasSubstr(absl::StrCat(rank, " dimensions")),
                      HasSubstr("rank <= 64")));
    EXPECT_LT(status.error_message().size(), 1024u);
  }
  // Backward's input_shape too.
  v1::BackwardRequest backward = ValidStatelessBackward();
  for (int d = 0; d < 100; ++d) backward.add_input_shape(1);
  EXPECT_THAT(Backward(backward),
              HasCodeAndMessage(grpc::StatusCode::INVALID_ARGUMENT,
                                HasSubstr("input_shape has 102 dimensions")));
  // The largest accepted rank works.
  v1::TopKRequest request;
  request.mutable_input()->set_dtype(v1::DTYPE_FLOAT32);
  for (int d = 0; d < kMaxRank; ++d) request.mutable_input()->add_shape(1);
  request.mutable_input()->set_data(std::string(4, '\0'));
  request.set_k(1);
  EXPECT_TRUE(TopK(request).ok());
}

// Shapes in messages show their first dimensions only.
TEST_F(ValidationRpcTest, MessagesQuotingLongShapesStayShort) {
  v1::ZerosLikeRequest request;
  request.mutable_input()->set_dtype(v1::DTYPE_FLOAT32);
  for (int d = 0; d < kMaxRank; ++d) {
    request.mutable_input()->add_shape(int64_t{1} << 40);
  }
  const grpc::Status status = ZerosLike(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("... (rank 64)]"));
  EXPECT_LT(status.error_message().size(), 300u);
}

TEST_F(ValidationRpcTest, TopKArguments) {
  v1::TopKRequest request = ValidTopK();
  request.set_k(4);
  EXPECT_THAT(TopK(request),
              InvalidArgument("k = 4 is out of range for dimension 1"));
  request.set_k(-1);
  EXPECT_THAT(TopK(request), InvalidArgument("0 <= k <= 3"));
  request.set_k(1);
  request.set_dim(2);
  EXPECT_THAT(TopK(request), InvalidArgument("dim"));
  request.set_dim(-3);
  EXPECT_THAT(TopK(request), InvalidArgument("dim"));
  v1::TopKRequest bools;
  *bools.mutable_input() = WireTensor<uint8_t>(v1::DTYPE_BOOL, {3}, {1, 0, 1});
  bools.set_k(1);
  EXPECT_THAT(TopK(bools), InvalidArgument("bool"));
}

TEST_F(ValidationRpcTest, BackwardGradAndIndices) {
  v1::BackwardRequest integer_grad = ValidStatelessBackward();
  *integer_grad.mutable_grad_values() =
      WireTensor<int32_t>(v1::DTYPE_INT32, {2, 2}, {1, 2, 3, 4});
  EXPECT_THAT(Backward(integer_grad), InvalidArgument("floating-point"));

  v1::BackwardRequest no_indices = ValidStatelessBackward();
  no_indices.clear_indices();
  EXPECT_THAT(Backward(no_indices), InvalidArgument("indices is not set"));

  v1::BackwardRequest int32_indices = ValidStatelessBackward();
  *int32_indices.mutable_indices() =
      WireTensor<int32_t>(v1::DTYPE_INT32, {2, 2}, {2, 1, 0, 2});
  EXPECT_THAT(Backward(int32_indices), InvalidArgument("expected int64"));

  v1::BackwardRequest mismatched = ValidStatelessBackward();
  *mismatched.mutable_indices() =
      WireTensor<int64_t>(v1::DTYPE_INT64, {2, 1}, {2, 1});
  EXPECT_THAT(Backward(mismatched), InvalidArgument("expected equal shapes"));

  v1::BackwardRequest wrong_input = ValidStatelessBackward();
  wrong_input.set_input_shape(0, 5);
  EXPECT_THAT(Backward(wrong_input),
              InvalidArgument("does not fit input_shape"));

  v1::BackwardRequest negative_input = ValidStatelessBackward();
  negative_input.set_input_shape(1, -1);
  EXPECT_THAT(Backward(negative_input),
              InvalidArgument("input_shape[1] is -1"));

  v1::BackwardRequest bad_dim = ValidStatelessBackward();
  bad_dim.set_dim(5);
  EXPECT_THAT(Backward(bad_dim), InvalidArgument("dim"));

  v1::BackwardRequest out_of_range = ValidStatelessBackward();
  *out_of_range.mutable_indices() =
      WireTensor<int64_t>(v1::DTYPE_INT64, {2, 2}, {2, 1, 3, 0});
  EXPECT_THAT(Backward(out_of_range), InvalidArgument("0 <= index < 3"));
  v1::BackwardRequest negative_index = ValidStatelessBackward();
  *negative_index.mutable_indices() =
      WireTensor<int64_t>(v1::DTYPE_INT64, {2, 2}, {2, 1, -1, 0});
  EXPECT_THAT(Backward(negative_index), InvalidArgument("out of range"));
}

TEST_F(ValidationRpcTest, BackwardSessionArguments) {
  v1::BackwardRequest both = ValidStatelessBackward();
  both.set_session_id(std::string(32, 'a'));
  EXPECT_THAT(Backward(both), InvalidArgument("must be left unset"));

  v1::BackwardRequest malformed;
  *malformed.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {1}, {1});
  malformed.set_session_id("not-a-session");
  EXPECT_THAT(Backward(malformed), InvalidArgument("malformed session_id"));

  v1::ReleaseSessionRequest empty;
  v1::ReleaseSessionResponse response;
  EXPECT_THAT(
      stub().ReleaseSession(ContextWithTimeout().get(), empty, &response),
      InvalidArgument("session_id is empty"));
}

// A random, mostly malformed wire tensor: any dtype value, rank 0 to 3,
// dimensions from -1 to 4, data of the right size or not.
v1::Tensor RandomTensor(std::mt19937& random) {
  v1::Tensor tensor;
  tensor.set_dtype(static_cast<v1::DType>(random() % 13));
  const int rank = static_cast<int>(random() % 4);
  int64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    const int64_t dim = static_cast<int64_t>(random() % 6) - 1;
    tensor.add_shape(dim);
    count *= dim;
  }
  const int64_t size = random() % 3 == 0 ? static_cast<int64_t>(random() % 64)
                                         : std::max<int64_t>(count, 0) * 8;
  for (int64_t i = 0; i < size; ++i) {
    tensor.mutable_data()->push_back(static_cast<char>(random()));
  }
  return tensor;
}

TEST_F(ValidationRpcTest, RandomRequestsGetAnAnswerAndNeverHurtTheServer) {
  std::mt19937 random(2024);
  const std::set<grpc::StatusCode> allowed = {
      grpc::StatusCode::OK, grpc::StatusCode::INVALID_ARGUMENT,
      grpc::StatusCode::NOT_FOUND, grpc::StatusCode::FAILED_PRECONDITION,
      grpc::StatusCode::RESOURCE_EXHAUSTED};
  for (int i = 0; i < 300; ++i) {
    v1::TopKRequest topk;
    *topk.mutable_input() = RandomTensor(random);
    topk.set_k(static_cast<int64_t>(random() % 6) - 1);
    if (random() % 2) topk.set_dim(static_cast<int64_t>(random() % 9) - 4);
    if (random() % 2) topk.set_largest(random() % 2);
    if (random() % 2) topk.set_sorted(random() % 2);
    topk.set_save_for_backward(random() % 2);
    v1::TopKResponse selected;
    grpc::Status status =
        stub().TopK(ContextWithTimeout().get(), topk, &selected);
    EXPECT_TRUE(allowed.contains(status.error_code())) << status.error_code();

    v1::BackwardRequest backward;
    *backward.mutable_grad_values() = RandomTensor(random);
    if (status.ok() && random() % 2) {
      backward.set_session_id(selected.session_id());
    } else {
      *backward.mutable_indices() = RandomTensor(random);
      for (int d = static_cast<int>(random() % 4); d > 0; --d) {
        backward.add_input_shape(static_cast<int64_t>(random() % 6) - 1);
      }
      if (random() % 2)
        backward.set_dim(static_cast<int64_t>(random() % 9) - 4);
    }
    status = Backward(backward);
    EXPECT_TRUE(allowed.contains(status.error_code())) << status.error_code();

    v1::ZerosLikeRequest zeros;
    *zeros.mutable_input() = RandomTensor(random);
    zeros.set_dtype(static_cast<v1::DType>(random() % 12));
    status = ZerosLike(zeros);
    EXPECT_TRUE(allowed.contains(status.error_code())) << status.error_code();
  }
  // Bytes that are not a request at all.
  for (int i = 0; i < 100; ++i) {
    std::string garbage(random() % 40, '\0');
    for (char& c : garbage) c = static_cast<char>(random());
    RawResponse response =
        RawUnary(server_->channel(), "/tensorops.v1.TensorOps/TopK", garbage);
    EXPECT_NE(response.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  }
}

}  // namespace
}  // namespace tensorops::server::testing
