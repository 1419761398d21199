// The shared memory regions callers registered, per owner.
//
// A region is mapped at RegisterSharedMemory and found by name for the
// owner's calls (another owner, or an unknown name, gets NOT_FOUND); each
// call holds the region it uses, so Unregister, the idle reaper and Clear
// only drop the registry's hold: the mapping goes when the last call using
// it ends. Regions are tied to their owner's connections through hold calls
// (HoldSharedMemory, which clients keep open while they have regions): while
// an owner has a hold open its regions stay; once its last hold ends (the
// client closed it, or its connection is gone) they go after the release
// grace, unless a hold opens again first. An owner that never opened a hold
// loses its regions after the idle timeout without a call. One mutex;
// mappings are dropped outside it.
#ifndef TENSOROPS_SERVER_SHARED_MEMORY_REGISTRY_H_
#define TENSOROPS_SERVER_SHARED_MEMORY_REGISTRY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/mapped_region.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::server {

struct SharedMemoryOptions {
  // Off by default: RegisterSharedMemory and every reference then fail with
  // FAILED_PRECONDITION.
  bool allowed = false;
  // Regions and registered bytes one owner may hold.
  int64_t max_regions_per_owner = 64;
  int64_t max_bytes_per_owner = int64_t{64} << 30;
  // An owner without a hold and without a call for this long loses its
  // regions.
  absl::Duration idle_timeout = absl::Minutes(5);
  // An owner whose last hold ended this long ago loses its regions.
  absl::Duration release_grace = absl::Seconds(30);
  // Holds one owner may have open at once.
  int64_t max_holds_per_owner = 64;
  // Files may be mapped only below this directory; empty: keys only.
  std::string file_dir;
  // Whether to run the reaper thread (tests with a fake clock call
  // ReapIdle themselves), and the monotonic time source (null: steady).
  bool start_reaper = true;
  std::function<absl::Time()> clock;
};

// A region found for a call: the mapping, held for the call, and what was
// registered.
struct FoundRegion {
  std::shared_ptr<const MappedRegion> mapping;
  int64_t offset = 0;  // of the region in its object
};

class SharedMemoryRegistry {
 public:
  explicit SharedMemoryRegistry(SharedMemoryOptions options);
  ~SharedMemoryRegistry();

  const SharedMemoryOptions& options() const { return options_; }

  // Maps the region of a validated request for `owner`. ALREADY_EXISTS for
  // a name the owner holds, RESOURCE_EXHAUSTED past the owner's limits,
  // MappedRegion::Map's errors.
  absl::Status Register(
      const std::string& owner,
      const tensorops::v1::RegisterSharedMemoryRequest& request);

  // Drops `name` (or, if empty, every region) of `owner`. NOT_FOUND for a
  // name the owner does not hold.
  absl::Status Unregister(const std::string& owner, const std::string& name);

  // The owner's regions, by name. FAILED_PRECONDITION when shared memory
  // is off.
  absl::StatusOr<std::vector<tensorops::v1::SharedMemoryRegion>> List(
      const std::string& owner) const;

  // The owner's region `name` for a call. FAILED_PRECONDITION when shared
  // memory is off or the region was truncated, NOT_FOUND when the owner
  // holds no such region.
  absl::StatusOr<FoundRegion> Find(const std::string& owner,
                                   const std::string& name);

  // Marks `owner` active now (every call of an owner with regions does).
  void Touch(const std::string& owner);

  // A hold of `owner` opens: its regions stay while it is open.
  // FAILED_PRECONDITION when shared memory is off, RESOURCE_EXHAUSTED past
  // max_holds_per_owner. Each successful OpenHold needs one CloseHold.
  absl::Status OpenHold(const std::string& owner);
  void CloseHold(const std::string& owner);
  int64_t OpenHoldsOf(const std::string& owner) const;

  // Drops the regions of owners whose last hold ended the release grace
  // ago, or that never held and were idle for the timeout; returns how
  // many.
  int64_t ReapIdle();

  // Drops every region (shutdown).
  void Clear();

  int64_t RegionsOf(const std::string& owner) const;
  int64_t BytesOf(const std::string& owner) const;

 private:
  struct Region {
    tensorops::v1::RegisterSharedMemoryRequest registered;
    std::shared_ptr<const MappedRegion> mapping;
  };
  struct Owner {
    std::map<std::string, Region> regions;
    int64_t bytes = 0;
    absl::Time last_call;
  };
  struct Holds {
    int64_t open = 0;
    // When `open` last fell to zero; InfiniteFuture while a hold is open.
    absl::Time released = absl::InfiniteFuture();
  };

  // Whether ReapIdle drops the regions of `owner` at `now`.
  bool Expired(const std::string& owner, const Owner& held,
               absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  absl::Time Now() const;
  absl::Status Disabled() const;
  // ALREADY_EXISTS or RESOURCE_EXHAUSTED unless `owner` has room for the
  // region `request` registers.
  absl::Status CheckRoom(
      const std::string& owner,
      const tensorops::v1::RegisterSharedMemoryRequest& request) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Publishes owners_.size() to Touch's lock-free check.
  void CountOwners() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const SharedMemoryOptions options_;
  mutable absl::Mutex mutex_;
  std::map<std::string, Owner> owners_ ABSL_GUARDED_BY(mutex_);
  // Owners that have opened a hold, until their regions go after release.
  std::map<std::string, Holds> holds_ ABSL_GUARDED_BY(mutex_);
  std::atomic<int64_t> owner_count_{0};
  absl::Notification stop_reaper_;
  std::thread reaper_;
};

}  // namespace tensorops::server

#endif  // TENSOROPS_SERVER_SHARED_MEMORY_REGISTRY_H_
