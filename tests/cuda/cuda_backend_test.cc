// The CUDA backend against the CPU backend: identical bytes for fills, topk
// (values and indices) and topk backward on random cases with NaN, signed
// zeros, infinities, heavy ties and zero-size shapes. Skips without a GPU.
#include "core/cuda/cuda_backend.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/cpu/cpu_backend.h"
#include "core/shape.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace tensorops {
namespace {

using ::tensorops::testing::StatusIs;
using ::testing::HasSubstr;

TEST(CudaBackendFactoryTest, ReportsWhyWhenUnavailable) {
  absl::StatusOr<std::unique_ptr<Backend>> backend = MakeCudaBackend();
  if (backend.ok()) {
    EXPECT_EQ((*backend)->name(), "cuda");
    GTEST_SKIP() << "a CUDA GPU is present; the no-GPU error path is not "
                    "reachable here";
  }
  if (CudaBackendBuilt()) {
    EXPECT_THAT(backend.status(),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("no CUDA device: ")));
  } else {
    EXPECT_THAT(backend.status(), StatusIs(absl::StatusCode::kUnimplemented,
                                           HasSubstr("built without CUDA")));
  }
}

TEST(CudaBackendFactoryTest, RejectsADeviceOrdinalOutOfRange) {
  EXPECT_FALSE(MakeCudaBackend({.device = 1 << 20}).ok());
}

class CudaVsCpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Backend>> backend = MakeCudaBackend();
    if (!backend.ok()) {
      GTEST_SKIP() << "no usable CUDA GPU, CPU-vs-GPU comparison skipped: "
                   << backend.status();
    }
    gpu_ = *std::move(backend);
  }

  // Random bytes for `n` elements of `dtype`, drawn from a small pool of
  // values per dtype (so ties are frequent) that includes the edge cases.
  std::vector<std::byte> RandomElements(DType dtype, int64_t n) {
    std::vector<uint64_t> pool;
    switch (dtype) {
      case DType::kFloat32:
        pool = {0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000,
                0xff800000, 0x7fc00000, 0xffc00001, 0x00000001, 0x40490fdb};
        break;
      case DType::kFloat64:
        pool = {0,
                0x8000000000000000ull,
                0x3ff0000000000000ull,
                0xbff0000000000000ull,
                0x7ff0000000000000ull,
                0xfff0000000000000ull,
                0x7ff8000000000000ull,
                0xfff8000000000123ull,
                1};
        break;
      case DType::kFloat16:
        pool = {0x0000, 0x8000, 0x3c00, 0xbc00, 0x7c00,
                0xfc00, 0x7e00, 0xfe01, 0x0001};
        break;
      case DType::kBFloat16:
        pool = {0x0000, 0x8000, 0x3f80, 0xbf80, 0x7f80,
                0xff80, 0x7fc0, 0xffc1, 0x0001};
        break;
      default:
        pool = {0,
                1,
                2,
                3,
                static_cast<uint64_t>(-1),
                static_cast<uint64_t>(-7),
                0x7f,
                0x80};
        break;
    }
    const size_t size = DTypeSize(dtype);
    std::vector<std::byte> bytes(static_cast<size_t>(n) * size);
    std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
    std::uniform_int_distribution<uint64_t> any;
    for (int64_t i = 0; i < n; ++i) {
      // Mostly pool values, sometimes arbitrary bits for variety.
      const uint64_t bits = rng_() % 4 == 0 ? any(rng_) : pool[pick(rng_)];
      std::memcpy(bytes.data() + i * size, &bits, size);
    }
    return bytes;
  }

  Tensor RandomTensor(DType dtype, const Shape& shape) {
    const std::vector<std::byte> bytes =
        RandomElements(dtype, *NumElements(shape));
    absl::StatusOr<Tensor> tensor = Tensor::CopyOf(dtype, shape, bytes);
    EXPECT_TRUE(tensor.ok()) << tensor.status();
    return *tensor;
  }

  static void ExpectSameBytes(const Tensor& expected, const Tensor& actual,
                              const std::string& what) {
    ASSERT_EQ(expected.dtype(), actual.dtype()) << what;
    ASSERT_EQ(expected.shape(), actual.shape()) << what;
    ASSERT_EQ(expected.byte_size(), actual.byte_size()) << what;
    EXPECT_EQ(std::memcmp(expected.data(), actual.data(), expected.byte_size()),
              0)
        << what;
  }

  CpuBackend cpu_{CpuBackendOptions{.num_threads = 2}};
  std::unique_ptr<Backend> gpu_;
  std::mt19937_64 rng_{20261127};
};

