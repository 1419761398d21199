// The client's side of the streamed-call protocol (client/streamed_call.h)
// against a fake TensorOps server that records what it receives and answers
// as each test tells it, well-behaved or not: the errors a misbehaving
// server must cause cannot be provoked from the real one.
#include "client/streamed_call.h"

#include <grpcpp/grpcpp.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/tensor_ops_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/tensor_codec.h"
#include "tests/support/status_matchers.h"
#include "tests/support/tensor_builders.h"

namespace tensorops::client {
namespace {

namespace v1 = ::tensorops::v1;

using ::tensorops::testing::IsOk;
using ::tensorops::testing::MakeTensor;
using ::tensorops::testing::StatusIs;
using ::tensorops::testing::Values;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Le;

// How the fake answers a TopKStream.
enum class Answer {
  // values: the input itself; indices: 0, 1, ... (int64, the input's shape),
  // in chunks of 1000 bytes (straddling the two tensors).
  kEcho,
  kOneByteTooMany,
  kOneByteTooFew,
  kChunkBeforeResponse,
  kTwoResponses,
  kResponseWithData,
  // After a chunk of the result: RESOURCE_EXHAUSTED.
  kFailAfterAChunk,
  // At once, reading nothing past the first message.
  kFailEarly,
};

class FakeTensorOps final : public v1::TensorOps::Service {
 public:
  Answer answer = Answer::kEcho;

  // What the last TopKStream received.
  struct Received {
    v1::TopKRequest request;
    std::vector<size_t> chunk_sizes;
    std::string bytes;
    int other_messages = 0;
  };
  Received received() {
    absl::MutexLock lock(&mutex_);
    return received_;
  }

  grpc::Status TopKStream(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::TopKStreamResponse, v1::TopKStreamRequest>*
          stream) override {
    Received received;
    v1::TopKStreamRequest message;
    if (!stream->Read(&message) || !message.has_request()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request");
    }
    received.request = message.request();
    if (answer == Answer::kFailEarly) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "refused early");
    }
    while (stream->Read(&message)) {
      if (message.has_chunk()) {
        received.chunk_sizes.push_back(message.chunk().size());
        received.bytes += message.chunk();
      } else {
        ++received.other_messages;
      }
    }
    {
      absl::MutexLock lock(&mutex_);
      received_ = received;
    }
    const v1::Tensor& input = received.request.input();
    int64_t elements = 1;
    for (int64_t d : input.shape()) elements *= d;

    v1::TopKStreamResponse header;
    *header.mutable_response()->mutable_values() = input;
    v1::Tensor* indices = header.mutable_response()->mutable_indices();
    indices->set_dtype(v1::DTYPE_INT64);
    *indices->mutable_shape() = input.shape();
    header.mutable_response()->set_session_id("fake-session");
    if (answer == Answer::kResponseWithData) {
      header.mutable_response()->mutable_values()->set_data(received.bytes);
    }
    std::string body = received.bytes;
    for (int64_t i = 0; i < elements; ++i) {
      body.append(reinterpret_cast<const char*>(&i), sizeof(i));
    }
    if (answer == Answer::kOneByteTooMany) body.push_back('!');
    if (answer == Answer::kOneByteTooFew) body.pop_back();

    v1::TopKStreamResponse chunk;
    if (answer == Answer::kChunkBeforeResponse) {
      chunk.set_chunk("early");
      stream->Write(chunk);
    }
    stream->Write(header);
    if (answer == Answer::kTwoResponses) stream->Write(header);
    for (size_t offset = 0; offset < body.size(); offset += 1000) {
      chunk.set_chunk(body.substr(offset, 1000));
      stream->Write(chunk);
      if (answer == Answer::kFailAfterAChunk) {
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            "out of room");
      }
    }
    return grpc::Status::OK;
  }

 private:
  absl::Mutex mutex_;
  Received received_;
};

class StreamedCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ClientOptions options;
    options.stream_chunk_bytes = kChunk;
    options.default_timeout = absl::Seconds(20);
    client_ = TensorOpsClient::Connect(absl::StrCat("127.0.0.1:", port),
                                       std::move(options));
  }
  void TearDown() override { server_->Shutdown(); }

  absl::StatusOr<TopKOutput> Streamed(const Tensor& input) {
    return client_->TopK(input, {.k = 1}, {.stream = true});
  }

  static constexpr int64_t kChunk = 100000;
  FakeTensorOps service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<TensorOpsClient> client_;
};

