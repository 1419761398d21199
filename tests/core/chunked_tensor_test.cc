#include "core/chunked_tensor.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace tensorops {
namespace {

using ::testing::HasSubstr;
using testing::IsOk;
using testing::StatusIs;

using ByteSpan = absl::Span<const std::byte>;

std::vector<std::byte> Iota(size_t n) {
  std::vector<std::byte> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::byte>(i * 7 + 3);
  return bytes;
}

// `bytes` copied into separately placed chunks, as a network stack hands a
// message over: chunk sizes vary (some tiny, some empty) and each chunk
// starts at an arbitrary address, so elements are misaligned.
class Scattered {
 public:
  Scattered(const std::vector<std::byte>& bytes, size_t max_chunk,
            uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<size_t> chunk_size(0, max_chunk);
    std::uniform_int_distribution<size_t> misalign(0, 7);
    std::vector<std::pair<size_t, size_t>> placement;  // (storage, length)
    size_t offset = 0;
    while (offset < bytes.size()) {
      const size_t length = std::min(chunk_size(rng), bytes.size() - offset);
      const size_t at = storage_.size() + misalign(rng);
      storage_.resize(at + length + 8);
      std::memcpy(storage_.data() + at, bytes.data() + offset, length);
      placement.emplace_back(at, length);
      offset += length;
    }
    std::vector<ByteSpan> chunks;
    for (const auto& [at, length] : placement) {
      chunks.emplace_back(storage_.data() + at, length);
    }
    bytes_ = ChunkedBytes(std::move(chunks));
  }
  const ChunkedBytes& bytes() const { return bytes_; }

