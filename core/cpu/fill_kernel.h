// Filling memory with one repeated element, in parallel for large outputs.
#ifndef TENSOROPS_CORE_CPU_FILL_KERNEL_H_
#define TENSOROPS_CORE_CPU_FILL_KERNEL_H_

#include <cstddef>
#include <cstdint>

namespace tensorops::cpu {

// Writes `count` copies of the element `value` (element_size bytes: 1, 2, 4 or
// 8) to `dst`, splitting large fills across the calling arena's threads.
void FillKernel(std::byte* dst, int64_t count, size_t element_size,
                const std::byte* value);

}  // namespace tensorops::cpu

#endif  // TENSOROPS_CORE_CPU_FILL_KERNEL_H_
