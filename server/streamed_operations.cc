#include "server/streamed_operations.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/op_plans.h"
#include "core/status_macros.h"
#include "proto/tensor_codec.h"
#include "request/backward_request.h"
#include "request/stream_request.h"
#include "server/session_effects.h"

namespace tensorops::server {
namespace {

namespace v1 = ::tensorops::v1;

std::string Describe(absl::string_view what, DType dtype, ShapeView shape) {
  return absl::StrCat(what, " (", DTypeName(dtype), " ", ShapeToString(shape),
                      ")");
}

// Received chunks in order, taken from the front in batches.
class ChunkQueue {
 public:
  struct Batch {
    ChunkedBytes bytes;
    // Keeps the received messages the bytes lie in alive.
    std::vector<std::shared_ptr<const void>> holders;
  };

  int64_t pending() const { return pending_; }

  void Append(ReceivedChunk chunk) {
    pending_ += static_cast<int64_t>(chunk.bytes.size());
    chunks_.push_back(std::move(chunk));
  }

  // The first `bytes` (at most pending()) bytes, in place.
  Batch Take(int64_t bytes) {
    Batch batch;
    std::vector<absl::Span<const std::byte>> spans;
    while (bytes > 0) {
      ReceivedChunk& front = chunks_.front();
      const size_t size = front.bytes.size();
      const size_t taken = std::min<size_t>(size, static_cast<size_t>(bytes));
      const ChunkedBytes part = front.bytes.Subrange(0, taken);
      spans.insert(spans.end(), part.chunks().begin(), part.chunks().end());
      batch.holders.push_back(front.holder);
      if (taken == size) {
        chunks_.pop_front();
      } else {
        front.bytes = front.bytes.Subrange(taken, size - taken);
      }
      bytes -= static_cast<int64_t>(taken);
      pending_ -= static_cast<int64_t>(taken);
    }
    batch.bytes = ChunkedBytes(std::move(spans));
    return batch;
  }

 private:
  std::deque<ReceivedChunk> chunks_;
  int64_t pending_ = 0;
};

// Tensors sent whole, one after the other.
class TensorPieces final : public ResponsePieces {
 public:
  explicit TensorPieces(std::vector<Tensor> tensors)
      : tensors_(std::move(tensors)) {}

  absl::StatusOr<std::optional<Tensor>> Next() override {
    if (next_ == tensors_.size()) return std::nullopt;
    return tensors_[next_++];
  }

 private:
  std::vector<Tensor> tensors_;
  size_t next_ = 0;
};

class StreamedTopK final : public StreamedOperation {
 public:
  StreamedTopK(const StreamContext& context, v1::TopKRequest request,
               request::StreamedTopKPlan plan, TopKResult result)
      : backend_(context.backend),
        sessions_(context.sessions),
        caller_(context.caller),
        request_(std::move(request)),
        plan_(std::move(plan)),
        result_(std::move(result)),
        batch_bytes_(std::max(kStreamBatchBytes, plan_.slice_bytes)) {}

  int64_t expected_bytes() const override { return plan_.input_bytes; }
  std::string describe_bytes() const override {
    return Describe("TopKStream's input", plan_.dtype, plan_.shape);
  }
  void Append(ReceivedChunk chunk) override {
    received_.Append(std::move(chunk));
  }
  int64_t pending_bytes() const override { return received_.pending(); }
  int64_t hold_limit() const override { return 2 * batch_bytes_; }

  std::optional<StreamWork> TakeWork(bool all_received) override {
    if (plan_.slice_bytes == 0) return std::nullopt;
    const int64_t slices = received_.pending() / plan_.slice_bytes;
    const int64_t bytes = slices * plan_.slice_bytes;
    if (slices == 0 || (!all_received && bytes < batch_bytes_)) {
      return std::nullopt;
    }
    const int64_t first = next_slice_;
    next_slice_ += slices;
    return StreamWork{.bytes = bytes,
                      .run = [this, first, slices,
                              batch = received_.Take(bytes)]() -> absl::Status {
                        return Select(first, slices, batch.bytes);
                      }};
  }

