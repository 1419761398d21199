"""tensorops.Client: the service's calls on NumPy arrays and torch tensors."""

import collections
import os

from tensorops import _codec, _grpcio_transport, _native_transport, _streaming
from tensorops._shared_memory import SharedMemory
from tensorops.v1 import tensor_ops_pb2 as pb
from tensorops._grpcio_transport import AFFINITY_METADATA_KEY  # noqa: F401 (re-exported)

DEFAULT_ADDRESS = "127.0.0.1:50051"
# Calls whose tensors (request or result) are larger than this stream them
# (TopKStream and the like) unless told otherwise.
DEFAULT_STREAM_THRESHOLD_BYTES = _streaming.DEFAULT_THRESHOLD_BYTES

TopKResult = collections.namedtuple("TopKResult", ["values", "indices", "session_id"])
TopKResult.__doc__ = """torch.topk's (values, indices), plus the session id
that Backward takes when the call saved one (else None)."""
SelectionResult = collections.namedtuple("SelectionResult",
                                         ["values", "indices", "session_id"])
SelectionResult.__doc__ = """The (values, indices) of sort, kthvalue, max, min or
median, plus the session id that Backward takes when the call saved one (else
None)."""

# What one call is sent with: its deadline in seconds (None for none), its
# affinity key (None for none), and whether it streams (True, False, or None:
# by size).
_CallSettings = collections.namedtuple("_CallSettings",
                                       ["timeout", "affinity_key", "stream"])


def _refuse_stream(settings):
    if settings.stream:
        raise ValueError("stream=True cannot go with shared memory (out= or an input in "
                         "a region): streamed calls carry every byte in chunks")


def _read(path):
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


