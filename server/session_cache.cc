#include "server/session_cache.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

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

SessionCache::Claim::Claim(Claim&& other) noexcept
    : cache_(std::exchange(other.cache_, nullptr)),
      id_(std::move(other.id_)),
      owner_(std::move(other.owner_)),
      state_(std::move(other.state_)) {}

SessionCache::Claim& SessionCache::Claim::operator=(Claim&& other) noexcept {
  if (this != &other) {
    if (cache_ != nullptr) Finish(false);
    cache_ = std::exchange(other.cache_, nullptr);
    id_ = std::move(other.id_);
    owner_ = std::move(other.owner_);
    state_ = std::move(other.state_);
  }
  return *this;
}

SessionCache::Claim::~Claim() {
  if (cache_ != nullptr) Finish(false);
}

void SessionCache::Claim::Finish(bool consumed) {
  if (cache_ == nullptr) return;
  std::exchange(cache_, nullptr)->FinishClaim(id_, consumed);
  state_.reset();
}

SessionCache::SessionCache(Options options) : options_(std::move(options)) {
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

int64_t SessionCache::SessionFootprintBytes(
    const request::SavedSelection& state) {
  return SessionFootprintBytes(static_cast<int64_t>(state.indices.byte_size()),
                               state.input_shape.size());
}

absl::Status SessionCache::CheckFits(int64_t footprint_bytes) const {
  if (footprint_bytes > options_.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the session for this TopK needs ", footprint_bytes,
        " bytes, more than the whole session cache holds (", options_.max_bytes,
        " bytes, --session_cache_bytes); call TopK without save_for_backward "
        "and use the stateless Backward"));
  }
  if (options_.max_bytes_per_owner > 0 &&
      footprint_bytes > options_.max_bytes_per_owner) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the session for this TopK needs ", footprint_bytes,
        " bytes, more than one caller may hold (", options_.max_bytes_per_owner,
        " bytes, --session_bytes_per_caller); call TopK without "
        "save_for_backward and use the stateless Backward"));
  }
  return absl::OkStatus();
}

absl::Time SessionCache::Now() const {
  return options_.clock ? options_.clock() : SteadyNow();
}

bool SessionCache::IsExpired(const Entry& entry, absl::Time now) const {
  return now - entry.last_used >= options_.ttl;
}

int64_t SessionCache::SessionsOf(absl::string_view owner) const {
  absl::MutexLock lock(&mutex_);
  auto it = owners_.find(owner);
  return it == owners_.end() ? 0 : static_cast<int64_t>(it->second->lru.size());
}

int64_t SessionCache::BytesOf(absl::string_view owner) const {
  absl::MutexLock lock(&mutex_);
  auto it = owners_.find(owner);
  return it == owners_.end() ? 0 : it->second->bytes;
}

absl::StatusOr<std::string> SessionCache::Save(request::SavedSelection state,
                                               absl::string_view owner) {
  const int64_t bytes = SessionFootprintBytes(state);
  if (absl::Status fits = CheckFits(bytes); !fits.ok()) return fits;
  auto shared_state =
      std::make_shared<const request::SavedSelection>(std::move(state));
  // Destroyed after the lock is dropped.
  std::vector<std::shared_ptr<const request::SavedSelection>> freed;
  while (true) {
    // Drawn outside the lock (a system call).
    absl::StatusOr<std::string> id = NewSessionId();
    if (!id.ok()) return id.status();
    absl::MutexLock lock(&mutex_);
    // 128 random bits do not collide in practice; if they ever did, draw
    // again rather than shadow a live session.
    if (index_.contains(*id) || claimed_.contains(*id)) continue;
    if (options_.max_sessions_per_owner > 0) {
      auto it = owners_.find(owner);
      const int64_t held = it == owners_.end()
                               ? 0
                               : static_cast<int64_t>(it->second->lru.size());
      if (held >= options_.max_sessions_per_owner) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "this caller already holds ", held,
            " sessions, the most one caller may keep "
            "(--max_sessions_per_caller); free some with ReleaseSession or a "
            "Backward without retain_session, let them expire "
            "(--session_ttl), or use the stateless Backward"));
      }
    }
    if (absl::Status stored = InsertLocked(*id, owner, shared_state, freed);
        !stored.ok()) {
      return stored;
    }
    return id;
  }
}