  absl::StatusOr<StreamResponse> Respond(CallOutcome& outcome) override {
    auto header = std::make_unique<v1::TopKResponse>();
    wire::SpecToProto(result_.values.dtype(), result_.values.shape(),
                      header->mutable_values());
    wire::SpecToProto(DType::kInt64, result_.indices.shape(),
                      header->mutable_indices());
    if (plan_.call.save_for_backward) {
      TENSOROPS_ASSIGN_OR_RETURN(
          std::string session_id,
          SaveSessionIfDelivered(
              sessions_,
              request::SavedSelection{.indices = result_.indices,
                                      .input_shape = plan_.shape,
                                      .dim = plan_.call.wrapped_dim,
                                      .op = request::SelectionOp::kTopK},
              caller_, outcome));
      header->set_session_id(std::move(session_id));
    }
    return StreamResponse{
        .header = std::move(header),
        .pieces = std::make_unique<TensorPieces>(
            std::vector<Tensor>{result_.values, result_.indices})};
  }

 private:
  // TopK of slices [first, first + count), whose bytes are `bytes`, into
  // their rows of the result.
  absl::Status Select(int64_t first, int64_t count, const ChunkedBytes& bytes) {
    const DimGeometry& input = plan_.call.plan.input;
    const int64_t k = plan_.call.plan.k;
    TENSOROPS_ASSIGN_OR_RETURN(
        ChunkedTensor slices,
        ChunkedTensor::View(plan_.dtype, {count, input.size, input.inner},
                            bytes, /*owner=*/nullptr));
    TopKOptions options = plan_.call.options;
    options.k = k;
    options.dim = 1;
    const size_t values_row = k * input.inner * DTypeSize(plan_.dtype);
    const size_t indices_row = k * input.inner * sizeof(int64_t);
    const OutputMemory values{
        .bytes =
            absl::MakeSpan(result_.values.mutable_data() + first * values_row,
                           count * values_row),
        .owner = nullptr};
    const OutputMemory indices{
        .bytes =
            absl::MakeSpan(result_.indices.mutable_data() + first * indices_row,
                           count * indices_row),
        .owner = nullptr};
    return backend_
        .TopKOfChunks(slices, options,
                      TopKOutputMemory{.values = &values, .indices = &indices})
        .status();
  }

  Backend& backend_;
  SessionCache& sessions_;
  const std::string caller_;
  const v1::TopKRequest request_;
  const request::StreamedTopKPlan plan_;
  TopKResult result_;  // allocated whole, filled slice by slice
  const int64_t batch_bytes_;
  ChunkQueue received_;
  int64_t next_slice_ = 0;
};

// grad_input of a validated plan, a few slices at a time.
class BackwardPieces final : public ResponsePieces {
 public:
  // `grad` and `indices`: plan's, contiguous.
  BackwardPieces(Backend& backend, request::BackwardRequestPlan plan,
                 TopKBackwardPlan geometry, Tensor grad, Tensor indices,
                 std::vector<Tensor> owners)
      : backend_(backend),
        plan_(std::move(plan)),
        geometry_(std::move(geometry)),
        grad_(std::move(grad)),
        indices_(std::move(indices)),
        owners_(std::move(owners)) {
    const DimGeometry& out = geometry_.output;
    const int64_t slice_bytes =
        out.size * out.inner *
        static_cast<int64_t>(DTypeSize(plan_.grad.dtype()));
    slices_per_piece_ =
        slice_bytes == 0
            ? 1
            : std::max<int64_t>(1, kStreamBatchBytes / slice_bytes);
  }

  absl::StatusOr<std::optional<Tensor>> Next() override {
    const DimGeometry& out = geometry_.output;
    if (plan_.output_bytes == 0 || next_ >= out.outer) return std::nullopt;
    const int64_t count = std::min(slices_per_piece_, out.outer - next_);
    const int64_t k = geometry_.k;
    const size_t grad_slice = k * out.inner * DTypeSize(plan_.grad.dtype());
    const size_t indices_slice = k * out.inner * sizeof(int64_t);
    TENSOROPS_ASSIGN_OR_RETURN(
        Tensor grad, Tensor::View(grad_.dtype(), {count, k, out.inner},
                                  grad_.bytes().subspan(next_ * grad_slice,
                                                        count * grad_slice),
                                  /*owner=*/nullptr));
    TENSOROPS_ASSIGN_OR_RETURN(
        Tensor indices,
        Tensor::View(DType::kInt64, {count, k, out.inner},
                     indices_.bytes().subspan(next_ * indices_slice,
                                              count * indices_slice),
                     /*owner=*/nullptr));
    const Shape shape = {count, out.size, out.inner};
    TENSOROPS_ASSIGN_OR_RETURN(
        Tensor piece, backend_.TopKBackward(grad, indices, shape, /*dim=*/1));
    next_ += count;
    return piece;
  }

