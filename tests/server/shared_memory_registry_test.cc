// The shared memory registry on its own: ownership, limits, cleanup and the
// truncation guard, with a fake clock.
#include "server/shared_memory_registry.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/mapped_region.h"
#include "tests/server/shm_test_util.h"

namespace tensorops::server {
namespace {

namespace v1 = ::tensorops::v1;
using ::tensorops::server::testing::MappingsOf;
using ::tensorops::server::testing::TestShm;
using ::testing::HasSubstr;

v1::RegisterSharedMemoryRequest Registration(const std::string& name,
                                             const std::string& key,
                                             int64_t offset,
                                             int64_t byte_size) {
  v1::RegisterSharedMemoryRequest request;
  request.set_name(name);
  request.set_key(key);
  request.set_offset(offset);
  request.set_byte_size(byte_size);
  return request;
}

struct FakeClock {
  absl::Time now = absl::UnixEpoch();
};

SharedMemoryOptions TestOptions(FakeClock* clock) {
  SharedMemoryOptions options;
  options.allowed = true;
  options.start_reaper = false;
  options.idle_timeout = absl::Seconds(60);
  options.release_grace = absl::Seconds(30);
  options.clock = [clock] { return clock->now; };
  return options;
}

TEST(SharedMemoryRegistryTest, OffByDefault) {
  SharedMemoryRegistry registry(SharedMemoryOptions{});
  TestShm shm(4096);
  const absl::Status status =
      registry.Register("", Registration("r", shm.key(), 0, 4096));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("--allow_shared_memory"));
  EXPECT_EQ(registry.Find("", "r").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SharedMemoryRegistryTest, RegionsBelongToTheirOwner) {
  FakeClock clock;
  SharedMemoryRegistry registry(TestOptions(&clock));
  TestShm shm(4096);
  ASSERT_TRUE(
      registry.Register("token:a", Registration("r", shm.key(), 0, 4096)).ok());
  EXPECT_TRUE(registry.Find("token:a", "r").ok());
  EXPECT_EQ(registry.Find("token:b", "r").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.Unregister("token:b", "r").code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(registry.List("token:b")->empty());
  // The same name is the other owner's own.
  EXPECT_TRUE(
      registry.Register("token:b", Registration("r", shm.key(), 0, 1024)).ok());
  EXPECT_EQ((*registry.List("token:a"))[0].byte_size(), 4096);
  EXPECT_EQ((*registry.List("token:b"))[0].byte_size(), 1024);
}

TEST(SharedMemoryRegistryTest, ANameIsRegisteredOnce) {
  FakeClock clock;
  SharedMemoryRegistry registry(TestOptions(&clock));
  TestShm shm(4096);
  ASSERT_TRUE(registry.Register("", Registration("r", shm.key(), 0, 16)).ok());
  EXPECT_EQ(registry.Register("", Registration("r", shm.key(), 0, 16)).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(SharedMemoryRegistryTest, LimitsRegionsPerOwner) {
  FakeClock clock;
  SharedMemoryOptions options = TestOptions(&clock);
  options.max_regions_per_owner = 2;
  SharedMemoryRegistry registry(options);
  TestShm shm(4096);
  ASSERT_TRUE(registry.Register("a", Registration("r1", shm.key(), 0, 8)).ok());
  ASSERT_TRUE(registry.Register("a", Registration("r2", shm.key(), 0, 8)).ok());
  const absl::Status third =
      registry.Register("a", Registration("r3", shm.key(), 0, 8));
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.message(),
              HasSubstr("--max_shared_memory_regions_per_caller"));
  // Another owner has its own allowance.
  EXPECT_TRUE(registry.Register("b", Registration("r3", shm.key(), 0, 8)).ok());
}

TEST(SharedMemoryRegistryTest, LimitsBytesPerOwner) {
  FakeClock clock;
  SharedMemoryOptions options = TestOptions(&clock);
  options.max_bytes_per_owner = 3000;
  SharedMemoryRegistry registry(options);
  TestShm shm(4096);
  EXPECT_EQ(
      registry.Register("a", Registration("big", shm.key(), 0, 4096)).code(),
      absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(
      registry.Register("a", Registration("r1", shm.key(), 0, 2000)).ok());
  const absl::Status over =
      registry.Register("a", Registration("r2", shm.key(), 0, 1001));
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.message(),
              HasSubstr("--max_shared_memory_bytes_per_caller"));
  ASSERT_TRUE(
      registry.Register("a", Registration("r2", shm.key(), 0, 1000)).ok());
  EXPECT_EQ(registry.BytesOf("a"), 3000);
}

TEST(SharedMemoryRegistryTest, RefusesARangeTheObjectDoesNotHold) {
  FakeClock clock;
  SharedMemoryRegistry registry(TestOptions(&clock));
  TestShm shm(4096);
  const absl::Status status =
      registry.Register("", Registration("r", shm.key(), 4000, 97));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("holds 4096 bytes"));
  EXPECT_EQ(
      registry
          .Register("", Registration("r", "/tensorops-no-such-object", 0, 8))
          .code(),
      absl::StatusCode::kNotFound);
}

TEST(SharedMemoryRegistryTest, UnregisterUnmapsOnceNoCallHoldsTheRegion) {
  FakeClock clock;
  SharedMemoryRegistry registry(TestOptions(&clock));
  TestShm shm(4096);
  ASSERT_EQ(MappingsOf(shm.key()), 1);  // the test's own
  ASSERT_TRUE(
      registry.Register("", Registration("r", shm.key(), 0, 4096)).ok());
  EXPECT_EQ(MappingsOf(shm.key()), 2);
  absl::StatusOr<FoundRegion> in_use = registry.Find("", "r");
  ASSERT_TRUE(in_use.ok());
  ASSERT_TRUE(registry.Unregister("", "r").ok());
  EXPECT_EQ(registry.Find("", "r").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(MappingsOf(shm.key()), 2);  // a call still reads it
  in_use->mapping.reset();
  EXPECT_EQ(MappingsOf(shm.key()), 1);
}

TEST(SharedMemoryRegistryTest, UnregisterOfNoNameDropsEveryRegion) {
  FakeClock clock;
  SharedMemoryRegistry registry(TestOptions(&clock));
  TestShm shm(4096);
  ASSERT_TRUE(registry.Register("a", Registration("r1", shm.key(), 0, 8)).ok());
  ASSERT_TRUE(registry.Register("a", Registration("r2", shm.key(), 8, 8)).ok());
  ASSERT_TRUE(registry.Register("b", Registration("r1", shm.key(), 0, 8)).ok());
  ASSERT_TRUE(registry.Unregister("a", "").ok());
  EXPECT_EQ(registry.RegionsOf("a"), 0);
  EXPECT_EQ(registry.RegionsOf("b"), 1);
}

TEST(SharedMemoryRegistryTest, IdleOwnersLoseTheirRegions) {
  FakeClock clock;
  SharedMemoryRegistry registry(TestOptions(&clock));
  TestShm shm(4096);
  ASSERT_TRUE(registry.Register("a", Registration("r", shm.key(), 0, 8)).ok());
  ASSERT_TRUE(registry.Register("b", Registration("r", shm.key(), 0, 8)).ok());
  clock.now += absl::Seconds(40);
  registry.Touch("b");  // b makes a call; a does not
  EXPECT_EQ(registry.ReapIdle(), 0);
  clock.now += absl::Seconds(30);
  EXPECT_EQ(registry.ReapIdle(), 1);
  EXPECT_EQ(registry.Find("a", "r").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(registry.Find("b", "r").ok());
  EXPECT_EQ(MappingsOf(shm.key()), 2);  // the test's and b's
}

TEST(SharedMemoryRegistryTest, HeldRegionsOutliveTheIdleTimeout) {
  FakeClock clock;
  SharedMemoryRegistry registry(TestOptions(&clock));
  TestShm shm(4096);
  ASSERT_TRUE(registry.OpenHold("a").ok());
  ASSERT_TRUE(registry.Register("a", Registration("r", shm.key(), 0, 8)).ok());
  clock.now += absl::Hours(2);  // no call at all
  EXPECT_EQ(registry.ReapIdle(), 0);
  EXPECT_TRUE(registry.Find("a", "r").ok());
}

TEST(SharedMemoryRegistryTest, RegionsGoTheGraceAfterTheLastHoldEnds) {
  FakeClock clock;
  SharedMemoryRegistry registry(TestOptions(&clock));
  TestShm shm(4096);
  ASSERT_TRUE(registry.OpenHold("a").ok());
  ASSERT_TRUE(registry.OpenHold("a").ok());
  ASSERT_TRUE(registry.Register("a", Registration("r", shm.key(), 0, 8)).ok());
  registry.CloseHold("a");  // one of two: still held
  clock.now += absl::Hours(1);
  EXPECT_EQ(registry.ReapIdle(), 0);
  registry.CloseHold("a");
  EXPECT_EQ(registry.OpenHoldsOf("a"), 0);
  clock.now += absl::Seconds(29);
  EXPECT_EQ(registry.ReapIdle(), 0);
  registry.Touch("a");  // calls do not stand in for a hold once released
  clock.now += absl::Seconds(1);
  EXPECT_EQ(registry.ReapIdle(), 1);
  EXPECT_EQ(registry.Find("a", "r").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(MappingsOf(shm.key()), 1);  // the test's own
}

TEST(SharedMemoryRegistryTest, AHoldReopenedWithinTheGraceKeepsTheRegions) {
  FakeClock clock;
  SharedMemoryRegistry registry(TestOptions(&clock));
  TestShm shm(4096);
  ASSERT_TRUE(registry.OpenHold("a").ok());
  ASSERT_TRUE(registry.Register("a", Registration("r", shm.key(), 0, 8)).ok());
  registry.CloseHold("a");  // the connection broke; the client reconnects
  clock.now += absl::Seconds(20);
  ASSERT_TRUE(registry.OpenHold("a").ok());
  clock.now += absl::Hours(1);
  EXPECT_EQ(registry.ReapIdle(), 0);
  EXPECT_TRUE(registry.Find("a", "r").ok());
}

TEST(SharedMemoryRegistryTest, HoldsAreLimitedPerOwnerAndNeedSharedMemory) {
  FakeClock clock;
  SharedMemoryOptions options = TestOptions(&clock);
  options.max_holds_per_owner = 2;
  SharedMemoryRegistry registry(options);
  ASSERT_TRUE(registry.OpenHold("a").ok());
  ASSERT_TRUE(registry.OpenHold("a").ok());
  const absl::Status third = registry.OpenHold("a");
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.message(), HasSubstr("HoldSharedMemory"));
  EXPECT_TRUE(registry.OpenHold("b").ok());  // another owner's own
  EXPECT_EQ(registry.OpenHoldsOf("a"), 2);
  registry.CloseHold("a");
  EXPECT_TRUE(registry.OpenHold("a").ok());

  SharedMemoryRegistry off(SharedMemoryOptions{});
  EXPECT_EQ(off.OpenHold("a").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SharedMemoryRegistryTest, ClearUnmapsEverything) {
  FakeClock clock;
  SharedMemoryRegistry registry(TestOptions(&clock));
  TestShm shm(4096);
  ASSERT_TRUE(registry.Register("a", Registration("r", shm.key(), 0, 8)).ok());
  ASSERT_TRUE(registry.Register("b", Registration("r", shm.key(), 0, 8)).ok());
  registry.Clear();
  EXPECT_EQ(registry.RegionsOf("a") + registry.RegionsOf("b"), 0);
  EXPECT_EQ(MappingsOf(shm.key()), 1);
}

TEST(MappedRegionTest, ReadsWhatTheOwnerWrote) {
  TestShm shm(8192);
  std::memcpy(shm.data() + 5000, "tensor", 6);
  absl::StatusOr<std::shared_ptr<MappedRegion>> region =
      MappedRegion::Map({.key = shm.key(), .file = ""}, 4999, 100, "");
  ASSERT_TRUE(region.ok()) << region.status();
  EXPECT_TRUE((*region)->writable());
  EXPECT_EQ(std::memcmp((*region)->bytes().data() + 1, "tensor", 6), 0);
}

TEST(MappedRegionTest, SurvivesTheObjectShrinkingUnderIt) {
  TestShm shm(1 << 20);
  absl::StatusOr<std::shared_ptr<MappedRegion>> region =
      MappedRegion::Map({.key = shm.key(), .file = ""}, 0, 1 << 20, "");
  ASSERT_TRUE(region.ok()) << region.status();
  EXPECT_FALSE((*region)->truncated());
  shm.Resize(4096);
  // Without the guard this read beyond the new end raises SIGBUS.
  volatile std::byte* bytes = (*region)->bytes().data();
  const std::byte read = bytes[(1 << 20) - 1];
  EXPECT_EQ(read, std::byte{0});
  bytes[(1 << 19)] = std::byte{7};  // writes land in zero pages
  EXPECT_TRUE((*region)->truncated());
  EXPECT_EQ(MappedRegion::TruncationError("r").code(),
            absl::StatusCode::kFailedPrecondition);
}

class MappedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/tensorops-shm-dir-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    file_ = dir_ + "/data.bin";
    const int fd = open(file_.c_str(), O_CREAT | O_RDWR, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 4096), 0);
    close(fd);
  }
  void TearDown() override {
    unlink((dir_ + "/link").c_str());
    unlink(file_.c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_;
  std::string file_;
};

TEST_F(MappedFileTest, MapsAFileBelowTheDirectory) {
  EXPECT_TRUE(
      MappedRegion::Map({.key = "", .file = file_}, 0, 4096, dir_).ok());
}

TEST_F(MappedFileTest, RefusesFilesElsewhereOrWithoutADirectory) {
  EXPECT_EQ(
      MappedRegion::Map({.key = "", .file = file_}, 0, 8, "").status().code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(MappedRegion::Map({.key = "", .file = "/etc/hostname"}, 0, 1, dir_)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(MappedFileTest, FollowsNoSymbolicLink) {
  ASSERT_EQ(symlink("/etc/hostname", (dir_ + "/link").c_str()), 0);
  const absl::Status status =
      MappedRegion::Map({.key = "", .file = dir_ + "/link"}, 0, 1, dir_)
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("symbolic link"));
}

TEST_F(MappedFileTest, RefusesWhatIsNotARegularFile) {
  EXPECT_EQ(MappedRegion::Map({.key = "", .file = dir_}, 0, 1, "/tmp")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tensorops::server
