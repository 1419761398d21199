// Every RPC of tensorops.v1.TensorOps through a real server on a loopback
// port, with the seed examples.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::FloatEq;
using ::testing::Pointwise;

class TensorOpsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = TestServer::Start();
    ASSERT_NE(server_, nullptr);
  }

  v1::TensorOps::Stub& stub() { return server_->stub(); }

  std::unique_ptr<TestServer> server_;
};

const std::vector<int64_t> kSeedInt64 = {1, 2, 3, 4, 5, 6};

TEST_F(TensorOpsServiceTest, ZerosLikeOfInt64Matrix) {
  v1::ZerosLikeRequest request;
  *request.mutable_input() = WireTensor(v1::DTYPE_INT64, {2, 3}, kSeedInt64);
  v1::ZerosLikeResponse response;
  grpc::Status status =
      stub().ZerosLike(ContextWithTimeout().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.output().dtype(), v1::DTYPE_INT64);
  EXPECT_THAT(WireShape(response.output()), ElementsAre(2, 3));
  EXPECT_THAT(WireValues<int64_t>(response.output()),
              ElementsAre(0, 0, 0, 0, 0, 0));
}

TEST_F(TensorOpsServiceTest, OnesLikeOfInt64Matrix) {
  v1::OnesLikeRequest request;
  *request.mutable_input() = WireTensor(v1::DTYPE_INT64, {2, 3}, kSeedInt64);
  v1::OnesLikeResponse response;
  grpc::Status status =
      stub().OnesLike(ContextWithTimeout().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.output().dtype(), v1::DTYPE_INT64);
  EXPECT_THAT(WireShape(response.output()), ElementsAre(2, 3));
  EXPECT_THAT(WireValues<int64_t>(response.output()),
              ElementsAre(1, 1, 1, 1, 1, 1));
}

TEST_F(TensorOpsServiceTest, FillsNeedOnlyShapeAndDTypeAndHonourTheDTypeField) {
  v1::OnesLikeRequest request;
  request.mutable_input()->set_dtype(v1::DTYPE_INT8);
  request.mutable_input()->add_shape(3);
  request.set_dtype(v1::DTYPE_FLOAT32);
  v1::OnesLikeResponse ones;
  ASSERT_TRUE(stub().OnesLike(ContextWithTimeout().get(), request, &ones).ok());
  EXPECT_EQ(ones.output().dtype(), v1::DTYPE_FLOAT32);
  EXPECT_THAT(WireValues<float>(ones.output()), Each(FloatEq(1.0f)));

  request.set_dtype(v1::DTYPE_BOOL);
  ASSERT_TRUE(stub().OnesLike(ContextWithTimeout().get(), request, &ones).ok());
  EXPECT_EQ(ones.output().data(), std::string(3, '\x01'));

  v1::ZerosLikeRequest zeros_request;
  zeros_request.mutable_input()->set_dtype(v1::DTYPE_FLOAT16);  // 0-d
  v1::ZerosLikeResponse zeros;
  ASSERT_TRUE(
      stub().ZerosLike(ContextWithTimeout().get(), zeros_request, &zeros).ok());
  EXPECT_EQ(zeros.output().dtype(), v1::DTYPE_FLOAT16);
  EXPECT_TRUE(zeros.output().shape().empty());
  EXPECT_EQ(zeros.output().data(), std::string(2, '\0'));
}

TEST_F(TensorOpsServiceTest, TopKSeedExampleAndBackwardThroughTheSession) {
  const v1::TopKRequest topk = TopKOf({3, 1, 4, 2}, 2, /*save=*/true);
  v1::TopKResponse selected;
  grpc::Status status =
      stub().TopK(ContextWithTimeout().get(), topk, &selected);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(selected.values().dtype(), v1::DTYPE_FLOAT32);
  EXPECT_EQ(selected.indices().dtype(), v1::DTYPE_INT64);
  EXPECT_THAT(WireShape(selected.values()), ElementsAre(2));
  EXPECT_THAT(WireValues<float>(selected.values()), ElementsAre(4.f, 3.f));
  EXPECT_THAT(WireValues<int64_t>(selected.indices()), ElementsAre(2, 0));
  ASSERT_FALSE(selected.session_id().empty());

  v1::BackwardRequest backward;
  backward.set_session_id(selected.session_id());
  *backward.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {2}, {0.1f, 0.2f});
  v1::BackwardResponse grad;
  status = stub().Backward(ContextWithTimeout().get(), backward, &grad);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(grad.grad_input().dtype(), v1::DTYPE_FLOAT32);
  EXPECT_THAT(WireShape(grad.grad_input()), ElementsAre(4));
  EXPECT_THAT(WireValues<float>(grad.grad_input()),
              ElementsAre(0.2f, 0.f, 0.1f, 0.f));
}