 private:
  Backend& backend_;
  const request::BackwardRequestPlan plan_;
  const TopKBackwardPlan geometry_;
  const Tensor grad_;
  const Tensor indices_;
  // The received tensors and the session's indices the plan reads.
  const std::vector<Tensor> owners_;
  int64_t slices_per_piece_ = 1;
  int64_t next_ = 0;
};

class StreamedBackward final : public StreamedOperation {
 public:
  StreamedBackward(const StreamContext& context, v1::BackwardRequest request,
                   request::StreamedBackwardLayout layout, Tensor grad_values,
                   std::optional<Tensor> indices)
      : backend_(context.backend),
        sessions_(context.sessions),
        limits_(context.limits),
        caller_(context.caller),
        request_(std::move(request)),
        layout_(std::move(layout)),
        grad_values_(std::move(grad_values)),
        indices_(std::move(indices)) {}

  int64_t expected_bytes() const override { return layout_.total_bytes(); }
  std::string describe_bytes() const override {
    std::string what =
        Describe("BackwardStream's grad_values", layout_.grad_values.dtype,
                 layout_.grad_values.shape);
    if (layout_.indices) {
      absl::StrAppend(
          &what, " and ",
          Describe("indices", layout_.indices->dtype, layout_.indices->shape));
    }
    return what;
  }
  void Append(ReceivedChunk chunk) override {
    received_.Append(std::move(chunk));
  }
  int64_t pending_bytes() const override { return received_.pending(); }
  int64_t hold_limit() const override { return 2 * kStreamBatchBytes; }

  std::optional<StreamWork> TakeWork(bool all_received) override {
    const int64_t bytes = received_.pending();
    if (bytes == 0 || (!all_received && bytes < kStreamBatchBytes)) {
      return std::nullopt;
    }
    const int64_t offset = copied_;
    copied_ += bytes;
    return StreamWork{.bytes = bytes,
                      .run = [this, offset, batch = received_.Take(bytes)] {
                        CopyIn(offset, batch.bytes);
                        return absl::OkStatus();
                      }};
  }

  absl::StatusOr<StreamResponse> Respond(CallOutcome& outcome) override {
    const request::RequestLimits limits = request::StreamedLimits(limits_);
    request::BackwardTensorBytes bytes;
    bytes.grad_values = ChunkedBytes({grad_values_.bytes()});
    if (indices_.has_value()) bytes.indices = ChunkedBytes({indices_->bytes()});
    TENSOROPS_ASSIGN_OR_RETURN(
        request::BackwardInputs inputs,
        request::DecodeBackwardRequest(request_, limits, bytes));
    std::shared_ptr<const request::SavedSelection> saved;
    if (inputs.uses_session) {
      TENSOROPS_ASSIGN_OR_RETURN(saved,
                                 sessions_.Get(request_.session_id(), caller_));
    }
    TENSOROPS_ASSIGN_OR_RETURN(
        request::BackwardRequestPlan plan,
        request::PlanBackwardRequest(std::move(inputs), saved.get(), limits));
    TENSOROPS_RETURN_IF_ERROR(
        request::CheckStreamedBackwardSlice(plan, limits_));
    TENSOROPS_ASSIGN_OR_RETURN(
        TopKBackwardPlan geometry,
        PlanTopKBackward(plan.grad.dtype(), plan.grad.shape(),
                         plan.indices.dtype(), plan.indices.shape(),
                         plan.input_shape, plan.dim));
    // Every index is checked before the first chunk goes out: an error
    // after part of grad_input would leave the client with half a result.
    // Views: the stream's own buffers and the session's indices are one
    // private chunk each.
    TENSOROPS_ASSIGN_OR_RETURN(Tensor grad, plan.grad.Materialize());
    TENSOROPS_ASSIGN_OR_RETURN(Tensor indices, plan.indices.Materialize());
    TENSOROPS_RETURN_IF_ERROR(CheckTopKBackwardIndices(indices, geometry));
    if (saved != nullptr && !request_.retain_session()) {
      TENSOROPS_RETURN_IF_ERROR(ConsumeSessionIfDelivered(
          sessions_, request_.session_id(), caller_, outcome));
    }
    auto header = std::make_unique<v1::BackwardResponse>();
    wire::SpecToProto(plan.grad.dtype(), plan.input_shape,
                      header->mutable_grad_input());
    std::vector<Tensor> owners = {grad_values_};
    if (indices_.has_value()) owners.push_back(*indices_);
    return StreamResponse{
        .header = std::move(header),
        .pieces = std::make_unique<BackwardPieces>(
            backend_, std::move(plan), std::move(geometry), std::move(grad),
            std::move(indices), std::move(owners))};
  }

