// TensorOpsClient's streamed calls (TopKStream and the like) against the
// real service, started in-process: each gives the unary call's result, bit
// for bit, and the client picks them by size.
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/tensor_ops_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "server/server_config.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops::client {
namespace {

using ::tensorops::testing::IsOk;
using ::tensorops::testing::MakeTensor;
using ::tensorops::testing::StatusIs;
using ::testing::IsEmpty;
using ::testing::Not;

const CallOptions kStream = {.stream = true};
const CallOptions kUnary = {.stream = false};

// A started in-process server; `max_message_bytes` 0 keeps the default.
server::Server* StartServer(int64_t max_message_bytes = 0) {
  server::ServerConfig config;
  config.address = "127.0.0.1:0";
  config.metrics_address = "";
  config.threads = 2;
  if (max_message_bytes > 0) config.max_message_bytes = max_message_bytes;
  absl::StatusOr<std::unique_ptr<server::Server>> started =
      server::Server::Start(config);
  EXPECT_THAT(started.status(), IsOk());
  return started.ok() ? started->release() : nullptr;
}

void StopServer(server::Server*& server) {
  if (server == nullptr) return;
  server->Shutdown(absl::ZeroDuration());
  delete server;
  server = nullptr;
}

std::string Bytes(const Tensor& tensor) {
  return std::string(reinterpret_cast<const char*>(tensor.data()),
                     tensor.byte_size());
}

// Expects `a` and `b` to be the same tensor, bit for bit.
void ExpectIdentical(const Tensor& a, const Tensor& b, absl::string_view what) {
  EXPECT_EQ(a.dtype(), b.dtype()) << what;
  EXPECT_EQ(a.shape(), b.shape()) << what;
  EXPECT_TRUE(Bytes(a) == Bytes(b)) << what << ": the bytes differ";
}

// Random values of `dtype` (float32, float64 or int32) with ties: drawn from
// a small range for the integers.
Tensor RandomTensor(DType dtype, Shape shape, uint32_t seed) {
  absl::StatusOr<Tensor> tensor = Tensor::Allocate(dtype, std::move(shape));
  EXPECT_THAT(tensor.status(), IsOk());
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  std::byte* data = tensor->mutable_data();
  for (int64_t i = 0; i < tensor->num_elements(); ++i) {
    if (dtype == DType::kFloat32) {
      const float value = static_cast<float>(normal(rng));
      std::memcpy(data + 4 * i, &value, 4);
    } else if (dtype == DType::kFloat64) {
      const double value = normal(rng);
      std::memcpy(data + 8 * i, &value, 8);
    } else {
      const int32_t value = static_cast<int32_t>(rng() % 100);
      std::memcpy(data + 4 * i, &value, 4);
    }
  }
  return *std::move(tensor);
}

class StreamedClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = StartServer(); }
  static void TearDownTestSuite() { StopServer(server_); }

  static std::unique_ptr<TensorOpsClient> Client(ClientOptions options = {}) {
    options.default_timeout = absl::Seconds(60);
    return TensorOpsClient::Connect(absl::StrCat("127.0.0.1:", server_->port()),
                                    std::move(options));
  }

  static server::Server* server_;
  std::unique_ptr<TensorOpsClient> client_ = Client();
};

server::Server* StreamedClientTest::server_ = nullptr;

TEST_F(StreamedClientTest, TopKEqualsTheUnaryCall) {
  struct Case {
    DType dtype;
    Shape shape;
    TopKParams params;
  };
  const std::vector<Case> cases = {
      // 48 MB: many chunks each way.
      {DType::kFloat32, {300, 40000}, {.k = 5}},
      {DType::kFloat32, {300, 40000}, {.k = 3, .dim = 0, .largest = false}},
      {DType::kFloat64, {7, 13, 11}, {.k = 4, .dim = 1, .sorted = false}},
      {DType::kInt32, {50, 1000}, {.k = 1000, .dim = -1}},
      {DType::kFloat32, {4}, {.k = 2}},
      {DType::kFloat64, {}, {.k = 1}},
  };
  uint32_t seed = 1;
  for (const Case& c : cases) {
    const std::string what =
        absl::StrCat(DTypeName(c.dtype), " ", ShapeToString(c.shape),
                     " k=", c.params.k, " dim=", c.params.dim);
    const Tensor input = RandomTensor(c.dtype, c.shape, seed++);
    absl::StatusOr<TopKOutput> unary = client_->TopK(input, c.params, kUnary);
    absl::StatusOr<TopKOutput> streamed =
        client_->TopK(input, c.params, kStream);
    ASSERT_THAT(unary.status(), IsOk()) << what;
    ASSERT_THAT(streamed.status(), IsOk()) << what;
    ExpectIdentical(streamed->values, unary->values, what + " values");
    ExpectIdentical(streamed->indices, unary->indices, what + " indices");
    EXPECT_THAT(streamed->session_id, IsEmpty());
  }
}

