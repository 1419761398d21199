#include "server/shared_memory_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tensorops::server {
namespace {

namespace v1 = ::tensorops::v1;

absl::Duration ReapInterval(const SharedMemoryOptions& options) {
  return std::clamp(std::min(options.idle_timeout, options.release_grace) / 4,
                    absl::Milliseconds(1), absl::Seconds(1));
}

}  // namespace

SharedMemoryRegistry::SharedMemoryRegistry(SharedMemoryOptions options)
    : options_(std::move(options)) {
  if (options_.allowed && options_.start_reaper) {
    const absl::Duration interval = ReapInterval(options_);
    reaper_ = std::thread([this, interval] {
      while (!stop_reaper_.WaitForNotificationWithTimeout(interval)) {
        ReapIdle();
      }
    });
  }
}

SharedMemoryRegistry::~SharedMemoryRegistry() {
  stop_reaper_.Notify();
  if (reaper_.joinable()) reaper_.join();
  Clear();
}

absl::Time SharedMemoryRegistry::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

void SharedMemoryRegistry::CountOwners() {
  owner_count_.store(static_cast<int64_t>(owners_.size()),
                     std::memory_order_relaxed);
}

absl::Status SharedMemoryRegistry::Disabled() const {
  return absl::FailedPreconditionError(
      "shared memory is off on this server; start it with "
      "--allow_shared_memory to pass tensors through shared memory, or send "
      "their data inline");
}

absl::Status SharedMemoryRegistry::CheckRoom(
    const std::string& owner,
    const v1::RegisterSharedMemoryRequest& request) const {
  auto it = owners_.find(owner);
  const int64_t regions =
      it == owners_.end() ? 0 : static_cast<int64_t>(it->second.regions.size());
  const int64_t bytes = it == owners_.end() ? 0 : it->second.bytes;
  if (it != owners_.end() && it->second.regions.contains(request.name())) {
    return absl::AlreadyExistsError(absl::StrCat(
        "this caller already holds a shared memory region named ",
        request.name(), "; unregister it first or choose another name"));
  }
  if (regions >= options_.max_regions_per_owner) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this caller holds ", regions,
        " shared memory regions, its most "
        "(--max_shared_memory_regions_per_caller); unregister some"));
  }
  if (request.byte_size() > options_.max_bytes_per_owner - bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("this caller holds ", bytes, " bytes of shared memory; ",
                     request.byte_size(), " more would pass its ",
                     options_.max_bytes_per_owner,
                     " (--max_shared_memory_bytes_per_caller)"));
  }
  return absl::OkStatus();
}

absl::Status SharedMemoryRegistry::Register(
    const std::string& owner, const v1::RegisterSharedMemoryRequest& request) {
  if (!options_.allowed) return Disabled();
  {
    absl::MutexLock lock(&mutex_);
    if (absl::Status room = CheckRoom(owner, request); !room.ok()) return room;
  }
  // Mapped outside the lock (it opens files), then checked again: a
  // concurrent Register of this owner may have taken the name or the room
  // (the new mapping then goes with `mapping`, after the lock).
  absl::StatusOr<std::shared_ptr<MappedRegion>> mapped = MappedRegion::Map(
      RegionSource{request.key(), request.file()}, request.offset(),
      request.byte_size(), options_.file_dir);
  if (!mapped.ok()) return mapped.status();
  std::shared_ptr<const MappedRegion> mapping = *std::move(mapped);
  absl::MutexLock lock(&mutex_);
  if (absl::Status room = CheckRoom(owner, request); !room.ok()) return room;
  Owner& held = owners_[owner];
  held.last_call = Now();
  held.bytes += request.byte_size();
  held.regions.emplace(request.name(), Region{request, std::move(mapping)});
  CountOwners();
  return absl::OkStatus();
}

absl::Status SharedMemoryRegistry::Unregister(const std::string& owner,
                                              const std::string& name) {
  if (!options_.allowed) return Disabled();
  std::vector<Region> dropped;  // unmapped outside the lock
  absl::MutexLock lock(&mutex_);
  auto it = owners_.find(owner);
  if (it == owners_.end()) {
    if (name.empty()) return absl::OkStatus();
  } else if (name.empty()) {
    for (auto& [_, region] : it->second.regions) {
      dropped.push_back(std::move(region));
    }
    owners_.erase(it);
    CountOwners();
    return absl::OkStatus();
  } else if (auto region = it->second.regions.find(name);
             region != it->second.regions.end()) {
    it->second.bytes -= region->second.registered.byte_size();
    dropped.push_back(std::move(region->second));
    it->second.regions.erase(region);
    if (it->second.regions.empty()) owners_.erase(it);
    CountOwners();
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat(
      "this caller holds no shared memory region named ", name,
      " (never registered, unregistered, or dropped: after the caller's last "
      "HoldSharedMemory call ended, or when it was idle)"));
}

