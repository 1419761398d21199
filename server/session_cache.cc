#include "server/session_cache.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace tensorops::server {
namespace {

constexpr size_t kIdRandomBytes = 16;  // 128 bits
constexpr size_t kIdLength = 2 * kIdRandomBytes;

// Charged per session on top of its indices, so that many tiny sessions
// are bounded too (list node, map slots, id, shape).
constexpr int64_t kEntryOverheadBytes = 256;

absl::StatusOr<std::string> NewSessionId() {
  unsigned char random[kIdRandomBytes];
  size_t filled = 0;
  while (filled < sizeof(random)) {
    const ssize_t n = ::getrandom(random + filled, sizeof(random) - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(
          absl::StrCat("cannot create a session id: getrandom failed: ",
                       std::strerror(errno)));
    }
    filled += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(kIdLength, '0');
  for (size_t i = 0; i < kIdRandomBytes; ++i) {
    id[2 * i] = kHex[random[i] >> 4];
    id[2 * i + 1] = kHex[random[i] & 0xf];
  }
  return id;
}

absl::Status CheckIdFormat(absl::string_view id) {
  const bool well_formed =
      id.size() == kIdLength && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      });
  if (well_formed) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "malformed session_id \"", id.substr(0, 2 * kIdLength),
      id.size() > 2 * kIdLength ? "...\"" : "\"", ": expected the ", kIdLength,
      " lowercase hexadecimal characters returned by TopK with "
      "save_for_backward"));
}

absl::Time SteadyNow() {
  // A monotonic clock expressed as absl::Time so that LRU order and TTLs are
  // immune to wall-clock steps.
  return absl::UnixEpoch() +
         absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

absl::Duration PickReapInterval(const SessionCache::Options& options) {
  if (options.reap_interval > absl::ZeroDuration())
    return options.reap_interval;
  return std::clamp(options.ttl / 4, absl::Milliseconds(1), absl::Seconds(1));
}

}  // namespace

SessionCache::SessionCache(Options options) : options_(std::move(options)) {
  const int num_shards = std::max(1, options_.num_shards);
  shards_.reserve(num_shards);
  for (int i = 0; i < num_shards; ++i) {
    shards_.push_back(std::make_unique<Shard>());
  }
  if (options_.start_reaper) {
    reaper_ = std::thread([this, interval = PickReapInterval(options_)] {
      ReaperLoop(interval);
    });
  }
}

SessionCache::~SessionCache() {
  stop_reaper_.Notify();
  if (reaper_.joinable()) reaper_.join();
}

int64_t SessionCache::SessionFootprintBytes(int64_t indices_bytes,
                                            size_t rank) {
  return indices_bytes + static_cast<int64_t>(rank * sizeof(int64_t)) +
         kEntryOverheadBytes;
}

int64_t SessionCache::SessionFootprintBytes(const SavedTopK& state) {
  return SessionFootprintBytes(static_cast<int64_t>(state.indices.byte_size()),
                               state.input_shape.size());
}

absl::Status SessionCache::CheckFits(int64_t footprint_bytes) const {
  if (footprint_bytes <= options_.max_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "the session for this TopK needs ", footprint_bytes,
      " bytes, more than the whole session cache holds (", options_.max_bytes,
      " bytes, --session_cache_bytes); call TopK without save_for_backward "
      "and use the stateless Backward"));
}

absl::Time SessionCache::Now() const {
  return options_.clock ? options_.clock() : SteadyNow();
}

bool SessionCache::IsExpired(const Entry& entry, absl::Time now) const {
  return now - entry.last_used >= options_.ttl;
}

SessionCache::Shard& SessionCache::ShardFor(absl::string_view id) {
  return *shards_[absl::Hash<absl::string_view>{}(id) % shards_.size()];
}

absl::Status SessionCache::ReserveOwnerSlot(absl::string_view owner) {
  absl::MutexLock lock(&owners_mutex_);
  int64_t& held = owner_sessions_[owner];
  if (options_.max_sessions_per_owner > 0 &&
      held >= options_.max_sessions_per_owner) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this caller already holds ", held,
        " sessions, the most one caller may keep "
        "(--max_sessions_per_caller); free some with ReleaseSession or a "
        "Backward without retain_session, let them expire (--session_ttl), "
        "or use the stateless Backward"));
  }
  ++held;
  return absl::OkStatus();
}

void SessionCache::ReleaseOwnerSlot(absl::string_view owner) {
  absl::MutexLock lock(&owners_mutex_);
  auto it = owner_sessions_.find(owner);
  if (it != owner_sessions_.end() && --it->second <= 0) {
    owner_sessions_.erase(it);
  }
}

int64_t SessionCache::SessionsOf(absl::string_view owner) const {
  absl::MutexLock lock(&owners_mutex_);
  auto it = owner_sessions_.find(owner);
  return it == owner_sessions_.end() ? 0 : it->second;
}

