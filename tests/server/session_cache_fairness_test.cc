// The session cache shared among callers (fair eviction, the per-caller byte
// quota) and claims (a session taken by a Backward until its result is
// delivered).
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/session_cache.h"
#include "tests/server/session_cache_test_util.h"
#include "tests/support/status_matchers.h"

namespace tensorops::server {
namespace {

using ::tensorops::testing::IsOk;
using ::tensorops::testing::StatusIs;
using ::testing::HasSubstr;

// Saves `count` sessions of `size` indices for `owner`, a tick apart.
std::vector<std::string> SaveMany(SessionCache& cache, FakeClock& clock,
                                  const std::string& owner, int count,
                                  int64_t size) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    clock.Advance(absl::Milliseconds(1));
    absl::StatusOr<std::string> id = cache.Save(MakeState(size), owner);
    EXPECT_THAT(id, IsOk()) << owner << " #" << i;
    if (id.ok()) ids.push_back(*id);
  }
  return ids;
}

// The hostile test: one caller saving big sessions within its count limit
// evicted all of another caller's. Now it only evicts its own.
TEST(SessionCacheFairnessTest, AHeavyOwnerCannotEvictALightOwnersSessions) {
  FakeClock clock;
  SessionCache::Options options = ManualOptions(clock);
  options.max_bytes = 8 * FootprintOf(1000);
  SessionCache cache(options);
  const std::vector<std::string> light = SaveMany(cache, clock, "b", 4, 10);
  const std::vector<std::string> heavy = SaveMany(cache, clock, "a", 16, 1000);
  ASSERT_EQ(heavy.size(), 16u);
  for (const std::string& id : light) {
    EXPECT_THAT(cache.Get(id, "b"), IsOk());
  }
  EXPECT_EQ(cache.SessionsOf("b"), 4);
  // The heavy caller kept its most recent sessions.
  EXPECT_THAT(cache.Get(heavy.back(), "a"), IsOk());
  EXPECT_THAT(cache.Get(heavy.front(), "a"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("evicted")));
  EXPECT_LE(cache.stats().bytes, options.max_bytes);
  EXPECT_GT(cache.stats().evictions, 0);
}

TEST(SessionCacheFairnessTest, ANewcomerTakesRoomFromOwnersOverTheirShare) {
  FakeClock clock;
  SessionCache::Options options = ManualOptions(clock);
  options.max_bytes = 8 * FootprintOf(100);
  SessionCache cache(options);
  // Alone, a caller may fill the whole cache.
  const std::vector<std::string> a = SaveMany(cache, clock, "a", 8, 100);
  EXPECT_EQ(cache.SessionsOf("a"), 8);
  // With two callers the share is half: each of b's saves evicts one of
  // a's, oldest first, until both hold their share.
  const std::vector<std::string> b = SaveMany(cache, clock, "b", 4, 100);
  EXPECT_EQ(cache.SessionsOf("a"), 4);
  EXPECT_EQ(cache.SessionsOf("b"), 4);
  EXPECT_THAT(cache.Get(a[3], "a"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("evicted")));
  EXPECT_THAT(cache.Get(a[4], "a"), IsOk());
  // Beyond its share, b makes room from its own oldest, not from a.
  const std::vector<std::string> more = SaveMany(cache, clock, "b", 1, 100);
  EXPECT_EQ(cache.SessionsOf("a"), 4);
  EXPECT_EQ(cache.SessionsOf("b"), 4);
  EXPECT_THAT(cache.Get(b[0], "b"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("evicted")));
}

TEST(SessionCacheFairnessTest, RefusesWhenOnlyOwnersWithinTheirShareHoldRoom) {
  FakeClock clock;
  SessionCache::Options options = ManualOptions(clock);
  options.max_bytes = 4 * FootprintOf(100);
  SessionCache cache(options);
  const std::vector<std::string> a = SaveMany(cache, clock, "a", 2, 100);
  // b's one session would take more than half the cache while a holds
  // exactly its half.
  EXPECT_THAT(
      cache.Save(MakeState(300), "b"),
      StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("fair share")));
  for (const std::string& id : a) EXPECT_THAT(cache.Get(id, "a"), IsOk());
  EXPECT_EQ(cache.SessionsOf("b"), 0);
  EXPECT_THAT(cache.Save(MakeState(100), "b"), IsOk());
}

