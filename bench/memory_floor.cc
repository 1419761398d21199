#include "bench/memory_floor.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>

#include <algorithm>
#include <cstring>
#include <functional>

namespace tensorops::bench {
namespace {

constexpr size_t kPieceBytes = size_t{1} << 20;

tbb::blocked_range<size_t> Pieces(size_t bytes) {
  return tbb::blocked_range<size_t>(0, (bytes + kPieceBytes - 1) / kPieceBytes,
                                    1);
}

}  // namespace

uint64_t ReadPass(absl::Span<const std::byte> bytes, tbb::task_arena& arena) {
  return arena.execute([&] {
    return tbb::parallel_reduce(
        Pieces(bytes.size()), uint64_t{0},
        [&](const tbb::blocked_range<size_t>& pieces, uint64_t sum) {
          const size_t begin = pieces.begin() * kPieceBytes;
          const size_t end = std::min(bytes.size(), pieces.end() * kPieceBytes);
          // Several sums, so the loop vectorizes and is not one long chain.
          uint64_t lanes[8] = {};
          for (size_t offset = begin; offset + 64 <= end; offset += 64) {
            for (int lane = 0; lane < 8; ++lane) {
              uint64_t word;
              std::memcpy(&word, bytes.data() + offset + 8 * lane, 8);
              lanes[lane] += word;
            }
          }
          for (size_t offset = begin + (end - begin) / 64 * 64;
               offset + 8 <= end; offset += 8) {
            uint64_t word;
            std::memcpy(&word, bytes.data() + offset, 8);
            lanes[0] += word;
          }
          for (uint64_t lane : lanes) sum += lane;
          return sum;
        },
        std::plus<uint64_t>());
  });
}

void WritePass(absl::Span<std::byte> bytes, tbb::task_arena& arena) {
  arena.execute([&] {
    tbb::parallel_for(
        Pieces(bytes.size()), [&](const tbb::blocked_range<size_t>& pieces) {
          const size_t begin = pieces.begin() * kPieceBytes;
          const size_t end = std::min(bytes.size(), pieces.end() * kPieceBytes);
          std::memset(bytes.data() + begin, 0, end - begin);
        });
  });
}

}  // namespace tensorops::bench
