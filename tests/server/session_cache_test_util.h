// Helpers for the session cache's unit tests: a manual clock, sessions of a
// chosen size, and a race of concurrent attempts.
#ifndef TENSOROPS_TESTS_SERVER_SESSION_CACHE_TEST_UTIL_H_
#define TENSOROPS_TESTS_SERVER_SESSION_CACHE_TEST_UTIL_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/session_cache.h"

namespace tensorops::server {

// A clock that moves only when told to.
class FakeClock {
 public:
  absl::Time Now() const {
    return absl::UnixEpoch() + absl::Nanoseconds(nanos_.load());
  }
  void Advance(absl::Duration by) {
    nanos_.fetch_add(absl::ToInt64Nanoseconds(by));
  }
  SessionCache::Clock AsClock() {
    return [this] { return Now(); };
  }

 private:
  std::atomic<int64_t> nanos_{int64_t{1} << 40};
};

// A session whose indices hold `count` int64 elements with value i.
inline request::SavedSelection MakeState(int64_t count,
                                         int64_t input_size = 1000) {
  absl::StatusOr<Tensor> indices = Tensor::Allocate(DType::kInt64, {count});
  EXPECT_TRUE(indices.ok());
  for (int64_t i = 0; i < count; ++i) {
    std::memcpy(indices->mutable_data() + i * 8, &i, 8);
  }
  return request::SavedSelection{
      .indices = *indices, .input_shape = {input_size}, .dim = 0};
}

inline int64_t FootprintOf(int64_t count) {
  return SessionCache::SessionFootprintBytes(MakeState(count));
}

// No reaper thread; time moves only with `clock`.
inline SessionCache::Options ManualOptions(FakeClock& clock) {
  SessionCache::Options options;
  options.clock = clock.AsClock();
  options.start_reaper = false;
  return options;
}

// What concurrent attempts at one session answered: how many succeeded and
// how many were refused with FAILED_PRECONDITION (already in use).
struct RaceOutcome {
  int wins = 0;
  int refusals = 0;
};

// Runs attempt(t) on `threads` threads at once (t = 0 .. threads-1); each
// returns the status of its attempt.
template <typename Attempt>
RaceOutcome Race(int threads, Attempt attempt) {
  std::atomic<int> wins{0};
  std::atomic<int> refusals{0};
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&, t] {
      const absl::Status status = attempt(t);
      if (status.ok()) {
        ++wins;
      } else if (status.code() == absl::StatusCode::kFailedPrecondition) {
        ++refusals;
      }
    });
  }
  for (std::thread& thread : running) thread.join();
  return RaceOutcome{.wins = wins.load(), .refusals = refusals.load()};
}

}  // namespace tensorops::server

#endif  // TENSOROPS_TESTS_SERVER_SESSION_CACHE_TEST_UTIL_H_
