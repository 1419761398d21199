#include "server/region_holds.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "proto/tensor_codec.h"
#include "request/shared_memory_request.h"

namespace tensorops::server {

namespace v1 = ::tensorops::v1;

absl::StatusOr<FoundRegion> RegionHolds::Find(const v1::SharedMemoryRef& ref,
                                              absl::string_view field) {
  TENSOROPS_RETURN_IF_ERROR(request::ValidateRegionRef(ref, field));
  TENSOROPS_ASSIGN_OR_RETURN(FoundRegion found,
                             registry_->Find(owner_, ref.region()));
  held_.emplace_back(ref.region(), found.mapping);
  return found;
}

absl::StatusOr<std::optional<ChunkedBytes>> RegionHolds::Input(
    const v1::Tensor& tensor, const std::optional<ChunkedBytes>& lifted,
    absl::string_view field) {
  if (!tensor.has_shared_memory()) return lifted;
  if (lifted.has_value() || !tensor.data().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " has both data and shared_memory; expected one of them"));
  }
  // The dtype and shape first: they say how many bytes the range must hold.
  TENSOROPS_ASSIGN_OR_RETURN(
      const wire::TensorSpec spec,
      wire::SpecFromProto(tensor, field, wire::DataPolicy::kOptional));
  const std::string ref_field = absl::StrCat(field, ".shared_memory");
  TENSOROPS_ASSIGN_OR_RETURN(const FoundRegion found,
                             Find(tensor.shared_memory(), ref_field));
  const v1::SharedMemoryRef& ref = tensor.shared_memory();
  TENSOROPS_RETURN_IF_ERROR(request::CheckRegionRange(
      ref, static_cast<int64_t>(found.mapping->bytes().size()), found.offset,
      static_cast<int64_t>(DTypeSize(spec.dtype)), spec.byte_size,
      request::RefSize::kExact, ref_field));
  const absl::Span<const std::byte> bytes = found.mapping->bytes().subspan(
      static_cast<size_t>(ref.offset()), static_cast<size_t>(ref.byte_size()));
  return ChunkedBytes({bytes}, Sharing::kShared);
}

absl::StatusOr<OutputMemory> RegionHolds::Output(const v1::SharedMemoryRef& ref,
                                                 DType dtype, int64_t byte_size,
                                                 absl::string_view field) {
  TENSOROPS_ASSIGN_OR_RETURN(const FoundRegion found, Find(ref, field));
  if (!found.mapping->writable()) {
    return absl::FailedPreconditionError(absl::StrCat(
        field, " names region ", ref.region(),
        ", which the server could map only read-only; expected a region the "
        "server may write (its object writable by the server's user)"));
  }
  TENSOROPS_RETURN_IF_ERROR(request::CheckRegionRange(
      ref, static_cast<int64_t>(found.mapping->bytes().size()), found.offset,
      static_cast<int64_t>(DTypeSize(dtype)), byte_size,
      request::RefSize::kAtLeast, field));
  return OutputMemory{
      .bytes = found.mapping->bytes().subspan(static_cast<size_t>(ref.offset()),
                                              static_cast<size_t>(byte_size)),
      .owner = found.mapping};
}

absl::Status RegionHolds::CheckIntact() const {
  for (const auto& [name, mapping] : held_) {
    if (mapping->truncated()) return MappedRegion::TruncationError(name);
  }
  return absl::OkStatus();
}

void RegionResultToProto(DType dtype, ShapeView shape,
                         const v1::SharedMemoryRef& ref, int64_t byte_size,
                         v1::Tensor* out) {
  wire::SpecToProto(dtype, shape, out);
  v1::SharedMemoryRef* where = out->mutable_shared_memory();
  where->set_region(ref.region());
  where->set_offset(ref.offset());
  where->set_byte_size(byte_size);
}

}  // namespace tensorops::server