class Client:
    """A connection to a tensorops server.

    Tensors go in as NumPy arrays, torch tensors, or anything np.asarray
    takes (Python lists follow NumPy's dtype rules: floats are float64).
    Results are NumPy arrays, or torch tensors when the input was one
    (and always for bfloat16, which NumPy lacks).

    Calls go through the C++ client (the tensorops._native extension):
    contiguous inputs are sent from their own memory, results view the
    received bytes, and the GIL is released while a call is in flight, so
    threads may share a client and call concurrently. With `channel=` (or
    without the extension) they go through grpcio instead, copying each
    tensor in and out of protobuf messages.

    Tensors of any size: calls whose tensors are larger than
    `stream_threshold_bytes` go through the streamed RPCs, which carry them
    in chunks past the 2 GiB a message can hold (np.memmap inputs are read
    as they are sent, never whole into memory); `stream=True` or `False`
    on a call decides for it.

    Every failed call raises a tensorops.TensorOpsError subclass whose
    `code` is the grpc.StatusCode and `details` the server's message.
    """

    def __init__(self, address=None, timeout=30.0, *, channel=None,
                 affinity_key=None, auth_token=None, tls=False, tls_ca=None,
                 tls_cert=None, tls_key=None, tls_server_name=None,
                 stream_threshold_bytes=DEFAULT_STREAM_THRESHOLD_BYTES):
        """`address`: host:port; by default $TENSOROPS_ADDRESS when set and
        not empty, else 127.0.0.1:50051. `timeout`: default deadline of each
        call in seconds (None for
        none). `channel`: an existing grpc.Channel to call through (grpcio)
        instead of connecting to `address`. `affinity_key`: sent on every
        call as `x-tensorops-affinity` metadata, which the shipped load
        balancer configs hash on, so a session's TopK and Backward reach the
        same replica. `auth_token`: sent as `authorization: Bearer <token>`
        (for servers with --auth_tokens_file); by default
        $TENSOROPS_AUTH_TOKEN when set and not empty, as for the CLI. TLS: `tls=True` verifies the
        server with the system's CAs, `tls_ca` (a PEM file path) with those
        CAs; `tls_cert` and `tls_key` (PEM file paths) present a client
        certificate for mutual TLS; `tls_server_name` is the name the
        server's certificate must carry when it is not the address's host.
        Any TLS argument implies tls=True. `stream_threshold_bytes`: calls
        whose request or result tensors are larger than this stream them
        (see the class's docstring)."""
        if address is None:
            address = os.environ.get("TENSOROPS_ADDRESS") or DEFAULT_ADDRESS
        if auth_token is None:
            auth_token = os.environ.get("TENSOROPS_AUTH_TOKEN") or None
        token = None if auth_token is None else str(auth_token)
        threshold = int(stream_threshold_bytes)
        if threshold < 0:
            raise ValueError(f"stream_threshold_bytes is {threshold}; expected >= 0")
        if channel is not None:
            self._transport = _grpcio_transport.GrpcioTransport(
                channel, False, token, stream_threshold_bytes=threshold)
        else:
            tls = bool(tls or tls_ca or tls_cert or tls_key or tls_server_name)
            if bool(tls_cert) != bool(tls_key):
                raise ValueError("tls_cert and tls_key go together (a client "
                                 "certificate needs its private key)")
            pems = (_read(tls_ca), _read(tls_cert), _read(tls_key)) if tls else (None,) * 3
            if _native_transport.available():
                self._transport = _native_transport.NativeTransport(
                    address, token, tls, *pems, tls_server_name, threshold)
            else:
                self._transport = _grpcio_transport.GrpcioTransport(
                    _grpcio_transport.connect(address, tls, *pems, tls_server_name),
                    True, token, stream_threshold_bytes=threshold)
        self._closed = False
        # Shared memory regions this client registered, by name.
        self._regions = {}
        self.address = address
        self.timeout = timeout
        self.affinity_key = affinity_key
        self.auth_token = auth_token
        self.stream_threshold_bytes = threshold

    @property
    def transport(self):
        """"native" (the C++ client) or "grpcio"."""
        return "grpcio" if isinstance(self._transport, _grpcio_transport.GrpcioTransport) \
            else "native"

    @property
    def closed(self):
        return self._closed

    def close(self):
        """Closes the connection (not a channel passed in). Calls afterwards
        raise ValueError. Shared memory regions registered through it are
        unregistered first."""
        if not self._closed:
            for region in list(self._regions.values()):
                region.close()
            self._closed = True
            self._transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _settings(self, timeout, stream=None):
        if self._closed:
            raise ValueError("the client is closed")
        if stream not in (None, True, False):
            raise TypeError(f"stream is {stream!r}; expected None, True or False")
        key = self.affinity_key
        return _CallSettings(self.timeout if timeout is None else timeout,
                             None if key is None else str(key), stream)

    def zeros_like(self, x, dtype=None, *, out=None, timeout=None, stream=None):
        """torch.zeros_like(x, dtype=dtype). Only x's dtype and shape are
        sent. `out`: a tensorops.SharedMemory to place the result in, or an
        array in one (of the result's dtype and shape) to write it into.
        `stream`: True or False to use the streamed call or not, whatever
        the result's size (None: the client's stream_threshold_bytes
        decides)."""
        return self._fill(self._transport.zeros_like, "ZerosLike", x, dtype, out, timeout,
                          stream)

    def ones_like(self, x, dtype=None, *, out=None, timeout=None, stream=None):
        """torch.ones_like(x, dtype=dtype); `out` and `stream` as in
        zeros_like."""
        return self._fill(self._transport.ones_like, "OnesLike", x, dtype, out, timeout,
                          stream)

    def _fill(self, call, method, x, dtype, out, timeout, stream):
        spec = _codec.prepare(x, with_data=False)
        settings = self._settings(timeout, stream)
        as_torch = _codec.is_torch_tensor(x)
        if out is None:
            output = call(spec, _codec.dtype_name(dtype), settings)
            return self._transport.decode(output, as_torch)
        _refuse_stream(settings)
        name = _codec.dtype_name(dtype) or spec.dtype
        target = self._output_place(out, spec.shape, name, as_torch, "out")
        request_type = pb.ZerosLikeRequest if method == "ZerosLike" else pb.OnesLikeRequest
        request = request_type(
            input=pb.Tensor(dtype=_codec.wire_dtype(spec.dtype), shape=spec.shape),
            output_shared_memory=target[1])
        if dtype is not None:
            request.dtype = _codec.wire_dtype(dtype)
        response_type = pb.ZerosLikeResponse if method == "ZerosLike" else pb.OnesLikeResponse
        self._transport.call(method, request, response_type, settings)
        return target[0]

    def topk(self, x, k, dim=-1, largest=True, sorted=True, *, save_for_backward=False,
             out=None, timeout=None, stream=None):
        """torch.topk(x, k, dim, largest, sorted) as a TopKResult(values,
        indices, session_id). With save_for_backward the server keeps what
        backward() needs under session_id; release it with
        release_session() if backward() will not be called.

        An `x` in a tensorops.SharedMemory of this client goes by reference.
        `out`: a SharedMemory to place values and indices in (returned as
        views of it), or a (values, indices) pair of arrays in one.
        `stream` as in zeros_like (the input's or the result's size
        decides)."""
        settings = self._settings(timeout, stream)
        if out is not None or self._in_region(x):
            _refuse_stream(settings)
            return self._topk_through_regions(x, k, dim, largest, sorted,
                                              save_for_backward, out, settings)
        values, indices, session_id = self._transport.topk(
            _codec.prepare(x), k, dim, largest, sorted, save_for_backward, settings)
        as_torch = _codec.is_torch_tensor(x)
        decode = self._transport.decode
        return TopKResult(decode(values, as_torch), decode(indices, as_torch),
                          session_id or None)

    # The selection family: unary calls (no streamed form yet), tensors
    # inline (no shared memory yet). Rules as in the proto's SortRequest.

    def sort(self, x, dim=-1, descending=False, stable=False, *, save_for_backward=False,
             timeout=None):
        """torch.sort(x, dim, descending, stable) as a SelectionResult(values,
        indices, session_id). The server's sort is always stable (the lower
        index first among equal values)."""
        return self._select("Sort", x, timeout, dim=dim, descending=descending,
                            stable=stable, save_for_backward=save_for_backward)

    def kthvalue(self, x, k, dim=-1, keepdim=False, *, save_for_backward=False,
                 timeout=None):
        """torch.kthvalue(x, k, dim, keepdim): the k-th smallest (1-based), at
        the lowest index holding it."""
        return self._select("KthValue", x, timeout, k=k, dim=dim, keepdim=keepdim,
                            save_for_backward=save_for_backward)

    def max(self, x, dim=-1, keepdim=False, *, save_for_backward=False, timeout=None):
        """torch.max(x, dim, keepdim) with values and indices (first
        occurrence; NaN propagates)."""
        return self._select("Max", x, timeout, dim=dim, keepdim=keepdim,
                            save_for_backward=save_for_backward)

    def min(self, x, dim=-1, keepdim=False, *, save_for_backward=False, timeout=None):
        """torch.min(x, dim, keepdim), as max."""
        return self._select("Min", x, timeout, dim=dim, keepdim=keepdim,
                            save_for_backward=save_for_backward)

    def median(self, x, dim=-1, keepdim=False, *, save_for_backward=False, timeout=None):
        """torch.median(x, dim, keepdim): the lower middle value (the first
        NaN if the slice has one)."""
        return self._select("Median", x, timeout, dim=dim, keepdim=keepdim,
                            save_for_backward=save_for_backward)

    def _select(self, op, x, timeout, **fields):
        settings = self._settings(timeout)
        if self._in_region(x):
            raise ValueError(f"{op.lower()} takes its input inline only (no shared "
                             "memory yet); pass a NumPy array or torch tensor")
        values, indices, session_id = self._transport.select(
            op, _codec.prepare(x), fields, settings)
        as_torch = _codec.is_torch_tensor(x)
        decode = self._transport.decode
        return SelectionResult(decode(values, as_torch), decode(indices, as_torch),
                               session_id or None)

    def backward(self, grad_values, session_id=None, *, retain_session=False,
                 indices=None, input_shape=None, dim=-1, keepdim=True, out=None,
                 timeout=None, stream=None):
        """The gradient of the input of topk (or sort, kthvalue, max, min,
        median) given `grad_values` (the gradient of its values).

        Either from a saved session (`session_id`; consumed unless
        `retain_session`), or stateless from the op's `indices`, its input's
        `input_shape` and `dim` (`keepdim=False` when grad_values and
        indices lack dim: a reduction's with keepdim=False). Tensors in a tensorops.SharedMemory go by
        reference; `out` places grad_input as in zeros_like (with a session
        and out=SharedMemory, pass input_shape too: the result's shape).
        `stream` as in zeros_like (a session's Backward decides by
        grad_values' size, the stateless one by its request's or result's).
        """
        settings = self._settings(timeout, stream)
        if out is not None or self._in_region(grad_values) or self._in_region(indices):
            _refuse_stream(settings)
            return self._backward_through_regions(
                grad_values, session_id, retain_session, indices, input_shape, dim,
                keepdim, out, settings)
        if session_id is not None:
            if indices is not None or input_shape is not None:
                raise ValueError("pass either session_id or indices and input_shape, not both")
            grad_input = self._transport.backward(
                _codec.prepare(grad_values), session_id, retain_session, settings)
        else:
            if indices is None or input_shape is None:
                raise ValueError("backward needs session_id, or both indices and input_shape")
            if retain_session:
                raise ValueError("retain_session needs session_id")
            grad_input = self._transport.stateless_backward(
                _codec.prepare(grad_values), _codec.prepare(indices),
                [int(d) for d in input_shape], dim, keepdim, settings)
        return self._transport.decode(grad_input, _codec.is_torch_tensor(grad_values))

    # Shared memory (servers with --allow_shared_memory, on this host).

    def register_shared_memory(self, name, *, key=None, file=None, offset=0, byte_size,
                               timeout=None):
        """Registers [offset, offset + byte_size) of a POSIX shared memory
        object (`key`, "/name") or a file under the server's
        --shared_memory_file_dir (`file`) as region `name`.
        tensorops.SharedMemory does this for a region it creates."""
        request = pb.RegisterSharedMemoryRequest(
            name=name, key=key or "", file=file or "", offset=offset, byte_size=byte_size)
        self._transport.call("RegisterSharedMemory", request, pb.RegisterSharedMemoryResponse,
                             self._settings(timeout))

    def unregister_shared_memory(self, name="", *, timeout=None):
        """Unregisters region `name` (all of this caller's for "")."""
        self._transport.call("UnregisterSharedMemory",
                             pb.UnregisterSharedMemoryRequest(name=name),
                             pb.UnregisterSharedMemoryResponse, self._settings(timeout))

    def list_shared_memory(self, *, timeout=None):
        """This caller's regions on the server, as dicts."""
        response = self._transport.call("ListSharedMemory", pb.ListSharedMemoryRequest(),
                                        pb.ListSharedMemoryResponse, self._settings(timeout))
        return [{field: getattr(region, field) for field in region.DESCRIPTOR.fields_by_name}
                for region in response.regions]

    def _region_of(self, value):
        """(region, offset) of an array in one of this client's regions, or
        None."""
        if value is None or not self._regions:
            return None
        for region in self._regions.values():
            offset = region.offset_of(value)
            if offset is not None:
                return region, offset
        return None

    def _in_region(self, value):
        return self._region_of(value) is not None

    def _wire_input(self, value):
        """A tensorops.v1.Tensor for `value`: by reference when it lies in a
        region, else carrying its bytes."""
        prepared = _codec.prepare(value)
        found = self._region_of(prepared.data)
        if found is None:
            return _codec.to_wire(prepared)
        region, offset = found
        return pb.Tensor(dtype=_codec.wire_dtype(prepared.dtype), shape=prepared.shape,
                         shared_memory=pb.SharedMemoryRef(
                             region=region.name, offset=offset,
                             byte_size=prepared.data.nbytes))

    def _output_place(self, out, shape, dtype, as_torch, what):
        """(array, SharedMemoryRef) where a result of `shape` and `dtype`
        goes: allocated in `out` (a SharedMemory) or `out` itself (an array
        in a region, of that dtype and shape)."""
        if isinstance(out, SharedMemory):
            array = out.empty(shape, dtype, torch=as_torch)
            return array, out.ref(array)
        found = self._region_of(out)
        if found is None:
            raise ValueError(f"{what} must be a tensorops.SharedMemory of this client or "
                             "an array in one")
        if tuple(out.shape) != tuple(shape) or _codec.dtype_name(out.dtype) != dtype:
            raise ValueError(f"{what} is {_codec.dtype_name(out.dtype)} {tuple(out.shape)}; "
                             f"the result is {dtype} {tuple(shape)}")
        return out, found[0].ref(out)

    def _topk_through_regions(self, x, k, dim, largest, sorted, save, out, settings):
        request = pb.TopKRequest(input=self._wire_input(x), k=k, dim=dim, largest=largest,
                                 sorted=sorted, save_for_backward=save)
        as_torch = _codec.is_torch_tensor(x)
        places = None
        if out is not None:
            name = _codec.wire_name(request.input.dtype)
            shape = list(request.input.shape)
            if shape:
                shape[dim] = k
            if isinstance(out, tuple):
                values_out, indices_out = out
            else:
                values_out = indices_out = out
            places = (self._output_place(values_out, shape, name, as_torch, "out values"),
                      self._output_place(indices_out, shape, "int64", as_torch, "out indices"))
            request.values_shared_memory.CopyFrom(places[0][1])
            request.indices_shared_memory.CopyFrom(places[1][1])
        response = self._transport.call("TopK", request, pb.TopKResponse, settings)
        if places is not None:
            values, indices = places[0][0], places[1][0]
        else:
            values = _codec.from_wire(response.values, as_torch)
            indices = _codec.from_wire(response.indices, as_torch)
        return TopKResult(values, indices, response.session_id or None)

    def _backward_through_regions(self, grad_values, session_id, retain_session, indices,
                                  input_shape, dim, keepdim, out, settings):
        request = pb.BackwardRequest(grad_values=self._wire_input(grad_values),
                                     retain_session=retain_session)
        if session_id is not None:
            if indices is not None:
                raise ValueError("pass either session_id or indices and input_shape, not both")
            request.session_id = session_id
        else:
            if indices is None or input_shape is None:
                raise ValueError("backward needs session_id, or both indices and input_shape")
            request.indices.CopyFrom(self._wire_input(indices))
            request.input_shape.extend(int(d) for d in input_shape)
            request.dim = dim
            if not keepdim:
                request.keepdim = False
        as_torch = _codec.is_torch_tensor(grad_values)
        place = None
        if out is not None:
            if input_shape is not None:
                shape = [int(d) for d in input_shape]
            elif hasattr(out, "shape"):
                shape = list(out.shape)
            else:
                raise ValueError("out=SharedMemory with a session needs input_shape (the "
                                 "saved input's shape) to place grad_input")
            name = _codec.wire_name(request.grad_values.dtype)
            place = self._output_place(out, shape, name, as_torch, "out")
            request.grad_input_shared_memory.CopyFrom(place[1])
        response = self._transport.call("Backward", request, pb.BackwardResponse, settings)
        if place is not None:
            return place[0]
        return _codec.from_wire(response.grad_input, as_torch)

    def release_session(self, session_id, *, timeout=None):
        """Frees a saved session. NotFoundError if the server holds none."""
        self._transport.release_session(session_id, self._settings(timeout))

    def server_info(self, *, timeout=None):
        """The server's version, backend, limits and session counts as a
        dict."""
        response = self._transport.server_info(self._settings(timeout))
        return {name: getattr(response, name) for name in response.DESCRIPTOR.fields_by_name}

    def health(self, service="", *, timeout=None):
        """grpc.health.v1 status of `service` ("" for the whole server):
        "SERVING", "NOT_SERVING", ..."""
        return self._transport.health(service, self._settings(timeout))
