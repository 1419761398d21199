// Shared memory regions tied to their client's connection: TensorOpsClient
// opens a HoldSharedMemory call before its first registration, the server
// keeps the regions while the client lives (past the idle timeout) and
// unmaps them once the client is gone, and a shutdown ends open holds.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/tensor_ops_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/server/shm_test_util.h"
#include "tests/support/status_matchers.h"

namespace tensorops::client {
namespace {

namespace v1 = ::tensorops::v1;
using ::tensorops::server::testing::MappingsOf;
using ::tensorops::server::testing::TestShm;
using ::tensorops::testing::IsOk;

// Idle owners would lose their regions after 100 ms; held ones keep them.
std::unique_ptr<server::Server> StartServer(bool allow_shared_memory) {
  server::ServerConfig config;
  config.address = "127.0.0.1:0";
  config.metrics_address = "";
  config.threads = 2;
  config.allow_shared_memory = allow_shared_memory;
  config.shared_memory_idle_timeout = absl::Milliseconds(100);
  config.shared_memory_release_grace = absl::Milliseconds(200);
  absl::StatusOr<std::unique_ptr<server::Server>> started =
      server::Server::Start(config);
  EXPECT_THAT(started.status(), IsOk());
  return started.ok() ? *std::move(started) : nullptr;
}

std::unique_ptr<TensorOpsClient> ConnectTo(const server::Server& server) {
  return TensorOpsClient::Connect(absl::StrCat("127.0.0.1:", server.port()));
}

v1::RegisterSharedMemoryRequest Registration(const TestShm& shm) {
  v1::RegisterSharedMemoryRequest request;
  request.set_name("r");
  request.set_key(shm.key());
  request.set_byte_size(4096);
  return request;
}

// Waits (up to a minute: this is not a timing check) until the server has
// unmapped `key`, leaving the test's own mapping.
bool UnmappedByTheServer(const std::string& key) {
  const absl::Time give_up = absl::Now() + absl::Minutes(1);
  while (MappingsOf(key) != 1) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

TEST(SharedMemoryHoldTest, RegionsStayWhileTheirClientLivesAndGoAfter) {
  std::unique_ptr<server::Server> server = StartServer(true);
  ASSERT_NE(server, nullptr);
  TestShm shm(4096);
  std::unique_ptr<TensorOpsClient> client = ConnectTo(*server);
  ASSERT_THAT(client->RegisterSharedMemory(Registration(shm)), IsOk());
  absl::StatusOr<v1::GetServerInfoResponse> info = client->GetServerInfo();
  ASSERT_THAT(info.status(), IsOk());
  EXPECT_EQ(info->caller_shared_memory_holds(), 1);
  EXPECT_EQ(info->shared_memory_release_grace_ms(), 200);
  // Five idle timeouts without a call: the hold keeps the region.
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(MappingsOf(shm.key()), 2);
  // A second registration reuses the open hold.
  v1::RegisterSharedMemoryRequest second = Registration(shm);
  second.set_name("r2");
  ASSERT_THAT(client->RegisterSharedMemory(second), IsOk());
  EXPECT_EQ(client->GetServerInfo()->caller_shared_memory_holds(), 1);

  client.reset();  // its hold ends with it
  EXPECT_TRUE(UnmappedByTheServer(shm.key()));
  std::unique_ptr<TensorOpsClient> other = ConnectTo(*server);
  absl::StatusOr<v1::ListSharedMemoryResponse> listed =
      other->ListSharedMemory();
  ASSERT_THAT(listed.status(), IsOk());
  EXPECT_EQ(listed->regions_size(), 0);
  EXPECT_EQ(other->GetServerInfo()->caller_shared_memory_holds(), 0);
}

TEST(SharedMemoryHoldTest, ShutdownEndsOpenHoldsWithoutWaitingForThem) {
  std::unique_ptr<server::Server> server = StartServer(true);
  ASSERT_NE(server, nullptr);
  TestShm shm(4096);
  std::unique_ptr<TensorOpsClient> client = ConnectTo(*server);
  ASSERT_THAT(client->RegisterSharedMemory(Registration(shm)), IsOk());
  const absl::Time start = absl::Now();
  server->Shutdown(absl::Minutes(2));
  // Not held until the deadline: the drain ends holds with the other calls
  // that never end by themselves once its own calls are done.
  EXPECT_LT(absl::Now() - start, absl::Minutes(1));
  EXPECT_EQ(MappingsOf(shm.key()), 1);
  client.reset();  // returns: its call has ended
}

TEST(SharedMemoryHoldTest, AHoldIsRefusedWhereSharedMemoryIsOff) {
  std::unique_ptr<server::Server> server = StartServer(false);
  ASSERT_NE(server, nullptr);
  std::unique_ptr<TensorOpsClient> client = ConnectTo(*server);
  grpc::ClientContext context;
  auto stub = v1::TensorOps::NewStub(client->channel());
  auto hold = stub->HoldSharedMemory(&context);
  hold->WritesDone();
  const grpc::Status status = hold->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("--allow_shared_memory"));
}

TEST(SharedMemoryHoldTest, AClientThatClosesItsSideEndsTheHoldWithOk) {
  std::unique_ptr<server::Server> server = StartServer(true);
  ASSERT_NE(server, nullptr);
  std::unique_ptr<TensorOpsClient> client = ConnectTo(*server);
  grpc::ClientContext context;
  auto stub = v1::TensorOps::NewStub(client->channel());
  auto hold = stub->HoldSharedMemory(&context);
  hold->WaitForInitialMetadata();  // counted by now
  EXPECT_EQ(client->GetServerInfo()->caller_shared_memory_holds(), 1);
  ASSERT_TRUE(hold->Write(v1::HoldSharedMemoryRequest()));  // ignored
  hold->WritesDone();
  EXPECT_TRUE(hold->Finish().ok());
  // The server counts the hold out once gRPC is done with the call, which
  // may be just after the client has its status.
  const absl::Time give_up = absl::Now() + absl::Minutes(1);
  while (client->GetServerInfo()->caller_shared_memory_holds() != 0 &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(client->GetServerInfo()->caller_shared_memory_holds(), 0);
}

}  // namespace
}  // namespace tensorops::client
