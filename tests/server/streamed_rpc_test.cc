// Streamed calls over RPC (TopKStream and the like): results equal the
// unary calls', bad streams get the right code and message, and a stream
// abandoned midway frees its slot.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/server_test_util.h"

namespace tensorops::server::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

struct Streamed {
  grpc::Status status;
  v1::TopKResponse response;
  std::string data;  // the response's chunks, concatenated
};

class StreamedRpcTest : public ::testing::Test {
 protected:
  void SetUp() override { Restart(TestConfig()); }

  void Restart(ServerConfig config) {
    server_.reset();
    server_ = TestServer::Start(config);
    ASSERT_NE(server_, nullptr);
  }

  v1::TensorOps::Stub& stub() { return server_->stub(); }

  // Sends `messages` on a TopKStream (then closes), reads the answer.
  Streamed TopKStream(const std::vector<v1::TopKStreamRequest>& messages) {
    auto context = ContextWithTimeout();
    auto stream = stub().TopKStream(context.get());
    for (const v1::TopKStreamRequest& message : messages) {
      if (!stream->Write(message)) break;
    }
    stream->WritesDone();
    Streamed out;
    v1::TopKStreamResponse part;
    while (stream->Read(&part)) {
      if (part.has_response()) out.response = part.response();
      if (part.part_case() == v1::TopKStreamResponse::kChunk) {
        out.data += part.chunk();
      }
    }
    out.status = stream->Finish();
    return out;
  }

  std::unique_ptr<TestServer> server_;
};

v1::TopKStreamRequest Header(const v1::TopKRequest& request) {
  v1::TopKStreamRequest message;
  *message.mutable_request() = request;
  message.mutable_request()->mutable_input()->clear_data();
  return message;
}

v1::TopKStreamRequest Chunk(absl::string_view bytes) {
  v1::TopKStreamRequest message;
  message.set_chunk(std::string(bytes));
  return message;
}

// A float32 [rows, columns] TopK request with distinct values.
v1::TopKRequest FloatTopK(int64_t rows, int64_t columns, int64_t k) {
  std::vector<float> values(rows * columns);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<float>((i * 7919) % 100003);
  }
  v1::TopKRequest request;
  *request.mutable_input() =
      WireTensor(v1::DTYPE_FLOAT32, {rows, columns}, values);
  request.set_k(k);
  return request;
}

// The request's header, then its data in chunks of `chunk` bytes.
std::vector<v1::TopKStreamRequest> Split(const v1::TopKRequest& request,
                                         size_t chunk) {
  std::vector<v1::TopKStreamRequest> messages = {Header(request)};
  const std::string& data = request.input().data();
  for (size_t at = 0; at < data.size(); at += chunk) {
    messages.push_back(Chunk(absl::string_view(data).substr(at, chunk)));
  }
  return messages;
}

TEST_F(StreamedRpcTest, TopKEqualsTheUnaryCallForEveryChunking) {
  for (const int64_t dim : {0, 1}) {
    v1::TopKRequest request = FloatTopK(300, 5000, 9);  // 6 MB: 2 batches
    request.set_dim(dim);
    v1::TopKResponse unary;
    ASSERT_TRUE(stub().TopK(ContextWithTimeout().get(), request, &unary).ok());
    for (const size_t chunk : {size_t{1} << 20, size_t{77777}}) {
      Streamed streamed = TopKStream(Split(request, chunk));
      ASSERT_TRUE(streamed.status.ok()) << streamed.status.error_message();
      EXPECT_EQ(WireShape(streamed.response.values()),
                WireShape(unary.values()));
      EXPECT_TRUE(streamed.response.values().data().empty());
      EXPECT_EQ(streamed.data, unary.values().data() + unary.indices().data())
          << "dim " << dim << " chunk " << chunk;
    }
  }
}

