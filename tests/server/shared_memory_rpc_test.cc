// Tensors through shared memory, end to end on an in-process server: the
// results against the inline calls', bounds, the off switch, and a region
// truncated while a large TopK reads it.
#include <cstring>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/tensor_ops_service.h"
#include "tests/server/server_test_util.h"
#include "tests/server/shm_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::HasSubstr;

ServerConfig ShmConfig() {
  ServerConfig config = TestConfig();
  config.allow_shared_memory = true;
  return config;
}

v1::SharedMemoryRef Ref(const std::string& region, int64_t offset,
                        int64_t byte_size) {
  v1::SharedMemoryRef ref;
  ref.set_region(region);
  ref.set_offset(offset);
  ref.set_byte_size(byte_size);
  return ref;
}

grpc::Status Register(v1::TensorOps::Stub& stub, const std::string& name,
                      const std::string& key, int64_t byte_size) {
  v1::RegisterSharedMemoryRequest request;
  request.set_name(name);
  request.set_key(key);
  request.set_byte_size(byte_size);
  v1::RegisterSharedMemoryResponse response;
  return stub.RegisterSharedMemory(ContextWithTimeout().get(), request,
                                   &response);
}

// A float32 tensor header in region `name` at `offset`.
v1::Tensor RegionTensor(std::vector<int64_t> shape, const std::string& name,
                        int64_t offset) {
  v1::Tensor tensor;
  tensor.set_dtype(v1::DTYPE_FLOAT32);
  int64_t count = 1;
  for (int64_t dim : shape) {
    tensor.add_shape(dim);
    count *= dim;
  }
  *tensor.mutable_shared_memory() = Ref(name, offset, count * 4);
  return tensor;
}

std::vector<float> RandomFloats(size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::vector<float> values(count);
  for (float& value : values) value = uniform(rng);
  return values;
}