absl::StatusOr<std::string> SessionCache::Save(SavedTopK state,
                                               absl::string_view owner) {
  const int64_t bytes = SessionFootprintBytes(state);
  if (absl::Status fits = CheckFits(bytes); !fits.ok()) return fits;
  if (absl::Status slot = ReserveOwnerSlot(owner); !slot.ok()) return slot;
  auto shared_state = std::make_shared<const SavedTopK>(std::move(state));
  // Room first, so that the byte total never passes the cap, not even
  // between this insert and the evictions it causes.
  ReserveBytes(bytes);
  std::string id;
  for (bool stored = false; !stored;) {
    absl::StatusOr<std::string> new_id = NewSessionId();
    if (!new_id.ok()) {
      ReleaseOwnerSlot(owner);
      bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      return new_id.status();
    }
    id = *std::move(new_id);
    Shard& shard = ShardFor(id);
    absl::MutexLock lock(&shard.mutex);
    // 128 random bits do not collide in practice; if they ever did, draw
    // again rather than shadow a live session.
    if (shard.index.contains(id)) continue;
    shard.lru.push_front(
        Entry{id, std::string(owner), shared_state, bytes, Now()});
    shard.index.emplace(absl::string_view(shard.lru.front().id),
                        shard.lru.begin());
    // Counted under the shard lock, like removals, so the count never
    // misses an entry that is already reachable (its bytes were reserved).
    entries_.fetch_add(1, std::memory_order_relaxed);
    stored = true;
  }
  return id;
}

absl::StatusOr<std::shared_ptr<const SavedTopK>> SessionCache::Get(
    absl::string_view id, absl::string_view owner) {
  return Lookup(id, owner, Access::kKeep);
}

absl::StatusOr<std::shared_ptr<const SavedTopK>> SessionCache::Take(
    absl::string_view id, absl::string_view owner) {
  return Lookup(id, owner, Access::kConsume);
}

absl::Status SessionCache::Release(absl::string_view id,
                                   absl::string_view owner) {
  absl::Status status = Lookup(id, owner, Access::kRelease).status();
  // Releasing a consumed session finds nothing to free: NOT_FOUND, with the
  // same explanation.
  if (status.code() == absl::StatusCode::kFailedPrecondition) {
    return absl::NotFoundError(status.message());
  }
  return status;
}

absl::StatusOr<std::shared_ptr<const SavedTopK>> SessionCache::Lookup(
    absl::string_view id, absl::string_view owner, Access access) {
  if (absl::Status status = CheckIdFormat(id); !status.ok()) return status;
  Shard& shard = ShardFor(id);
  const absl::Time now = Now();
  // Destroyed after the lock is dropped.
  std::shared_ptr<const SavedTopK> freed;
  absl::MutexLock lock(&shard.mutex);
  auto found = shard.index.find(id);
  if (found == shard.index.end()) return GoneError(id, owner, shard);
  auto it = found->second;
  // Another caller's session: answered as if it did not exist, and left
  // untouched (not even its expiry is acted on).
  if (it->owner != owner) return GoneError(id, owner, shard);
  if (IsExpired(*it, now)) {
    freed = RemoveLocked(shard, it, FreedReason::kExpired);
    expirations_.fetch_add(1, std::memory_order_relaxed);
    return GoneError(id, owner, shard);
  }
  switch (access) {
    case Access::kKeep:
      it->last_used = now;
      shard.lru.splice(shard.lru.begin(), shard.lru, it);
      return it->state;
    case Access::kConsume:
      return RemoveLocked(shard, it, FreedReason::kConsumed);
    case Access::kRelease:
      freed = RemoveLocked(shard, it, FreedReason::kReleased);
      return std::shared_ptr<const SavedTopK>();
  }
  return std::shared_ptr<const SavedTopK>();
}

std::shared_ptr<const SavedTopK> SessionCache::RemoveLocked(
    Shard& shard, std::list<Entry>::iterator it, FreedReason reason) {
  std::shared_ptr<const SavedTopK> state = std::move(it->state);
  entries_.fetch_sub(1, std::memory_order_relaxed);
  bytes_.fetch_sub(it->bytes, std::memory_order_relaxed);
  ReleaseOwnerSlot(it->owner);
  RememberFreedLocked(shard, *it, reason);
  shard.index.erase(absl::string_view(it->id));
  shard.lru.erase(it);
  return state;
}

void SessionCache::RememberFreedLocked(Shard& shard, const Entry& entry,
                                       FreedReason reason) {
  if (options_.freed_ids_per_shard == 0) return;
  auto [it, inserted] =
      shard.freed.insert_or_assign(entry.id, Shard::Freed{reason, entry.owner});
  if (!inserted) return;  // already queued; the newer reason wins
  shard.freed_order.push_back(entry.id);
  while (shard.freed_order.size() > options_.freed_ids_per_shard) {
    shard.freed.erase(shard.freed_order.front());
    shard.freed_order.pop_front();
  }
}

