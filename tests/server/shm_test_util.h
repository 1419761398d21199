// A POSIX shared memory object for the shared memory tests, created with a
// name unique to the test process and unlinked (and unmapped) at the end.
#ifndef TENSOROPS_TESTS_SERVER_SHM_TEST_UTIL_H_
#define TENSOROPS_TESTS_SERVER_SHM_TEST_UTIL_H_

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace tensorops::server::testing {

class TestShm {
 public:
  explicit TestShm(size_t byte_size) : size_(byte_size) {
    static std::atomic<int> counter{0};
    key_ = absl::StrCat("/tensorops-test-", getpid(), "-", counter++);
    fd_ = shm_open(key_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    EXPECT_GE(fd_, 0) << key_;
    EXPECT_EQ(ftruncate(fd_, static_cast<off_t>(byte_size)), 0);
    void* mapped =
        mmap(nullptr, byte_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    EXPECT_NE(mapped, MAP_FAILED);
    data_ = static_cast<std::byte*>(mapped);
  }
  TestShm(const TestShm&) = delete;
  TestShm& operator=(const TestShm&) = delete;
  ~TestShm() {
    munmap(data_, size_);
    close(fd_);
    shm_unlink(key_.c_str());
  }

  const std::string& key() const { return key_; }
  // This process's mapping: writes are what the server reads. Only valid
  // while the object keeps its size.
  std::byte* data() { return data_; }
  size_t size() const { return size_; }
  // Shrinks (or grows) the object under every mapping.
  void Resize(size_t byte_size) {
    ASSERT_EQ(ftruncate(fd_, static_cast<off_t>(byte_size)), 0);
  }

 private:
  std::string key_;
  int fd_ = -1;
  size_t size_ = 0;
  std::byte* data_ = nullptr;
};

// How many mappings of the shared memory object `key` this process holds
// (a TestShm holds one itself).
inline int MappingsOf(const std::string& key) {
  char buffer[1 << 16];
  const int fd = open("/proc/self/maps", O_RDONLY);
  std::string maps;
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) {
    maps.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const std::string path = absl::StrCat("/dev/shm", key);
  int count = 0;
  for (size_t at = maps.find(path); at != std::string::npos;
       at = maps.find(path, at + 1)) {
    const char next =
        at + path.size() < maps.size() ? maps[at + path.size()] : '\n';
    if (next == '\n' || next == ' ') ++count;
  }
  return count;
}

}  // namespace tensorops::server::testing

#endif  // TENSOROPS_TESTS_SERVER_SHM_TEST_UTIL_H_
