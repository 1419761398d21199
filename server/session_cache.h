// Saved selection state (request/saved_selection.h) for Backward, bounded in
// memory and time, shared fairly among callers.
#ifndef TENSOROPS_SERVER_SESSION_CACHE_H_
#define TENSOROPS_SERVER_SESSION_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
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
#include "request/saved_selection.h"

namespace tensorops::server {

struct SessionCacheStats {
  // Sessions stored and usable (not counting those being consumed by a
  // Backward that has not finished).
  int64_t entries = 0;
  int64_t bytes = 0;
  int64_t evictions = 0;    // sessions dropped to make room (ever)
  int64_t expirations = 0;  // sessions dropped after the idle TTL (ever)
};

// A thread-safe map from unguessable session ids to request::SavedSelection.
//
// - Ids are 128 random bits from the OS (getrandom), hex-encoded.
// - Every session belongs to the caller (an opaque owner string, "" for
//   anonymous callers) that saved it: for any other owner its id reads as
//   unknown (NOT_FOUND), exactly like an id never issued, so an id that
//   leaked tells another caller nothing.
// - Bounded by bytes (indices plus a fixed per-entry overhead). Each owner
//   may hold at most max_sessions_per_owner sessions (more are refused) and
//   max_bytes_per_owner bytes (a save beyond it evicts that owner's own
//   least recently used sessions).
// - Fair eviction: when a save needs room in the full cache, the session
//   evicted is the least recently used one among the owners holding more
//   than their fair share, max_bytes / (owners holding sessions, the saving
//   owner included), the saver counted with its new session. An owner
//   within its share loses no session to anyone else's save; if only such
//   owners hold the room, the save is refused (RESOURCE_EXHAUSTED). With a
//   single owner this is plain LRU.
// - A session being consumed (Claim) is hidden from everyone until its
//   claim ends: consumed if the Backward's result was delivered, else
//   stored again, usable for a retry.
// - Sessions idle for the TTL are freed by a background reaper thread, and
//   treated as expired on access even before the reaper gets to them.
// - One mutex; freed state is destroyed outside it.
// - A bounded record of recently freed ids lets errors say why an id is gone
//   (consumed by Backward, released, expired or evicted) rather than only
//   "unknown"; ids older than that record read as unknown.
class SessionCache {
 public:
  using Clock = std::function<absl::Time()>;

  struct Options {
    // Upper bound on SessionFootprintBytes summed over all sessions.
    int64_t max_bytes = int64_t{1} << 30;
    // Sessions one owner may hold at once; 0 means no limit.
    int64_t max_sessions_per_owner = 0;
    // Bytes one owner may hold at once; 0 means no fixed quota (the fair
    // share still applies when the cache is full).
    int64_t max_bytes_per_owner = 0;
    // A session unused for this long is freed.
    absl::Duration ttl = absl::Minutes(10);
    // Freed ids remembered, for error messages.
    size_t remembered_freed_ids = 16384;
    // Whether to run the reaper thread; tests with a fake clock call
    // ReapExpired() themselves.
    bool start_reaper = true;
    // How often the reaper runs; zero picks ttl / 4 within [1 ms, 1 s].
    absl::Duration reap_interval = absl::ZeroDuration();
    // Monotonic time source; null means a steady clock.
    Clock clock;
  };

  // A session taken by a consuming Backward while it runs. Finish(true)
  // consumes the session for good; Finish(false), or destroying the claim
  // unfinished, stores it again under the same id (if it still fits; else
  // it is dropped as evicted). Released while claimed, it stays released.
  // Movable; must not outlive the cache.
  class Claim {
   public:
    Claim(Claim&& other) noexcept;
    Claim& operator=(Claim&& other) noexcept;
    ~Claim();

    const std::shared_ptr<const request::SavedSelection>& state() const {
      return state_;
    }
    void Finish(bool consumed);

   private:
    friend class SessionCache;
    Claim(SessionCache* cache, std::string id, std::string owner,
          std::shared_ptr<const request::SavedSelection> state)
        : cache_(cache),
          id_(std::move(id)),
          owner_(std::move(owner)),
          state_(std::move(state)) {}

    SessionCache* cache_ = nullptr;  // null once finished
    std::string id_;
    std::string owner_;
    std::shared_ptr<const request::SavedSelection> state_;
  };

  explicit SessionCache(Options options);
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;
  // Stops the reaper. Every Claim must be gone.
  ~SessionCache();

  // Bytes a session is charged for: its indices plus a fixed overhead.
  static int64_t SessionFootprintBytes(const request::SavedSelection& state);
  static int64_t SessionFootprintBytes(int64_t indices_bytes, size_t rank);

  // RESOURCE_EXHAUSTED if a session of `footprint_bytes` could never fit
  // (the whole cache, or one owner's fixed quota), so that callers can
  // refuse before computing what they would save.
  absl::Status CheckFits(int64_t footprint_bytes) const;

  // Stores `state` for `owner` and returns its new id, evicting as the
  // class comment says. RESOURCE_EXHAUSTED if it can never fit (CheckFits),
  // if `owner` already holds max_sessions_per_owner sessions, or if the
  // room is held by owners within their fair share. INTERNAL if the OS
  // gives no random bytes.
  absl::StatusOr<std::string> Save(request::SavedSelection state,
                                   absl::string_view owner = "");

