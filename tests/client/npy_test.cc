#include "client/cli/npy.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops::client {
namespace {

using ::tensorops::testing::IsOk;
using ::tensorops::testing::MakeTensor;
using ::tensorops::testing::StatusIs;
using ::tensorops::testing::Values;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A .npy file as NumPy writes it, with `header` padded to 64 bytes.
std::string NpyFile(absl::string_view header, absl::string_view data,
                    int version = 1) {
  std::string text(header);
  const size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + text.size() + 1) % 64 != 0) text += ' ';
  text += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(version);
  out += '\0';
  for (size_t i = 0; i < (version == 1 ? 2u : 4u); ++i) {
    out += static_cast<char>((text.size() >> (8 * i)) & 0xff);
  }
  return absl::StrCat(out, text, data);
}

TEST(NpyTest, EncodesTheHeaderNumPyWrites) {
  const std::string bytes =
      EncodeNpy(MakeTensor<float>(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6}));
  EXPECT_THAT(bytes,
              StartsWith(absl::StrCat("\x93NUMPY\x01", std::string(1, '\0'))));
  const size_t header_size =
      static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8;
  EXPECT_EQ((10 + header_size) % 64, 0u);
  const std::string header = bytes.substr(10, header_size);
  EXPECT_THAT(header, StartsWith("{'descr': '<f4', 'fortran_order': False, "
                                 "'shape': (2, 3), }"));
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(bytes.size(), 10 + header_size + 24);
}

TEST(NpyTest, RoundTripsEveryDType) {
  for (DType dtype : kAllDTypes) {
    absl::StatusOr<Tensor> tensor = Tensor::Allocate(dtype, {3, 1});
    ASSERT_THAT(tensor.status(), IsOk());
    for (size_t b = 0; b < tensor->byte_size(); ++b) {
      tensor->mutable_data()[b] = static_cast<std::byte>(b % 2);
    }
    absl::StatusOr<Tensor> decoded = DecodeNpy(EncodeNpy(*tensor));
    ASSERT_THAT(decoded.status(), IsOk()) << DTypeName(dtype);
    EXPECT_EQ(decoded->dtype(), dtype);
    EXPECT_EQ(decoded->shape(), tensor->shape());
    EXPECT_EQ(std::memcmp(decoded->data(), tensor->data(), tensor->byte_size()),
              0);
  }
}

TEST(NpyTest, RoundTripsScalarsAndEmptyTensors) {
  absl::StatusOr<Tensor> scalar =
      DecodeNpy(EncodeNpy(MakeTensor<int64_t>(DType::kInt64, {}, {42})));
  ASSERT_THAT(scalar.status(), IsOk());
  EXPECT_EQ(scalar->shape(), Shape{});
  EXPECT_THAT(Values<int64_t>(*scalar), ElementsAre(42));
  absl::StatusOr<Tensor> empty =
      DecodeNpy(EncodeNpy(MakeTensor<double>(DType::kFloat64, {0, 4}, {})));
  ASSERT_THAT(empty.status(), IsOk());
  EXPECT_EQ(empty->shape(), (Shape{0, 4}));
}

TEST(NpyTest, DecodesVersion2AndOtherSpellings) {
  const std::string data("\x01\x00\x02\x00", 4);
  absl::StatusOr<Tensor> v2 = DecodeNpy(
      NpyFile("{\"descr\": \"<i2\", \"fortran_order\": False, \"shape\": (2,)}",
              data, 2));
  ASSERT_THAT(v2.status(), IsOk());
  EXPECT_THAT(Values<int16_t>(*v2), ElementsAre(1, 2));
  absl::StatusOr<Tensor> keys_reordered = DecodeNpy(NpyFile(
      "{'shape': (4L,), 'fortran_order': False, 'descr': '|u1',}", data));
  ASSERT_THAT(keys_reordered.status(), IsOk());
  EXPECT_THAT(Values<uint8_t>(*keys_reordered), ElementsAre(1, 0, 2, 0));
  absl::StatusOr<Tensor> bfloat16 = DecodeNpy(NpyFile(
      "{'descr': '<V2', 'fortran_order': False, 'shape': (2,), }", data));
  ASSERT_THAT(bfloat16.status(), IsOk());
  EXPECT_EQ(bfloat16->dtype(), DType::kBFloat16);
}

TEST(NpyTest, RejectsWhatItCannotRead) {
  const std::string four_bytes(4, '\0');
  const struct {
    std::string file;
    const char* message;
  } cases[] = {
      {"not a numpy file", "magic"},
      {NpyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }",
               four_bytes),
       "Fortran order"},
      {NpyFile("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
               four_bytes),
       "big-endian"},
      {NpyFile("{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }",
               four_bytes),
       "not supported"},
      {NpyFile("{'descr': [('a', '<f4')], 'fortran_order': False, "
               "'shape': (1,), }",
               four_bytes),
       "structured"},
      {NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
               four_bytes),
       "needs 8"},
      {NpyFile("{'descr': '<f4', 'shape': (1,), }", four_bytes), "required"},
      {NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
               four_bytes)
           .substr(0, 20),
       "truncated"},
  };
  for (const auto& [file, message] : cases) {
    EXPECT_THAT(
        DecodeNpy(file).status(),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)))
        << message;
  }
}

// Files are mapped on reading (the tensor views the map) and written from
// the tensor in pieces; what comes back is what went in.
TEST(NpyFileTest, RoundTripsThroughFiles) {
  const std::string dir = ::testing::TempDir();
  std::vector<float> values(3 * 70000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.5f * i;
  const std::string path = absl::StrCat(dir, "/npy_file_test.npy");
  for (const Tensor& tensor :
       {MakeTensor<float>(DType::kFloat32, {3, 70000}, values),
        MakeTensor<int64_t>(DType::kInt64, {}, {7}),
        MakeTensor<double>(DType::kFloat64, {0, 3}, {})}) {
    ASSERT_THAT(WriteNpyFile(path, tensor), IsOk());
    absl::StatusOr<Tensor> read = ReadNpyFile(path);
    ASSERT_THAT(read.status(), IsOk());
    std::remove(path.c_str());  // the map outlives the name
    EXPECT_EQ(read->dtype(), tensor.dtype());
    EXPECT_EQ(read->shape(), tensor.shape());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(read->data()),
                          read->byte_size()),
              std::string(reinterpret_cast<const char*>(tensor.data()),
                          tensor.byte_size()));
  }
  EXPECT_THAT(ReadNpyFile(absl::StrCat(dir, "/no-such-file.npy")).status(),
              StatusIs(absl::StatusCode::kNotFound));
  const std::string broken = absl::StrCat(dir, "/npy_file_test_broken.npy");
  ASSERT_THAT(
      WriteNpyFile(broken, MakeTensor<float>(DType::kFloat32, {1}, {1})),
      IsOk());
  ASSERT_EQ(truncate(broken.c_str(), 70), 0);
  EXPECT_THAT(ReadNpyFile(broken).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("npy_file_test_broken.npy: ")));
  std::remove(broken.c_str());
}

}  // namespace
}  // namespace tensorops::client