constexpr DType kTopKDTypes[] = {
    DType::kFloat32,  DType::kFloat64, DType::kFloat16,
    DType::kBFloat16, DType::kInt8,    DType::kInt16,
    DType::kInt32,    DType::kInt64,   DType::kUInt8};

TEST_F(CudaVsCpuTest, FillsMatchForEveryDType) {
  const std::vector<Shape> shapes = {{}, {0}, {3, 0, 2}, {7}, {129, 33}};
  for (DType dtype : kAllDTypes) {
    for (const Shape& shape : shapes) {
      const std::string what =
          absl::StrCat(DTypeName(dtype), " ", ShapeToString(shape));
      absl::StatusOr<Tensor> cpu_zeros = cpu_.Zeros(dtype, shape);
      absl::StatusOr<Tensor> gpu_zeros = gpu_->Zeros(dtype, shape);
      ASSERT_TRUE(cpu_zeros.ok() && gpu_zeros.ok()) << what;
      ExpectSameBytes(*cpu_zeros, *gpu_zeros, "zeros " + what);
      absl::StatusOr<Tensor> cpu_ones = cpu_.Ones(dtype, shape);
      absl::StatusOr<Tensor> gpu_ones = gpu_->Ones(dtype, shape);
      ASSERT_TRUE(cpu_ones.ok() && gpu_ones.ok()) << what;
      ExpectSameBytes(*cpu_ones, *gpu_ones, "ones " + what);
    }
  }
}

// A random shape of rank 0 to 3; `long_slice` makes one dimension long
// enough to be split across several blocks.
Shape RandomShape(std::mt19937_64& rng, bool long_slice) {
  const int rank = static_cast<int>(rng() % 4);
  Shape shape;
  for (int d = 0; d < rank; ++d) {
    shape.push_back(rng() % 10 == 0 ? 0 : 1 + static_cast<int64_t>(rng() % 40));
  }
  if (long_slice && rank > 0) shape[rng() % rank] = 20000 + rng() % 150000;
  return shape;
}

TEST_F(CudaVsCpuTest, TopKMatchesOnRandomCases) {
  int compared = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const DType dtype = kTopKDTypes[trial % std::size(kTopKDTypes)];
    const Shape shape = RandomShape(rng_, /*long_slice=*/trial % 8 == 0);
    const int64_t rank = static_cast<int64_t>(shape.size());
    TopKOptions options;
    options.dim = rank == 0 ? 0 : static_cast<int64_t>(rng_() % rank);
    const int64_t size = rank == 0 ? 1 : shape[options.dim];
    // k: 0, 1, all, or anything in between.
    switch (rng_() % 4) {
      case 0:
        options.k = std::min<int64_t>(size, 1);
        break;
      case 1:
        options.k = size;
        break;
      default:
        options.k = static_cast<int64_t>(rng_() % (size + 1));
        break;
    }
    if (rng_() % 2) options.dim -= rank == 0 ? 1 : rank;  // negative dims
    options.largest = rng_() % 2;
    options.sorted = rng_() % 3 != 0;
    const Tensor input = RandomTensor(dtype, shape);
    const std::string what = absl::StrCat(
        "trial ", trial, ": ", DTypeName(dtype), " ", ShapeToString(shape),
        " k=", options.k, " dim=", options.dim, " largest=", options.largest,
        " sorted=", options.sorted);
    absl::StatusOr<TopKResult> expected = cpu_.TopK(input, options);
    absl::StatusOr<TopKResult> actual = gpu_->TopK(input, options);
    ASSERT_TRUE(expected.ok()) << what << ": " << expected.status();
    ASSERT_TRUE(actual.ok()) << what << ": " << actual.status();
    ExpectSameBytes(expected->values, actual->values, "values " + what);
    ExpectSameBytes(expected->indices, actual->indices, "indices " + what);
    ++compared;
  }
  EXPECT_EQ(compared, 400);
}

