// A row of a chunked input that spans several chunks, read where it lies:
// the runs of whole elements in each chunk, in position order, with each
// element that a chunk boundary splits copied into a small seam buffer.
//
// gRPC hands a received tensor over in slices of tens of KiB, so nearly
// every long row (128 KB for float32 [*, 32000]) spans a few of them;
// selecting from the pieces instead of gathering the row first saves a copy
// of the whole input.
//
// Compiled once per instruction set: include only from a translation unit
// that defines TENSOROPS_CPU_ISA (see core/cpu/topk_kernel_generic.cc).
#ifndef TENSOROPS_CORE_CPU_ISA_ROW_PIECES_H_
#define TENSOROPS_CORE_CPU_ISA_ROW_PIECES_H_

#ifndef TENSOROPS_CPU_ISA
#error "define TENSOROPS_CPU_ISA (the instruction set) before this header"
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/types/span.h"
#include "core/chunked_tensor.h"
#include "core/cpu/isa/isa.h"  // once per instruction set

namespace tensorops::cpu::TENSOROPS_CPU_ISA {
namespace {

class RowPieces {
 public:
  // Rows in more chunks than this are gathered instead.
  static constexpr size_t kMaxParts = 16;
  static constexpr size_t kMaxElementSize = 8;

  // Elements [begin, begin + size) of the row, at `data`.
  struct Piece {
    const std::byte* data;
    int64_t begin;
    int64_t size;
  };

  // The row of `elements` elements of `element_size` bytes at byte `offset`
  // of the reader's bytes. False (and nothing to read) when the row lies in
  // one chunk, its bytes are shared, or it spans more than kMaxParts chunks.
  bool Load(ChunkedBytes::Reader& reader, size_t offset, int64_t elements,
            size_t element_size) {
    absl::Span<const std::byte> parts[kMaxParts];
    const size_t part_count = reader.Parts(
        offset, static_cast<size_t>(elements) * element_size, parts, kMaxParts);
    if (part_count < 2) return false;
    element_size_ = element_size;
    count_ = 0;
    int64_t position = 0;
    size_t seams = 0;
    size_t seam_fill = 0;  // bytes of a split element copied so far
    for (size_t p = 0; p < part_count; ++p) {
      const std::byte* data = parts[p].data();
      const size_t length = parts[p].size();
      size_t at = 0;
      if (seam_fill > 0) {
        at = std::min(element_size - seam_fill, length);
        std::memcpy(seams_[seams] + seam_fill, data, at);
        seam_fill += at;
        if (seam_fill < element_size) continue;  // a part shorter than it
        pieces_[count_++] = {seams_[seams], position, 1};
        ++position;
        ++seams;
        seam_fill = 0;
      }
      const size_t whole = (length - at) / element_size;
      if (whole > 0) {
        pieces_[count_++] = {data + at, position, static_cast<int64_t>(whole)};
        position += static_cast<int64_t>(whole);
        at += whole * element_size;
      }
      if (at < length) {
        seam_fill = length - at;
        std::memcpy(seams_[seams], data + at, seam_fill);
      }
    }
    return true;
  }

  absl::Span<const Piece> pieces() const {
    return absl::MakeConstSpan(pieces_, count_);
  }

  // The bytes of the element at `position`.
  const std::byte* ElementAt(int64_t position) const {
    const Piece* piece = std::upper_bound(
        pieces_, pieces_ + count_, position,
        [](int64_t p, const Piece& piece) { return p < piece.begin; });
    --piece;
    return piece->data + (position - piece->begin) * element_size_;
  }

 private:
  // Each part adds at most one run and one seam.
  Piece pieces_[2 * kMaxParts];
  size_t count_ = 0;
  size_t element_size_ = 1;
  std::byte seams_[kMaxParts][kMaxElementSize];
};

// WriteWinners (candidates.h) for a row read as pieces.
template <typename Traits, typename Order>
void WriteWinnersFromPieces(const typename Order::Item* winners, int64_t count,
                            const RowPieces& row, std::byte* values,
                            int64_t* indices) {
  for (int64_t j = 0; j < count; ++j) {
    const int64_t position =
        static_cast<int64_t>(Order::PositionOf(winners[j]));
    std::memcpy(values + j * Traits::kSize, row.ElementAt(position),
                Traits::kSize);
    indices[j] = position;
  }
}

}  // namespace
}  // namespace tensorops::cpu::TENSOROPS_CPU_ISA

#endif  // TENSOROPS_CORE_CPU_ISA_ROW_PIECES_H_