 private:
  // Stream bytes [offset, offset + bytes.size()) into grad_values, then
  // indices.
  void CopyIn(int64_t offset, const ChunkedBytes& bytes) {
    const int64_t grad_bytes = layout_.grad_values.byte_size;
    const int64_t size = static_cast<int64_t>(bytes.size());
    const int64_t to_grad = std::clamp<int64_t>(grad_bytes - offset, 0, size);
    if (to_grad > 0) {
      bytes.CopyTo(0, to_grad, grad_values_.mutable_data() + offset);
    }
    if (size > to_grad) {
      bytes.CopyTo(to_grad, size - to_grad,
                   indices_->mutable_data() + (offset + to_grad - grad_bytes));
    }
  }

  Backend& backend_;
  SessionCache& sessions_;
  const request::RequestLimits& limits_;
  const std::string caller_;
  const v1::BackwardRequest request_;
  const request::StreamedBackwardLayout layout_;
  Tensor grad_values_;             // filled as the chunks arrive
  std::optional<Tensor> indices_;  // the stateless form's
  ChunkQueue received_;
  int64_t copied_ = 0;
};

// One chunk of the fill value, sent as often as the result needs.
class FillPieces final : public ResponsePieces {
 public:
  FillPieces(Tensor chunk, int64_t elements)
      : chunk_(std::make_shared<Tensor>(std::move(chunk))),
        remaining_(elements) {}

  absl::StatusOr<std::optional<Tensor>> Next() override {
    if (remaining_ == 0) return std::nullopt;
    const int64_t count = std::min(remaining_, chunk_->num_elements());
    remaining_ -= count;
    return Tensor::View(
        chunk_->dtype(), {count},
        chunk_->bytes().first(count * DTypeSize(chunk_->dtype())), chunk_);
  }

 private:
  const std::shared_ptr<const Tensor> chunk_;
  int64_t remaining_;
};

template <typename Response>
class StreamedFill final : public StreamedOperation {
 public:
  StreamedFill(const StreamContext& context, request::FillPlan plan,
               absl::string_view method)
      : backend_(context.backend),
        chunk_bytes_(context.chunk_bytes),
        plan_(std::move(plan)),
        method_(method) {}

  int64_t expected_bytes() const override { return 0; }
  std::string describe_bytes() const override {
    return absl::StrCat(method_,
                        "'s request, which takes no chunks (only the input's "
                        "dtype and shape are used)");
  }
  void Append(ReceivedChunk) override {}
  int64_t pending_bytes() const override { return 0; }
  int64_t hold_limit() const override { return 1; }
  std::optional<StreamWork> TakeWork(bool) override { return std::nullopt; }

