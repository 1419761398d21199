// Lifting a request's tensor payload out of its wire bytes: whatever the
// message, parsing the rest and taking the lifted bytes as the field gives
// exactly what protobuf gives for the whole message.
#include "proto/lifted_field.h"

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::wire {
namespace {

namespace v1 = ::tensorops::v1;
using google::protobuf::util::MessageDifferencer;

// `wire` as chunks of at most `max_chunk` bytes (some empty).
class Chunked {
 public:
  Chunked(std::string wire, size_t max_chunk, uint32_t seed)
      : wire_(std::move(wire)) {
    std::mt19937 rng(seed);
    std::vector<absl::Span<const std::byte>> chunks;
    const auto* base = reinterpret_cast<const std::byte*>(wire_.data());
    for (size_t at = 0; at < wire_.size();) {
      const size_t length =
          std::min<size_t>(rng() % (max_chunk + 1), wire_.size() - at);
      chunks.emplace_back(base + at, length);
      at += length;
    }
    bytes_ = ChunkedBytes(std::move(chunks));
  }
  const ChunkedBytes& bytes() const { return bytes_; }

 private:
  std::string wire_;
  ChunkedBytes bytes_;
};

std::string Concat(const ChunkedBytes& bytes) {
  std::string out(bytes.size(), '\0');
  bytes.CopyTo(0, bytes.size(), reinterpret_cast<std::byte*>(out.data()));
  return out;
}

v1::TopKRequest Request(size_t data_bytes) {
  v1::TopKRequest request;
  v1::Tensor* input = request.mutable_input();
  input->set_dtype(v1::DTYPE_FLOAT32);
  input->add_shape(static_cast<int64_t>(data_bytes / 4));
  std::string data(data_bytes, '\0');
  for (size_t i = 0; i < data_bytes; ++i) data[i] = static_cast<char>(i * 13);
  input->set_data(data);
  request.set_k(3);
  request.set_dim(-1);
  request.set_sorted(false);
  request.set_save_for_backward(true);
  return request;
}

// The property: lifting agrees with protobuf on `wire`, or declines.
void ExpectAgreesWithProtobuf(const std::string& wire, size_t max_chunk,
                              bool expect_lifted) {
  Chunked chunked(wire, max_chunk, /*seed=*/7);
  std::optional<LiftedMessage> lifted =
      LiftBytesFields(chunked.bytes(), {kInputDataPath});
  ASSERT_EQ(lifted.has_value(), expect_lifted);
  if (!lifted.has_value()) return;
  v1::TopKRequest whole;
  v1::TopKRequest rest;
  const bool whole_ok = whole.ParseFromString(wire);
  const bool rest_ok = rest.ParseFromString(lifted->rest);
  ASSERT_EQ(whole_ok, rest_ok);
  if (!whole_ok) return;
  EXPECT_TRUE(rest.input().data().empty());
  if (lifted->fields[0].has_value()) {
    rest.mutable_input()->set_data(Concat(*lifted->fields[0]));
  }
  EXPECT_TRUE(MessageDifferencer::Equals(rest, whole))
      << rest.ShortDebugString().substr(0, 300) << "\nvs\n"
      << whole.ShortDebugString().substr(0, 300);
}

TEST(LiftedFieldTest, LiftsTheTensorDataAndKeepsEverythingElse) {
  const v1::TopKRequest request = Request(100000);
  Chunked chunked(request.SerializeAsString(), 4096, /*seed=*/1);
  std::optional<LiftedMessage> lifted =
      LiftBytesFields(chunked.bytes(), {kInputDataPath});
  ASSERT_TRUE(lifted.has_value());
  ASSERT_TRUE(lifted->fields[0].has_value());
  EXPECT_EQ(Concat(*lifted->fields[0]), request.input().data());
  EXPECT_GT(lifted->fields[0]->chunks().size(), 20u);  // in place, not copied
  EXPECT_LT(lifted->rest.size(), 64u);
  v1::TopKRequest rest;
  ASSERT_TRUE(rest.ParseFromString(lifted->rest));
  EXPECT_EQ(rest.input().shape(0), 25000);
  EXPECT_EQ(rest.k(), 3);
  EXPECT_TRUE(rest.has_dim());
  EXPECT_FALSE(rest.sorted());
  EXPECT_TRUE(rest.save_for_backward());
  ExpectAgreesWithProtobuf(request.SerializeAsString(), 4096, true);
}

TEST(LiftedFieldTest, AbsentFieldIsNullopt) {
  v1::TopKRequest request = Request(0);
  Chunked chunked(request.SerializeAsString(), 3, /*seed=*/2);
  std::optional<LiftedMessage> lifted =
      LiftBytesFields(chunked.bytes(), {kInputDataPath});
  ASSERT_TRUE(lifted.has_value());
  EXPECT_FALSE(lifted->fields[0].has_value());
  EXPECT_EQ(lifted->rest, request.SerializeAsString());
}

TEST(LiftedFieldTest, RepeatedOccurrencesMergeAsProtobufDoes) {
  // A message field given twice is merged; a bytes field keeps its last.
  const std::string first = Request(4000).SerializeAsString();
  v1::TopKRequest second;
  second.mutable_input()->add_shape(7);
  second.set_k(9);
  ExpectAgreesWithProtobuf(first + second.SerializeAsString(), 100, true);
  v1::TopKRequest third = Request(800);
  third.mutable_input()->set_data(std::string(800, 'z'));
  ExpectAgreesWithProtobuf(first + third.SerializeAsString(), 100, true);
}

TEST(LiftedFieldTest, OtherWireTypesForTheFieldStayForProtobuf) {
  // input.data (field 3) as a varint, and input itself as a fixed32: both
  // are unknown fields to protobuf, and stay in the rest.
  std::string wire = Request(40).SerializeAsString();
  wire += std::string("\x0a\x02\x18\x05", 4);      // input { 3: varint 5 }
  wire += std::string("\x0d\x01\x02\x03\x04", 5);  // 1: fixed32
  ExpectAgreesWithProtobuf(wire, 5, true);
}

TEST(LiftedFieldTest, DeclinesWhatItDoesNotUnderstand) {
  const std::string wire = Request(400).SerializeAsString();
  // Truncated in the middle of the data.
  ExpectAgreesWithProtobuf(wire.substr(0, 200), 64, false);
  // A group (wire type 3) and an invalid wire type (7).
  ExpectAgreesWithProtobuf(wire + std::string("\x3b\x3c", 2), 64, false);
  ExpectAgreesWithProtobuf(wire + std::string("\x3f", 1), 64, false);
  // Field number 0.
  ExpectAgreesWithProtobuf(std::string("\x00\x01", 2) + wire, 64, false);
  // A length of 0 written in 8 bytes (protobuf reads lengths in at most 5):
  // found by the fuzzer, when the walk re-encoded it as a valid length.
  ExpectAgreesWithProtobuf(
      std::string("\x0a\x80\x80\x80\x80\x80\x80\x80\x00\x40\x04\x10\x09", 13),
      64, false);
  // An 11-byte varint.
  ExpectAgreesWithProtobuf(
      wire + "\x10" + std::string(10, '\xff') + std::string("\x01", 1), 64,
      false);
}

v1::BackwardRequest BackwardWithPayloads(size_t grad_bytes,
                                         size_t index_bytes) {
  v1::BackwardRequest request;
  v1::Tensor* grad = request.mutable_grad_values();
  grad->set_dtype(v1::DTYPE_FLOAT32);
  grad->add_shape(static_cast<int64_t>(grad_bytes / 4));
  grad->set_data(std::string(grad_bytes, 'g'));
  v1::Tensor* indices = request.mutable_indices();
  indices->set_dtype(v1::DTYPE_INT64);
  indices->add_shape(static_cast<int64_t>(index_bytes / 8));
  std::string index_data(index_bytes, '\0');
  for (size_t i = 0; i < index_bytes; ++i) {
    index_data[i] = static_cast<char>(i * 7);
  }
  indices->set_data(index_data);
  request.add_input_shape(9);
  request.set_dim(0);
  request.set_retain_session(true);
  return request;
}

TEST(LiftedFieldTest, LiftsSeveralFieldsInOneWalk) {
  const v1::BackwardRequest request = BackwardWithPayloads(40000, 80000);
  const std::string wire = request.SerializeAsString();
  Chunked chunked(wire, 2048, /*seed=*/5);
  const FieldPath paths[] = {kGradValuesDataPath, kIndicesDataPath};
  std::optional<LiftedMessage> lifted = LiftBytesFields(chunked.bytes(), paths);
  ASSERT_TRUE(lifted.has_value());
  ASSERT_EQ(lifted->fields.size(), 2u);
  ASSERT_TRUE(lifted->fields[0].has_value());
  ASSERT_TRUE(lifted->fields[1].has_value());
  EXPECT_EQ(Concat(*lifted->fields[0]), request.grad_values().data());
  EXPECT_EQ(Concat(*lifted->fields[1]), request.indices().data());
  EXPECT_LT(lifted->rest.size(), 64u);  // neither payload copied into it
  v1::BackwardRequest rest;
  ASSERT_TRUE(rest.ParseFromString(lifted->rest));
  rest.mutable_grad_values()->set_data(Concat(*lifted->fields[0]));
  rest.mutable_indices()->set_data(Concat(*lifted->fields[1]));
  EXPECT_TRUE(MessageDifferencer::Equals(rest, request));
}

TEST(LiftedFieldTest, EachPathsAbsenceIsItsOwn) {
  v1::BackwardRequest request = BackwardWithPayloads(400, 800);
  request.clear_indices();
  Chunked chunked(request.SerializeAsString(), 64, /*seed=*/6);
  const FieldPath paths[] = {kGradValuesDataPath, kIndicesDataPath};
  std::optional<LiftedMessage> lifted = LiftBytesFields(chunked.bytes(), paths);
  ASSERT_TRUE(lifted.has_value());
  EXPECT_TRUE(lifted->fields[0].has_value());
  EXPECT_FALSE(lifted->fields[1].has_value());
}

TEST(LiftedFieldTest, DeclinesPathsThatAreEmptyOrPrefixesOfOthers) {
  Chunked chunked(Request(400).SerializeAsString(), 64, /*seed=*/8);
  const int input_only[] = {v1::TopKRequest::kInputFieldNumber};
  const FieldPath nested[] = {kInputDataPath, input_only};
  EXPECT_FALSE(LiftBytesFields(chunked.bytes(), nested).has_value());
  const FieldPath empty[] = {FieldPath()};
  EXPECT_FALSE(LiftBytesFields(chunked.bytes(), empty).has_value());
  EXPECT_FALSE(LiftBytesFields(chunked.bytes(), {}).has_value());
}

TEST(LiftedFieldTest, RandomlyDamagedMessagesAgreeWithProtobuf) {
  const std::string valid = Request(300).SerializeAsString();
  std::mt19937 rng(42);
  int lifted_count = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string wire = valid;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % wire.size();
      switch (rng() % 3) {
        case 0:
          wire[at] = static_cast<char>(rng());
          break;
        case 1:
          wire.erase(at, 1 + rng() % 4);
          break;
        default:
          wire.insert(at, 1, static_cast<char>(rng()));
      }
      if (wire.empty()) wire = valid;
    }
    Chunked chunked(wire, 1 + rng() % 64, static_cast<uint32_t>(i));
    std::optional<LiftedMessage> lifted =
        LiftBytesFields(chunked.bytes(), {kInputDataPath});
    if (!lifted.has_value()) continue;
    ++lifted_count;
    v1::TopKRequest whole;
    v1::TopKRequest rest;
    const bool whole_ok = whole.ParseFromString(wire);
    ASSERT_EQ(rest.ParseFromString(lifted->rest), whole_ok) << i;
    if (!whole_ok) continue;
    if (lifted->fields[0].has_value()) {
      rest.mutable_input()->set_data(Concat(*lifted->fields[0]));
    }
    ASSERT_TRUE(MessageDifferencer::Equals(rest, whole)) << i;
  }
  EXPECT_GT(lifted_count, 500);  // the property was exercised
}

}  // namespace
}  // namespace tensorops::wire
