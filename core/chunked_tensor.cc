#include "core/chunked_tensor.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace tensorops {

ChunkedBytes::ChunkedBytes(std::vector<absl::Span<const std::byte>> chunks,
                           Sharing sharing)
    : sharing_(sharing) {
  chunks_.reserve(chunks.size());
  starts_.reserve(chunks.size());
  for (absl::Span<const std::byte> chunk : chunks) {
    if (chunk.empty()) continue;
    chunks_.push_back(chunk);
    starts_.push_back(size_);
    size_ += chunk.size();
  }
}

size_t ChunkedBytes::FirstChunkAt(size_t offset) const {
  return static_cast<size_t>(
      std::upper_bound(starts_.begin(), starts_.end(), offset) -
      starts_.begin() - 1);
}

void ChunkedBytes::CopyTo(size_t offset, size_t length, std::byte* out) const {
  if (length == 0) return;
  size_t i = FirstChunkAt(offset);
  size_t within = offset - starts_[i];
  while (length > 0) {
    const size_t take = std::min(length, chunks_[i].size() - within);
    std::memcpy(out, chunks_[i].data() + within, take);
    out += take;
    length -= take;
    within = 0;
    ++i;
  }
}

ChunkedBytes ChunkedBytes::Subrange(size_t offset, size_t length) const {
  if (length == 0) return ChunkedBytes();
  std::vector<absl::Span<const std::byte>> pieces;
  for (size_t i = FirstChunkAt(offset); length > 0; ++i) {
    const size_t within = offset - starts_[i];
    const size_t take = std::min(length, chunks_[i].size() - within);
    pieces.push_back(chunks_[i].subspan(within, take));
    offset += take;
    length -= take;
  }
  return ChunkedBytes(std::move(pieces));
}

size_t ChunkedBytes::Reader::ChunkAt(size_t offset) {
  const std::vector<size_t>& starts = bytes_->starts_;
  // Scans read forward: try the last chunk and the next before searching.
  for (size_t i = hint_; i < std::min(hint_ + 2, starts.size()); ++i) {
    if (offset >= starts[i] && offset - starts[i] < bytes_->chunks_[i].size()) {
      return hint_ = i;
    }
  }
  return hint_ = bytes_->FirstChunkAt(offset);
}

const std::byte* ChunkedBytes::Reader::Read(size_t offset, size_t length,
                                            std::byte* scratch) {
  if (length == 0) return scratch;
  const size_t i = ChunkAt(offset);
  const size_t within = offset - bytes_->starts_[i];
  if (!bytes_->shared() && bytes_->chunks_[i].size() - within >= length) {
    return bytes_->chunks_[i].data() + within;
  }
  bytes_->CopyTo(offset, length, scratch);
  return scratch;
}

size_t ChunkedBytes::Reader::Parts(size_t offset, size_t length,
                                   absl::Span<const std::byte>* parts,
                                   size_t max_parts) {
  if (bytes_->shared() || length == 0) return 0;
  size_t i = ChunkAt(offset);
  size_t within = offset - bytes_->starts_[i];
  size_t count = 0;
  while (length > 0) {
    if (count == max_parts) return 0;
    const size_t take = std::min(length, bytes_->chunks_[i].size() - within);
    parts[count++] = bytes_->chunks_[i].subspan(within, take);
    length -= take;
    within = 0;
    ++i;
  }
  return count;
}

ChunkedTensor::ChunkedTensor()
    : ChunkedTensor(DType::kFloat32, {0}, 0, ChunkedBytes(), nullptr) {}

ChunkedTensor::ChunkedTensor(DType dtype, Shape shape, int64_t num_elements,
                             ChunkedBytes bytes,
                             std::shared_ptr<const void> owner)
    : dtype_(dtype),
      shape_(std::move(shape)),
      num_elements_(num_elements),
      bytes_(std::move(bytes)),
      owner_(std::move(owner)) {}

absl::StatusOr<ChunkedTensor> ChunkedTensor::View(
    DType dtype, Shape shape, ChunkedBytes bytes,
    std::shared_ptr<const void> owner) {
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t expected, ByteSize(dtype, shape));
  if (bytes.size() != static_cast<size_t>(expected)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor data has ", bytes.size(), " bytes but a ", DTypeName(dtype),
        " tensor of shape ", ShapeToString(shape), " needs exactly ", expected,
        " bytes (", DTypeSize(dtype),
        " per element, row-major, little-endian)"));
  }
  TENSOROPS_ASSIGN_OR_RETURN(const int64_t count, NumElements(shape));
  return ChunkedTensor(dtype, std::move(shape), count, std::move(bytes),
                       std::move(owner));
}

ChunkedTensor ChunkedTensor::Of(const Tensor& tensor) {
  return ChunkedTensor(tensor.dtype(), tensor.shape(), tensor.num_elements(),
                       ChunkedBytes({tensor.bytes()}),
                       std::make_shared<const Tensor>(tensor));
}

absl::StatusOr<ChunkedTensor> ChunkedTensor::Reshaped(Shape shape) const {
  return View(dtype_, std::move(shape), bytes_, owner_);
}

absl::StatusOr<Tensor> ChunkedTensor::Materialize() const {
  if (bytes_.chunks().size() <= 1 && !bytes_.shared()) {
    const absl::Span<const std::byte> only = bytes_.chunks().empty()
                                                 ? absl::Span<const std::byte>()
                                                 : bytes_.chunks().front();
    return Tensor::View(dtype_, shape_, only, owner_);
  }
  TENSOROPS_ASSIGN_OR_RETURN(Tensor copy, Tensor::Allocate(dtype_, shape_));
  bytes_.CopyTo(0, bytes_.size(), copy.mutable_data());
  return copy;
}

}  // namespace tensorops