  absl::StatusOr<StreamResponse> Respond(CallOutcome&) override {
    TENSOROPS_ASSIGN_OR_RETURN(const int64_t elements,
                               NumElements(plan_.shape));
    const int64_t chunk_elements = std::min<int64_t>(
        elements,
        std::max<int64_t>(
            1, chunk_bytes_ / static_cast<int64_t>(DTypeSize(plan_.dtype))));
    const Shape chunk_shape = {chunk_elements};
    TENSOROPS_ASSIGN_OR_RETURN(
        Tensor chunk, plan_.ones ? backend_.Ones(plan_.dtype, chunk_shape)
                                 : backend_.Zeros(plan_.dtype, chunk_shape));
    auto header = std::make_unique<Response>();
    wire::SpecToProto(plan_.dtype, plan_.shape, header->mutable_output());
    return StreamResponse{
        .header = std::move(header),
        .pieces = std::make_unique<FillPieces>(std::move(chunk), elements)};
  }

 private:
  Backend& backend_;
  const int64_t chunk_bytes_;
  const request::FillPlan plan_;
  const std::string method_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<StreamedOperation>> StartStreamedTopK(
    const v1::TopKRequest& request, const StreamContext& context) {
  TENSOROPS_ASSIGN_OR_RETURN(
      request::StreamedTopKPlan plan,
      request::PlanStreamedTopK(request, context.limits));
  if (plan.call.save_for_backward) {
    TENSOROPS_RETURN_IF_ERROR(
        context.sessions.CheckFits(SessionCache::SessionFootprintBytes(
            plan.call.indices_bytes, plan.shape.size())));
  }
  TENSOROPS_RETURN_IF_ERROR(
      context.reserve(plan.call.values_bytes + plan.call.indices_bytes +
                      2 * std::max(kStreamBatchBytes, plan.slice_bytes)));
  TENSOROPS_ASSIGN_OR_RETURN(TopKResult result,
                             AllocateTopKResult(plan.dtype, plan.call.plan));
  return std::make_unique<StreamedTopK>(context, request, std::move(plan),
                                        std::move(result));
}

absl::StatusOr<std::unique_ptr<StreamedOperation>> StartStreamedBackward(
    const v1::BackwardRequest& request, const StreamContext& context) {
  TENSOROPS_ASSIGN_OR_RETURN(
      request::StreamedBackwardLayout layout,
      request::PlanStreamedBackward(request, context.limits));
  if (!request.session_id().empty()) {
    // An unknown session fails now, before its gradient is uploaded.
    TENSOROPS_RETURN_IF_ERROR(
        context.sessions.Get(request.session_id(), context.caller).status());
  }
  // The received tensors, and grad_input's pieces (one being produced, two
  // in messages being sent).
  TENSOROPS_RETURN_IF_ERROR(
      context.reserve(layout.total_bytes() + 3 * kStreamBatchBytes));
  TENSOROPS_ASSIGN_OR_RETURN(
      Tensor grad_values,
      Tensor::Allocate(layout.grad_values.dtype, layout.grad_values.shape));
  std::optional<Tensor> indices;
  if (layout.indices.has_value()) {
    TENSOROPS_ASSIGN_OR_RETURN(
        indices,
        Tensor::Allocate(layout.indices->dtype, layout.indices->shape));
  }
  return std::make_unique<StreamedBackward>(context, request, std::move(layout),
                                            std::move(grad_values),
                                            std::move(indices));
}

absl::StatusOr<std::unique_ptr<StreamedOperation>> StartStreamedZerosLike(
    const v1::ZerosLikeRequest& request, const StreamContext& context) {
  TENSOROPS_ASSIGN_OR_RETURN(
      request::FillPlan plan,
      request::PlanStreamedZerosLike(request, context.limits));
  TENSOROPS_RETURN_IF_ERROR(context.reserve(context.chunk_bytes));
  return std::make_unique<StreamedFill<v1::ZerosLikeResponse>>(
      context, std::move(plan), "ZerosLikeStream");
}

absl::StatusOr<std::unique_ptr<StreamedOperation>> StartStreamedOnesLike(
    const v1::OnesLikeRequest& request, const StreamContext& context) {
  TENSOROPS_ASSIGN_OR_RETURN(
      request::FillPlan plan,
      request::PlanStreamedOnesLike(request, context.limits));
  TENSOROPS_RETURN_IF_ERROR(context.reserve(context.chunk_bytes));
  return std::make_unique<StreamedFill<v1::OnesLikeResponse>>(
      context, std::move(plan), "OnesLikeStream");
}

}  // namespace tensorops::server