absl::StatusOr<std::vector<v1::SharedMemoryRegion>> SharedMemoryRegistry::List(
    const std::string& owner) const {
  if (!options_.allowed) return Disabled();
  std::vector<v1::SharedMemoryRegion> listed;
  absl::MutexLock lock(&mutex_);
  auto it = owners_.find(owner);
  if (it == owners_.end()) return listed;
  for (const auto& [name, region] : it->second.regions) {
    v1::SharedMemoryRegion& out = listed.emplace_back();
    out.set_name(name);
    out.set_key(region.registered.key());
    out.set_file(region.registered.file());
    out.set_offset(region.registered.offset());
    out.set_byte_size(region.registered.byte_size());
    out.set_writable(region.mapping->writable());
    out.set_truncated(region.mapping->truncated());
  }
  return listed;
}

absl::StatusOr<FoundRegion> SharedMemoryRegistry::Find(
    const std::string& owner, const std::string& name) {
  if (!options_.allowed) return Disabled();
  absl::MutexLock lock(&mutex_);
  auto it = owners_.find(owner);
  const Region* region = nullptr;
  if (it != owners_.end()) {
    auto found = it->second.regions.find(name);
    if (found != it->second.regions.end()) region = &found->second;
  }
  if (region == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "this caller holds no shared memory region named ", name,
        "; register it first (regions are per caller, and dropped after the "
        "caller's last HoldSharedMemory call ended, or when it was idle)"));
  }
  if (region->mapping->truncated()) {
    return MappedRegion::TruncationError(name);
  }
  it->second.last_call = Now();
  return FoundRegion{region->mapping, region->registered.offset()};
}

void SharedMemoryRegistry::Touch(const std::string& owner) {
  // Every call passes here: no lock while nobody holds a region.
  if (owner_count_.load(std::memory_order_relaxed) == 0) return;
  absl::MutexLock lock(&mutex_);
  auto it = owners_.find(owner);
  if (it != owners_.end()) it->second.last_call = Now();
}

absl::Status SharedMemoryRegistry::OpenHold(const std::string& owner) {
  if (!options_.allowed) return Disabled();
  absl::MutexLock lock(&mutex_);
  Holds& holds = holds_[owner];
  if (holds.open >= options_.max_holds_per_owner) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this caller has ", holds.open,
        " HoldSharedMemory calls open, its most; one per client is enough"));
  }
  ++holds.open;
  holds.released = absl::InfiniteFuture();
  return absl::OkStatus();
}

void SharedMemoryRegistry::CloseHold(const std::string& owner) {
  absl::MutexLock lock(&mutex_);
  auto it = holds_.find(owner);
  if (it == holds_.end() || it->second.open == 0) return;
  if (--it->second.open == 0) it->second.released = Now();
}

int64_t SharedMemoryRegistry::OpenHoldsOf(const std::string& owner) const {
  absl::MutexLock lock(&mutex_);
  auto it = holds_.find(owner);
  return it == holds_.end() ? 0 : it->second.open;
}

bool SharedMemoryRegistry::Expired(const std::string& owner, const Owner& held,
                                   absl::Time now) const {
  auto holds = holds_.find(owner);
  if (holds == holds_.end()) {
    return now - held.last_call >= options_.idle_timeout;
  }
  return holds->second.open == 0 &&
         now - holds->second.released >= options_.release_grace;
}

int64_t SharedMemoryRegistry::ReapIdle() {
  std::vector<Region> dropped;  // unmapped outside the lock
  {
    absl::MutexLock lock(&mutex_);
    const absl::Time now = Now();
    for (auto it = owners_.begin(); it != owners_.end();) {
      if (!Expired(it->first, it->second, now)) {
        ++it;
        continue;
      }
      for (auto& [_, region] : it->second.regions) {
        dropped.push_back(std::move(region));
      }
      it = owners_.erase(it);
    }
    // A released owner's hold record goes after its grace: a later region
    // without a hold is then kept by its calls, as for any owner.
    std::erase_if(holds_, [&](const auto& entry) {
      return entry.second.open == 0 &&
             now - entry.second.released >= options_.release_grace;
    });
    CountOwners();
  }
  return static_cast<int64_t>(dropped.size());
}

void SharedMemoryRegistry::Clear() {
  std::map<std::string, Owner> dropped;
  {
    absl::MutexLock lock(&mutex_);
    dropped.swap(owners_);
    CountOwners();
  }
}

int64_t SharedMemoryRegistry::RegionsOf(const std::string& owner) const {
  absl::MutexLock lock(&mutex_);
  auto it = owners_.find(owner);
  return it == owners_.end() ? 0
                             : static_cast<int64_t>(it->second.regions.size());
}

int64_t SharedMemoryRegistry::BytesOf(const std::string& owner) const {
  absl::MutexLock lock(&mutex_);
  auto it = owners_.find(owner);
  return it == owners_.end() ? 0 : it->second.bytes;
}

}  // namespace tensorops::server