// A Sort-sized stateless Backward (6 MB: its two tensors are lifted out of
// the request and scattered from the received slices in place).
v1::BackwardRequest LargeStatelessBackward(int64_t rows, int64_t size,
                                           std::vector<float>* expected) {
  std::vector<float> grad(rows * size);
  std::vector<int64_t> indices(rows * size);
  expected->assign(rows * size, 0.0f);
  std::mt19937 rng(3);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t* row = indices.data() + r * size;
    std::iota(row, row + size, 0);
    std::shuffle(row, row + size, rng);
    for (int64_t j = 0; j < size; ++j) {
      grad[r * size + j] = static_cast<float>(r * size + j) * 0.5f;
      (*expected)[r * size + row[j]] = grad[r * size + j];
    }
  }
  v1::BackwardRequest backward;
  *backward.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {rows, size}, grad);
  *backward.mutable_indices() =
      WireTensor<int64_t>(v1::DTYPE_INT64, {rows, size}, indices);
  backward.add_input_shape(rows);
  backward.add_input_shape(size);
  return backward;
}

TEST_F(TensorOpsServiceTest, LargeStatelessBackwardScattersEveryElement) {
  std::vector<float> expected;
  const v1::BackwardRequest backward =
      LargeStatelessBackward(256, 2048, &expected);
  ASSERT_GT(backward.ByteSizeLong(), 4u << 20);
  v1::BackwardResponse grad;
  grpc::Status status =
      stub().Backward(ContextWithTimeout().get(), backward, &grad);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(WireShape(grad.grad_input()), ElementsAre(256, 2048));
  EXPECT_EQ(WireValues<float>(grad.grad_input()), expected);
}

TEST_F(TensorOpsServiceTest, LargeStatelessBackwardNamesTheFirstBadIndex) {
  std::vector<float> expected;
  v1::BackwardRequest backward = LargeStatelessBackward(256, 2048, &expected);
  std::string* index_bytes = backward.mutable_indices()->mutable_data();
  const int64_t bad[] = {2048, -5};
  std::memcpy(index_bytes->data() + 300001 * 8, &bad[0], 8);
  std::memcpy(index_bytes->data() + 400000 * 8, &bad[1], 8);
  v1::BackwardResponse grad;
  grpc::Status status =
      stub().Backward(ContextWithTimeout().get(), backward, &grad);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("indices element 300001 (flat, row-major) "
                                   "is 2048, out of range"));
}

TEST_F(TensorOpsServiceTest,
       TopKWithoutSaveReturnsNoSessionAndStatelessBackward) {
  const v1::TopKRequest topk = TopKOf({3, 1, 4, 2}, 2);
  v1::TopKResponse selected;
  ASSERT_TRUE(stub().TopK(ContextWithTimeout().get(), topk, &selected).ok());
  EXPECT_TRUE(selected.session_id().empty());
  EXPECT_EQ(server_->server().sessions().stats().entries, 0);

  v1::BackwardRequest backward;
  *backward.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {2}, {0.1f, 0.2f});
  *backward.mutable_indices() = selected.indices();
  backward.add_input_shape(4);  // dim defaults to -1
  v1::BackwardResponse grad;
  grpc::Status status =
      stub().Backward(ContextWithTimeout().get(), backward, &grad);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(WireValues<float>(grad.grad_input()),
              ElementsAre(0.2f, 0.f, 0.1f, 0.f));
}

