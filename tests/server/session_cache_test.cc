// The session cache on its own: ids, LRU eviction under the byte cap, TTL
// expiry with an injected clock and with the reaper, the reasons given for
// missing ids, and concurrent use.
#include "server/session_cache.h"

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/session_cache_test_util.h"
#include "tests/support/status_matchers.h"

namespace tensorops::server {
namespace {

using ::tensorops::testing::IsOk;
using ::tensorops::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(SessionCacheTest, SaveThenGetKeepsAndTakeConsumes) {
  FakeClock clock;
  SessionCache cache(ManualOptions(clock));
  absl::StatusOr<std::string> id = cache.Save(MakeState(4));
  ASSERT_THAT(id, IsOk());
  EXPECT_THAT(*id, MatchesRegex("[0-9a-f]{32}"));

  absl::StatusOr<std::shared_ptr<const request::SavedSelection>> got =
      cache.Get(*id);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ((*got)->indices.num_elements(), 4);
  EXPECT_EQ((*got)->input_shape, Shape({1000}));
  EXPECT_THAT(cache.Get(*id), IsOk());

  absl::StatusOr<std::shared_ptr<const request::SavedSelection>> taken =
      cache.Take(*id);
  ASSERT_THAT(taken, IsOk());
  // The state stays usable by whoever took it.
  EXPECT_EQ((*taken)->indices.Load<int64_t>(3), 3);
  EXPECT_EQ(cache.stats().entries, 0);
  EXPECT_EQ(cache.stats().bytes, 0);
  EXPECT_THAT(cache.Take(*id), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("already consumed")));
  EXPECT_THAT(cache.Get(*id), StatusIs(absl::StatusCode::kFailedPrecondition,
                                       HasSubstr("retain_session")));
  // Nothing left to release.
  EXPECT_THAT(cache.Release(*id), StatusIs(absl::StatusCode::kNotFound,
                                           HasSubstr("already consumed")));
}

TEST(SessionCacheTest, SavesTheIndicesWithoutCopying) {
  FakeClock clock;
  SessionCache cache(ManualOptions(clock));
  request::SavedSelection state = MakeState(16);
  const std::byte* bytes = state.indices.data();
  absl::StatusOr<std::string> id = cache.Save(std::move(state));
  ASSERT_THAT(id, IsOk());
  absl::StatusOr<std::shared_ptr<const request::SavedSelection>> got =
      cache.Get(*id);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ((*got)->indices.data(), bytes);
}

TEST(SessionCacheTest, IdsAreDistinctAndRandomLooking) {
  FakeClock clock;
  SessionCache cache(ManualOptions(clock));
  absl::flat_hash_set<std::string> ids;
  int nibble_counts[16] = {};
  for (int i = 0; i < 2000; ++i) {
    absl::StatusOr<std::string> id = cache.Save(MakeState(1));
    ASSERT_THAT(id, IsOk());
    EXPECT_TRUE(ids.insert(*id).second) << "repeated id " << *id;
    for (char c : *id) ++nibble_counts[c <= '9' ? c - '0' : c - 'a' + 10];
  }
  // 64000 hex digits: each of the 16 values appears about 4000 times; a
  // counter or clock-based id would be far off.
  for (int count : nibble_counts) {
    EXPECT_GT(count, 3400);
    EXPECT_LT(count, 4600);
  }
}

TEST(SessionCacheTest, ReleaseFreesAndSaysSoAfterwards) {
  FakeClock clock;
  SessionCache cache(ManualOptions(clock));
  absl::StatusOr<std::string> id = cache.Save(MakeState(4));
  ASSERT_THAT(id, IsOk());
  EXPECT_THAT(cache.Release(*id), IsOk());
  EXPECT_EQ(cache.stats().entries, 0);
  EXPECT_THAT(cache.Release(*id),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("released")));
  EXPECT_THAT(cache.Get(*id),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("released")));
}