// Values 0, 1, 2, ... as float32, `n` of them.
Tensor Ramp(int64_t n) {
  std::vector<float> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = static_cast<float>(i);
  return MakeTensor<float>(DType::kFloat32, {n}, values);
}

TEST_F(StreamedCallTest, SendsTheHeaderThenTheBytesInChunks) {
  const Tensor input = Ramp(123457);  // 493828 bytes: 5 chunks, the last short
  absl::StatusOr<TopKOutput> top = Streamed(input);
  ASSERT_THAT(top.status(), IsOk());

  const FakeTensorOps::Received received = service_.received();
  EXPECT_EQ(received.request.k(), 1);
  EXPECT_TRUE(received.request.input().data().empty());
  EXPECT_THAT(received.request.input().shape(), ElementsAre(123457));
  EXPECT_EQ(received.request.input().dtype(), v1::DTYPE_FLOAT32);
  EXPECT_EQ(received.other_messages, 0);
  EXPECT_THAT(received.chunk_sizes, Each(Le(kChunk)));
  EXPECT_EQ(received.chunk_sizes.size(), 5u);
  ASSERT_EQ(received.bytes.size(), input.byte_size());
  EXPECT_EQ(std::memcmp(received.bytes.data(), input.data(), input.byte_size()),
            0);

  // The fake's answer: the input back, and 0, 1, ... as indices.
  EXPECT_EQ(top->session_id, "fake-session");
  EXPECT_EQ(Values<float>(top->values), Values<float>(input));
  const std::vector<int64_t> indices = Values<int64_t>(top->indices);
  ASSERT_EQ(indices.size(), 123457u);
  for (size_t i = 0; i < indices.size(); ++i) ASSERT_EQ(indices[i], i);
}

TEST_F(StreamedCallTest, EmptyTensorsSendNoChunks) {
  absl::StatusOr<TopKOutput> top =
      Streamed(MakeTensor<float>(DType::kFloat32, {0, 5}, {}));
  ASSERT_THAT(top.status(), IsOk());
  EXPECT_EQ(top->values.shape(), (Shape{0, 5}));
  EXPECT_TRUE(service_.received().chunk_sizes.empty());
}

TEST_F(StreamedCallTest, ResponsesOffTheProtocolAreInternalOrDataLoss) {
  const Tensor input = Ramp(5000);
  struct Case {
    Answer answer;
    absl::StatusCode code;
    const char* says;
  };
  for (const Case& c : {
           Case{Answer::kOneByteTooMany, absl::StatusCode::kInternal,
                "more bytes than"},
           Case{Answer::kOneByteTooFew, absl::StatusCode::kDataLoss,
                "after 59999 bytes of its response's 60000 bytes"},
           Case{Answer::kChunkBeforeResponse, absl::StatusCode::kInternal,
                "did not start with a response"},
           Case{Answer::kTwoResponses, absl::StatusCode::kInternal,
                "not a chunk"},
           Case{Answer::kResponseWithData, absl::StatusCode::kInternal,
                "in its first message"},
       }) {
    service_.answer = c.answer;
    EXPECT_THAT(Streamed(input).status(), StatusIs(c.code, HasSubstr(c.says)))
        << static_cast<int>(c.answer);
  }
}

TEST_F(StreamedCallTest, TheServersErrorWinsOverPartialResults) {
  service_.answer = Answer::kFailAfterAChunk;
  EXPECT_THAT(Streamed(Ramp(5000)).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, "out of room"));
}

TEST_F(StreamedCallTest, ARefusalStopsTheWritingAndReportsTheServersStatus) {
  service_.answer = Answer::kFailEarly;
  // 64 MiB: far more than the flow-control windows take without a reader.
  absl::StatusOr<Tensor> zeros = Tensor::Allocate(DType::kFloat32, {1 << 24});
  ASSERT_THAT(zeros.status(), IsOk());
  std::memset(zeros->mutable_data(), 0, zeros->byte_size());
  EXPECT_THAT(Streamed(*zeros).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "refused early"));
}

