// Linked into every executable of a ThreadSanitizer build
// (-DTENSOROPS_SANITIZE=thread, see tests/sanitizers/CMakeLists.txt) so that
// TSan sees the synchronization our code gets from uninstrumented Debian
// libraries, instead of reporting races that cannot happen.
//
// absl: Debian's libabsl_synchronization is built without TSan, so
// absl::Mutex, CondVar and Notification are invisible to it and every access
// guarded by them is reported as a race. The linker's --wrap routes our
// code's calls to those functions through the wrappers below, which tell TSan
// what each call does with TSan's mutex and acquire/release annotations, the
// same ones absl itself emits when it is built with TSan. Only calls from our
// objects are wrapped; absl used inside gRPC stays as it is.
//
// oneTBB: libtbb is uninstrumented too, so TSan cannot see the hand-off of a
// parallel loop's data to TBB's worker threads and back. Rather than
// suppressing every report that passes through TBB (which would hide races in
// our own kernels and threads as well), TBB is limited to one thread here: a
// parallel loop then runs all its chunks on the calling thread, no data
// crosses threads through TBB, and every report left is about threads and
// locks TSan does see. Kernels still take their multi-threaded code paths
// (arenas keep their configured concurrency); what this gives up is race
// detection between chunks of one loop, which an uninstrumented TBB could not
// provide anyway. The AddressSanitizer build runs the kernels multi-threaded.
#include <sanitizer/tsan_interface.h>
#include <tbb/global_control.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

// Each wrapper is __wrap_<mangled name> and calls __real_<mangled name>; the
// list of wrapped names is in tests/sanitizers/CMakeLists.txt. The names are
// Debian 12's absl (inline namespace debian3): with another absl the link
// fails on the __real_ symbols rather than the wrappers silently not applying.

namespace {

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Notification;
using absl::Time;

// TSan's model: a lock is an acquire of everything released by earlier
// unlocks of the same mutex; accesses between pre and post are ignored
// (they are the lock's own internals, and condition evaluations).
void PreLock(Mutex* mu, unsigned flags) { __tsan_mutex_pre_lock(mu, flags); }
void PostLock(Mutex* mu, unsigned flags) {
  __tsan_mutex_post_lock(mu, flags, 0);
}
void PreUnlock(Mutex* mu, unsigned flags) {
  __tsan_mutex_pre_unlock(mu, flags);
}
void PostUnlock(Mutex* mu, unsigned flags) {
  __tsan_mutex_post_unlock(mu, flags);
}

// Await and CondVar waits may release the held mutex and take it again
// before they return: modelled as an unlock before the call and a lock
// around it, which is what happens when they block.
void ReleaseForWait(Mutex* mu) {
  PreUnlock(mu, 0);
  PostUnlock(mu, 0);
  PreLock(mu, 0);
}

// Notification: Notify() publishes, and a wait that returns true (or
// HasBeenNotified(), inline in our code as an acquire load of the flag)
// consumes. Release on the object and on its flag, acquire on the object.
static_assert(sizeof(Mutex) == 8 && sizeof(Notification) == 16,
              "absl::Notification is no longer {Mutex, atomic<bool>}");
void* NotifiedFlag(Notification* n) {
  return reinterpret_cast<char*>(n) + sizeof(Mutex);
}

// One oneTBB thread, for the whole process (see the file comment).
const tbb::global_control* const kOneTbbThread =
    new tbb::global_control(tbb::global_control::max_allowed_parallelism, 1);

}  // namespace

// Referenced with -Wl,--undefined so that this object is always linked.
extern "C" const void* tensorops_tsan_support_anchor() { return kOneTbbThread; }

// --- absl::Mutex ---------------------------------------------------------

// Mutex::Lock()
extern "C" void __real__ZN4absl7debian35Mutex4LockEv(Mutex* mu);
extern "C" void __wrap__ZN4absl7debian35Mutex4LockEv(Mutex* mu) {
  PreLock(mu, 0);
  __real__ZN4absl7debian35Mutex4LockEv(mu);
  PostLock(mu, 0);
}

// Mutex::Unlock()
extern "C" void __real__ZN4absl7debian35Mutex6UnlockEv(Mutex* mu);
extern "C" void __wrap__ZN4absl7debian35Mutex6UnlockEv(Mutex* mu) {
  PreUnlock(mu, 0);
  __real__ZN4absl7debian35Mutex6UnlockEv(mu);
  PostUnlock(mu, 0);
}

// Mutex::TryLock()
extern "C" bool __real__ZN4absl7debian35Mutex7TryLockEv(Mutex* mu);
extern "C" bool __wrap__ZN4absl7debian35Mutex7TryLockEv(Mutex* mu) {
  PreLock(mu, __tsan_mutex_try_lock);
  const bool locked = __real__ZN4absl7debian35Mutex7TryLockEv(mu);
  PostLock(mu, locked ? __tsan_mutex_try_lock
                      : __tsan_mutex_try_lock | __tsan_mutex_try_lock_failed);
  return locked;
}

// Mutex::ReaderLock()
extern "C" void __real__ZN4absl7debian35Mutex10ReaderLockEv(Mutex* mu);
extern "C" void __wrap__ZN4absl7debian35Mutex10ReaderLockEv(Mutex* mu) {
  PreLock(mu, __tsan_mutex_read_lock);
  __real__ZN4absl7debian35Mutex10ReaderLockEv(mu);
  PostLock(mu, __tsan_mutex_read_lock);
}

// Mutex::ReaderUnlock()
extern "C" void __real__ZN4absl7debian35Mutex12ReaderUnlockEv(Mutex* mu);
extern "C" void __wrap__ZN4absl7debian35Mutex12ReaderUnlockEv(Mutex* mu) {
  PreUnlock(mu, __tsan_mutex_read_lock);
  __real__ZN4absl7debian35Mutex12ReaderUnlockEv(mu);
  PostUnlock(mu, __tsan_mutex_read_lock);
}