TEST(SessionCacheTest, UnknownAndMalformedIds) {
  FakeClock clock;
  SessionCache cache(ManualOptions(clock));
  EXPECT_THAT(cache.Get(std::string(32, 'a')),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown")));
  EXPECT_THAT(cache.Release(std::string(32, '0')),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown")));
  for (const std::string& bad :
       {std::string(""), std::string("abc"), std::string(32, 'A'),
        std::string(31, 'a') + "g", std::string(33, 'a'),
        std::string(10000, 'x')}) {
    EXPECT_THAT(cache.Get(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("32 lowercase hex")))
        << bad.size();
  }
}

TEST(SessionCacheTest, ASessionIsUnknownToEveryoneButItsOwner) {
  FakeClock clock;
  SessionCache cache(ManualOptions(clock));
  absl::StatusOr<std::string> id = cache.Save(MakeState(4), "token:alice");
  ASSERT_THAT(id, IsOk());
  const std::string unknown =
      std::string(
          cache.Get(std::string(32, 'a'), "token:bob").status().message())
          .replace(std::string("unknown session_id \"").size(), 32, *id);
  for (absl::string_view stranger : {"token:bob", "", "x509:alice"}) {
    EXPECT_THAT(cache.Get(*id, stranger),
                StatusIs(absl::StatusCode::kNotFound, unknown));
    EXPECT_THAT(cache.Take(*id, stranger),
                StatusIs(absl::StatusCode::kNotFound, unknown));
    EXPECT_THAT(cache.Release(*id, stranger),
                StatusIs(absl::StatusCode::kNotFound, unknown));
  }
  EXPECT_EQ(cache.stats().entries, 1);
  EXPECT_THAT(cache.Take(*id, "token:alice"), IsOk());
  // Why it is gone is the owner's business only.
  EXPECT_THAT(cache.Get(*id, "token:alice"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(cache.Get(*id, "token:bob"),
              StatusIs(absl::StatusCode::kNotFound, unknown));
}

TEST(SessionCacheTest, EachOwnerHoldsAtMostItsLimit) {
  FakeClock clock;
  SessionCache::Options options = ManualOptions(clock);
  options.max_sessions_per_owner = 2;
  SessionCache cache(options);
  absl::StatusOr<std::string> first = cache.Save(MakeState(1), "a");
  absl::StatusOr<std::string> second = cache.Save(MakeState(1), "a");
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(cache.Save(MakeState(1), "a"),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("--max_sessions_per_caller")));
  EXPECT_THAT(cache.Save(MakeState(1), "b"), IsOk());
  EXPECT_EQ(cache.SessionsOf("a"), 2);
  EXPECT_EQ(cache.SessionsOf("b"), 1);
  // Every way a session goes frees its slot: release, consume, expiry.
  ASSERT_THAT(cache.Release(*first, "a"), IsOk());
  absl::StatusOr<std::string> third = cache.Save(MakeState(1), "a");
  ASSERT_THAT(third, IsOk());
  ASSERT_THAT(cache.Take(*second, "a"), IsOk());
  EXPECT_EQ(cache.SessionsOf("a"), 1);
  clock.Advance(options.ttl);
  cache.ReapExpired();
  EXPECT_EQ(cache.SessionsOf("a"), 0);
  EXPECT_EQ(cache.SessionsOf("b"), 0);
}

TEST(SessionCacheTest, ConcurrentSavesNeverTakeTheTotalOverTheCap) {
  SessionCache::Options options;
  options.start_reaper = false;
  options.max_bytes = 10 * FootprintOf(8);
  SessionCache cache(options);
  std::atomic<bool> done{false};
  int64_t most = 0;
  std::thread sampler([&] {
    while (!done.load()) most = std::max(most, cache.stats().bytes);
  });
  std::vector<std::thread> savers;
  for (int t = 0; t < 4; ++t) {
    savers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i)
        ASSERT_THAT(cache.Save(MakeState(8)), IsOk());
    });
  }
  for (std::thread& saver : savers) saver.join();
  done.store(true);
  sampler.join();
  EXPECT_LE(most, options.max_bytes);
  EXPECT_EQ(cache.stats().bytes, options.max_bytes);
  EXPECT_EQ(cache.stats().evictions, 8000 - 10);
}