TEST_F(StreamedRpcTest, ASavedSessionServesBackward) {
  v1::TopKRequest request = FloatTopK(4, 1000, 3);
  request.set_save_for_backward(true);
  Streamed streamed = TopKStream(Split(request, 1000));
  ASSERT_TRUE(streamed.status.ok()) << streamed.status.error_message();
  ASSERT_FALSE(streamed.response.session_id().empty());
  v1::BackwardRequest backward;
  backward.set_session_id(streamed.response.session_id());
  *backward.mutable_grad_values() =
      WireTensor(v1::DTYPE_FLOAT32, {4, 3}, std::vector<float>(12, 1.0f));
  v1::BackwardResponse gradient;
  ASSERT_TRUE(
      stub().Backward(ContextWithTimeout().get(), backward, &gradient).ok());
  const std::vector<float> values = WireValues<float>(gradient.grad_input());
  EXPECT_EQ(std::count(values.begin(), values.end(), 1.0f), 12);
}

TEST_F(StreamedRpcTest, BadStreamsAreInvalidArgumentsNamingWhatWasWrong) {
  const v1::TopKRequest request = FloatTopK(2, 3, 1);  // 24 bytes
  const std::string& data = request.input().data();
  struct Case {
    const char* name;
    std::vector<v1::TopKStreamRequest> messages;
    const char* message;
  } cases[] = {
      {"short", {Header(request), Chunk(data.substr(0, 20))}, "ended after 20"},
      {"long", {Header(request), Chunk(data + "x")}, "more than the 24 bytes"},
      {"chunk after the end",
       {Header(request), Chunk(data), Chunk("")},
       "after all 24 bytes"},
      {"no request", {Chunk(data)}, "began with a chunk"},
      {"two requests", {Header(request), Header(request)}, "twice"},
      {"nothing", {}, "without a request"},
      {"data in the request",
       {[&] {
         v1::TopKStreamRequest header = Header(request);
         header.mutable_request()->mutable_input()->set_data(data);
         return header;
       }()},
       "expected dtype and shape only"},
      {"neither part",
       {Header(request), v1::TopKStreamRequest()},
       "neither request nor chunk"},
  };
  for (const Case& c : cases) {
    Streamed streamed = TopKStream(c.messages);
    EXPECT_EQ(streamed.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name;
    EXPECT_THAT(streamed.status.error_message(), HasSubstr(c.message))
        << c.name;
  }
}

TEST_F(StreamedRpcTest, LimitsAreCheckedFromTheRequest) {
  ServerConfig config = TestConfig();
  config.max_streamed_tensor_elements = 5000;
  config.max_stream_buffer_bytes = 4000;
  Restart(config);
  v1::TopKRequest huge;
  huge.mutable_input()->set_dtype(v1::DTYPE_FLOAT32);
  huge.mutable_input()->add_shape(5001);
  huge.set_k(1);
  Streamed streamed = TopKStream({Header(huge)});
  EXPECT_EQ(streamed.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(streamed.status.error_message(),
              HasSubstr("--max_streamed_tensor_elements"));
  // Along dim 0 the whole [10, 100] input is one slice: 4000 bytes fit,
  // [11, 100] does not.
  v1::TopKRequest along_rows = FloatTopK(11, 100, 1);
  along_rows.set_dim(0);
  streamed = TopKStream({Header(along_rows)});
  EXPECT_EQ(streamed.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(
      streamed.status.error_message(),
      AllOf(HasSubstr("--max_stream_buffer_bytes"), HasSubstr("dim 0")));
  along_rows = FloatTopK(10, 100, 1);
  along_rows.set_dim(0);
  EXPECT_TRUE(TopKStream(Split(along_rows, 999)).status.ok());
}

TEST_F(StreamedRpcTest, FillsStreamTheirResultAndTakeNoChunks) {
  auto context = ContextWithTimeout();
  auto stream = stub().OnesLikeStream(context.get());
  v1::OnesLikeStreamRequest header;
  header.mutable_request()->mutable_input()->set_dtype(v1::DTYPE_INT16);
  header.mutable_request()->mutable_input()->add_shape(3 << 20);  // 6 MiB
  ASSERT_TRUE(stream->Write(header));
  stream->WritesDone();
  v1::OnesLikeStreamResponse part;
  std::string data;
  int messages = 0;
  while (stream->Read(&part)) {
    ++messages;
    data += part.chunk();
  }
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_GE(messages, 4);  // the header and chunks of at most 2 MiB
  ASSERT_EQ(data.size(), size_t{6} << 20);
  std::vector<int16_t> values(3 << 20);
  std::memcpy(values.data(), data.data(), data.size());
  EXPECT_THAT(values, ::testing::Each(1));

  auto zeros_context = ContextWithTimeout();
  auto zeros = stub().ZerosLikeStream(zeros_context.get());
  v1::ZerosLikeStreamRequest zeros_header;
  zeros_header.mutable_request()->mutable_input()->set_dtype(v1::DTYPE_FLOAT32);
  v1::ZerosLikeStreamRequest chunk;
  chunk.set_chunk("abcd");
  zeros->Write(zeros_header);
  zeros->Write(chunk);
  zeros->WritesDone();
  v1::ZerosLikeStreamResponse ignored;
  while (zeros->Read(&ignored)) {
  }
  const grpc::Status status = zeros->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("takes no chunks"));
}

TEST_F(StreamedRpcTest, BackwardChecksEveryIndexBeforeSendingAnything) {
  auto context = ContextWithTimeout();
  auto stream = stub().BackwardStream(context.get());
  v1::BackwardStreamRequest header;
  v1::BackwardRequest& request = *header.mutable_request();
  request.mutable_grad_values()->set_dtype(v1::DTYPE_FLOAT32);
  request.mutable_grad_values()->add_shape(2);
  request.mutable_grad_values()->add_shape(1);
  request.mutable_indices()->set_dtype(v1::DTYPE_INT64);
  request.mutable_indices()->add_shape(2);
  request.mutable_indices()->add_shape(1);
  request.add_input_shape(2);
  request.add_input_shape(3);
  const float grad[] = {1, 2};
  const int64_t indices[] = {0, 3};  // 3 is out of range
  v1::BackwardStreamRequest chunk;
  chunk.set_chunk(
      std::string(reinterpret_cast<const char*>(grad), sizeof(grad)) +
      std::string(reinterpret_cast<const char*>(indices), sizeof(indices)));
  ASSERT_TRUE(stream->Write(header));
  ASSERT_TRUE(stream->Write(chunk));
  stream->WritesDone();
  v1::BackwardStreamResponse part;
  int messages = 0;
  while (stream->Read(&part)) ++messages;
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(messages, 0);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("out of range"));
}

TEST_F(StreamedRpcTest, AStreamAbandonedMidwayFreesItsSlot) {
  ServerConfig config = TestConfig();
  config.max_inflight_requests = 1;
  Restart(config);
  {
    const v1::TopKRequest request = FloatTopK(1000, 1000, 1);
    auto context = ContextWithTimeout();
    auto stream = stub().TopKStream(context.get());
    ASSERT_TRUE(stream->Write(Header(request)));
    ASSERT_TRUE(stream->Write(Chunk(request.input().data().substr(0, 1000))));
    context->TryCancel();
    stream->Finish().IgnoreError();
  }
  // The abandoned stream's slot comes free once gRPC is done with it.
  grpc::Status status;
  for (int attempt = 0; attempt < 200; ++attempt) {
    v1::OnesLikeRequest request;
    request.mutable_input()->set_dtype(v1::DTYPE_FLOAT32);
    v1::OnesLikeResponse response;
    status = stub().OnesLike(ContextWithTimeout().get(), request, &response);
    if (status.ok()) break;
    ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(status.ok()) << status.error_message();
}

}  // namespace
}  // namespace tensorops::server::testing
