// tensorops._native: the Python package's calls on the C++ client
// (client/tensor_ops_client.h), so that Python callers get its speed.
//
// Tensors cross without copies: an input is any C-contiguous buffer (a NumPy
// array, a memory map) that the request reads in place, held until gRPC has
// sent it; a result is a Result object exporting the received bytes through
// the buffer protocol, which NumPy and torch view. The GIL is released while
// a call is in flight, so Python threads run calls concurrently.
//
// tensorops/_client.py is the documented API; this module is its transport.
#include <Python.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/tensor_ops_client.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace tensorops::client::python {
namespace {

namespace py = ::pybind11;

// A failed call or a bad argument, raised in Python as _native.CallError
// with (code, message): tensorops._errors turns it into its error classes.
struct CallFailed {
  int code;
  std::string message;
};

[[noreturn]] void Raise(const absl::Status& status) {
  throw CallFailed{static_cast<int>(status.code()),
                   std::string(status.message())};
}

template <typename T>
T ValueOrRaise(absl::StatusOr<T> value) {
  if (!value.ok()) Raise(value.status());
  return *std::move(value);
}

DType DTypeNamed(const std::string& name) {
  const std::optional<DType> dtype = DTypeFromName(name);
  if (!dtype.has_value()) {
    Raise(absl::InvalidArgumentError(
        absl::StrCat("unknown dtype \"", name, "\"")));
  }
  return *dtype;
}

// Seconds (None: no deadline) as CallOptions; `stream` None leaves the
// choice of the streamed RPC to the client's threshold.
CallOptions CallWithin(std::optional<double> timeout_seconds,
                       std::optional<std::string> affinity_key,
                       std::optional<bool> stream) {
  CallOptions call;
  call.timeout = timeout_seconds.has_value() ? absl::Seconds(*timeout_seconds)
                                             : absl::InfiniteDuration();
  call.affinity_key = std::move(affinity_key);
  call.stream = stream;
  return call;
}

// A tensor reading `buffer` (C-contiguous, any writability) in place: a
// memory map is read page by page as gRPC sends it, never whole. The
// Py_buffer is released, with the GIL, when the last copy of the tensor
// goes: after the call, or later if gRPC still holds a slice of it.
Tensor TensorOfBuffer(const py::object& buffer, const std::string& dtype,
                      const std::vector<int64_t>& shape) {
  auto view = std::make_unique<Py_buffer>();
  if (PyObject_GetBuffer(buffer.ptr(), view.get(), PyBUF_C_CONTIGUOUS) != 0) {
    throw py::error_already_set();
  }
  const absl::Span<const std::byte> bytes(
      static_cast<const std::byte*>(view->buf), static_cast<size_t>(view->len));
  std::shared_ptr<Py_buffer> owner(view.release(), [](Py_buffer* held) {
    // At interpreter exit the exporter is gone with the interpreter.
    if (Py_IsInitialized()) {
      py::gil_scoped_acquire gil;
      PyBuffer_Release(held);
    }
    delete held;
  });
  return ValueOrRaise(Tensor::View(
      DTypeNamed(dtype), Shape(shape.begin(), shape.end()), bytes, owner));
}

// A received tensor for Python: its dtype name and shape, and its bytes
// through the buffer protocol (writable: the response belongs to this
// result alone, and results were writable arrays before).
class Result {
 public:
  explicit Result(Tensor tensor) : tensor_(std::move(tensor)) {}

  std::string dtype() const { return std::string(DTypeName(tensor_.dtype())); }
  py::tuple shape() const { return py::cast(tensor_.shape()); }
  size_t nbytes() const { return tensor_.byte_size(); }

  py::buffer_info Buffer() {
    // Empty tensors may have no storage; NumPy wants a pointer regardless.
    static std::byte empty_storage[1];
    std::byte* data = tensor_.byte_size() == 0
                          ? empty_storage
                          : const_cast<std::byte*>(tensor_.data());
    return py::buffer_info(data, 1, py::format_descriptor<uint8_t>::format(), 1,
                           {static_cast<py::ssize_t>(tensor_.byte_size())}, {1},
                           /*readonly=*/false);
  }

 private:
  Tensor tensor_;
};

struct TlsArgs {
  std::optional<std::string> root_certs_pem;
  std::optional<std::string> cert_chain_pem;
  std::optional<std::string> private_key_pem;
  std::optional<std::string> server_name;
};

class NativeClient {
 public:
  NativeClient(const std::string& address, std::optional<std::string> token,
               bool tls, TlsArgs tls_args, int64_t stream_threshold_bytes) {
    ClientOptions options;
    options.auth_token = std::move(token);
    options.stream_threshold_bytes = stream_threshold_bytes;
    if (tls) {
      options.tls = TlsOptions{
          .root_certs_pem = tls_args.root_certs_pem.value_or(""),
          .cert_chain_pem = tls_args.cert_chain_pem.value_or(""),
          .private_key_pem = tls_args.private_key_pem.value_or(""),
          .server_name = tls_args.server_name.value_or(""),
      };
    }
    client_ = TensorOpsClient::Connect(address, std::move(options));
  }

