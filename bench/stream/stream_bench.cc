// tensorops-bench-stream: a streamed TopK against a bare unary echo of the
// same bytes, and the unary TopK beside them, from one C++ client process in
// interleaved rounds (bench/streamed_topk_bench.py runs it).
//
//   tensorops-bench-stream --server=127.0.0.1:PORT --echo=127.0.0.1:PORT2
//       [--shape=1024,32000 --k=50 --rounds=7 --calls=3]
//
// The echo call sends the unary TopK's request message, input and all, to
// tensorops-bench-echo, which answers 8 bytes: the transfer and nothing
// else. The streamed call is the client's own TopKStream (CallOptions::
// stream). Before timing, the streamed result is checked equal to the unary
// one. Prints one JSON object: medians in ms and their ratios.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "bench/random_tensor.h"
#include "client/cli/tensor_literal.h"
#include "client/tensor_ops_client.h"
#include "proto/outgoing_message.h"
#include "tensorops/v1/tensor_ops.pb.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051",
          "tensorops-server host:port.");
ABSL_FLAG(std::string, echo, "", "tensorops-bench-echo host:port.");
ABSL_FLAG(std::string, shape, "1024,32000", "float32 input shape.");
ABSL_FLAG(int64_t, k, 50, "TopK's k, along the last dimension.");
ABSL_FLAG(int, rounds, 7, "Rounds; each times every kind `calls` times.");
ABSL_FLAG(int, calls, 3, "Calls of each kind per round.");
ABSL_FLAG(std::string, only, "",
          "echo, unary or streamed: time only that kind, --calls times (for "
          "profiling one side).");
ABSL_FLAG(int64_t, chunk_bytes, tensorops::client::kDefaultStreamChunkBytes,
          "Chunk size of the streamed call's requests.");

namespace {

namespace v1 = ::tensorops::v1;
using tensorops::Tensor;

// One unary call of the echo server with `request` (kept: gRPC's slices
// point into the input tensor, so the bytes are not copied per call).
absl::Status Echo(grpc::GenericStub& stub, const grpc::ByteBuffer& request) {
  grpc::ClientContext context;
  grpc::ByteBuffer response;
  grpc::Status result;
  absl::Notification done;
  stub.UnaryCall(&context, "/tensorops.bench.Echo/Echo", grpc::StubOptions(),
                 &request, &response, [&](grpc::Status status) {
                   result = std::move(status);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!result.ok()) {
    return absl::UnavailableError(
        absl::StrCat("echo failed: ", result.error_message()));
  }
  return absl::OkStatus();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle]
                                : (values[middle - 1] + values[middle]) / 2;
}

absl::Status TimeOnce(absl::FunctionRef<absl::Status()> call,
                      std::vector<double>& times) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = call();
  const std::chrono::duration<double, std::milli> elapsed =
      std::chrono::steady_clock::now() - start;
  if (status.ok()) times.push_back(elapsed.count());
  return status;
}

bool SameResult(const tensorops::client::TopKOutput& a,
                const tensorops::client::TopKOutput& b) {
  return a.values.byte_size() == b.values.byte_size() &&
         a.indices.byte_size() == b.indices.byte_size() &&
         std::memcmp(a.values.data(), b.values.data(), a.values.byte_size()) ==
             0 &&
         std::memcmp(a.indices.data(), b.indices.data(),
                     a.indices.byte_size()) == 0;
}

absl::Status CheckStreamedMatchesUnary(
    tensorops::client::TensorOpsClient& client, const Tensor& input,
    const tensorops::client::TopKParams& params) {
  absl::StatusOr<tensorops::client::TopKOutput> unary =
      client.TopK(input, params, {.stream = false});
  if (!unary.ok()) return unary.status();
  absl::StatusOr<tensorops::client::TopKOutput> streamed =
      client.TopK(input, params, {.stream = true});
  if (!streamed.ok()) return streamed.status();
  if (!SameResult(*unary, *streamed)) {
    return absl::InternalError("the streamed TopK differs from the unary one");
  }
  return absl::OkStatus();
}

absl::Status CheckFlags() {
  const std::string only = absl::GetFlag(FLAGS_only);
  if (!only.empty() && only != "echo" && only != "unary" &&
      only != "streamed") {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad --only=", only, "; expected echo, unary or streamed"));
  }
  if (absl::GetFlag(FLAGS_echo).empty()) {
    return absl::InvalidArgumentError(
        "--echo is required: the address of tensorops-bench-echo");
  }
  if (absl::GetFlag(FLAGS_rounds) < 1 || absl::GetFlag(FLAGS_calls) < 1) {
    return absl::InvalidArgumentError("--rounds and --calls must be >= 1");
  }
  return absl::OkStatus();
}

