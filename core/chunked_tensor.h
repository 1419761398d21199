// A tensor whose bytes lie in several separate chunks, read where they are.
//
// A large request arrives from the network as a list of buffers (gRPC hands
// over a 131 MB message as thousands of slices). Copying them into one
// contiguous block first costs more than computing topk on them, so the
// backends can read a ChunkedTensor directly; Materialize() gives the
// contiguous copy where a kernel needs one.
#ifndef TENSOROPS_CORE_CHUNKED_TENSOR_H_
#define TENSOROPS_CORE_CHUNKED_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace tensorops {

// Whether anyone else may write the bytes while they are read (shared
// memory another process maps). Kernels assume that what they read twice is
// the same, so shared bytes are only ever read once, into private memory:
// Reader::Read always copies them, and Materialize() makes a private copy.
enum class Sharing { kPrivate, kShared };

// An immutable byte sequence made of chunks, in order. Chunks may have any
// size and alignment; empty ones are dropped. Does not own the bytes.
class ChunkedBytes {
 public:
  ChunkedBytes() = default;
  explicit ChunkedBytes(std::vector<absl::Span<const std::byte>> chunks,
                        Sharing sharing = Sharing::kPrivate);

  size_t size() const { return size_; }
  bool shared() const { return sharing_ == Sharing::kShared; }
  const std::vector<absl::Span<const std::byte>>& chunks() const {
    return chunks_;
  }

  // Copies bytes [offset, offset + length) to `out`. The range must lie
  // within size().
  void CopyTo(size_t offset, size_t length, std::byte* out) const;

  // The bytes [offset, offset + length), in place: the parts of the chunks
  // that hold them. The range must lie within size().
  ChunkedBytes Subrange(size_t offset, size_t length) const;

  // Reads ranges, cheapest when offsets increase (a scan). Not thread-safe:
  // one per thread.
  class Reader {
   public:
    explicit Reader(const ChunkedBytes& bytes) : bytes_(&bytes) {}

    // The bytes [offset, offset + length): a pointer into the chunk holding
    // them all if there is one and the bytes are not shared, else `scratch`
    // (at least `length` bytes) filled with a copy. The range must lie
    // within size().
    const std::byte* Read(size_t offset, size_t length, std::byte* scratch);

    // The parts of the chunks that hold [offset, offset + length), in
    // order, written to parts[0..n): returns n, or 0 when the bytes are
    // shared (they must be read once, through Read) or take more than
    // `max_parts` parts. The range must lie within size().
    size_t Parts(size_t offset, size_t length,
                 absl::Span<const std::byte>* parts, size_t max_parts);

   private:
    // Index of the chunk holding byte `offset`.
    size_t ChunkAt(size_t offset);

    const ChunkedBytes* bytes_;
    size_t hint_ = 0;
  };

 private:
  // Index of the chunk holding byte `offset` (< size()).
  size_t FirstChunkAt(size_t offset) const;

  std::vector<absl::Span<const std::byte>> chunks_;
  // starts_[i]: offset of chunks_[i]'s first byte.
  std::vector<size_t> starts_;
  size_t size_ = 0;
  Sharing sharing_ = Sharing::kPrivate;
};

// A row-major tensor (as Tensor) whose bytes are a ChunkedBytes. Copies share
// the chunks and their owner.
class ChunkedTensor {
 public:
  // A 0-element float32 tensor of shape [0], as Tensor().
  ChunkedTensor();

  // `bytes` must be exactly ByteSize(dtype, shape) long (INVALID_ARGUMENT
  // otherwise). `owner` keeps the chunks alive as long as any copy; pass
  // nullptr when the caller guarantees they outlive the tensor.
  static absl::StatusOr<ChunkedTensor> View(DType dtype, Shape shape,
                                            ChunkedBytes bytes,
                                            std::shared_ptr<const void> owner);
  // `tensor`'s bytes as one chunk; the view keeps `tensor` alive.
  static ChunkedTensor Of(const Tensor& tensor);

  // The same bytes with another shape of as many elements (INVALID_ARGUMENT
  // otherwise).
  absl::StatusOr<ChunkedTensor> Reshaped(Shape shape) const;

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t num_elements() const { return num_elements_; }
  size_t byte_size() const { return bytes_.size(); }
  const ChunkedBytes& bytes() const { return bytes_; }

  // A contiguous tensor of the same contents: a view when there is at most
  // one chunk and the bytes are private, else an owning copy
  // (RESOURCE_EXHAUSTED if out of memory).
  absl::StatusOr<Tensor> Materialize() const;

 private:
  ChunkedTensor(DType dtype, Shape shape, int64_t num_elements,
                ChunkedBytes bytes, std::shared_ptr<const void> owner);

  DType dtype_;
  Shape shape_;
  int64_t num_elements_;
  ChunkedBytes bytes_;
  std::shared_ptr<const void> owner_;
};

}  // namespace tensorops

#endif  // TENSOROPS_CORE_CHUNKED_TENSOR_H_