  Result Fill(bool ones, const std::string& dtype,
              const std::vector<int64_t>& shape,
              std::optional<std::string> out_dtype, const CallOptions& call) {
    // Only the dtype and shape travel.
    const DType input_dtype = DTypeNamed(dtype);
    std::optional<DType> output;
    if (out_dtype.has_value()) output = DTypeNamed(*out_dtype);
    return Result(ValueOrRaise(WithoutGil([&](TensorOpsClient& served) {
      return ones ? served.OnesLike(input_dtype, shape, output, call)
                  : served.ZerosLike(input_dtype, shape, output, call);
    })));
  }

  py::tuple TopK(const py::object& input, const std::string& dtype,
                 const std::vector<int64_t>& shape, TopKParams params,
                 const CallOptions& call) {
    const Tensor tensor = TensorOfBuffer(input, dtype, shape);
    TopKOutput top = ValueOrRaise(WithoutGil([&](TensorOpsClient& served) {
      return served.TopK(tensor, params, call);
    }));
    return py::make_tuple(Result(std::move(top.values)),
                          Result(std::move(top.indices)),
                          std::move(top.session_id));
  }

  // Sort, KthValue, Max, Min or Median (`op`, the RPC's name), with the
  // arguments each takes (the others are ignored).
  py::tuple Select(const std::string& op, const py::object& input,
                   const std::string& dtype, const std::vector<int64_t>& shape,
                   int64_t k, int64_t dim, bool keepdim, bool descending,
                   bool stable, bool save_for_backward,
                   const CallOptions& call) {
    const Tensor tensor = TensorOfBuffer(input, dtype, shape);
    const ReductionParams reduction{
        .dim = dim, .keepdim = keepdim, .save_for_backward = save_for_backward};
    SelectionOutput output =
        ValueOrRaise(WithoutGil([&](TensorOpsClient& served) {
          if (op == "Sort") {
            return served.Sort(
                tensor,
                SortParams{.dim = dim,
                           .descending = descending,
                           .stable = stable,
                           .save_for_backward = save_for_backward},
                call);
          }
          if (op == "KthValue")
            return served.KthValue(tensor, k, reduction, call);
          if (op == "Max") return served.Max(tensor, reduction, call);
          if (op == "Min") return served.Min(tensor, reduction, call);
          if (op == "Median") return served.Median(tensor, reduction, call);
          return absl::StatusOr<SelectionOutput>(absl::InvalidArgumentError(
              absl::StrCat("no selection op ", op,
                           "; expected Sort, KthValue, Max, Min or Median")));
        }));
    return py::make_tuple(Result(std::move(output.values)),
                          Result(std::move(output.indices)),
                          std::move(output.session_id));
  }

  Result Backward(const py::object& grad, const std::string& dtype,
                  const std::vector<int64_t>& shape,
                  const std::string& session_id, bool retain_session,
                  const CallOptions& call) {
    const Tensor tensor = TensorOfBuffer(grad, dtype, shape);
    return Result(ValueOrRaise(WithoutGil([&](TensorOpsClient& served) {
      return served.Backward(session_id, tensor, retain_session, call);
    })));
  }

  Result StatelessBackward(const py::object& grad, const std::string& dtype,
                           const std::vector<int64_t>& shape,
                           const py::object& indices,
                           const std::string& indices_dtype,
                           const std::vector<int64_t>& indices_shape,
                           const std::vector<int64_t>& input_shape, int64_t dim,
                           bool keepdim, const CallOptions& call) {
    const Tensor grad_tensor = TensorOfBuffer(grad, dtype, shape);
    const Tensor indices_tensor =
        TensorOfBuffer(indices, indices_dtype, indices_shape);
    return Result(ValueOrRaise(WithoutGil([&](TensorOpsClient& served) {
      return served.StatelessBackward(grad_tensor, indices_tensor, input_shape,
                                      dim, keepdim, call);
    })));
  }

  void ReleaseSession(const std::string& session_id, const CallOptions& call) {
    const absl::Status status = WithoutGil([&](TensorOpsClient& served) {
      return served.ReleaseSession(session_id, call);
    });
    if (!status.ok()) Raise(status);
  }

  // Any method on serialized messages (the Python side builds requests that
  // carry no tensor bytes, e.g. tensors in shared memory, with protobuf).
  py::bytes CallSerialized(const std::string& method,
                           const std::string& request,
                           const CallOptions& call) {
    return py::bytes(ValueOrRaise(WithoutGil([&](TensorOpsClient& served) {
      return served.CallSerialized(method, request, call);
    })));
  }

