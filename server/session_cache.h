// Saved TopK state for Backward, bounded in memory and time.
#ifndef TENSOROPS_SERVER_SESSION_CACHE_H_
#define TENSOROPS_SERVER_SESSION_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace tensorops::server {

// What Backward needs from one TopK call.
struct SavedTopK {
  Tensor indices;     // TopK's int64 indices (the core's result, not a copy)
  Shape input_shape;  // TopK's input shape
  int64_t dim = 0;    // wrapped into [0, rank) (0 for a 0-d input)
};

struct SessionCacheStats {
  int64_t entries = 0;
  int64_t bytes = 0;
  int64_t evictions = 0;    // sessions dropped to make room (ever)
  int64_t expirations = 0;  // sessions dropped after the idle TTL (ever)
};

// A thread-safe map from unguessable session ids to SavedTopK.
//
// - Ids are 128 random bits from the OS (getrandom), hex-encoded.
// - Sharded by id: lookups and inserts lock one shard only. The byte total is
//   an atomic that a new session reserves its bytes in before it is stored,
//   so it never exceeds the cap; only inserts that would overflow the cap
//   look at every shard (to evict the least recently used session across
//   all of them).
// - Bounded by bytes (indices plus a fixed per-entry overhead), with LRU
//   eviction; a single session larger than the cap is refused.
// - Sessions idle for the TTL are freed by a background reaper thread, and
//   treated as expired on access even before the reaper gets to them.
// - Freed state is destroyed outside the shard locks.
// - A bounded record of recently freed ids lets errors say why an id is gone
//   (consumed by Backward, released, expired or evicted) rather than only
//   "unknown"; ids older than that record read as unknown.
// - Every session belongs to the caller (an opaque owner string, "" for
//   anonymous callers) that saved it: for any other owner its id reads as
//   unknown (NOT_FOUND), exactly like an id never issued, so an id that
//   leaked tells another caller nothing. Each owner may hold a bounded number
//   of sessions.
class SessionCache {
 public:
  using Clock = std::function<absl::Time()>;

  struct Options {
    // Upper bound on SessionFootprintBytes summed over all sessions.
    int64_t max_bytes = int64_t{1} << 30;
    // Sessions one owner may hold at once; 0 means no limit.
    int64_t max_sessions_per_owner = 0;
    // A session unused for this long is freed.
    absl::Duration ttl = absl::Minutes(10);
    int num_shards = 16;
    // Freed ids remembered per shard, for error messages.
    size_t freed_ids_per_shard = 1024;
    // Whether to run the reaper thread; tests with a fake clock call
    // ReapExpired() themselves.
    bool start_reaper = true;
    // How often the reaper runs; zero picks ttl / 4 within [1 ms, 1 s].
    absl::Duration reap_interval = absl::ZeroDuration();
    // Monotonic time source; null means a steady clock.
    Clock clock;
  };

  explicit SessionCache(Options options);
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;
  // Stops the reaper.
  ~SessionCache();

  // Bytes a session is charged for: its indices plus a fixed overhead.
  static int64_t SessionFootprintBytes(const SavedTopK& state);
  static int64_t SessionFootprintBytes(int64_t indices_bytes, size_t rank);

  // RESOURCE_EXHAUSTED if a session of `footprint_bytes` could never fit,
  // so that callers can refuse before computing what they would save.
  absl::Status CheckFits(int64_t footprint_bytes) const;

  // Stores `state` for `owner` and returns its new id. RESOURCE_EXHAUSTED if
  // it alone is larger than max_bytes or `owner` already holds
  // max_sessions_per_owner sessions; otherwise least recently used sessions
  // (of any owner) are evicted as needed. INTERNAL if the OS gives no random
  // bytes.
  absl::StatusOr<std::string> Save(SavedTopK state,
                                   absl::string_view owner = "");

  // The state of session `id`, which stays stored and counts as used now.
  absl::StatusOr<std::shared_ptr<const SavedTopK>> Get(
      absl::string_view id, absl::string_view owner = "");