 private:
  std::vector<std::byte> storage_;
  ChunkedBytes bytes_;
};

TEST(ChunkedBytesTest, DropsEmptyChunksAndCountsBytes) {
  const std::vector<std::byte> data = Iota(10);
  ChunkedBytes bytes(
      {ByteSpan(data.data(), 4), ByteSpan(), ByteSpan(data.data() + 4, 6)});
  EXPECT_EQ(bytes.size(), 10u);
  EXPECT_EQ(bytes.chunks().size(), 2u);
  EXPECT_EQ(ChunkedBytes().size(), 0u);
}

TEST(ChunkedBytesTest, CopyToSpansChunks) {
  const std::vector<std::byte> data = Iota(1000);
  Scattered scattered(data, 37, /*seed=*/1);
  for (size_t offset : {0, 1, 36, 37, 500, 999}) {
    for (size_t length : {0, 1, 2, 80, 200}) {
      if (offset + length > data.size()) continue;
      std::vector<std::byte> out(length);
      scattered.bytes().CopyTo(offset, length, out.data());
      EXPECT_TRUE(std::equal(out.begin(), out.end(), data.begin() + offset))
          << offset << "+" << length;
    }
  }
}

TEST(ChunkedBytesTest, SubrangeIsThePartsOfTheChunksInPlace) {
  const std::vector<std::byte> data = Iota(100);
  ChunkedBytes bytes({ByteSpan(data.data(), 40), ByteSpan(data.data() + 40, 25),
                      ByteSpan(data.data() + 65, 35)});
  const ChunkedBytes middle = bytes.Subrange(30, 50);
  ASSERT_EQ(middle.chunks().size(), 3u);
  EXPECT_EQ(middle.chunks()[0].data(), data.data() + 30);
  EXPECT_EQ(middle.chunks()[0].size(), 10u);
  EXPECT_EQ(middle.chunks()[1].size(), 25u);
  EXPECT_EQ(middle.chunks()[2].data(), data.data() + 65);
  EXPECT_EQ(middle.chunks()[2].size(), 15u);
  EXPECT_EQ(bytes.Subrange(45, 10).chunks().size(), 1u);
  EXPECT_EQ(bytes.Subrange(100, 0).size(), 0u);
  Scattered scattered(Iota(3000), 200, /*seed=*/9);
  std::mt19937 rng(10);
  for (int i = 0; i < 200; ++i) {
    const size_t length = rng() % 1000;
    const size_t offset = rng() % (3000 - length + 1);
    const ChunkedBytes sub = scattered.bytes().Subrange(offset, length);
    ASSERT_EQ(sub.size(), length);
    std::vector<std::byte> out(length);
    sub.CopyTo(0, length, out.data());
    const std::vector<std::byte> all = Iota(3000);
    ASSERT_TRUE(std::equal(out.begin(), out.end(), all.begin() + offset));
  }
}

TEST(ChunkedBytesTest, ReaderReadsInPlaceWithinAChunk) {
  const std::vector<std::byte> data = Iota(100);
  ChunkedBytes bytes(
      {ByteSpan(data.data(), 40), ByteSpan(data.data() + 40, 60)});
  ChunkedBytes::Reader reader(bytes);
  std::byte scratch[100];
  EXPECT_EQ(reader.Read(0, 40, scratch), data.data());
  EXPECT_EQ(reader.Read(45, 10, scratch), data.data() + 45);
  // Backwards after a forward read still finds the right chunk.
  EXPECT_EQ(reader.Read(10, 5, scratch), data.data() + 10);
  // Across the boundary: a copy in the scratch buffer.
  const std::byte* across = reader.Read(38, 4, scratch);
  EXPECT_EQ(across, scratch);
  EXPECT_TRUE(std::equal(across, across + 4, data.begin() + 38));
}

TEST(ChunkedBytesTest, ReaderPartsAreTheChunksPartsInPlace) {
  const std::vector<std::byte> data = Iota(100);
  ChunkedBytes bytes({ByteSpan(data.data(), 40), ByteSpan(data.data() + 40, 20),
                      ByteSpan(data.data() + 60, 40)});
  ChunkedBytes::Reader reader(bytes);
  ByteSpan parts[3];
  ASSERT_EQ(reader.Parts(30, 50, parts, 3), 3u);
  EXPECT_EQ(parts[0].data(), data.data() + 30);
  EXPECT_EQ(parts[0].size(), 10u);
  EXPECT_EQ(parts[1].data(), data.data() + 40);
  EXPECT_EQ(parts[1].size(), 20u);
  EXPECT_EQ(parts[2].data(), data.data() + 60);
  EXPECT_EQ(parts[2].size(), 20u);
  ASSERT_EQ(reader.Parts(5, 10, parts, 3), 1u);
  EXPECT_EQ(parts[0].data(), data.data() + 5);
  // More parts than asked for: none.
  EXPECT_EQ(reader.Parts(30, 50, parts, 2), 0u);
}

TEST(ChunkedBytesTest, ReaderGivesNoPartsOfSharedBytes) {
  const std::vector<std::byte> data = Iota(100);
  ChunkedBytes bytes(
      {ByteSpan(data.data(), 40), ByteSpan(data.data() + 40, 60)},
      Sharing::kShared);
  ChunkedBytes::Reader reader(bytes);
  ByteSpan parts[2];
  EXPECT_EQ(reader.Parts(30, 20, parts, 2), 0u);
}

TEST(ChunkedBytesTest, ReaderMatchesDataForEveryRange) {
  const std::vector<std::byte> data = Iota(3000);
  Scattered scattered(data, 300, /*seed=*/2);
  ChunkedBytes::Reader reader(scattered.bytes());
  std::vector<std::byte> scratch(500);
  std::mt19937 rng(3);
  for (int i = 0; i < 2000; ++i) {
    const size_t length = rng() % 500;
    const size_t offset = rng() % (data.size() - length + 1);
    const std::byte* got = reader.Read(offset, length, scratch.data());
    ASSERT_TRUE(std::equal(got, got + length, data.begin() + offset))
        << offset << "+" << length;
  }
}

TEST(ChunkedTensorTest, ViewChecksTheByteCount) {
  const std::vector<std::byte> data = Iota(12);
  ChunkedBytes bytes({ByteSpan(data.data(), 5), ByteSpan(data.data() + 5, 7)});
  EXPECT_THAT(ChunkedTensor::View(DType::kFloat32, {3}, bytes, nullptr),
              IsOk());
  EXPECT_THAT(ChunkedTensor::View(DType::kFloat32, {4}, bytes, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has 12 bytes but a float32 tensor of shape "
                                 "[4] needs exactly 16")));
}

