// The service's own (de)serialization: requests parsed from received slices
// with their payload left in place, and responses sent with result tensors
// as their own slices. Both must mean exactly what protobuf means.
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstddef>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "proto/lifted_field.h"
#include "proto/outgoing_message.h"
#include "proto/tensor_codec.h"
#include "server/received_request.h"
#include "tensorops/v1/tensor_ops.pb.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops::server {
namespace {

namespace v1 = ::tensorops::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::tensorops::testing::IsOk;
using ::tensorops::testing::StatusIs;
using ::testing::HasSubstr;

// `wire` split into slices of `slice_bytes`, as gRPC receives a message.
grpc::ByteBuffer Sliced(const std::string& wire, size_t slice_bytes) {
  std::vector<grpc::Slice> slices;
  for (size_t at = 0; at < wire.size(); at += slice_bytes) {
    slices.emplace_back(wire.substr(at, slice_bytes));
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

v1::TopKRequest LargeRequest(size_t floats) {
  v1::TopKRequest request;
  request.mutable_input()->set_dtype(v1::DTYPE_FLOAT32);
  request.mutable_input()->add_shape(static_cast<int64_t>(floats));
  std::string data(floats * 4, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i % 251);
  request.mutable_input()->set_data(data);
  request.set_k(5);
  return request;
}

constexpr wire::FieldPath kInputPaths[] = {wire::kInputDataPath};

TEST(ParseRequestTest, LargeRequestKeepsItsPayloadInTheSlices) {
  const v1::TopKRequest sent = LargeRequest(100000);
  const grpc::ByteBuffer wire = Sliced(sent.SerializeAsString(), 16384);
  v1::TopKRequest parsed;
  ReceivedPayload payload;
  ASSERT_THAT(ParseRequest(wire, kInputPaths, kLiftMinBytes, &parsed, &payload),
              IsOk());
  ASSERT_TRUE(payload.Lifted(0).has_value());
  EXPECT_TRUE(parsed.input().data().empty());
  EXPECT_EQ(parsed.k(), 5);
  EXPECT_GT(payload.slices.size(), 20u);
  std::string lifted(payload.Lifted(0)->size(), '\0');
  payload.Lifted(0)->CopyTo(0, lifted.size(),
                            reinterpret_cast<std::byte*>(lifted.data()));
  EXPECT_EQ(lifted, sent.input().data());
  // The lifted bytes are the received slices' own memory.
  const auto* first = payload.Lifted(0)->chunks().front().data();
  bool in_a_slice = false;
  for (const grpc::Slice& slice : payload.slices) {
    const auto* begin = reinterpret_cast<const std::byte*>(slice.begin());
    in_a_slice |= first >= begin && first < begin + slice.size();
  }
  EXPECT_TRUE(in_a_slice);
}

TEST(ParseRequestTest, LargeBackwardLiftsBothTensorsInPlace) {
  v1::BackwardRequest sent;
  sent.mutable_grad_values()->set_dtype(v1::DTYPE_FLOAT32);
  sent.mutable_grad_values()->add_shape(50000);
  sent.mutable_grad_values()->set_data(std::string(200000, 'g'));
  sent.mutable_indices()->set_dtype(v1::DTYPE_INT64);
  sent.mutable_indices()->add_shape(50000);
  sent.mutable_indices()->set_data(std::string(400000, 'i'));
  sent.add_input_shape(60000);
  const wire::FieldPath paths[] = {wire::kGradValuesDataPath,
                                   wire::kIndicesDataPath};
  v1::BackwardRequest parsed;
  ReceivedPayload payload;
  ASSERT_THAT(ParseRequest(Sliced(sent.SerializeAsString(), 16384), paths,
                           kLiftMinBytes, &parsed, &payload),
              IsOk());
  ASSERT_TRUE(payload.Lifted(0).has_value());
  ASSERT_TRUE(payload.Lifted(1).has_value());
  EXPECT_FALSE(payload.Lifted(2).has_value());  // no such path
  EXPECT_TRUE(parsed.grad_values().data().empty());
  EXPECT_TRUE(parsed.indices().data().empty());
  EXPECT_THAT(parsed.input_shape(), ::testing::ElementsAre(60000));
  EXPECT_EQ(payload.Lifted(0)->size(), 200000u);
  EXPECT_EQ(payload.Lifted(1)->size(), 400000u);
  EXPECT_GT(payload.Lifted(1)->chunks().size(), 20u);  // in place
}

TEST(ParseRequestTest, SmallRequestsAndNoPathParseWhole) {
  const v1::TopKRequest sent = LargeRequest(1000);
  for (const auto& [path, min_bytes] :
       std::vector<std::pair<absl::Span<const wire::FieldPath>, int64_t>>{
           {kInputPaths, kLiftMinBytes}, {{}, 0}}) {
    v1::TopKRequest parsed;
    ReceivedPayload payload;
    ASSERT_THAT(ParseRequest(Sliced(sent.SerializeAsString(), 100), path,
                             min_bytes, &parsed, &payload),
                IsOk());
    EXPECT_FALSE(payload.Lifted(0).has_value());
    EXPECT_TRUE(MessageDifferencer::Equals(parsed, sent));
  }
}

TEST(ParseRequestTest, WhatTheWalkDeclinesProtobufDecides) {
  // A trailing unknown group: protobuf accepts it, the walk does not.
  const std::string wire =
      LargeRequest(100000).SerializeAsString() + std::string("\x3b\x3c", 2);
  v1::TopKRequest parsed;
  ReceivedPayload payload;
  ASSERT_THAT(ParseRequest(Sliced(wire, 8192), kInputPaths, kLiftMinBytes,
                           &parsed, &payload),
              IsOk());
  EXPECT_FALSE(payload.Lifted(0).has_value());
  EXPECT_EQ(parsed.input().data().size(), 400000u);
}

TEST(ParseRequestTest, BytesThatAreNotTheMessageAreInvalidArgument) {
  for (const std::string& wire :
       {std::string("\xff\xff\xff", 3),
        LargeRequest(100000).SerializeAsString().substr(0, 300000)}) {
    v1::TopKRequest parsed;
    ReceivedPayload payload;
    EXPECT_THAT(
        ParseRequest(Sliced(wire, 4096), kInputPaths, 0, &parsed, &payload),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 HasSubstr("not a valid tensorops.v1.TopKRequest")));
  }
}

TEST(OutgoingMessageTest, ParsesAsTheMessageWithTheTensorsCopiedIn) {
  std::vector<float> big(50000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i) / 3;
  Tensor values = testing::MakeTensor<float>(DType::kFloat32, {2, 25000}, big);
  Tensor indices =
      testing::MakeTensor<int64_t>(DType::kInt64, {2, 2}, {0, 5, 9, 1});
  v1::TopKResponse expected;
  wire::TensorToProto(values, expected.mutable_values());
  wire::TensorToProto(indices, expected.mutable_indices());
  expected.set_session_id("s-123");

  v1::TopKResponse message;
  message.set_session_id("s-123");
  wire::OutgoingMessage outgoing;
  const std::byte* values_data = values.data();
  outgoing.AttachTensor(1, std::move(values));
  outgoing.AttachTensor(2, indices);
  grpc::ByteBuffer wire;
  ASSERT_THAT(outgoing.Serialize(message, &wire), IsOk());
  values = Tensor();  // the slice keeps its own reference

  // The large tensor is sent from its own memory, not a copy.
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(wire.Dump(&slices).ok());
  bool zero_copy = false;
  for (const grpc::Slice& slice : slices) {
    zero_copy |=
        reinterpret_cast<const std::byte*>(slice.begin()) == values_data;
  }
  EXPECT_TRUE(zero_copy);

  v1::TopKResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(Flatten(wire)));
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, expected))
      << parsed.ShortDebugString().substr(0, 200);
}

TEST(OutgoingMessageTest, EmptyTensorsAndEmptyMessages) {
  v1::ZerosLikeResponse message;
  wire::OutgoingMessage outgoing;
  absl::StatusOr<Tensor> empty = Tensor::Allocate(DType::kInt8, {0, 3});
  ASSERT_THAT(empty, IsOk());
  outgoing.AttachTensor(1, *empty);
  grpc::ByteBuffer wire;
  ASSERT_THAT(outgoing.Serialize(message, &wire), IsOk());
  v1::ZerosLikeResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(Flatten(wire)));
  ASSERT_TRUE(parsed.has_output());
  EXPECT_EQ(parsed.output().dtype(), v1::DTYPE_INT8);
  EXPECT_THAT(parsed.output().shape(), ::testing::ElementsAre(0, 3));
  EXPECT_TRUE(parsed.output().data().empty());

  grpc::ByteBuffer nothing;
  ASSERT_THAT(
      wire::OutgoingMessage().Serialize(v1::ReleaseSessionResponse(), &nothing),
      IsOk());
  EXPECT_EQ(nothing.Length(), 0u);
}

}  // namespace
}  // namespace tensorops::server
