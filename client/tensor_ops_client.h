// A typed C++ client for the tensorops.v1.TensorOps service.
//
//   auto client =
//   tensorops::client::TensorOpsClient::Connect("127.0.0.1:50051");
//   absl::StatusOr<TopKOutput> top = client->TopK(x, {.k = 2});
//
// Tensors go in and come out as core tensorops::Tensor. Input tensors of
// 64 KiB and more are sent from their own memory (gRPC slices that keep the
// tensor alive until written), not copied into the request; results wrap the
// response bytes without copying. Calls on large tensors (over 256 MiB by
// default, ClientOptions::stream_threshold_bytes) stream them in chunks
// instead (client/streamed_call.h), which has no 2 GiB limit; their results
// are tensors of their own, each chunk copied into place once. Errors are
// the server's code and message unchanged (INVALID_ARGUMENT, NOT_FOUND,
// ...), or the channel's (UNAVAILABLE, DEADLINE_EXCEEDED). A client may be
// shared by threads.
#ifndef TENSOROPS_CLIENT_TENSOR_OPS_CLIENT_H_
#define TENSOROPS_CLIENT_TENSOR_OPS_CLIENT_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/rpc_method.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/shared_memory_hold.h"
#include "client/streamed_call.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"
#include "proto/outgoing_message.h"
#include "tensorops/v1/tensor_ops.grpc.pb.h"

namespace tensorops::client {

// TLS for a channel (the server's --tls_cert; with its --tls_client_ca, a
// client certificate too). PEM contents, not paths.
struct TlsOptions {
  // CA certificates to verify the server with; empty uses the system's.
  std::string root_certs_pem;
  // This client's certificate chain and private key, for mutual TLS; both
  // or neither.
  std::string cert_chain_pem;
  std::string private_key_pem;
  // The name to check the server's certificate against instead of the
  // address's host (for addresses that are IPs or load balancers).
  std::string server_name;
};

// TlsOptions from PEM files (empty paths are left out). INVALID_ARGUMENT
// naming the file that cannot be read, or a certificate without its key.
absl::StatusOr<TlsOptions> TlsOptionsFromFiles(
    const std::string& root_certs_path, const std::string& cert_chain_path,
    const std::string& private_key_path, const std::string& server_name = "");

// A channel to `address` (host:port), plaintext or with `tls`, whose message
// size limits are lifted, so the server's own limit (600 MiB by default) is
// the one that applies.
std::shared_ptr<grpc::Channel> CreateChannel(
    const std::string& address,
    const std::optional<TlsOptions>& tls = std::nullopt);

// The gRPC metadata key a load balancer hashes on to send calls with the
// same value to the same replica (deploy/nginx, deploy/envoy). A TopK that
// saves a session and the Backward that uses it must carry the same key.
inline constexpr absl::string_view kAffinityMetadataKey =
    "x-tensorops-affinity";

struct ClientOptions {
  // Deadline of every call that does not set its own;
  // absl::InfiniteDuration() for none.
  absl::Duration default_timeout = absl::Seconds(30);
  // Sent as kAffinityMetadataKey on every call when set.
  std::optional<std::string> affinity_key = std::nullopt;
  // Sent as `authorization: Bearer <token>` on every call when set (servers
  // started with --auth_tokens_file). Use TLS on untrusted networks: over
  // plaintext the token can be read on the way.
  std::optional<std::string> auth_token = std::nullopt;
  // TLS for the channel Connect() creates; plaintext when unset.
  std::optional<TlsOptions> tls = std::nullopt;
  // TopK, Backward, StatelessBackward, ZerosLike and OnesLike go through
  // their streamed RPC (TopKStream, ...) when the tensor bytes of the
  // request, or of the result where the client can tell its size, exceed
  // this: past 2 GiB one message cannot carry them, and well before the
  // server's --max_message_bytes (600 MiB by default) a unary call holds
  // whole copies on both sides. (A session Backward's result size is the
  // server's to know: refused as over its message limit, it is retried
  // streamed.) CallOptions::stream overrides it per call.
  int64_t stream_threshold_bytes = int64_t{256} << 20;
  // Size of the chunks streamed calls send (the server's preferred size,
  // GetServerInfoResponse.stream_chunk_bytes).
  int64_t stream_chunk_bytes = kDefaultStreamChunkBytes;
};

struct CallOptions {
  // Overrides ClientOptions::default_timeout for this call.
  std::optional<absl::Duration> timeout = std::nullopt;
  // Overrides ClientOptions::affinity_key for this call.
  std::optional<std::string> affinity_key = std::nullopt;
  // For the calls that can stream (see ClientOptions::
  // stream_threshold_bytes): true always uses the streamed RPC, false
  // never, unset decides by size.
  std::optional<bool> stream = std::nullopt;
};

// torch.topk's arguments (besides the input).
struct TopKParams {
  int64_t k = 1;
  int64_t dim = -1;
  bool largest = true;
  bool sorted = true;
  // Keep what Backward needs on the server; TopKOutput::session_id names it.
  bool save_for_backward = false;
};

struct TopKOutput {
  Tensor values;
  // int64, the shape of values.
  Tensor indices;
  // Set only with save_for_backward.
  std::string session_id;
};

// torch.sort's arguments (besides the input).
struct SortParams {
  int64_t dim = -1;
  bool descending = false;
  // The server's sort is stable either way (lower index first among equal
  // values); this only says the caller relies on it.
  bool stable = false;
  bool save_for_backward = false;
};

// The arguments of torch.kthvalue (besides k), torch.max(dim),
// torch.min(dim) and torch.median(dim).
struct ReductionParams {
  int64_t dim = -1;
  // Keep dim with size 1 in values and indices (false drops it, PyTorch's
  // default).
  bool keepdim = false;
  bool save_for_backward = false;
};

// Values, int64 indices and the session of Sort, KthValue, Max, Min and
// Median: TopK's.
using SelectionOutput = TopKOutput;

// The standard gRPC health states (grpc.health.v1.HealthCheckResponse).
enum class ServingStatus {
  kUnknown = 0,
  kServing = 1,
  kNotServing = 2,
  kServiceUnknown = 3,
};
absl::string_view ServingStatusName(ServingStatus status);

class TensorOpsClient {
 public:
  explicit TensorOpsClient(std::shared_ptr<grpc::Channel> channel,
                           ClientOptions options = ClientOptions());