TEST(ChunkedTensorTest, MaterializeConcatenatesTheChunks) {
  const std::vector<std::byte> data = Iota(4096);
  Scattered scattered(data, 100, /*seed=*/4);
  absl::StatusOr<ChunkedTensor> chunked =
      ChunkedTensor::View(DType::kInt32, {32, 32}, scattered.bytes(), nullptr);
  ASSERT_THAT(chunked, IsOk());
  absl::StatusOr<Tensor> flat = chunked->Materialize();
  ASSERT_THAT(flat, IsOk());
  EXPECT_EQ(flat->shape(), Shape({32, 32}));
  EXPECT_TRUE(
      std::equal(flat->bytes().begin(), flat->bytes().end(), data.begin()));
}

// TopK of a chunked input equals TopK of the same bytes contiguous, for the
// plans read in place (rows along the last dim) and those that fall back to
// a copy (other dims, few long rows, rows over 1 MiB).
struct ChunkedCase {
  DType dtype;
  Shape shape;
  TopKOptions options;
  size_t max_chunk;
};

class ChunkedTopKTest : public ::testing::TestWithParam<ChunkedCase> {};

TEST_P(ChunkedTopKTest, MatchesContiguous) {
  const ChunkedCase& c = GetParam();
  CpuBackend backend(CpuBackendOptions{.num_threads = 2});
  const size_t n = static_cast<size_t>(*ByteSize(c.dtype, c.shape));
  std::vector<std::byte> data(n);
  std::mt19937 rng(5);
  // Few distinct values, so ties (and their lower-index-first order) occur.
  for (size_t i = 0; i < n; ++i) data[i] = static_cast<std::byte>(rng() % 64);
  if (c.dtype == DType::kFloat32) {
    for (size_t i = 0; i + 4 <= n; i += 4) {
      const float value = static_cast<float>(rng() % 1000) - 500.0f;
      std::memcpy(&data[i], &value, 4);
    }
  }
  absl::StatusOr<Tensor> contiguous =
      Tensor::CopyOf(c.dtype, c.shape, ByteSpan(data));
  ASSERT_THAT(contiguous, IsOk());
  absl::StatusOr<TopKResult> want = backend.TopK(*contiguous, c.options);
  ASSERT_THAT(want, IsOk());
  for (uint32_t seed : {11u, 12u}) {
    Scattered scattered(data, c.max_chunk, seed);
    absl::StatusOr<ChunkedTensor> chunked =
        ChunkedTensor::View(c.dtype, c.shape, scattered.bytes(), nullptr);
    ASSERT_THAT(chunked, IsOk());
    absl::StatusOr<TopKResult> got = backend.TopKOfChunks(*chunked, c.options);
    ASSERT_THAT(got, IsOk());
    EXPECT_EQ(got->values.shape(), want->values.shape());
    EXPECT_TRUE(std::equal(got->values.bytes().begin(),
                           got->values.bytes().end(),
                           want->values.bytes().begin()));
    EXPECT_TRUE(std::equal(got->indices.bytes().begin(),
                           got->indices.bytes().end(),
                           want->indices.bytes().begin()));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Plans, ChunkedTopKTest,
    ::testing::Values(
        // Rows read in place or gathered, chunks smaller and larger than rows.
        ChunkedCase{DType::kFloat32, {64, 1000}, {.k = 5}, 700},
        ChunkedCase{DType::kFloat32, {64, 1000}, {.k = 5}, 16384},
        ChunkedCase{DType::kFloat32,
                    {32, 300},
                    {.k = 300, .largest = false, .sorted = false},
                    1000},
        ChunkedCase{DType::kInt64, {100, 50}, {.k = 7, .sorted = false}, 333},
        ChunkedCase{DType::kInt8, {256, 33}, {.k = 3}, 50},
        ChunkedCase{DType::kFloat16, {16, 4096}, {.k = 200}, 5000},
        // Rows that span a few chunks, selected from their pieces in place,
        // elements split by chunk boundaries included.
        ChunkedCase{DType::kFloat32, {64, 1000}, {.k = 5}, 1500},
        ChunkedCase{DType::kFloat32,
                    {64, 1000},
                    {.k = 20, .largest = false, .sorted = false},
                    2500},
        ChunkedCase{DType::kFloat64, {32, 500}, {.k = 9}, 1001},
        ChunkedCase{DType::kInt8, {64, 400}, {.k = 3}, 120},
        ChunkedCase{
            DType::kFloat16, {32, 2000}, {.k = 31, .sorted = false}, 777},
        // Chunks smaller than an element, some rows in more than 16 chunks.
        ChunkedCase{DType::kFloat64, {64, 12}, {.k = 3}, 14},
        ChunkedCase{DType::kFloat32, {16, 200}, {.k = 5}, 9},
        // Fall back to a contiguous copy.
        ChunkedCase{DType::kFloat32, {300, 40}, {.k = 4, .dim = 0}, 100},
        ChunkedCase{DType::kFloat32, {2, 100000}, {.k = 10}, 9000},
        ChunkedCase{DType::kFloat64, {4, 140000}, {.k = 3}, 70000},
        ChunkedCase{DType::kFloat32, {}, {.k = 1}, 3},
        ChunkedCase{DType::kFloat32, {8, 0}, {.k = 0}, 3}));

// The backward scatter of chunked gradients and indices equals the scatter
// of the same bytes contiguous, for the plans read in place (dim the last)
// and those that fall back to a copy, private or shared.
struct ChunkedBackwardCase {
  DType dtype;
  Shape input_shape;
  int64_t dim;
  int64_t k;
  size_t max_chunk;
  Sharing sharing;
};

class ChunkedBackwardTest
    : public ::testing::TestWithParam<ChunkedBackwardCase> {};

TEST_P(ChunkedBackwardTest, MatchesContiguous) {
  const ChunkedBackwardCase& c = GetParam();
  CpuBackend backend(CpuBackendOptions{.num_threads = 2});
  const int64_t rank = static_cast<int64_t>(c.input_shape.size());
  const int64_t dim = c.dim < 0 ? c.dim + rank : c.dim;
  Shape grad_shape = c.input_shape;
  grad_shape[dim] = c.k;
  const int64_t count = *NumElements(grad_shape);
  std::mt19937 rng(9);
  // Indices drawn with repeats, so that "the last one in memory order
  // wins" is exercised.
  std::vector<int64_t> index_values(count);
  for (int64_t& index : index_values) index = rng() % c.input_shape[dim];
  std::vector<std::byte> grad_bytes(count * DTypeSize(c.dtype));
  for (std::byte& b : grad_bytes) b = static_cast<std::byte>(rng());
  std::vector<std::byte> index_bytes(count * 8);
  if (count > 0) {  // memcpy's pointers must not be null, even for 0 bytes
    std::memcpy(index_bytes.data(), index_values.data(), index_bytes.size());
  }
  absl::StatusOr<Tensor> grad =
      Tensor::CopyOf(c.dtype, grad_shape, ByteSpan(grad_bytes));
  absl::StatusOr<Tensor> indices =
      Tensor::CopyOf(DType::kInt64, grad_shape, ByteSpan(index_bytes));
  ASSERT_THAT(grad, IsOk());
  ASSERT_THAT(indices, IsOk());
  absl::StatusOr<Tensor> want =
      backend.TopKBackward(*grad, *indices, c.input_shape, c.dim);
  ASSERT_THAT(want, IsOk());
  Scattered grad_chunks(grad_bytes, c.max_chunk, /*seed=*/21);
  Scattered index_chunks(index_bytes, c.max_chunk, /*seed=*/22);
  absl::StatusOr<ChunkedTensor> chunked_grad = ChunkedTensor::View(
      c.dtype, grad_shape,
      ChunkedBytes(grad_chunks.bytes().chunks(), c.sharing), nullptr);
  absl::StatusOr<ChunkedTensor> chunked_indices = ChunkedTensor::View(
      DType::kInt64, grad_shape,
      ChunkedBytes(index_chunks.bytes().chunks(), c.sharing), nullptr);
  ASSERT_THAT(chunked_grad, IsOk());
  ASSERT_THAT(chunked_indices, IsOk());
  absl::StatusOr<Tensor> got = backend.TopKBackwardOfChunks(
      *chunked_grad, *chunked_indices, c.input_shape, c.dim);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->shape(), want->shape());
  EXPECT_TRUE(std::equal(got->bytes().begin(), got->bytes().end(),
                         want->bytes().begin(), want->bytes().end()));
}