  // The state of session `id`, which is removed (consumed): a later Get or
  // Take fails with FAILED_PRECONDITION.
  absl::StatusOr<std::shared_ptr<const SavedTopK>> Take(
      absl::string_view id, absl::string_view owner = "");

  // Frees session `id`. NOT_FOUND if it is not stored (also when consumed),
  // saying why if known.
  absl::Status Release(absl::string_view id, absl::string_view owner = "");

  // Sessions `owner` holds now.
  int64_t SessionsOf(absl::string_view owner) const;

  // Frees every session idle for the TTL or longer; returns how many.
  size_t ReapExpired();

  SessionCacheStats stats() const;
  const Options& options() const { return options_; }

  // Errors for ids (shared with Get/Take):
  // - INVALID_ARGUMENT: not 32 lowercase hex digits.
  // - FAILED_PRECONDITION: consumed by a Backward without retain_session.
  // - NOT_FOUND: released, expired, evicted, or unknown (message says which);
  //   always "unknown" when `owner` is not the session's.

 private:
  enum class FreedReason { kConsumed, kReleased, kExpired, kEvicted };

  struct Entry {
    std::string id;
    std::string owner;
    std::shared_ptr<const SavedTopK> state;
    int64_t bytes = 0;
    absl::Time last_used;
  };

  struct Shard {
    mutable absl::Mutex mutex;
    // Most recently used first.
    std::list<Entry> lru ABSL_GUARDED_BY(mutex);
    // Keys view the ids stored in `lru` nodes (list nodes never move).
    absl::flat_hash_map<absl::string_view, std::list<Entry>::iterator> index
        ABSL_GUARDED_BY(mutex);
    // Recently freed ids, oldest first, and why they were freed.
    std::deque<std::string> freed_order ABSL_GUARDED_BY(mutex);
    struct Freed {
      FreedReason reason;
      std::string owner;
    };
    absl::flat_hash_map<std::string, Freed> freed ABSL_GUARDED_BY(mutex);
  };

  // How Lookup treats a found session.
  enum class Access { kKeep, kConsume, kRelease };

  absl::StatusOr<std::shared_ptr<const SavedTopK>> Lookup(
      absl::string_view id, absl::string_view owner, Access access);
  Shard& ShardFor(absl::string_view id);
  absl::Time Now() const;
  bool IsExpired(const Entry& entry, absl::Time now) const;
  // Unlinks `it` from `shard`, updating counters and the freed-id record.
  // Returns the state so the caller can destroy it after unlocking.
  std::shared_ptr<const SavedTopK> RemoveLocked(Shard& shard,
                                                std::list<Entry>::iterator it,
                                                FreedReason reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mutex);
  void RememberFreedLocked(Shard& shard, const Entry& entry, FreedReason reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mutex);
  absl::Status GoneError(absl::string_view id, absl::string_view owner,
                         const Shard& shard) const
      ABSL_SHARED_LOCKS_REQUIRED(shard.mutex);
  // Counts a new session for `owner`; RESOURCE_EXHAUSTED at the limit.
  absl::Status ReserveOwnerSlot(absl::string_view owner);
  void ReleaseOwnerSlot(absl::string_view owner);
  // Adds `bytes` to the byte total, first evicting least recently used
  // sessions until they fit under the cap (which CheckFits guaranteed).
  void ReserveBytes(int64_t bytes);
  // Evicts the least recently used session of all shards; false if there
  // was none.
  bool EvictOldest();
  void ReaperLoop(absl::Duration interval);

  const Options options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<int64_t> entries_{0};
  std::atomic<int64_t> bytes_{0};
  std::atomic<int64_t> evictions_{0};
  std::atomic<int64_t> expirations_{0};
  // Sessions per owner (only owners holding at least one). Taken after a
  // shard lock, never before one.
  mutable absl::Mutex owners_mutex_;
  absl::flat_hash_map<std::string, int64_t> owner_sessions_
      ABSL_GUARDED_BY(owners_mutex_);
  // One evictor at a time.
  absl::Mutex evict_mutex_;
  absl::Notification stop_reaper_;
  std::thread reaper_;
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_SESSION_CACHE_H_