TEST(SharedMemoryRpcTest, IsOffByDefault) {
  auto server = TestServer::Start();
  TestShm shm(4096);
  const grpc::Status status = Register(server->stub(), "r", shm.key(), 4096);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("--allow_shared_memory"));
  v1::TopKRequest request;
  *request.mutable_input() = RegionTensor({4}, "r", 0);
  request.set_k(1);
  v1::TopKResponse response;
  EXPECT_EQ(server->stub()
                .TopK(ContextWithTimeout().get(), request, &response)
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(SharedMemoryRpcTest, TopKReadsAndWritesRegionsAsInline) {
  auto server = TestServer::Start(ShmConfig());
  const std::vector<float> input = RandomFloats(64 * 1000, 1);
  TestShm shm(1 << 20);
  std::memcpy(shm.data(), input.data(), input.size() * 4);
  ASSERT_TRUE(Register(server->stub(), "r", shm.key(), 1 << 20).ok());

  v1::TopKRequest inline_request;
  *inline_request.mutable_input() =
      WireTensor(v1::DTYPE_FLOAT32, {64, 1000}, input);
  inline_request.set_k(7);
  v1::TopKResponse expected;
  ASSERT_TRUE(server->stub()
                  .TopK(ContextWithTimeout().get(), inline_request, &expected)
                  .ok());

  v1::TopKRequest request;
  *request.mutable_input() = RegionTensor({64, 1000}, "r", 0);
  request.set_k(7);
  const int64_t values_at = 300000, indices_at = 400000;
  *request.mutable_values_shared_memory() = Ref("r", values_at, 64 * 7 * 4);
  *request.mutable_indices_shared_memory() =
      Ref("r", indices_at, 64 * 7 * 8 + 100);  // room to spare is fine
  v1::TopKResponse response;
  const grpc::Status status =
      server->stub().TopK(ContextWithTimeout().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.values().data().empty());
  EXPECT_EQ(response.values().shared_memory().offset(), values_at);
  EXPECT_EQ(response.indices().shared_memory().byte_size(), 64 * 7 * 8);
  EXPECT_EQ(WireShape(response.values()), (std::vector<int64_t>{64, 7}));
  EXPECT_EQ(std::memcmp(shm.data() + values_at, expected.values().data().data(),
                        64 * 7 * 4),
            0);
  EXPECT_EQ(std::memcmp(shm.data() + indices_at,
                        expected.indices().data().data(), 64 * 7 * 8),
            0);

  // Inline results from a region input, too.
  request.clear_values_shared_memory();
  request.clear_indices_shared_memory();
  ASSERT_TRUE(
      server->stub().TopK(ContextWithTimeout().get(), request, &response).ok());
  EXPECT_EQ(response.values().data(), expected.values().data());
  EXPECT_EQ(response.indices().data(), expected.indices().data());
}

TEST(SharedMemoryRpcTest, BackwardAndFillWriteIntoRegions) {
  auto server = TestServer::Start(ShmConfig());
  TestShm shm(1 << 16);
  ASSERT_TRUE(Register(server->stub(), "r", shm.key(), 1 << 16).ok());
  const std::vector<float> grad = {1, 2, 3, 4};
  const std::vector<int64_t> indices = {2, 1, 0, 2};
  std::memcpy(shm.data(), grad.data(), 16);
  std::memcpy(shm.data() + 64, indices.data(), 32);

  v1::BackwardRequest request = ValidStatelessBackward();
  *request.mutable_grad_values() = RegionTensor({2, 2}, "r", 0);
  request.mutable_indices()->clear_data();
  *request.mutable_indices()->mutable_shared_memory() = Ref("r", 64, 32);
  *request.mutable_grad_input_shared_memory() = Ref("r", 1024, 24);
  v1::BackwardResponse response;
  const grpc::Status status =
      server->stub().Backward(ContextWithTimeout().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<float> grad_input(6);
  std::memcpy(grad_input.data(), shm.data() + 1024, 24);
  EXPECT_EQ(grad_input, (std::vector<float>{0, 2, 1, 3, 0, 4}));
  EXPECT_EQ(response.grad_input().shared_memory().region(), "r");

  v1::OnesLikeRequest ones;
  ones.mutable_input()->set_dtype(v1::DTYPE_INT32);
  ones.mutable_input()->add_shape(3);
  *ones.mutable_output_shared_memory() = Ref("r", 2048, 12);
  v1::OnesLikeResponse ones_response;
  ASSERT_TRUE(server->stub()
                  .OnesLike(ContextWithTimeout().get(), ones, &ones_response)
                  .ok());
  std::vector<int32_t> filled(3);
  std::memcpy(filled.data(), shm.data() + 2048, 12);
  EXPECT_EQ(filled, (std::vector<int32_t>{1, 1, 1}));
}

TEST(SharedMemoryRpcTest, ChecksEveryReference) {
  auto server = TestServer::Start(ShmConfig());
  TestShm shm(4096);
  ASSERT_TRUE(Register(server->stub(), "r", shm.key(), 4096).ok());
  const auto topk_status = [&](v1::TopKRequest request) {
    request.set_k(1);
    v1::TopKResponse response;
    return server->stub().TopK(ContextWithTimeout().get(), request, &response);
  };
  struct Case {
    const char* what;
    v1::TopKRequest request;
    grpc::StatusCode code;
    const char* message;
  };
  std::vector<Case> cases;
  {
    v1::TopKRequest outside;
    *outside.mutable_input() = RegionTensor({2}, "r", 4090);
    cases.push_back({"beyond the region", outside,
                     grpc::StatusCode::INVALID_ARGUMENT, "lies outside"});
  }
  {
    v1::TopKRequest misaligned;
    *misaligned.mutable_input() = RegionTensor({2}, "r", 2);
    cases.push_back({"misaligned", misaligned,
                     grpc::StatusCode::INVALID_ARGUMENT, "multiple"});
  }
  {
    v1::TopKRequest wrong_size;
    *wrong_size.mutable_input() = RegionTensor({2}, "r", 0);
    wrong_size.mutable_input()->mutable_shared_memory()->set_byte_size(12);
    cases.push_back({"wrong size", wrong_size,
                     grpc::StatusCode::INVALID_ARGUMENT, "exactly 8"});
  }
  {
    v1::TopKRequest both;
    *both.mutable_input() = RegionTensor({2}, "r", 0);
    both.mutable_input()->set_data(std::string(8, '\0'));
    cases.push_back({"data and region", both,
                     grpc::StatusCode::INVALID_ARGUMENT, "both data"});
  }
  {
    v1::TopKRequest unknown;
    *unknown.mutable_input() = RegionTensor({2}, "other", 0);
    cases.push_back({"unknown region", unknown, grpc::StatusCode::NOT_FOUND,
                     "no shared memory region named other"});
  }
  {
    v1::TopKRequest small_output;
    *small_output.mutable_input() = RegionTensor({2}, "r", 0);
    *small_output.mutable_values_shared_memory() = Ref("r", 64, 3);
    cases.push_back({"output too small", small_output,
                     grpc::StatusCode::INVALID_ARGUMENT, "needs 4 bytes"});
  }
  {
    v1::TopKRequest negative;
    *negative.mutable_input() = RegionTensor({2}, "r", 0);
    *negative.mutable_values_shared_memory() = Ref("r", -8, 4);
    cases.push_back({"negative offset", negative,
                     grpc::StatusCode::INVALID_ARGUMENT, "0 or more"});
  }
  for (const Case& c : cases) {
    const grpc::Status status = topk_status(c.request);
    EXPECT_EQ(status.error_code(), c.code) << c.what;
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.what;
  }
  ExpectSmallTopKWorks(server->stub());
}

TEST(SharedMemoryRpcTest, RegistrationIsValidatedAndListed) {
  auto server = TestServer::Start(ShmConfig());
  TestShm shm(4096);
  EXPECT_EQ(Register(server->stub(), "bad name", shm.key(), 8).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register(server->stub(), "r", "no-slash", 8).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register(server->stub(), "r", shm.key(), 0).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Register(server->stub(), "r", shm.key(), 4096).ok());
  v1::ListSharedMemoryResponse listed;
  ASSERT_TRUE(server->stub()
                  .ListSharedMemory(ContextWithTimeout().get(), {}, &listed)
                  .ok());
  ASSERT_EQ(listed.regions_size(), 1);
  EXPECT_EQ(listed.regions(0).key(), shm.key());
  EXPECT_TRUE(listed.regions(0).writable());
  v1::GetServerInfoResponse info;
  ASSERT_TRUE(
      server->stub().GetServerInfo(ContextWithTimeout().get(), {}, &info).ok());
  EXPECT_TRUE(info.shared_memory_allowed());
  EXPECT_EQ(info.caller_shared_memory_regions(), 1);
  EXPECT_EQ(info.caller_shared_memory_bytes(), 4096);
}

TEST(SharedMemoryRpcTest, UnregisterAndShutdownUnmap) {
  auto server = TestServer::Start(ShmConfig());
  TestShm shm(4096);
  ASSERT_TRUE(Register(server->stub(), "r", shm.key(), 4096).ok());
  EXPECT_EQ(MappingsOf(shm.key()), 2);
  v1::UnregisterSharedMemoryRequest request;
  request.set_name("r");
  v1::UnregisterSharedMemoryResponse response;
  ASSERT_TRUE(server->stub()
                  .UnregisterSharedMemory(ContextWithTimeout().get(), request,
                                          &response)
                  .ok());
  EXPECT_EQ(MappingsOf(shm.key()), 1);
  EXPECT_EQ(server->stub()
                .UnregisterSharedMemory(ContextWithTimeout().get(), request,
                                        &response)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Register(server->stub(), "r", shm.key(), 4096).ok());
  EXPECT_EQ(MappingsOf(shm.key()), 2);
  server->server().Shutdown(absl::Seconds(5));
  EXPECT_EQ(MappingsOf(shm.key()), 1);
}

TEST(SharedMemoryRpcTest, OnlyLocalCallersMayRegister) {
  EXPECT_TRUE(TensorOpsService::IsLocalPeer("ipv4:127.0.0.1:5000"));
  EXPECT_TRUE(TensorOpsService::IsLocalPeer("ipv6:[::1]:5000"));
  EXPECT_TRUE(TensorOpsService::IsLocalPeer("unix:/tmp/s"));
  EXPECT_FALSE(TensorOpsService::IsLocalPeer("ipv4:10.1.2.3:5000"));
  EXPECT_FALSE(TensorOpsService::IsLocalPeer("ipv6:[2001:db8::1]:5000"));
}

// A client that shrinks its region while a large TopK reads it must not
// bring the server down: each call completes or fails with the truncation
// error, and the server serves on.
TEST(SharedMemoryRpcTest, SurvivesARegionTruncatedDuringTopK) {
  auto server = TestServer::Start(ShmConfig());
  constexpr int64_t kRows = 1024, kCols = 32000;
  constexpr size_t kBytes = kRows * kCols * 4;
  int failed = 0;
  for (int round = 0; round < 6; ++round) {
    TestShm shm(kBytes);
    const std::vector<float> row = RandomFloats(kCols, round);
    for (int64_t r = 0; r < kRows; ++r) {
      std::memcpy(shm.data() + r * kCols * 4, row.data(), kCols * 4);
    }
    const std::string name = "big" + std::to_string(round);
    ASSERT_TRUE(Register(server->stub(), name, shm.key(), kBytes).ok());
    v1::TopKRequest request;
    *request.mutable_input() = RegionTensor({kRows, kCols}, name, 0);
    request.set_k(50);
    // Round 0 truncates before the call; the others while it runs (from
    // before it reaches the kernel to well into it, or after: any is fine).
    if (round == 0) shm.Resize(kBytes / 4);
    std::thread truncate([&shm, round] {
      if (round == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(round * 3));
      shm.Resize(kBytes / 4);
    });
    v1::TopKResponse response;
    const grpc::Status status = server->stub().TopK(
        ContextWithTimeout(absl::Seconds(60)).get(), request, &response);
    truncate.join();
    if (!status.ok()) {
      ++failed;
      EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
      EXPECT_THAT(status.error_message(), HasSubstr("truncated"));
    }
    // The region stays refused until registered again.
    v1::TopKResponse again;
    EXPECT_EQ(server->stub()
                  .TopK(ContextWithTimeout().get(), request, &again)
                  .error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
    ExpectSmallTopKWorks(server->stub());
  }
  // At least round 0's call read past the new end.
  EXPECT_GT(failed, 0);
}

}  // namespace
}  // namespace tensorops::server::testing