INSTANTIATE_TEST_SUITE_P(
    Plans, ChunkedBackwardTest,
    ::testing::Values(
        // Rows read in place, chunks smaller and larger than rows.
        ChunkedBackwardCase{
            DType::kFloat32, {64, 1000}, -1, 50, 333, Sharing::kPrivate},
        ChunkedBackwardCase{
            DType::kFloat32, {64, 1000}, -1, 1000, 65536, Sharing::kPrivate},
        ChunkedBackwardCase{
            DType::kFloat16, {300, 40}, 1, 7, 50, Sharing::kShared},
        ChunkedBackwardCase{
            DType::kFloat64, {5, 4, 300}, 2, 300, 4000, Sharing::kShared},
        ChunkedBackwardCase{
            DType::kBFloat16, {128, 3}, -1, 1, 5, Sharing::kPrivate},
        // Fall back to contiguous copies: dim not the last, no gradient.
        ChunkedBackwardCase{
            DType::kFloat32, {300, 40}, 0, 4, 100, Sharing::kPrivate},
        ChunkedBackwardCase{
            DType::kFloat32, {30, 40, 5}, 1, 40, 700, Sharing::kShared},
        ChunkedBackwardCase{
            DType::kFloat32, {8, 10}, -1, 0, 3, Sharing::kPrivate}));