  // The serialized GetServerInfoResponse (the Python side reads its fields
  // by name).
  py::bytes ServerInfo(const CallOptions& call) {
    return py::bytes(ValueOrRaise(WithoutGil([&](TensorOpsClient& served) {
                       return served.GetServerInfo(call);
                     })).SerializeAsString());
  }

  std::string Health(const std::string& service, const CallOptions& call) {
    return std::string(
        ServingStatusName(ValueOrRaise(WithoutGil([&](TensorOpsClient& served) {
          return served.Health(service, call);
        }))));
  }

  void Close() {
    std::shared_ptr<TensorOpsClient> closing = std::move(client_);
    py::gil_scoped_release released;
    closing.reset();
  }

 private:
  // `call(client)` with the GIL released, so that other Python threads run
  // (and call) meanwhile. The call holds its own reference to the client: a
  // close() from another thread leaves it to the calls in flight, and the
  // last of them frees it, still without the GIL (closing the channel may
  // wait for gRPC threads, which may need the GIL to release a buffer).
  // Raises once closed.
  template <typename Call>
  std::invoke_result_t<Call, TensorOpsClient&> WithoutGil(Call call) const {
    if (client_ == nullptr) {
      Raise(absl::FailedPreconditionError("the client is closed"));
    }
    std::shared_ptr<TensorOpsClient> served = client_;
    py::gil_scoped_release released;
    auto result = call(*served);
    served.reset();
    return result;
  }

  std::shared_ptr<TensorOpsClient> client_;
};

// zeros_like or ones_like(dtype, shape, out_dtype, call).
auto FillMethod(bool ones) {
  return [ones](NativeClient& self, const std::string& dtype,
                const std::vector<int64_t>& shape,
                std::optional<std::string> out_dtype, const CallOptions& call) {
    return self.Fill(ones, dtype, shape, std::move(out_dtype), call);
  };
}

void DefineModule(py::module_& m) {
  m.doc() = "tensorops' C++ client, for tensorops.Client (see _client.py).";
  static py::exception<CallFailed> call_error(m, "CallError");
  py::register_exception_translator([](std::exception_ptr raised) {
    try {
      if (raised) std::rethrow_exception(raised);
    } catch (const CallFailed& failed) {
      PyErr_SetObject(call_error.ptr(),
                      py::make_tuple(failed.code, failed.message).ptr());
    }
  });

  py::class_<Result>(m, "Result", py::buffer_protocol())
      .def_property_readonly("dtype", &Result::dtype)
      .def_property_readonly("shape", &Result::shape)
      .def_property_readonly("nbytes", &Result::nbytes)
      .def_buffer(&Result::Buffer);

  py::class_<CallOptions>(m, "CallOptions")
      .def(py::init(&CallWithin), py::arg("timeout"), py::arg("affinity_key"),
           py::arg("stream") = py::none());

  py::class_<NativeClient>(m, "Client")
      .def(py::init([](const std::string& address,
                       std::optional<std::string> token, bool tls,
                       std::optional<std::string> root_certs_pem,
                       std::optional<std::string> cert_chain_pem,
                       std::optional<std::string> private_key_pem,
                       std::optional<std::string> server_name,
                       int64_t stream_threshold_bytes) {
             return std::make_unique<NativeClient>(
                 address, std::move(token), tls,
                 TlsArgs{std::move(root_certs_pem), std::move(cert_chain_pem),
                         std::move(private_key_pem), std::move(server_name)},
                 stream_threshold_bytes);
           }),
           py::arg("address"), py::arg("auth_token"), py::arg("tls"),
           py::arg("root_certs_pem"), py::arg("cert_chain_pem"),
           py::arg("private_key_pem"), py::arg("server_name"),
           py::arg("stream_threshold_bytes") =
               ClientOptions().stream_threshold_bytes)
      .def("zeros_like", FillMethod(/*ones=*/false))
      .def("ones_like", FillMethod(/*ones=*/true))
      .def("topk",
           [](NativeClient& self, const py::object& input,
              const std::string& dtype, const std::vector<int64_t>& shape,
              int64_t k, int64_t dim, bool largest, bool sorted,
              bool save_for_backward, const CallOptions& call) {
             return self.TopK(
                 input, dtype, shape,
                 TopKParams{.k = k,
                            .dim = dim,
                            .largest = largest,
                            .sorted = sorted,
                            .save_for_backward = save_for_backward},
                 call);
           })
      .def("select", &NativeClient::Select)
      .def("backward", &NativeClient::Backward)
      .def("stateless_backward", &NativeClient::StatelessBackward)
      .def("release_session", &NativeClient::ReleaseSession)
      .def("server_info", &NativeClient::ServerInfo)
      .def("call", &NativeClient::CallSerialized)
      .def("health", &NativeClient::Health)
      .def("close", &NativeClient::Close);
}

}  // namespace
}  // namespace tensorops::client::python

PYBIND11_MODULE(_native, module) {
  tensorops::client::python::DefineModule(module);
}
