#include "proto/service_methods.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tensorops/v1/tensor_ops.pb.h"

namespace tensorops::wire {

const google::protobuf::ServiceDescriptor& TensorOpsServiceDescriptor() {
  static const google::protobuf::ServiceDescriptor* const service =
      tensorops::v1::TopKRequest::descriptor()->file()->FindServiceByName(
          "TensorOps");
  return *service;
}

int MethodCount() { return TensorOpsServiceDescriptor().method_count(); }

absl::string_view MethodName(int index) {
  return TensorOpsServiceDescriptor().method(index)->name();
}

std::optional<int> MethodIndex(absl::string_view name) {
  const google::protobuf::MethodDescriptor* method =
      TensorOpsServiceDescriptor().FindMethodByName(std::string(name));
  if (method == nullptr) return std::nullopt;
  return method->index();
}

const char* MethodPath(absl::string_view name) {
  static const std::vector<std::string>* const paths = [] {
    auto* all = new std::vector<std::string>();
    const google::protobuf::ServiceDescriptor& service =
        TensorOpsServiceDescriptor();
    for (int i = 0; i < service.method_count(); ++i) {
      all->push_back(absl::StrCat("/", service.full_name(), "/",
                                  service.method(i)->name()));
    }
    return all;
  }();
  const std::optional<int> index = MethodIndex(name);
  return index.has_value() ? (*paths)[*index].c_str() : nullptr;
}

std::string MethodList() {
  std::string list;
  for (int i = 0; i < MethodCount(); ++i) {
    absl::StrAppend(&list, i == 0 ? "" : ", ", MethodName(i));
  }
  return list;
}

int MeteredMethodCount() { return MethodCount() + 1; }

absl::string_view MeteredMethodName(int index) {
  return index == ModelInferMethod() ? "ModelInfer" : MethodName(index);
}

int ModelInferMethod() { return MethodCount(); }

}  // namespace tensorops::wire