TEST(ChunkedBackwardTest, OutOfRangeIndexNamesTheFirstAndItsValue) {
  CpuBackend backend(CpuBackendOptions{.num_threads = 2});
  const Shape grad_shape = {400, 8};
  std::vector<int64_t> index_values(400 * 8, 3);
  index_values[2000] = 10;  // the first bad one
  index_values[3001] = -1;
  std::vector<std::byte> index_bytes(index_values.size() * 8);
  std::memcpy(index_bytes.data(), index_values.data(), index_bytes.size());
  const std::vector<std::byte> grad_bytes(index_values.size() * 4);
  Scattered grad_chunks(grad_bytes, 100, /*seed=*/31);
  Scattered index_chunks(index_bytes, 100, /*seed=*/32);
  absl::StatusOr<ChunkedTensor> grad = ChunkedTensor::View(
      DType::kFloat32, grad_shape, grad_chunks.bytes(), nullptr);
  absl::StatusOr<ChunkedTensor> indices = ChunkedTensor::View(
      DType::kInt64, grad_shape, index_chunks.bytes(), nullptr);
  ASSERT_THAT(grad, IsOk());
  ASSERT_THAT(indices, IsOk());
  EXPECT_THAT(
      backend.TopKBackwardOfChunks(*grad, *indices, {400, 10}, -1),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("indices element 2000 (flat, row-major) is 10, out of "
                         "range for dimension 1")));
}

}  // namespace
}  // namespace tensorops