TEST_F(StreamedClientTest, BackwardEqualsTheUnaryCall) {
  const Tensor input = RandomTensor(DType::kFloat32, {300, 40000}, 7);
  const TopKParams params = {.k = 50, .dim = 1, .save_for_backward = true};
  absl::StatusOr<TopKOutput> top = client_->TopK(input, params, kStream);
  ASSERT_THAT(top.status(), IsOk());
  ASSERT_THAT(top->session_id, Not(IsEmpty()));
  const Tensor grad = RandomTensor(DType::kFloat32, top->values.shape(), 8);

  absl::StatusOr<Tensor> unary =
      client_->StatelessBackward(grad, top->indices, input.shape(), 1, kUnary);
  ASSERT_THAT(unary.status(), IsOk());
  absl::StatusOr<Tensor> stateless =
      client_->StatelessBackward(grad, top->indices, input.shape(), 1, kStream);
  ASSERT_THAT(stateless.status(), IsOk());
  ExpectIdentical(*stateless, *unary, "stateless");

  absl::StatusOr<Tensor> retained = client_->Backward(
      top->session_id, grad, /*retain_session=*/true, kStream);
  ASSERT_THAT(retained.status(), IsOk());
  ExpectIdentical(*retained, *unary, "session (retained)");
  absl::StatusOr<Tensor> session =
      client_->Backward(top->session_id, grad, false, kUnary);
  ASSERT_THAT(session.status(), IsOk());
  ExpectIdentical(*session, *unary, "session");
  // Consumed: a streamed Backward says so as the unary one does.
  EXPECT_THAT(client_->Backward(top->session_id, grad, false, kStream).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  // float64, a middle dim, a small tensor.
  const Tensor small = RandomTensor(DType::kFloat64, {5, 6, 7}, 9);
  absl::StatusOr<TopKOutput> small_top =
      client_->TopK(small, {.k = 2, .dim = 1}, kUnary);
  ASSERT_THAT(small_top.status(), IsOk());
  const Tensor small_grad =
      RandomTensor(DType::kFloat64, small_top->values.shape(), 10);
  absl::StatusOr<Tensor> small_unary = client_->StatelessBackward(
      small_grad, small_top->indices, small.shape(), 1, kUnary);
  absl::StatusOr<Tensor> small_streamed = client_->StatelessBackward(
      small_grad, small_top->indices, small.shape(), 1, kStream);
  ASSERT_THAT(small_unary.status(), IsOk());
  ASSERT_THAT(small_streamed.status(), IsOk());
  ExpectIdentical(*small_streamed, *small_unary, "small stateless");
}

TEST_F(StreamedClientTest, ZerosAndOnesLikeEqualTheUnaryCall) {
  struct Case {
    DType dtype;
    Shape shape;
    std::optional<DType> out;
  };
  for (const Case& c : std::vector<Case>{
           {DType::kFloat32, {1000, 3000}, std::nullopt},  // 12 MB
           {DType::kBool, {3, 5}, std::nullopt},
           {DType::kInt64, {2, 3}, DType::kBFloat16},
           {DType::kFloat16, {}, DType::kFloat64},
       }) {
    for (bool ones : {false, true}) {
      const std::string what =
          absl::StrCat(ones ? "ones " : "zeros ", DTypeName(c.dtype), " ",
                       ShapeToString(c.shape));
      auto call = [&](const CallOptions& options) {
        return ones ? client_->OnesLike(c.dtype, c.shape, c.out, options)
                    : client_->ZerosLike(c.dtype, c.shape, c.out, options);
      };
      absl::StatusOr<Tensor> unary = call(kUnary);
      absl::StatusOr<Tensor> streamed = call(kStream);
      ASSERT_THAT(unary.status(), IsOk()) << what;
      ASSERT_THAT(streamed.status(), IsOk()) << what;
      ExpectIdentical(*streamed, *unary, what);
    }
  }
}

TEST_F(StreamedClientTest, EmptyTensorsStream) {
  const Tensor empty = MakeTensor<float>(DType::kFloat32, {3, 0}, {});
  absl::StatusOr<TopKOutput> top = client_->TopK(empty, {.k = 0}, kStream);
  ASSERT_THAT(top.status(), IsOk());
  EXPECT_EQ(top->values.shape(), (Shape{3, 0}));
  EXPECT_EQ(top->indices.shape(), (Shape{3, 0}));

  absl::StatusOr<TopKOutput> none = client_->TopK(
      MakeTensor<float>(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6}), {.k = 0},
      kStream);
  ASSERT_THAT(none.status(), IsOk());
  EXPECT_EQ(none->values.shape(), (Shape{2, 0}));

  absl::StatusOr<Tensor> grad = client_->StatelessBackward(
      MakeTensor<float>(DType::kFloat32, {2, 0}, {}),
      MakeTensor<int64_t>(DType::kInt64, {2, 0}, {}), {2, 3}, 1, kStream);
  ASSERT_THAT(grad.status(), IsOk());
  EXPECT_EQ(grad->shape(), (Shape{2, 3}));
  EXPECT_THAT(testing::Values<float>(*grad), ::testing::Each(0.0f));

  absl::StatusOr<Tensor> zeros =
      client_->ZerosLike(DType::kFloat32, Shape{0}, std::nullopt, kStream);
  ASSERT_THAT(zeros.status(), IsOk());
  EXPECT_EQ(zeros->num_elements(), 0);
}

