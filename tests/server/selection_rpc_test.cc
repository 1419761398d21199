// Sort, KthValue, Max, Min and Median over RPC: each answers as the core
// does, each one's session turns into the gradient through Backward (with
// the reduced dimension put back where keepdim=false dropped it), and bad
// requests get INVALID_ARGUMENT naming what was wrong.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// [[3, 1, 4], [1, 5, 9]]: no ties within a row.
v1::Tensor Input() {
  return WireTensor<float>(v1::DTYPE_FLOAT32, {2, 3}, {3, 1, 4, 1, 5, 9});
}

template <typename Request>
Request WithInput(int64_t dim, bool save) {
  Request request;
  *request.mutable_input() = Input();
  request.set_dim(dim);
  request.set_save_for_backward(save);
  return request;
}

std::vector<float> BackwardOf(v1::TensorOps::Stub& stub,
                              const std::string& session,
                              const std::vector<int64_t>& grad_shape,
                              const std::vector<float>& grad) {
  v1::BackwardRequest request;
  request.set_session_id(session);
  *request.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, grad_shape, grad);
  v1::BackwardResponse response;
  const grpc::Status status =
      stub.Backward(ContextWithTimeout().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return WireValues<float>(response.grad_input());
}

TEST(SelectionRpcTest, SortOrdersEachRowAndItsSessionScattersBack) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  v1::SortRequest request = WithInput<v1::SortRequest>(-1, true);
  request.set_descending(true);
  v1::SortResponse response;
  const grpc::Status status =
      server->stub().Sort(ContextWithTimeout().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(WireValues<float>(response.values()),
              ElementsAre(4, 3, 1, 9, 5, 1));
  EXPECT_THAT(WireValues<int64_t>(response.indices()),
              ElementsAre(2, 0, 1, 2, 1, 0));
  ASSERT_FALSE(response.session_id().empty());
  EXPECT_THAT(BackwardOf(server->stub(), response.session_id(), {2, 3},
                         {10, 20, 30, 40, 50, 60}),
              ElementsAre(20, 30, 10, 60, 50, 40));
}

TEST(SelectionRpcTest, MaxWithoutKeepdimTakesAReducedGradient) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  v1::MaxResponse response;
  const grpc::Status status =
      server->stub().Max(ContextWithTimeout().get(),
                         WithInput<v1::MaxRequest>(0, true), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(response.values().shape(), ElementsAre(3));
  EXPECT_THAT(WireValues<float>(response.values()), ElementsAre(3, 5, 9));
  EXPECT_THAT(WireValues<int64_t>(response.indices()), ElementsAre(0, 1, 1));
  EXPECT_THAT(BackwardOf(server->stub(), response.session_id(), {3}, {1, 2, 3}),
              ElementsAre(1, 0, 0, 0, 2, 3));
}

TEST(SelectionRpcTest, MinWithKeepdimKeepsTheDimension) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  v1::MinRequest request = WithInput<v1::MinRequest>(1, true);
  request.set_keepdim(true);
  v1::MinResponse response;
  const grpc::Status status =
      server->stub().Min(ContextWithTimeout().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(response.values().shape(), ElementsAre(2, 1));
  EXPECT_THAT(WireValues<float>(response.values()), ElementsAre(1, 1));
  EXPECT_THAT(WireValues<int64_t>(response.indices()), ElementsAre(1, 0));
  EXPECT_THAT(BackwardOf(server->stub(), response.session_id(), {2, 1}, {7, 8}),
              ElementsAre(0, 7, 0, 8, 0, 0));
}

TEST(SelectionRpcTest, MedianAndKthValueSelectByRank) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  v1::MedianResponse median;
  ASSERT_TRUE(server->stub()
                  .Median(ContextWithTimeout().get(),
                          WithInput<v1::MedianRequest>(-1, true), &median)
                  .ok());
  EXPECT_THAT(WireValues<float>(median.values()), ElementsAre(3, 5));
  EXPECT_THAT(WireValues<int64_t>(median.indices()), ElementsAre(0, 1));
  EXPECT_THAT(BackwardOf(server->stub(), median.session_id(), {2}, {1, 2}),
              ElementsAre(1, 0, 0, 0, 2, 0));

  v1::KthValueRequest request = WithInput<v1::KthValueRequest>(-1, false);
  request.set_k(3);
  v1::KthValueResponse kth;
  ASSERT_TRUE(
      server->stub().KthValue(ContextWithTimeout().get(), request, &kth).ok());
  EXPECT_THAT(WireValues<float>(kth.values()), ElementsAre(4, 9));
  EXPECT_THAT(WireValues<int64_t>(kth.indices()), ElementsAre(2, 2));
  EXPECT_TRUE(kth.session_id().empty());
}

TEST(SelectionRpcTest, StatelessBackwardOfAReductionTakesKeepdimFalse) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  v1::BackwardRequest request;
  *request.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {2}, {5, 6});
  *request.mutable_indices() =
      WireTensor<int64_t>(v1::DTYPE_INT64, {2}, {2, 0});
  request.add_input_shape(2);
  request.add_input_shape(3);
  request.set_dim(1);
  request.set_keepdim(false);
  v1::BackwardResponse response;
  const grpc::Status status =
      server->stub().Backward(ContextWithTimeout().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(WireValues<float>(response.grad_input()),
              ElementsAreArray({0.f, 0.f, 5.f, 6.f, 0.f, 0.f}));
}

TEST(SelectionRpcTest, ARefusedGradientNamesTheSavedOp) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  v1::MedianResponse median;
  ASSERT_TRUE(server->stub()
                  .Median(ContextWithTimeout().get(),
                          WithInput<v1::MedianRequest>(-1, true), &median)
                  .ok());
  v1::BackwardRequest request;
  request.set_session_id(median.session_id());
  *request.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {3}, {1, 2, 3});
  v1::BackwardResponse response;
  const grpc::Status status =
      server->stub().Backward(ContextWithTimeout().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("Median"));
}

TEST(SelectionRpcTest, BadRequestsNameWhatWasWrong) {
  auto server = TestServer::Start();
  ASSERT_NE(server, nullptr);
  v1::KthValueRequest kth = WithInput<v1::KthValueRequest>(-1, false);
  kth.set_k(4);
  v1::KthValueResponse kth_response;
  grpc::Status status =
      server->stub().KthValue(ContextWithTimeout().get(), kth, &kth_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("expected 1 <= k <= 3"));

  v1::MaxRequest empty;
  *empty.mutable_input() = WireTensor<float>(v1::DTYPE_FLOAT32, {2, 0}, {});
  v1::MaxResponse max_response;
  status = server->stub().Max(ContextWithTimeout().get(), empty, &max_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("has size 0"));

  v1::SortRequest bad_dim = WithInput<v1::SortRequest>(2, false);
  v1::SortResponse sort_response;
  status =
      server->stub().Sort(ContextWithTimeout().get(), bad_dim, &sort_response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("dim"));
}

}  // namespace
}  // namespace tensorops::server::testing