TEST(SessionCacheFairnessTest, AFixedQuotaEvictsTheOwnersOwnOldest) {
  FakeClock clock;
  SessionCache::Options options = ManualOptions(clock);
  options.max_bytes_per_owner = 3 * FootprintOf(100);
  SessionCache cache(options);
  const std::vector<std::string> b = SaveMany(cache, clock, "b", 2, 100);
  const std::vector<std::string> a = SaveMany(cache, clock, "a", 5, 100);
  EXPECT_EQ(cache.SessionsOf("a"), 3);
  EXPECT_EQ(cache.BytesOf("a"), 3 * FootprintOf(100));
  EXPECT_THAT(cache.Get(a[1], "a"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("evicted")));
  EXPECT_THAT(cache.Get(a[2], "a"), IsOk());
  EXPECT_EQ(cache.SessionsOf("b"), 2);
  EXPECT_THAT(cache.CheckFits(3 * FootprintOf(100) + 1),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("--session_bytes_per_caller")));
}

// --- claims ----------------------------------------------------------

// One session of owner "a" (indices 0..3), saved in a cache with a manual
// clock.
class SessionClaimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> id = cache_.Save(MakeState(4), "a");
    ASSERT_THAT(id, IsOk());
    id_ = *id;
  }

  FakeClock clock_;
  SessionCache cache_{ManualOptions(clock_)};
  std::string id_;
};

TEST_F(SessionClaimTest, AFinishedClaimConsumesTheSession) {
  absl::StatusOr<SessionCache::Claim> claim = cache_.ClaimSession(id_, "a");
  ASSERT_THAT(claim, IsOk());
  EXPECT_EQ(claim->state()->indices.Load<int64_t>(3), 3);
  // Hidden while claimed, and reported as being consumed.
  EXPECT_EQ(cache_.stats().entries, 0);
  EXPECT_EQ(cache_.SessionsOf("a"), 0);
  EXPECT_THAT(cache_.Get(id_, "a"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("still finishing")));
  claim->Finish(/*consumed=*/true);
  EXPECT_THAT(cache_.Get(id_, "a"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("already consumed")));
  EXPECT_EQ(cache_.stats().bytes, 0);
}

TEST_F(SessionClaimTest, AnUnfinishedClaimGivesTheSessionBack) {
  {
    absl::StatusOr<SessionCache::Claim> dropped = cache_.ClaimSession(id_, "a");
    ASSERT_THAT(dropped, IsOk());
  }
  EXPECT_THAT(cache_.Get(id_, "a"), IsOk());
  absl::StatusOr<SessionCache::Claim> claim = cache_.ClaimSession(id_, "a");
  ASSERT_THAT(claim, IsOk());
  claim->Finish(/*consumed=*/false);
  EXPECT_THAT(cache_.Get(id_, "a"), IsOk());
  EXPECT_EQ(cache_.stats().entries, 1);
  EXPECT_EQ(cache_.stats().bytes, FootprintOf(4));
}

TEST_F(SessionClaimTest, ASecondClaimIsRefusedWhileTheFirstHoldsIt) {
  absl::StatusOr<SessionCache::Claim> first = cache_.ClaimSession(id_, "a");
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(cache_.ClaimSession(id_, "a"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(cache_.ClaimSession(id_, "b"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown")));
  first->Finish(/*consumed=*/false);
  EXPECT_THAT(cache_.ClaimSession(id_, "a"), IsOk());
}

TEST_F(SessionClaimTest, ReleasingAClaimedSessionSticks) {
  absl::StatusOr<SessionCache::Claim> claim = cache_.ClaimSession(id_, "a");
  ASSERT_THAT(claim, IsOk());
  EXPECT_THAT(cache_.Release(id_, "a"), IsOk());
  claim->Finish(/*consumed=*/false);
  EXPECT_THAT(cache_.Get(id_, "a"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("released")));
  EXPECT_EQ(cache_.stats().entries, 0);
}

TEST(SessionClaimConcurrencyTest, ExactlyOneOfManyConcurrentClaimsWins) {
  SessionCache cache(SessionCache::Options{});
  for (int round = 0; round < 20; ++round) {
    absl::StatusOr<std::string> id = cache.Save(MakeState(8));
    ASSERT_THAT(id, IsOk());
    std::vector<absl::StatusOr<SessionCache::Claim>> claims(8);
    const RaceOutcome outcome = Race(8, [&](int t) {
      claims[t] = cache.ClaimSession(*id);
      return claims[t].status();
    });
    EXPECT_EQ(outcome.wins, 1);
    EXPECT_EQ(outcome.refusals, 7);
    for (auto& claim : claims) {
      if (claim.ok()) claim->Finish(/*consumed=*/true);
    }
  }
  EXPECT_EQ(cache.stats().entries, 0);
}

}  // namespace
}  // namespace tensorops::server
