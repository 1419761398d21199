// The RPCs of tensorops.v1.TensorOps, read from the service's descriptor:
// the one list that the server's method registration, its metric labels,
// its usage text and the fuzzer's request kinds derive from.
//
// A method's index is its position in the .proto's `service` block. New
// methods are appended there, so an index, once given, keeps its meaning
// (the fuzzer's corpus names its request kind by it).
#ifndef TENSOROPS_PROTO_SERVICE_METHODS_H_
#define TENSOROPS_PROTO_SERVICE_METHODS_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace tensorops::wire {

const google::protobuf::ServiceDescriptor& TensorOpsServiceDescriptor();

// The number of methods, and the name ("TopK") of the one at `index`, which
// must lie in [0, MethodCount()).
int MethodCount();
absl::string_view MethodName(int index);

// The index of the method called `name`; nullopt if there is none.
std::optional<int> MethodIndex(absl::string_view name);

// The gRPC path of the method called `name` ("/tensorops.v1.TensorOps/TopK"),
// as a C string that lives as long as the program (what grpc's RpcMethod
// takes); nullptr if there is no such method.
const char* MethodPath(absl::string_view name);

// "ZerosLike, OnesLike, TopK, ..." in index order.
std::string MethodList();

// The methods the server's metrics and logs name: TensorOps' at their
// indices, then the Open Inference Protocol's ModelInfer
// (inference.GRPCInferenceService) at ModelInferMethod() == MethodCount().
int MeteredMethodCount();
absl::string_view MeteredMethodName(int index);
int ModelInferMethod();

}  // namespace tensorops::wire

#endif  // TENSOROPS_PROTO_SERVICE_METHODS_H_