TEST_F(TensorOpsServiceTest, MatrixAlongDim1GradOfOnesMarksTheSelection) {
  v1::TopKRequest topk;
  *topk.mutable_input() =
      WireTensor<double>(v1::DTYPE_FLOAT64, {2, 3}, {1., 5., 3., 6., 2., 4.});
  topk.set_k(2);
  topk.set_dim(1);
  topk.set_save_for_backward(true);
  v1::TopKResponse selected;
  ASSERT_TRUE(stub().TopK(ContextWithTimeout().get(), topk, &selected).ok());
  EXPECT_THAT(WireShape(selected.values()), ElementsAre(2, 2));
  EXPECT_THAT(WireValues<double>(selected.values()),
              ElementsAre(5., 3., 6., 4.));
  const std::vector<int64_t> indices = WireValues<int64_t>(selected.indices());
  EXPECT_THAT(indices, ElementsAre(1, 2, 0, 2));

  v1::BackwardRequest backward;
  backward.set_session_id(selected.session_id());
  *backward.mutable_grad_values() =
      WireTensor<double>(v1::DTYPE_FLOAT64, {2, 2}, {1., 1., 1., 1.});
  v1::BackwardResponse grad;
  ASSERT_TRUE(
      stub().Backward(ContextWithTimeout().get(), backward, &grad).ok());
  EXPECT_THAT(WireShape(grad.grad_input()), ElementsAre(2, 3));
  // Ones exactly at the positions TopK returned, zeros elsewhere.
  std::vector<double> expected(6, 0.0);
  for (int row = 0; row < 2; ++row) {
    for (int j = 0; j < 2; ++j) expected[row * 3 + indices[row * 2 + j]] = 1.0;
  }
  EXPECT_THAT(WireValues<double>(grad.grad_input()),
              ElementsAreArray(expected));
  EXPECT_THAT(WireValues<double>(grad.grad_input()),
              ElementsAre(0., 1., 1., 1., 0., 1.));
}

TEST_F(TensorOpsServiceTest, TopKOptionsReachTheBackend) {
  v1::TopKRequest topk;
  *topk.mutable_input() =
      WireTensor<int32_t>(v1::DTYPE_INT32, {3, 2}, {5, 1, 2, 7, 2, 0});
  topk.set_k(2);
  topk.set_dim(0);
  topk.set_largest(false);
  v1::TopKResponse sorted;
  ASSERT_TRUE(stub().TopK(ContextWithTimeout().get(), topk, &sorted).ok());
  // Column 0: 5, 2, 2 -> smallest 2 (row 1), 2 (row 2); ties by index.
  // Column 1: 1, 7, 0 -> 0 (row 2), 1 (row 0).
  EXPECT_THAT(WireValues<int32_t>(sorted.values()), ElementsAre(2, 0, 2, 1));
  EXPECT_THAT(WireValues<int64_t>(sorted.indices()), ElementsAre(1, 2, 2, 0));

  topk.set_sorted(false);
  v1::TopKResponse unsorted;
  ASSERT_TRUE(stub().TopK(ContextWithTimeout().get(), topk, &unsorted).ok());
  // The same selection in increasing index order.
  EXPECT_THAT(WireValues<int64_t>(unsorted.indices()), ElementsAre(1, 0, 2, 2));
  EXPECT_THAT(WireValues<int32_t>(unsorted.values()), ElementsAre(2, 1, 2, 0));
}

TEST_F(TensorOpsServiceTest, ZeroDInputTopKAndBackward) {
  v1::TopKRequest topk;
  *topk.mutable_input() = WireTensor<float>(v1::DTYPE_FLOAT32, {}, {2.5f});
  topk.set_k(1);
  topk.set_save_for_backward(true);
  v1::TopKResponse selected;
  grpc::Status status =
      stub().TopK(ContextWithTimeout().get(), topk, &selected);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(selected.values().shape().empty());
  EXPECT_THAT(WireValues<float>(selected.values()), ElementsAre(2.5f));
  EXPECT_THAT(WireValues<int64_t>(selected.indices()), ElementsAre(0));

  v1::BackwardRequest backward;
  backward.set_session_id(selected.session_id());
  *backward.mutable_grad_values() =
      WireTensor<float>(v1::DTYPE_FLOAT32, {}, {-4.f});
  v1::BackwardResponse grad;
  status = stub().Backward(ContextWithTimeout().get(), backward, &grad);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(grad.grad_input().shape().empty());
  EXPECT_THAT(WireValues<float>(grad.grad_input()), ElementsAre(-4.f));
}