TEST_F(StreamedCallTest, DeadlinesCoverTheWholeStream) {
  EXPECT_THAT(client_
                  ->TopK(Ramp(10), {.k = 1},
                         {.timeout = -absl::Seconds(1), .stream = true})
                  .status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(StreamedCallTest, CallSerializedRefusesStreamedMethods) {
  EXPECT_THAT(client_->CallSerialized("TopKStream", "").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("streamed method")));
}

// Chunk messages may come in slices split anywhere, the tag and length
// included.
TEST(StreamedTensorSinkTest, ReadsChunksSplitAcrossSlices) {
  absl::StatusOr<Tensor> a = Tensor::Allocate(DType::kUInt8, {3});
  absl::StatusOr<Tensor> b = Tensor::Allocate(DType::kInt16, {200});
  ASSERT_THAT(a.status(), IsOk());
  ASSERT_THAT(b.status(), IsOk());
  StreamedTensorSink sink({*a, *b});
  EXPECT_EQ(sink.total(), 403);

  std::string payload(300, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = char(i % 251);
  // Tag 0x12, length 300 = varint ac 02, then the bytes: sliced after the
  // tag, within the length, and twice within the bytes.
  const std::string message = "\x12\xac\x02" + payload;
  std::vector<grpc::Slice> slices;
  for (auto [from, to] : {std::pair<size_t, size_t>{0, 1},
                          {1, 2},
                          {2, 50},
                          {50, 51},
                          {51, message.size()}}) {
    slices.emplace_back(message.data() + from, to - from);
  }
  ASSERT_THAT(
      sink.AppendChunkMessage(grpc::ByteBuffer(slices.data(), slices.size())),
      IsOk());
  EXPECT_EQ(sink.received(), 300);
  EXPECT_FALSE(sink.complete());
  const std::string rest(103, '\x07');
  ASSERT_THAT(sink.Append({reinterpret_cast<const std::byte*>(rest.data()),
                           rest.size()}),
              IsOk());
  EXPECT_TRUE(sink.complete());
  EXPECT_THAT(sink.Append({reinterpret_cast<const std::byte*>(rest.data()), 1}),
              StatusIs(absl::StatusCode::kInternal));

  std::vector<Tensor> tensors = std::move(sink).Take();
  EXPECT_EQ(std::memcmp(tensors[0].data(), payload.data(), 3), 0);
  EXPECT_EQ(std::memcmp(tensors[1].data(), payload.data() + 3, 297), 0);
  EXPECT_EQ(static_cast<char>(tensors[1].data()[297]), '\x07');
}

TEST(StreamedTensorSinkTest, RefusesMessagesThatAreNotChunks) {
  absl::StatusOr<Tensor> a = Tensor::Allocate(DType::kUInt8, {8});
  ASSERT_THAT(a.status(), IsOk());
  for (const std::string& message :
       {std::string(), std::string("\x0a\x00", 2), std::string("\x12\x05xy"),
        std::string("\x12\x01xy"), std::string("\x12\xff")}) {
    StreamedTensorSink sink({*a});
    grpc::Slice slice(message);
    EXPECT_THAT(sink.AppendChunkMessage(grpc::ByteBuffer(&slice, 1)),
                StatusIs(absl::StatusCode::kInternal))
        << absl::CEscape(message);
  }
}

TEST(ChunkMessageTest, ParsesAsAChunkOfTheTensorsBytes) {
  const Tensor input = Ramp(100000);
  for (auto [offset, size] :
       {std::pair<size_t, size_t>{4, 10}, {1000, 300000}, {0, 0}}) {
    grpc::ByteBuffer message = wire::StreamChunkMessage(input, offset, size);
    grpc::Slice whole;
    ASSERT_TRUE(message.DumpToSingleSlice(&whole).ok());
    v1::TopKStreamRequest parsed;
    ASSERT_TRUE(parsed.ParseFromArray(whole.begin(), whole.size()));
    ASSERT_TRUE(parsed.has_chunk());
    EXPECT_EQ(parsed.chunk(),
              std::string(reinterpret_cast<const char*>(input.data()) + offset,
                          size));
  }
}

}  // namespace
}  // namespace tensorops::client
