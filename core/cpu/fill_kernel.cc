#include "core/cpu/fill_kernel.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cstring>

namespace tensorops::cpu {
namespace {

// One task per this many bytes; below it a single thread fills faster than
// work can be handed out.
constexpr int64_t kBytesPerTask = int64_t{1} << 20;

template <typename T>
void FillRange(std::byte* dst, int64_t begin, int64_t end, T value) {
  bool all_zero = value == T{0};
  if (all_zero) {
    std::memset(dst + begin * sizeof(T), 0, (end - begin) * sizeof(T));
    return;
  }
  // Unaligned-safe typed stores; compiles to vector stores.
  for (int64_t i = begin; i < end; ++i) {
    std::memcpy(dst + i * sizeof(T), &value, sizeof(T));
  }
}

template <typename T>
void FillTyped(std::byte* dst, int64_t count, const std::byte* value_bytes) {
  T value;
  std::memcpy(&value, value_bytes, sizeof(T));
  const int64_t bytes = count * static_cast<int64_t>(sizeof(T));
  if (bytes <= kBytesPerTask) {
    FillRange<T>(dst, 0, count, value);
    return;
  }
  const int64_t per_task = kBytesPerTask / sizeof(T);
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, count, per_task),
      [&](const tbb::blocked_range<int64_t>& range) {
        FillRange<T>(dst, range.begin(), range.end(), value);
      },
      tbb::simple_partitioner());
}

}  // namespace

void FillKernel(std::byte* dst, int64_t count, size_t element_size,
                const std::byte* value) {
  if (count == 0) return;
  switch (element_size) {
    case 1:
      return FillTyped<uint8_t>(dst, count, value);
    case 2:
      return FillTyped<uint16_t>(dst, count, value);
    case 4:
      return FillTyped<uint32_t>(dst, count, value);
    default:
      return FillTyped<uint64_t>(dst, count, value);
  }
}

}  // namespace tensorops::cpu