TEST(SessionCacheTest, EvictsLeastRecentlyUsedUnderTheByteCap) {
  FakeClock clock;
  SessionCache::Options options = ManualOptions(clock);
  options.max_bytes = 3 * FootprintOf(10);
  SessionCache cache(options);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    clock.Advance(absl::Milliseconds(1));
    absl::StatusOr<std::string> id = cache.Save(MakeState(10));
    ASSERT_THAT(id, IsOk());
    ids.push_back(*id);
  }
  EXPECT_EQ(cache.stats().bytes, options.max_bytes);
  // Touch the oldest: the second becomes the least recently used.
  clock.Advance(absl::Milliseconds(1));
  ASSERT_THAT(cache.Get(ids[0]), IsOk());
  clock.Advance(absl::Milliseconds(1));
  absl::StatusOr<std::string> fourth = cache.Save(MakeState(10));
  ASSERT_THAT(fourth, IsOk());

  EXPECT_THAT(cache.Get(ids[1]),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("evicted")));
  // Each Get is a use: with the clock moving, the order of use is now
  // ids[2], ids[0], fourth (oldest first).
  clock.Advance(absl::Milliseconds(1));
  EXPECT_THAT(cache.Get(ids[2]), IsOk());
  clock.Advance(absl::Milliseconds(1));
  EXPECT_THAT(cache.Get(ids[0]), IsOk());
  clock.Advance(absl::Milliseconds(1));
  EXPECT_THAT(cache.Get(*fourth), IsOk());
  const SessionCacheStats stats = cache.stats();
  EXPECT_EQ(stats.entries, 3);
  EXPECT_EQ(stats.evictions, 1);
  EXPECT_LE(stats.bytes, options.max_bytes);

  // A bigger session evicts as many old ones as it needs (here two), least
  // recently used first.
  clock.Advance(absl::Milliseconds(1));
  absl::StatusOr<std::string> big = cache.Save(MakeState(25));
  ASSERT_THAT(big, IsOk());
  EXPECT_LE(cache.stats().bytes, options.max_bytes);
  EXPECT_EQ(cache.stats().evictions, 3);
  EXPECT_THAT(cache.Get(ids[2]),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("evicted")));
  EXPECT_THAT(cache.Get(ids[0]),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("evicted")));
  EXPECT_THAT(cache.Get(*fourth), IsOk());
  EXPECT_THAT(cache.Get(*big), IsOk());
}

TEST(SessionCacheTest, RefusesASessionLargerThanTheWholeCache) {
  FakeClock clock;
  SessionCache::Options options = ManualOptions(clock);
  options.max_bytes = FootprintOf(10);
  SessionCache cache(options);
  absl::StatusOr<std::string> kept = cache.Save(MakeState(10));
  ASSERT_THAT(kept, IsOk());
  EXPECT_THAT(cache.Save(MakeState(11)),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("--session_cache_bytes")));
  // Nothing was evicted for the refused one.
  EXPECT_THAT(cache.Get(*kept), IsOk());
  EXPECT_THAT(cache.CheckFits(FootprintOf(10)), IsOk());
  EXPECT_THAT(cache.CheckFits(FootprintOf(10) + 1),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(SessionCacheTest, IdleSessionsExpireAfterTheTtl) {
  FakeClock clock;
  SessionCache::Options options = ManualOptions(clock);
  options.ttl = absl::Seconds(10);
  SessionCache cache(options);
  absl::StatusOr<std::string> used = cache.Save(MakeState(4));
  absl::StatusOr<std::string> idle = cache.Save(MakeState(4));
  ASSERT_THAT(used, IsOk());
  ASSERT_THAT(idle, IsOk());

  clock.Advance(absl::Seconds(9));
  EXPECT_EQ(cache.ReapExpired(), 0u);
  ASSERT_THAT(cache.Get(*used), IsOk());  // resets its idle time
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(cache.ReapExpired(), 1u);
  EXPECT_THAT(cache.Get(*idle),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("expired")));
  EXPECT_THAT(cache.Get(*used), IsOk());

  // Expired entries are refused on access even before a reap.
  clock.Advance(absl::Seconds(10));
  EXPECT_THAT(cache.Take(*used),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("10s")));
  const SessionCacheStats stats = cache.stats();
  EXPECT_EQ(stats.expirations, 2);
  EXPECT_EQ(stats.entries, 0);
  EXPECT_EQ(stats.bytes, 0);
}