absl::Status Run() {
  if (absl::Status flags = CheckFlags(); !flags.ok()) return flags;
  absl::StatusOr<tensorops::Shape> shape =
      tensorops::client::ParseShapeLiteral(absl::GetFlag(FLAGS_shape));
  if (!shape.ok()) return shape.status();
  absl::StatusOr<Tensor> input =
      tensorops::bench::RandomNormalFloat32(*shape, /*seed=*/20261208);
  if (!input.ok()) return input.status();
  const tensorops::client::TopKParams params{.k = absl::GetFlag(FLAGS_k)};

  std::unique_ptr<tensorops::client::TensorOpsClient> client =
      tensorops::client::TensorOpsClient::Connect(
          absl::GetFlag(FLAGS_server),
          {.stream_chunk_bytes = absl::GetFlag(FLAGS_chunk_bytes)});
  grpc::GenericStub echo_stub(tensorops::client::CreateChannel(
      absl::GetFlag(FLAGS_echo), std::nullopt));

  // The unary TopK's request message, as the client sends it.
  v1::TopKRequest message;
  message.set_k(params.k);
  message.set_dim(params.dim);
  message.set_largest(params.largest);
  message.set_sorted(params.sorted);
  tensorops::wire::OutgoingMessage outgoing;
  outgoing.AttachTensor(v1::TopKRequest::kInputFieldNumber, *input);
  grpc::ByteBuffer echo_request;
  if (absl::Status serialized = outgoing.Serialize(message, &echo_request);
      !serialized.ok()) {
    return serialized;
  }

  auto unary = [&]() -> absl::Status {
    return client->TopK(*input, params, {.stream = false}).status();
  };
  auto streamed = [&]() -> absl::Status {
    return client->TopK(*input, params, {.stream = true}).status();
  };
  auto echo = [&]() { return Echo(echo_stub, echo_request); };

  if (absl::Status same = CheckStreamedMatchesUnary(*client, *input, params);
      !same.ok()) {
    return same;
  }
  // Warm-up: the connections' flow-control windows grow over a few calls.
  for (int i = 0; i < 2; ++i) {
    if (absl::Status status = echo(); !status.ok()) return status;
    if (absl::Status status = streamed(); !status.ok()) return status;
  }

  std::vector<double> echo_ms, unary_ms, streamed_ms;
  const int calls = absl::GetFlag(FLAGS_calls);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  if (const std::string only = absl::GetFlag(FLAGS_only); !only.empty()) {
    const absl::FunctionRef<absl::Status()> call =
        only == "echo"    ? absl::FunctionRef<absl::Status()>(echo)
        : only == "unary" ? absl::FunctionRef<absl::Status()>(unary)
                          : absl::FunctionRef<absl::Status()>(streamed);
    std::vector<double> times;
    for (int i = 0; i < calls; ++i) {
      if (absl::Status s = TimeOnce(call, times); !s.ok()) return s;
    }
    std::cout << absl::StrFormat("{\"%s_ms\": %.2f}\n", only, Median(times));
    return absl::OkStatus();
  }
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < calls; ++i) {
      if (absl::Status s = TimeOnce(echo, echo_ms); !s.ok()) return s;
    }
    for (int i = 0; i < calls; ++i) {
      if (absl::Status s = TimeOnce(streamed, streamed_ms); !s.ok()) return s;
    }
    for (int i = 0; i < calls; ++i) {
      if (absl::Status s = TimeOnce(unary, unary_ms); !s.ok()) return s;
    }
  }
  const double echo_median = Median(echo_ms);
  const double unary_median = Median(unary_ms);
  const double streamed_median = Median(streamed_ms);
  std::cout << absl::StrFormat(
      "{\"shape\": \"%s\", \"k\": %d, \"bytes\": %d, \"calls_each\": %d, "
      "\"echo_ms\": %.2f, \"unary_ms\": %.2f, \"streamed_ms\": %.2f, "
      "\"streamed_over_echo\": %.3f, \"unary_over_echo\": %.3f}\n",
      absl::GetFlag(FLAGS_shape), params.k, input->byte_size(), echo_ms.size(),
      echo_median, unary_median, streamed_median, streamed_median / echo_median,
      unary_median / echo_median);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::Status status = Run(); !status.ok()) {
    std::cerr << "tensorops-bench-stream: " << status << "\n";
    return 1;
  }
  return 0;
}