// Mutex::ReaderTryLock()
extern "C" bool __real__ZN4absl7debian35Mutex13ReaderTryLockEv(Mutex* mu);
extern "C" bool __wrap__ZN4absl7debian35Mutex13ReaderTryLockEv(Mutex* mu) {
  PreLock(mu, __tsan_mutex_try_read_lock);
  const bool locked = __real__ZN4absl7debian35Mutex13ReaderTryLockEv(mu);
  PostLock(mu, locked ? __tsan_mutex_try_read_lock
                      : __tsan_mutex_try_read_lock_failed);
  return locked;
}

// Mutex::LockWhen(const Condition&)
extern "C" void __real__ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(
    Mutex* mu, const Condition& cond);
extern "C" void __wrap__ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(
    Mutex* mu, const Condition& cond) {
  PreLock(mu, 0);
  __real__ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(mu, cond);
  PostLock(mu, 0);
}

// Mutex::LockWhenWithTimeout(const Condition&, Duration): held on return
// whether or not the condition became true.
extern "C" bool
__real__ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    Mutex* mu, const Condition& cond, Duration timeout);
extern "C" bool
__wrap__ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    Mutex* mu, const Condition& cond, Duration timeout) {
  PreLock(mu, 0);
  const bool met =
      __real__ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
          mu, cond, timeout);
  PostLock(mu, 0);
  return met;
}

// Mutex::Await(const Condition&)
extern "C" void __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(
    Mutex* mu, const Condition& cond);
extern "C" void __wrap__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(
    Mutex* mu, const Condition& cond) {
  ReleaseForWait(mu);
  __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(mu, cond);
  PostLock(mu, 0);
}

// Mutex::AwaitWithTimeout(const Condition&, Duration)
extern "C" bool
__real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    Mutex* mu, const Condition& cond, Duration timeout);
extern "C" bool
__wrap__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    Mutex* mu, const Condition& cond, Duration timeout) {
  ReleaseForWait(mu);
  const bool met =
      __real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
          mu, cond, timeout);
  PostLock(mu, 0);
  return met;
}

// Mutex::AwaitWithDeadline(const Condition&, Time)
extern "C" bool
__real__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(
    Mutex* mu, const Condition& cond, Time deadline);
extern "C" bool
__wrap__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(
    Mutex* mu, const Condition& cond, Time deadline) {
  ReleaseForWait(mu);
  const bool met =
      __real__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(
          mu, cond, deadline);
  PostLock(mu, 0);
  return met;
}

// Mutex::~Mutex(): its address may hold another mutex later.
extern "C" void __real__ZN4absl7debian35MutexD1Ev(Mutex* mu);
extern "C" void __wrap__ZN4absl7debian35MutexD1Ev(Mutex* mu) {
  __tsan_mutex_destroy(mu, 0);
  __real__ZN4absl7debian35MutexD1Ev(mu);
}

// --- absl::CondVar -------------------------------------------------------

// CondVar::Wait(Mutex*)
extern "C" void __real__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(CondVar* cv,
                                                                  Mutex* mu);
extern "C" void __wrap__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(CondVar* cv,
                                                                  Mutex* mu) {
  ReleaseForWait(mu);
  __real__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(cv, mu);
  PostLock(mu, 0);
}

// CondVar::WaitWithTimeout(Mutex*, Duration)
extern "C" bool
__real__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(
    CondVar* cv, Mutex* mu, Duration timeout);
extern "C" bool
__wrap__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(
    CondVar* cv, Mutex* mu, Duration timeout) {
  ReleaseForWait(mu);
  const bool timed_out =
      __real__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(
          cv, mu, timeout);
  PostLock(mu, 0);
  return timed_out;
}

// CondVar::WaitWithDeadline(Mutex*, Time)
extern "C" bool
__real__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(
    CondVar* cv, Mutex* mu, Time deadline);
extern "C" bool
__wrap__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(
    CondVar* cv, Mutex* mu, Time deadline) {
  ReleaseForWait(mu);
  const bool timed_out =
      __real__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(
          cv, mu, deadline);
  PostLock(mu, 0);
  return timed_out;
}

// --- absl::Notification --------------------------------------------------

// Notification::Notify()
extern "C" void __real__ZN4absl7debian312Notification6NotifyEv(Notification* n);
extern "C" void __wrap__ZN4absl7debian312Notification6NotifyEv(
    Notification* n) {
  __tsan_release(n);
  __tsan_release(NotifiedFlag(n));
  __real__ZN4absl7debian312Notification6NotifyEv(n);
}

// Notification::WaitForNotification() const
extern "C" void __real__ZNK4absl7debian312Notification19WaitForNotificationEv(
    const Notification* n);
extern "C" void __wrap__ZNK4absl7debian312Notification19WaitForNotificationEv(
    const Notification* n) {
  __real__ZNK4absl7debian312Notification19WaitForNotificationEv(n);
  __tsan_acquire(const_cast<Notification*>(n));
}

// Notification::WaitForNotificationWithTimeout(Duration) const
extern "C" bool
__real__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const Notification* n, Duration timeout);
extern "C" bool
__wrap__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const Notification* n, Duration timeout) {
  const bool notified =
      __real__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
          n, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(n));
  return notified;
}

// Notification::WaitForNotificationWithDeadline(Time) const
extern "C" bool
__real__ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(
    const Notification* n, Time deadline);
extern "C" bool
__wrap__ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(
    const Notification* n, Time deadline) {
  const bool notified =
      __real__ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(
          n, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(n));
  return notified;
}