TEST_F(TensorOpsServiceTest, KZeroGivesEmptyResultsAndAZeroGradient) {
  v1::TopKRequest topk;
  *topk.mutable_input() = WireTensor<float>(v1::DTYPE_FLOAT32, {3}, {1, 2, 3});
  topk.set_k(0);
  topk.set_save_for_backward(true);
  v1::TopKResponse selected;
  ASSERT_TRUE(stub().TopK(ContextWithTimeout().get(), topk, &selected).ok());
  EXPECT_THAT(WireShape(selected.values()), ElementsAre(0));
  EXPECT_TRUE(selected.values().data().empty());
  EXPECT_TRUE(selected.indices().data().empty());

  v1::BackwardRequest backward;
  backward.set_session_id(selected.session_id());
  backward.mutable_grad_values()->set_dtype(v1::DTYPE_FLOAT32);
  backward.mutable_grad_values()->add_shape(0);
  v1::BackwardResponse grad;
  grpc::Status status =
      stub().Backward(ContextWithTimeout().get(), backward, &grad);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(WireValues<float>(grad.grad_input()), ElementsAre(0, 0, 0));
}

TEST_F(TensorOpsServiceTest, LargeTopKRunsOnTheExecutorAndMatchesASort) {
  // 1 MiB of input: well above the inline threshold.
  constexpr int64_t kRows = 64, kCols = 4096, kK = 5;
  std::mt19937 random(7);
  std::uniform_real_distribution<float> uniform(-1000.f, 1000.f);
  std::vector<float> values(kRows * kCols);
  for (float& value : values) value = uniform(random);
  v1::TopKRequest topk;
  *topk.mutable_input() = WireTensor(v1::DTYPE_FLOAT32, {kRows, kCols}, values);
  topk.set_k(kK);
  v1::TopKResponse response;
  grpc::Status status =
      stub().TopK(ContextWithTimeout().get(), topk, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::vector<float> got = WireValues<float>(response.values());
  const std::vector<int64_t> got_indices =
      WireValues<int64_t>(response.indices());
  ASSERT_EQ(got.size(), static_cast<size_t>(kRows * kK));
  for (int64_t row = 0; row < kRows; ++row) {
    std::vector<int64_t> order(kCols);
    std::iota(order.begin(), order.end(), 0);
    const float* data = values.data() + row * kCols;
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return data[a] > data[b]; });
    for (int64_t j = 0; j < kK; ++j) {
      EXPECT_EQ(got_indices[row * kK + j], order[j]) << row << "," << j;
      EXPECT_EQ(got[row * kK + j], data[order[j]]);
    }
  }
}

TEST_F(TensorOpsServiceTest, ReleaseSessionFreesIt) {
  v1::TopKRequest topk;
  *topk.mutable_input() = WireTensor<float>(v1::DTYPE_FLOAT32, {3}, {1, 2, 3});
  topk.set_k(1);
  topk.set_save_for_backward(true);
  v1::TopKResponse selected;
  ASSERT_TRUE(stub().TopK(ContextWithTimeout().get(), topk, &selected).ok());
  EXPECT_EQ(server_->server().sessions().stats().entries, 1);

  v1::ReleaseSessionRequest release;
  release.set_session_id(selected.session_id());
  v1::ReleaseSessionResponse released;
  grpc::Status status =
      stub().ReleaseSession(ContextWithTimeout().get(), release, &released);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(server_->server().sessions().stats().entries, 0);
}

TEST_F(TensorOpsServiceTest, GetServerInfoReportsTheConfiguration) {
  v1::GetServerInfoResponse info;
  grpc::Status status = stub().GetServerInfo(ContextWithTimeout().get(),
                                             v1::GetServerInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const ServerConfig config = TestConfig();
  EXPECT_FALSE(info.version().empty());
  EXPECT_EQ(info.backend(), "cpu");
  EXPECT_EQ(info.compute_threads(), config.threads);
  EXPECT_EQ(info.max_message_bytes(), config.max_message_bytes);
  EXPECT_EQ(info.session_ttl_ms(),
            absl::ToInt64Milliseconds(config.session_ttl));
  EXPECT_EQ(info.session_cache_bytes(), config.session_cache_bytes);
  EXPECT_EQ(info.session_count(), 0);
}

}  // namespace
}  // namespace tensorops::server::testing
