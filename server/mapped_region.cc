#include "server/mapped_region.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace tensorops::server {
namespace {

// The fault handler's view of the live regions: lock-free to read (a signal
// handler may take no lock), written under a mutex by Map and the
// destructor. A slot is free when its begin is 0.
struct FaultSlot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<bool> truncated{false};
};

FaultSlot g_slots[MappedRegion::kMaxRegions];
std::mutex g_slots_mutex;
struct sigaction g_previous_action;

void OnSigbus(int signal, siginfo_t* info, void* context) {
  const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  for (FaultSlot& slot : g_slots) {
    const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
    const uintptr_t end = slot.end.load(std::memory_order_acquire);
    if (begin == 0 || address < begin || address >= end) continue;
    // Zero pages from the faulting one to the end of the region (the object
    // ends before them now): the access, retried on return, succeeds.
    const uintptr_t page =
        address & ~(static_cast<uintptr_t>(sysconf(_SC_PAGESIZE)) - 1);
    void* replaced =
        mmap(reinterpret_cast<void*>(page), end - page, PROT_READ | PROT_WRITE,
             MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (replaced == MAP_FAILED) break;
    slot.truncated.store(true, std::memory_order_release);
    return;
  }
  // Not a region's: what would have happened without this handler.
  if ((g_previous_action.sa_flags & SA_SIGINFO) != 0 &&
      g_previous_action.sa_sigaction != nullptr) {
    g_previous_action.sa_sigaction(signal, info, context);
    return;
  }
  if (g_previous_action.sa_handler != SIG_DFL &&
      g_previous_action.sa_handler != SIG_IGN) {
    g_previous_action.sa_handler(signal);
    return;
  }
  // Default action: the faulting access, retried, kills the process.
  ::signal(SIGBUS, SIG_DFL);
}

void InstallFaultHandler() {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction action;
    std::memset(&action, 0, sizeof(action));
    action.sa_sigaction = &OnSigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &g_previous_action);
  });
}

absl::Status OpenError(int error, absl::string_view what) {
  switch (error) {
    case ENOENT:
      return absl::NotFoundError(absl::StrCat(what, " does not exist"));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(
          absl::StrCat("the server may not open ", what));
    case ELOOP:
    case ENOTDIR:
      return absl::InvalidArgumentError(absl::StrCat(
          what,
          " lies behind a symbolic link or a non-directory; expected a "
          "path of plain directories to a regular file"));
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("could not open ", what, ": ", std::strerror(error)));
  }
}

// Opens read-write, else read-only; sets *writable.
int OpenEither(const auto& open_with, bool* writable) {
  int fd = open_with(O_RDWR);
  *writable = fd >= 0;
  if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
    fd = open_with(O_RDONLY);
  }
  return fd;
}

// `path` below `dir`, each part opened without following a link.
absl::StatusOr<int> OpenBelow(const std::string& dir, const std::string& path,
                              bool* writable) {
  if (dir.empty()) {
    return absl::FailedPreconditionError(
        "this server maps no files (its --shared_memory_file_dir is empty); "
        "use a POSIX shared memory key");
  }
  const std::string prefix = dir + "/";
  if (path.rfind(prefix, 0) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "file ", path, " is not below this server's --shared_memory_file_dir ",
        dir));
  }
  const std::vector<std::string> parts =
      absl::StrSplit(path.substr(prefix.size()), '/');
  int fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return OpenError(errno, absl::StrCat("directory ", dir));
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const int next = openat(fd, parts[i].c_str(),
                            O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    const int error = errno;
    close(fd);
    if (next < 0) return OpenError(error, absl::StrCat("file ", path));
    fd = next;
  }
  const int dir_fd = fd;
  fd = OpenEither(
      [&](int mode) {
        return openat(dir_fd, parts.back().c_str(),
                      mode | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
      },
      writable);
  const int error = errno;
  close(dir_fd);
  if (fd < 0) return OpenError(error, absl::StrCat("file ", path));
  return fd;
}

}  // namespace

absl::StatusOr<std::shared_ptr<MappedRegion>> MappedRegion::Map(
    const RegionSource& source, int64_t offset, int64_t byte_size,
    const std::string& file_dir) {
  InstallFaultHandler();
  bool writable = false;
  int fd = -1;
  std::string what;
  if (!source.key.empty()) {
    what = absl::StrCat("shared memory object ", source.key);
    fd = OpenEither(
        [&](int mode) { return shm_open(source.key.c_str(), mode, 0); },
        &writable);
    if (fd < 0) return OpenError(errno, what);
  } else {
    what = absl::StrCat("file ", source.file);
    absl::StatusOr<int> opened = OpenBelow(file_dir, source.file, &writable);
    if (!opened.ok()) return opened.status();
    fd = *opened;
  }
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a regular file"));
  }
  if (info.st_size < offset || info.st_size - offset < byte_size) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        what, " holds ", info.st_size, " bytes, fewer than the region's end (",
        offset, " + ", byte_size, "); expected the object sized first"));
  }
  const auto page = static_cast<int64_t>(sysconf(_SC_PAGESIZE));
  const int64_t map_offset = offset / page * page;
  const auto length = static_cast<size_t>(offset - map_offset + byte_size);
  void* mapping = mmap(nullptr, length, PROT_READ | (writable ? PROT_WRITE : 0),
                       MAP_SHARED, fd, map_offset);
  const int error = errno;
  close(fd);
  if (mapping == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("could not map ", what, ": ", std::strerror(error)));
  }
  std::shared_ptr<MappedRegion> region(new MappedRegion());
  region->mapping_ = static_cast<std::byte*>(mapping);
  region->mapping_size_ = length;
  region->data_ = region->mapping_ + (offset - map_offset);
  region->size_ = static_cast<size_t>(byte_size);
  region->writable_ = writable;
  std::lock_guard<std::mutex> lock(g_slots_mutex);
  for (int i = 0; i < kMaxRegions; ++i) {
    if (g_slots[i].begin.load(std::memory_order_relaxed) != 0) continue;
    const auto begin = reinterpret_cast<uintptr_t>(mapping);
    g_slots[i].truncated.store(false, std::memory_order_relaxed);
    g_slots[i].end.store(begin + length, std::memory_order_release);
    g_slots[i].begin.store(begin, std::memory_order_release);
    region->slot_ = i;
    return region;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("the server already maps ", kMaxRegions,
                   " shared memory regions, its most; unregister some"));
}

MappedRegion::~MappedRegion() {
  if (slot_ >= 0) {
    std::lock_guard<std::mutex> lock(g_slots_mutex);
    g_slots[slot_].begin.store(0, std::memory_order_release);
    g_slots[slot_].end.store(0, std::memory_order_release);
  }
  if (mapping_ != nullptr) munmap(mapping_, mapping_size_);
}

bool MappedRegion::truncated() const {
  return slot_ >= 0 && g_slots[slot_].truncated.load(std::memory_order_acquire);
}

absl::Status MappedRegion::TruncationError(const std::string& name) {
  return absl::FailedPreconditionError(absl::StrCat(
      "shared memory region ", name,
      " was truncated below its registered size while the server used it; "
      "its contents are gone for the server: unregister it and register it "
      "again once the object is sized"));
}

}  // namespace tensorops::server