absl::Status SessionCache::InsertLocked(
    const std::string& id, absl::string_view owner_name,
    std::shared_ptr<const request::SavedSelection> state,
    std::vector<std::shared_ptr<const request::SavedSelection>>& freed) {
  const int64_t bytes = SessionFootprintBytes(*state);
  std::unique_ptr<Owner>& slot = owners_[owner_name];
  if (slot == nullptr) {
    slot = std::make_unique<Owner>();
    slot->name = std::string(owner_name);
  }
  Owner& owner = *slot;
  // Over its fixed quota, the saver makes room from its own oldest.
  while (options_.max_bytes_per_owner > 0 && !owner.lru.empty() &&
         owner.bytes + bytes > options_.max_bytes_per_owner) {
    freed.push_back(RemoveLocked(owner.lru.back(), FreedReason::kEvicted));
    ++evictions_;
  }
  while (bytes_ + bytes > options_.max_bytes) {
    Entry* victim = EvictionCandidateLocked(owner, bytes);
    if (victim == nullptr) {
      const int64_t share =
          options_.max_bytes / static_cast<int64_t>(owners_.size());
      if (owner.lru.empty()) owners_.erase(owner_name);
      return absl::ResourceExhaustedError(absl::StrCat(
          "the session cache (", options_.max_bytes,
          " bytes, --session_cache_bytes) is full of other callers' "
          "sessions, each caller within its fair share of ",
          share, " bytes, and this session needs ", bytes,
          " bytes; release sessions you no longer need, or use the stateless "
          "Backward"));
    }
    Owner* victim_owner = victim->owner;
    freed.push_back(RemoveLocked(*victim, FreedReason::kEvicted));
    ++evictions_;
    if (victim_owner != &owner && victim_owner->lru.empty()) {
      owners_.erase(victim_owner->name);
    }
  }
  owner.lru.push_front(Entry{id, &owner, std::move(state), bytes, Now()});
  index_.emplace(absl::string_view(owner.lru.front().id), owner.lru.begin());
  owner.bytes += bytes;
  bytes_ += bytes;
  return absl::OkStatus();
}

SessionCache::Entry* SessionCache::EvictionCandidateLocked(const Owner& saver,
                                                           int64_t incoming) {
  const int64_t share =
      options_.max_bytes / static_cast<int64_t>(owners_.size());
  Entry* oldest = nullptr;
  for (const auto& [name, owner] : owners_) {
    if (owner->lru.empty()) continue;
    const int64_t held =
        owner->bytes + (owner.get() == &saver ? incoming : int64_t{0});
    if (held <= share) continue;
    Entry& tail = owner->lru.back();
    if (oldest == nullptr || tail.last_used < oldest->last_used) {
      oldest = &tail;
    }
  }
  return oldest;
}

absl::StatusOr<std::shared_ptr<const request::SavedSelection>>
SessionCache::Get(absl::string_view id, absl::string_view owner) {
  absl::StatusOr<Found> found = Lookup(id, owner, Access::kKeep);
  if (!found.ok()) return found.status();
  return std::move(found->state);
}

absl::StatusOr<std::shared_ptr<const request::SavedSelection>>
SessionCache::Take(absl::string_view id, absl::string_view owner) {
  absl::StatusOr<Found> found = Lookup(id, owner, Access::kConsume);
  if (!found.ok()) return found.status();
  return std::move(found->state);
}

absl::StatusOr<SessionCache::Claim> SessionCache::ClaimSession(
    absl::string_view id, absl::string_view owner) {
  absl::StatusOr<Found> found = Lookup(id, owner, Access::kClaim);
  if (!found.ok()) return found.status();
  return Claim(this, std::string(id), std::string(owner),
               std::move(found->state));
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

absl::StatusOr<SessionCache::Found> SessionCache::Lookup(
    absl::string_view id, absl::string_view owner, Access access) {
  if (absl::Status status = CheckIdFormat(id); !status.ok()) return status;
  const absl::Time now = Now();
  // Declared before the lock, so whatever is freed is destroyed after it.
  std::shared_ptr<const request::SavedSelection> freed;
  absl::MutexLock lock(&mutex_);
  auto found = index_.find(id);
  if (found == index_.end()) {
    auto claimed = claimed_.find(id);
    if (claimed == claimed_.end() || claimed->second.owner != owner) {
      return GoneErrorLocked(id, owner);
    }
    if (access == Access::kRelease) {
      freed = std::move(claimed->second.state);
      claimed_.erase(claimed);
      RememberFreedLocked(std::string(id), owner, FreedReason::kReleased);
      return Found{};
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "session \"", id,
        "\" was already consumed by a Backward call that is still finishing "
        "(if that call fails or is cancelled, the session becomes usable "
        "again); set retain_session=true to run Backward on a session more "
        "than once"));
  }
  Entry& entry = *found->second;
  // Another caller's session: answered as if it did not exist, and left
  // untouched (not even its expiry is acted on).
  if (entry.owner->name != owner) return GoneErrorLocked(id, owner);
  Owner* entry_owner = entry.owner;
  const auto drop_owner_if_empty = [&] {
    if (entry_owner->lru.empty()) owners_.erase(entry_owner->name);
  };
  if (IsExpired(entry, now)) {
    freed = RemoveLocked(entry, FreedReason::kExpired);
    ++expirations_;
    drop_owner_if_empty();
    return GoneErrorLocked(id, owner);
  }
  switch (access) {
    case Access::kKeep:
      entry.last_used = now;
      entry_owner->lru.splice(entry_owner->lru.begin(), entry_owner->lru,
                              found->second);
      return Found{entry.state};
    case Access::kConsume: {
      Found result{RemoveLocked(entry, FreedReason::kConsumed)};
      drop_owner_if_empty();
      return result;
    }
    case Access::kClaim: {
      std::string claimed_id = entry.id;
      Found result{RemoveLocked(entry, std::nullopt)};
      drop_owner_if_empty();
      claimed_.emplace(std::move(claimed_id),
                       Claimed{std::string(owner), result.state});
      return result;
    }
    case Access::kRelease:
      freed = RemoveLocked(entry, FreedReason::kReleased);
      drop_owner_if_empty();
      return Found{};
  }
  return Found{};
}