  // A client over CreateChannel(address, options.tls).
  static std::unique_ptr<TensorOpsClient> Connect(
      const std::string& address, ClientOptions options = ClientOptions());

  // torch.zeros_like(input, dtype=dtype); dtype defaults to input's. Only
  // input's dtype and shape are sent, not its data.
  absl::StatusOr<Tensor> ZerosLike(const Tensor& input,
                                   std::optional<DType> dtype = std::nullopt,
                                   const CallOptions& call = {});

  // torch.ones_like(input, dtype=dtype), as ZerosLike.
  absl::StatusOr<Tensor> OnesLike(const Tensor& input,
                                  std::optional<DType> dtype = std::nullopt,
                                  const CallOptions& call = {});

  // The same for an input of `input_dtype` and `input_shape`, which is all
  // that travels (no tensor needed).
  absl::StatusOr<Tensor> ZerosLike(DType input_dtype, ShapeView input_shape,
                                   std::optional<DType> dtype = std::nullopt,
                                   const CallOptions& call = {});
  absl::StatusOr<Tensor> OnesLike(DType input_dtype, ShapeView input_shape,
                                  std::optional<DType> dtype = std::nullopt,
                                  const CallOptions& call = {});

  // torch.topk(input, k, dim, largest, sorted).
  absl::StatusOr<TopKOutput> TopK(const Tensor& input, const TopKParams& params,
                                  const CallOptions& call = {});

  // torch.sort(input, dim, descending, stable), torch.kthvalue(input, k,
  // dim, keepdim), torch.max/min/median(input, dim, keepdim): see the
  // proto's SortRequest for the rules. Unary calls only (no streamed form
  // yet): an input or result past the message limit is refused.
  absl::StatusOr<SelectionOutput> Sort(const Tensor& input,
                                       const SortParams& params = {},
                                       const CallOptions& call = {});
  absl::StatusOr<SelectionOutput> KthValue(const Tensor& input, int64_t k,
                                           const ReductionParams& params = {},
                                           const CallOptions& call = {});
  absl::StatusOr<SelectionOutput> Max(const Tensor& input,
                                      const ReductionParams& params = {},
                                      const CallOptions& call = {});
  absl::StatusOr<SelectionOutput> Min(const Tensor& input,
                                      const ReductionParams& params = {},
                                      const CallOptions& call = {});
  absl::StatusOr<SelectionOutput> Median(const Tensor& input,
                                         const ReductionParams& params = {},
                                         const CallOptions& call = {});

  // The gradient with respect to the input of a TopK or a selection op,
  // from the session it left on the server (save_for_backward). Consumes the
  // session unless retain_session.
  absl::StatusOr<Tensor> Backward(const std::string& session_id,
                                  const Tensor& grad_values,
                                  bool retain_session = false,
                                  const CallOptions& call = {});

  // The same gradient without a session: TopK's indices, its input's shape
  // and dim come with the request, so any replica can answer.
  absl::StatusOr<Tensor> StatelessBackward(const Tensor& grad_values,
                                           const Tensor& indices,
                                           ShapeView input_shape,
                                           int64_t dim = -1,
                                           const CallOptions& call = {});
  // The same for a selection whose results lack dim (a reduction with
  // keepdim=false): `keepdim` false.
  absl::StatusOr<Tensor> StatelessBackward(const Tensor& grad_values,
                                           const Tensor& indices,
                                           ShapeView input_shape, int64_t dim,
                                           bool keepdim,
                                           const CallOptions& call = {});

  // Frees a session before its TTL. NOT_FOUND if the server holds none.
  absl::Status ReleaseSession(const std::string& session_id,
                              const CallOptions& call = {});