absl::Status SessionCache::GoneError(absl::string_view id,
                                     absl::string_view owner,
                                     const Shard& shard) const {
  auto it = shard.freed.find(std::string(id));
  if (it == shard.freed.end() || it->second.owner != owner) {
    return absl::NotFoundError(absl::StrCat(
        "unknown session_id \"", id,
        "\": this server never issued it (to this caller), or freed it so "
        "long ago that it no longer remembers (sessions belong to the caller "
        "that ran TopK, live in the memory of that server and do not survive "
        "a restart)"));
  }
  switch (it->second.reason) {
    case FreedReason::kConsumed:
      return absl::FailedPreconditionError(absl::StrCat(
          "session \"", id,
          "\" was already consumed by a Backward call and freed; set "
          "retain_session=true to run Backward on a session more than once, "
          "or run TopK with save_for_backward again"));
    case FreedReason::kReleased:
      return absl::NotFoundError(
          absl::StrCat("session \"", id, "\" was released by ReleaseSession"));
    case FreedReason::kExpired:
      return absl::NotFoundError(
          absl::StrCat("session \"", id,
                       "\" expired: it was unused for longer than the "
                       "session TTL (",
                       absl::FormatDuration(options_.ttl), ", --session_ttl)"));
    case FreedReason::kEvicted:
      return absl::NotFoundError(absl::StrCat(
          "session \"", id,
          "\" was evicted to make room for newer sessions: the session cache "
          "is limited to ",
          options_.max_bytes,
          " bytes (--session_cache_bytes); release sessions you no longer "
          "need, or use the stateless Backward"));
  }
  return absl::NotFoundError(absl::StrCat("session \"", id, "\" is gone"));
}

void SessionCache::ReserveBytes(int64_t bytes) {
  int64_t total = bytes_.load(std::memory_order_relaxed);
  while (true) {
    if (total + bytes <= options_.max_bytes) {
      if (bytes_.compare_exchange_weak(total, total + bytes,
                                       std::memory_order_relaxed)) {
        return;
      }
      continue;  // `total` was reloaded
    }
    // Nothing to evict means the room is held by other saves between their
    // reservation and their insert: they finish in microseconds.
    if (!EvictOldest()) std::this_thread::yield();
    total = bytes_.load(std::memory_order_relaxed);
  }
}

bool SessionCache::EvictOldest() {
  // Declared before the locks, so the indices are freed after both.
  std::shared_ptr<const SavedTopK> freed;
  absl::MutexLock evict_lock(&evict_mutex_);
  // The globally least recently used entry is the oldest of the shards' LRU
  // tails.
  Shard* victim = nullptr;
  absl::Time oldest = absl::InfiniteFuture();
  for (const auto& shard : shards_) {
    absl::MutexLock lock(&shard->mutex);
    if (!shard->lru.empty() && shard->lru.back().last_used < oldest) {
      oldest = shard->lru.back().last_used;
      victim = shard.get();
    }
  }
  if (victim == nullptr) return false;
  {
    absl::MutexLock lock(&victim->mutex);
    // The tail may have changed since it was inspected; evicting the shard's
    // current tail is still a least recently used choice.
    if (victim->lru.empty()) return true;
    freed = RemoveLocked(*victim, std::prev(victim->lru.end()),
                         FreedReason::kEvicted);
  }
  evictions_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

size_t SessionCache::ReapExpired() {
  size_t reaped = 0;
  std::vector<std::shared_ptr<const SavedTopK>> freed;
  for (const auto& shard : shards_) {
    const absl::Time now = Now();
    {
      absl::MutexLock lock(&shard->mutex);
      // The list is in last-use order, so expired entries sit at the tail.
      while (!shard->lru.empty() && IsExpired(shard->lru.back(), now)) {
        freed.push_back(RemoveLocked(*shard, std::prev(shard->lru.end()),
                                     FreedReason::kExpired));
      }
    }
    reaped += freed.size();
    expirations_.fetch_add(static_cast<int64_t>(freed.size()),
                           std::memory_order_relaxed);
    freed.clear();  // frees outside the shard lock
  }
  return reaped;
}

void SessionCache::ReaperLoop(absl::Duration interval) {
  while (!stop_reaper_.WaitForNotificationWithTimeout(interval)) {
    ReapExpired();
  }
}

SessionCacheStats SessionCache::stats() const {
  SessionCacheStats stats;
  stats.entries = entries_.load(std::memory_order_relaxed);
  stats.bytes = bytes_.load(std::memory_order_relaxed);
  stats.evictions = evictions_.load(std::memory_order_relaxed);
  stats.expirations = expirations_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace tensorops::server