  // The state of session `id`, which stays stored and counts as used now.
  absl::StatusOr<std::shared_ptr<const request::SavedSelection>> Get(
      absl::string_view id, absl::string_view owner = "");

  // Claims session `id` for a consuming Backward (see Claim).
  absl::StatusOr<Claim> ClaimSession(absl::string_view id,
                                     absl::string_view owner = "");

  // The state of session `id`, which is removed (consumed) at once: a later
  // Get or Take fails with FAILED_PRECONDITION.
  absl::StatusOr<std::shared_ptr<const request::SavedSelection>> Take(
      absl::string_view id, absl::string_view owner = "");

  // Frees session `id`, also while it is claimed. NOT_FOUND if it is not
  // stored (also when consumed), saying why if known.
  absl::Status Release(absl::string_view id, absl::string_view owner = "");

  // Sessions and session bytes `owner` holds now (claimed ones excluded).
  int64_t SessionsOf(absl::string_view owner) const;
  int64_t BytesOf(absl::string_view owner) const;

  // Frees every session idle for the TTL or longer; returns how many.
  size_t ReapExpired();

  SessionCacheStats stats() const;
  const Options& options() const { return options_; }

  // Errors for ids (shared with Get/ClaimSession/Take):
  // - INVALID_ARGUMENT: not 32 lowercase hex digits.
  // - FAILED_PRECONDITION: consumed by a Backward without retain_session
  //   (or being consumed by one still running).
  // - NOT_FOUND: released, expired, evicted, or unknown (message says which);
  //   always "unknown" when `owner` is not the session's.

 private:
  enum class FreedReason { kConsumed, kReleased, kExpired, kEvicted };
  struct Owner;

  struct Entry {
    std::string id;
    Owner* owner = nullptr;
    std::shared_ptr<const request::SavedSelection> state;
    int64_t bytes = 0;
    absl::Time last_used;
  };

  // An owner holding at least one session; erased with its last one.
  struct Owner {
    std::string name;
    int64_t bytes = 0;
    // Most recently used first.
    std::list<Entry> lru;
  };

  // A claimed session, out of every owner's list until its claim ends.
  struct Claimed {
    std::string owner;
    std::shared_ptr<const request::SavedSelection> state;
  };

  // How Lookup treats a found session.
  enum class Access { kKeep, kConsume, kClaim, kRelease };
  struct Found {
    std::shared_ptr<const request::SavedSelection> state;
  };

  absl::StatusOr<Found> Lookup(absl::string_view id, absl::string_view owner,
                               Access access);
  // Stores `state` under `id` for `owner`, making room as the class comment
  // says; `freed` collects what was evicted, to destroy after unlocking.
  absl::Status InsertLocked(
      const std::string& id, absl::string_view owner,
      std::shared_ptr<const request::SavedSelection> state,
      std::vector<std::shared_ptr<const request::SavedSelection>>& freed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The least recently used session among owners over their fair share
  // (`saver`, which is gaining `incoming` bytes, counted with them); null
  // if there is none.
  Entry* EvictionCandidateLocked(const Owner& saver, int64_t incoming)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Unlinks `entry` (its owner stays, even if left empty), updating
  // counters and the freed-id record. Returns the state so the caller can
  // destroy it after unlocking.
  // No reason: a claim, which records nothing.
  std::shared_ptr<const request::SavedSelection> RemoveLocked(
      Entry& entry, std::optional<FreedReason> reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void RememberFreedLocked(const std::string& id, absl::string_view owner,
                           FreedReason reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status GoneErrorLocked(absl::string_view id,
                               absl::string_view owner) const
      ABSL_SHARED_LOCKS_REQUIRED(mutex_);
  // Ends a claim (Claim::Finish).
  void FinishClaim(const std::string& id, bool consumed);
  absl::Time Now() const;
  bool IsExpired(const Entry& entry, absl::Time now) const;
  void ReaperLoop(absl::Duration interval);

  const Options options_;
  mutable absl::Mutex mutex_;
  absl::flat_hash_map<std::string, std::unique_ptr<Owner>> owners_
      ABSL_GUARDED_BY(mutex_);
  // Keys view the ids stored in the owners' list nodes (which never move).
  absl::flat_hash_map<absl::string_view, std::list<Entry>::iterator> index_
      ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::string, Claimed> claimed_ ABSL_GUARDED_BY(mutex_);
  // Recently freed ids, oldest first, and why they were freed.
  std::deque<std::string> freed_order_ ABSL_GUARDED_BY(mutex_);
  struct Freed {
    FreedReason reason;
    std::string owner;
  };
  absl::flat_hash_map<std::string, Freed> freed_ ABSL_GUARDED_BY(mutex_);
  int64_t bytes_ ABSL_GUARDED_BY(mutex_) = 0;
  int64_t evictions_ ABSL_GUARDED_BY(mutex_) = 0;
  int64_t expirations_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::Notification stop_reaper_;
  std::thread reaper_;
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_SESSION_CACHE_H_