TEST_F(CudaVsCpuTest, TopKRejectsWhatTheCpuRejects) {
  const Tensor input = RandomTensor(DType::kFloat32, {4, 5});
  const Tensor flags = RandomTensor(DType::kBool, {4});
  for (const TopKOptions& options :
       {TopKOptions{.k = 6}, TopKOptions{.k = -1}, TopKOptions{.dim = 2}}) {
    absl::StatusOr<TopKResult> cpu = cpu_.TopK(input, options);
    absl::StatusOr<TopKResult> gpu = gpu_->TopK(input, options);
    EXPECT_EQ(cpu.status(), gpu.status());
  }
  EXPECT_EQ(cpu_.TopK(flags, {}).status(), gpu_->TopK(flags, {}).status());
}

TEST_F(CudaVsCpuTest, BackwardMatchesOnRandomCases) {
  constexpr DType kGradDTypes[] = {DType::kFloat32, DType::kFloat64,
                                   DType::kFloat16, DType::kBFloat16};
  for (int trial = 0; trial < 200; ++trial) {
    const DType dtype = kGradDTypes[trial % 4];
    Shape input_shape = RandomShape(rng_, /*long_slice=*/trial % 10 == 0);
    if (input_shape.empty())
      input_shape = {1 + static_cast<int64_t>(rng_() % 9)};
    const int64_t rank = static_cast<int64_t>(input_shape.size());
    const int64_t dim = static_cast<int64_t>(rng_() % rank);
    const int64_t size = input_shape[dim];
    Shape grad_shape = input_shape;
    grad_shape[dim] = size == 0 ? 0 : static_cast<int64_t>(rng_() % (size + 1));
    const Tensor grad = RandomTensor(dtype, grad_shape);
    // Random indices, duplicates included (the last one must win); every
    // 20th case has one out of range.
    std::vector<int64_t> index_values(*NumElements(grad_shape));
    for (int64_t& index : index_values) {
      index = static_cast<int64_t>(rng_() % std::max<int64_t>(size, 1));
    }
    if (trial % 20 == 19 && !index_values.empty()) {
      index_values[rng_() % index_values.size()] = size + 3;
    }
    absl::StatusOr<Tensor> indices =
        Tensor::CopyOf(DType::kInt64, grad_shape,
                       {reinterpret_cast<const std::byte*>(index_values.data()),
                        index_values.size() * sizeof(int64_t)});
    ASSERT_TRUE(indices.ok());
    const std::string what =
        absl::StrCat("trial ", trial, ": ", DTypeName(dtype), " input ",
                     ShapeToString(input_shape), " grad ",
                     ShapeToString(grad_shape), " dim=", dim);
    absl::StatusOr<Tensor> expected =
        cpu_.TopKBackward(grad, *indices, input_shape, dim);
    absl::StatusOr<Tensor> actual =
        gpu_->TopKBackward(grad, *indices, input_shape, dim);
    ASSERT_EQ(expected.status(), actual.status()) << what;
    if (expected.ok()) ExpectSameBytes(*expected, *actual, what);
  }
}

}  // namespace
}  // namespace tensorops