  // Version, backend and limits of the server.
  absl::StatusOr<tensorops::v1::GetServerInfoResponse> GetServerInfo(
      const CallOptions& call = {});

  // Shared memory, on servers run with --allow_shared_memory, for callers
  // on the server's host: maps [offset, offset + byte_size) of a POSIX
  // shared memory object (key "/name") or a file under the server's
  // --shared_memory_file_dir as the caller's region `name`. Tensors then
  // refer to it (Tensor.shared_memory) in requests built for Call(), and
  // results go into it (e.g. TopKRequest.values_shared_memory). A
  // registration (here or through Call) first opens this client's
  // HoldSharedMemory call if none is open: the server keeps the client's
  // regions while it lives and unmaps them a grace period after the client
  // is gone.
  absl::Status RegisterSharedMemory(
      const tensorops::v1::RegisterSharedMemoryRequest& request,
      const CallOptions& call = {});
  // Drops region `name` of this caller, or all of them for "".
  absl::Status UnregisterSharedMemory(const std::string& name,
                                      const CallOptions& call = {});
  absl::StatusOr<tensorops::v1::ListSharedMemoryResponse> ListSharedMemory(
      const CallOptions& call = {});
  // Opens this client's HoldSharedMemory call unless one is open (the
  // registration above does this itself); it ends with the client.
  void HoldSharedMemory();

  // Any method of the service by name, with a request message the caller
  // built (e.g. one whose tensors lie in shared memory), its response parsed
  // into `response`. INVALID_ARGUMENT for a method the service lacks and
  // for the streamed ones (TopKStream, ...).
  absl::Status Call(absl::string_view method,
                    const google::protobuf::Message& request,
                    google::protobuf::Message* response,
                    const CallOptions& call = {});
  // The same on serialized messages.
  absl::StatusOr<std::string> CallSerialized(absl::string_view method,
                                             const std::string& request,
                                             const CallOptions& call = {});

  // grpc.health.v1.Health/Check for `service` ("" is the whole server,
  // "tensorops.v1.TensorOps" the service). NOT_FOUND for a service the
  // server does not know.
  absl::StatusOr<ServingStatus> Health(absl::string_view service = "",
                                       const CallOptions& call = {});

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  // A context with the call's deadline.
  std::unique_ptr<grpc::ClientContext> NewContext(
      const CallOptions& call) const;

  // Calls `method` with `request` plus the tensors attached to `tensors`
  // (wire::OutgoingMessage: large ones travel from their own memory).
  template <typename Response>
  absl::Status CallSendingTensors(const grpc::internal::RpcMethod& method,
                                  const CallOptions& call,
                                  const google::protobuf::Message& request,
                                  const wire::OutgoingMessage& tensors,
                                  Response* response);

  // Sends `request` of a selection op (`method`: "Sort", ...) with `input`
  // as its input and reads its response.
  absl::StatusOr<SelectionOutput> CallSelection(
      absl::string_view method, const google::protobuf::Message& request,
      const Tensor& input, const CallOptions& call);

  // Whether a call whose request or result carries `tensor_bytes` goes
  // through the streamed RPC.
  bool ShouldStream(const CallOptions& call, int64_t tensor_bytes) const;

  // ZerosLike (ones = false) or OnesLike through their streamed RPC.
  absl::StatusOr<Tensor> StreamedFill(bool ones, DType input_dtype,
                                      ShapeView input_shape,
                                      std::optional<DType> dtype,
                                      const CallOptions& call);
  // TopK through TopKStream: `request` without its input, sent in chunks.
  absl::StatusOr<TopKOutput> StreamedTopK(tensorops::v1::TopKRequest request,
                                          const Tensor& input,
                                          const CallOptions& call);
  // Backward through BackwardStream: `request` with its tensors' headers,
  // `tensors` their bytes in field order.
  absl::StatusOr<Tensor> StreamedBackward(
      const tensorops::v1::BackwardRequest& request,
      absl::Span<const Tensor> tensors, const CallOptions& call);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tensorops::v1::TensorOps::Stub> stub_;
  // The methods whose requests carry tensors, called with pre-serialized
  // bytes.
  grpc::internal::RpcMethod topk_method_;
  grpc::internal::RpcMethod backward_method_;
  // The streamed forms (BIDI_STREAMING, on raw bytes).
  grpc::internal::RpcMethod topk_stream_method_;
  grpc::internal::RpcMethod backward_stream_method_;
  grpc::internal::RpcMethod zeros_like_stream_method_;
  grpc::internal::RpcMethod ones_like_stream_method_;
  // Every method of the service, by descriptor index, for CallSerialized.
  std::vector<std::unique_ptr<grpc::internal::RpcMethod>> methods_;
  ClientOptions options_;
  // Last, so that it ends before the channel goes.
  absl::Mutex hold_mutex_;
  std::unique_ptr<SharedMemoryHold> hold_ ABSL_GUARDED_BY(hold_mutex_);
};

}  // namespace tensorops::client

#endif  // TENSOROPS_CLIENT_TENSOR_OPS_CLIENT_H_