TEST_F(StreamedClientTest, ErrorsAreTheUnaryCallsAndDeadlinesApply) {
  const Tensor input = MakeTensor<float>(DType::kFloat32, {4}, {3, 1, 4, 2});
  const absl::Status unary = client_->TopK(input, {.k = 5}, kUnary).status();
  const absl::Status streamed =
      client_->TopK(input, {.k = 5}, kStream).status();
  EXPECT_THAT(streamed, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(streamed.code(), unary.code());

  EXPECT_THAT(client_
                  ->TopK(input, {.k = 1},
                         {.timeout = -absl::Seconds(1), .stream = true})
                  .status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(StreamedClientTest, TheThresholdChoosesStreaming) {
  std::unique_ptr<TensorOpsClient> eager =
      Client({.stream_threshold_bytes = 1024});
  const Tensor input = RandomTensor(DType::kFloat32, {64, 100}, 11);
  absl::StatusOr<TopKOutput> automatic = eager->TopK(input, {.k = 7});
  absl::StatusOr<TopKOutput> unary = client_->TopK(input, {.k = 7}, kUnary);
  ASSERT_THAT(automatic.status(), IsOk());
  ASSERT_THAT(unary.status(), IsOk());
  ExpectIdentical(automatic->values, unary->values, "values");
  ExpectIdentical(automatic->indices, unary->indices, "indices");
  absl::StatusOr<Tensor> ones = eager->OnesLike(DType::kInt32, Shape{1000});
  ASSERT_THAT(ones.status(), IsOk());
  EXPECT_THAT(testing::Values<int32_t>(*ones), ::testing::Each(1));
}

// A server whose unary calls take at most 1 MiB: the client's automatic
// choice streams what unary calls cannot carry (in chunks within the limit,
// as GetServerInfo's stream_chunk_bytes says).
TEST(StreamedPastTheMessageLimitTest, AutomaticCallsSucceedWhereUnaryFail) {
  server::Server* server = StartServer(/*max_message_bytes=*/1 << 20);
  ASSERT_NE(server, nullptr);
  auto client =
      TensorOpsClient::Connect(absl::StrCat("127.0.0.1:", server->port()),
                               {.default_timeout = absl::Seconds(60),
                                .stream_threshold_bytes = 512 << 10,
                                .stream_chunk_bytes = 256 << 10});
  const Tensor input = RandomTensor(DType::kFloat32, {1000, 1000}, 12);  // 4 MB
  EXPECT_THAT(client->TopK(input, {.k = 500}, kUnary).status(),
              StatusIs(absl::StatusCode::kResourceExhausted));
  absl::StatusOr<TopKOutput> top =
      client->TopK(input, {.k = 500, .save_for_backward = true});
  ASSERT_THAT(top.status(), IsOk());
  EXPECT_EQ(top->values.shape(), (Shape{1000, 500}));

  EXPECT_THAT(client->ZerosLike(input, std::nullopt, kUnary).status(),
              StatusIs(absl::StatusCode::kResourceExhausted));
  absl::StatusOr<Tensor> zeros = client->ZerosLike(input);
  ASSERT_THAT(zeros.status(), IsOk());
  EXPECT_EQ(zeros->shape(), input.shape());

  absl::StatusOr<Tensor> grad =
      client->Backward(top->session_id, top->values, /*retain_session=*/true);
  ASSERT_THAT(grad.status(), IsOk());
  absl::StatusOr<Tensor> stateless =
      client->StatelessBackward(top->values, top->indices, input.shape(), -1);
  ASSERT_THAT(stateless.status(), IsOk());
  ExpectIdentical(*grad, *stateless, "grad_input");
  EXPECT_THAT(client->ReleaseSession(top->session_id), IsOk());

  // A small gradient whose result is past the limit: refused unary, the
  // session stays usable and the automatic call streams.
  absl::StatusOr<TopKOutput> one =
      client->TopK(input, {.k = 1, .save_for_backward = true});
  ASSERT_THAT(one.status(), IsOk());
  EXPECT_THAT(
      client->Backward(one->session_id, one->values, false, kUnary).status(),
      StatusIs(absl::StatusCode::kResourceExhausted));
  absl::StatusOr<Tensor> one_grad =
      client->Backward(one->session_id, one->values);
  ASSERT_THAT(one_grad.status(), IsOk());
  EXPECT_EQ(one_grad->shape(), input.shape());
  StopServer(server);
}

}  // namespace
}  // namespace tensorops::client