void SessionCache::FinishClaim(const std::string& id, bool consumed) {
  std::vector<std::shared_ptr<const request::SavedSelection>> freed;
  absl::MutexLock lock(&mutex_);
  auto it = claimed_.find(id);
  if (it == claimed_.end()) return;  // released while claimed
  Claimed claimed = std::move(it->second);
  claimed_.erase(it);
  if (consumed) {
    RememberFreedLocked(id, claimed.owner, FreedReason::kConsumed);
    freed.push_back(std::move(claimed.state));
    return;
  }
  // Back for a retry; it may have to make room like a new session.
  if (!InsertLocked(id, claimed.owner, claimed.state, freed).ok()) {
    RememberFreedLocked(id, claimed.owner, FreedReason::kEvicted);
    ++evictions_;
    freed.push_back(std::move(claimed.state));
  }
}

std::shared_ptr<const request::SavedSelection> SessionCache::RemoveLocked(
    Entry& entry, std::optional<FreedReason> reason) {
  std::shared_ptr<const request::SavedSelection> state = std::move(entry.state);
  Owner& owner = *entry.owner;
  owner.bytes -= entry.bytes;
  bytes_ -= entry.bytes;
  if (reason.has_value()) {
    RememberFreedLocked(entry.id, owner.name, *reason);
  }
  auto it = index_.find(entry.id);
  std::list<Entry>::iterator node = it->second;
  index_.erase(it);
  owner.lru.erase(node);
  return state;
}

void SessionCache::RememberFreedLocked(const std::string& id,
                                       absl::string_view owner,
                                       FreedReason reason) {
  if (options_.remembered_freed_ids == 0) return;
  auto [it, inserted] =
      freed_.insert_or_assign(id, Freed{reason, std::string(owner)});
  if (!inserted) return;  // already queued; the newer reason wins
  freed_order_.push_back(id);
  while (freed_order_.size() > options_.remembered_freed_ids) {
    freed_.erase(freed_order_.front());
    freed_order_.pop_front();
  }
}

absl::Status SessionCache::GoneErrorLocked(absl::string_view id,
                                           absl::string_view owner) const {
  auto it = freed_.find(id);
  if (it == freed_.end() || it->second.owner != owner) {
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
          " bytes (--session_cache_bytes), shared fairly among callers "
          "(--session_bytes_per_caller); release sessions you no longer "
          "need, or use the stateless Backward"));
  }
  return absl::NotFoundError(absl::StrCat("session \"", id, "\" is gone"));
}

size_t SessionCache::ReapExpired() {
  std::vector<std::shared_ptr<const request::SavedSelection>> freed;
  {
    const absl::Time now = Now();
    absl::MutexLock lock(&mutex_);
    for (auto it = owners_.begin(); it != owners_.end();) {
      Owner& owner = *it->second;
      // Each list is in last-use order, so expired entries sit at its tail.
      while (!owner.lru.empty() && IsExpired(owner.lru.back(), now)) {
        freed.push_back(RemoveLocked(owner.lru.back(), FreedReason::kExpired));
      }
      if (owner.lru.empty()) {
        owners_.erase(it++);
      } else {
        ++it;
      }
    }
    expirations_ += static_cast<int64_t>(freed.size());
  }
  return freed.size();  // `freed` is destroyed outside the lock
}

void SessionCache::ReaperLoop(absl::Duration interval) {
  while (!stop_reaper_.WaitForNotificationWithTimeout(interval)) {
    ReapExpired();
  }
}

SessionCacheStats SessionCache::stats() const {
  absl::MutexLock lock(&mutex_);
  SessionCacheStats stats;
  stats.entries = static_cast<int64_t>(index_.size());
  stats.bytes = bytes_;
  stats.evictions = evictions_;
  stats.expirations = expirations_;
  return stats;
}

}  // namespace tensorops::server