TEST(SessionCacheTest, ReaperThreadFreesIdleSessionsWithoutAnyAccess) {
  SessionCache::Options options;
  options.ttl = absl::Milliseconds(30);
  SessionCache cache(options);
  for (int i = 0; i < 10; ++i) ASSERT_THAT(cache.Save(MakeState(100)), IsOk());
  EXPECT_EQ(cache.stats().entries, 10);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (cache.stats().entries > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(cache.stats().entries, 0);
  EXPECT_EQ(cache.stats().bytes, 0);
  EXPECT_EQ(cache.stats().expirations, 10);
}

TEST(SessionCacheTest, ForgetsTheOldestFreedIdsBeyondItsRecord) {
  FakeClock clock;
  SessionCache::Options options = ManualOptions(clock);
  options.remembered_freed_ids = 2;
  SessionCache cache(options);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::string> id = cache.Save(MakeState(1));
    ASSERT_THAT(id, IsOk());
    ASSERT_THAT(cache.Take(*id), IsOk());
    ids.push_back(*id);
  }
  EXPECT_THAT(cache.Get(ids[0]),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown")));
  EXPECT_THAT(cache.Get(ids[1]),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(cache.Get(ids[2]),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(SessionCacheTest, ExactlyOneOfManyConcurrentTakesWins) {
  SessionCache cache(SessionCache::Options{});
  for (int round = 0; round < 20; ++round) {
    absl::StatusOr<std::string> id = cache.Save(MakeState(8));
    ASSERT_THAT(id, IsOk());
    const RaceOutcome outcome =
        Race(8, [&](int) { return cache.Take(*id).status(); });
    EXPECT_EQ(outcome.wins, 1);
    EXPECT_EQ(outcome.refusals, 7);
  }
}

TEST(SessionCacheTest, ConcurrentMixedUseKeepsCountsConsistent) {
  SessionCache::Options options;
  options.max_bytes = 40 * FootprintOf(16);  // forces evictions
  options.ttl = absl::Minutes(1);
  SessionCache cache(options);
  constexpr int kThreads = 8;
  constexpr int kRounds = 1500;
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(t);
      std::vector<std::string> mine;
      for (int i = 0; i < kRounds; ++i) {
        const int op = random() % 4;
        if (op == 0 || mine.empty()) {
          absl::StatusOr<std::string> id = cache.Save(MakeState(16));
          if (!id.ok()) {
            ++unexpected;
            continue;
          }
          mine.push_back(*id);
          continue;
        }
        const std::string& id = mine[random() % mine.size()];
        absl::Status status;
        if (op == 1) {
          absl::StatusOr<std::shared_ptr<const request::SavedSelection>> got =
              cache.Get(id);
          status = got.status();
          if (got.ok() && (*got)->indices.Load<int64_t>(15) != 15) ++unexpected;
        } else if (op == 2) {
          status = cache.Take(id).status();
        } else {
          status = cache.Release(id);
        }
        // Sessions of this thread may be gone (consumed, released, evicted),
        // but never with any other kind of error.
        if (!status.ok() && status.code() != absl::StatusCode::kNotFound &&
            status.code() != absl::StatusCode::kFailedPrecondition) {
          ++unexpected;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(unexpected.load(), 0);
  const SessionCacheStats stats = cache.stats();
  EXPECT_GE(stats.entries, 0);
  EXPECT_LE(stats.bytes, options.max_bytes);
  EXPECT_EQ(stats.bytes, stats.entries * FootprintOf(16));
  EXPECT_GT(stats.evictions, 0);
}

}  // namespace
}  // namespace tensorops::server
