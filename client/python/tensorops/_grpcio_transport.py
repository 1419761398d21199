"""Client calls through grpcio and the generated stubs: the transport for a
caller's own grpc.Channel, and where the native extension is not built.
Each tensor is copied into and out of protobuf messages on the way, or,
past the stream threshold, chunk by chunk through the streamed calls
(tensorops._streaming)."""

import threading

import grpc

from tensorops import _codec, _streaming
from tensorops._errors import ResourceExhaustedError, from_rpc_error
from tensorops.v1 import tensor_ops_pb2 as pb
from tensorops.v1 import tensor_ops_pb2_grpc as pb_grpc

# The metadata key load balancers hash on (deploy/nginx, deploy/envoy).
AFFINITY_METADATA_KEY = "x-tensorops-affinity"

_HEALTH_STATES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _encode_health_request(service):
    # grpc.health.v1.HealthCheckRequest {string service = 1;}, encoded by
    # hand: Debian's python3-grpcio ships no health stubs.
    name = service.encode()
    return b"\x0a" + _varint(len(name)) + name if name else b""


def _decode_health_response(data):
    # HealthCheckResponse {ServingStatus status = 1;}
    status, pos = 0, 0
    while pos < len(data):
        tag, pos = _read_varint(data, pos)
        if tag & 7 == 0:
            value, pos = _read_varint(data, pos)
            if tag >> 3 == 1:
                status = value
        elif tag & 7 == 2:
            size, pos = _read_varint(data, pos)
            pos += size
        else:
            raise ValueError("malformed HealthCheckResponse")
    return _HEALTH_STATES.get(status, "UNKNOWN")


def _read_varint(data, pos):
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def connect(address, tls, root_certs, cert_chain, private_key, server_name):
    """A grpc.Channel to `address` whose message limits are lifted (the
    server's own limit, 600 MiB by default, is the one that applies)."""
    options = [
        ("grpc.max_receive_message_length", -1),
        ("grpc.max_send_message_length", -1),
    ]
    if not tls:
        return grpc.insecure_channel(address, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=root_certs, private_key=private_key,
        certificate_chain=cert_chain)
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return grpc.secure_channel(address, credentials, options=options)


class GrpcioTransport:
    def __init__(self, channel, owns_channel, auth_token,
                 stream_threshold_bytes=_streaming.DEFAULT_THRESHOLD_BYTES):
        self._channel = channel
        self._stream_threshold_bytes = stream_threshold_bytes
        self._owns_channel = owns_channel
        self._stub = pb_grpc.TensorOpsStub(channel)
        self._health_check = channel.unary_unary("/grpc.health.v1.Health/Check")
        self._auth_token = auth_token
        # HoldSharedMemory: (call, event that ends its requests), or None.
        self._hold = None
        self._hold_lock = threading.Lock()

    @staticmethod
    def decode(tensor, as_torch):
        """A result (a tensorops.v1.Tensor, or a streamed one) as an array."""
        if isinstance(tensor, _streaming.Received):
            return _codec.view_bytes(tensor.dtype, tensor.shape, tensor.data, as_torch)
        return _codec.from_wire(tensor, as_torch)

    def close(self):
        with self._hold_lock:
            self._end_hold()
        if self._owns_channel:
            self._channel.close()

    def _end_hold(self):
        if self._hold is not None:
            call, released = self._hold
            released.set()
            call.cancel()
            self._hold = None

    def _hold_shared_memory(self, settings):
        """Opens this client's HoldSharedMemory call unless one is open, as
        the C++ client does before a registration: the server keeps this
        client's regions while the call lives, and unmaps them a grace
        period after the process is gone."""
        with self._hold_lock:
            if self._hold is not None and not self._hold[0].done():
                return
            self._end_hold()
            released = threading.Event()

            def no_requests():
                released.wait()
                return
                yield  # a generator that sends nothing until released

            call = self._stub.HoldSharedMemory(no_requests(),
                                               metadata=self._metadata(settings))
            self._hold = (call, released)
            # Returns once the server has counted the hold (its initial
            # metadata) or refused it, so that no region exists unheld.
            call.initial_metadata()

    def _metadata(self, settings):
        metadata = []
        if settings.affinity_key is not None:
            metadata.append((AFFINITY_METADATA_KEY, settings.affinity_key))
        if self._auth_token is not None:
            metadata.append(("authorization", "Bearer " + self._auth_token))
        return metadata

    def _call(self, method, request, settings):
        try:
            return method(request, timeout=settings.timeout,
                          metadata=self._metadata(settings))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def _streams(self, settings, tensor_bytes):
        """Whether a call whose request or result holds `tensor_bytes`
        streams."""
        if settings.stream is not None:
            return settings.stream
        return tensor_bytes > self._stream_threshold_bytes

    def _stream(self, method, first, arrays, response_type, fields, settings):
        """Streamed call `method` ("TopKStream"): `first` and the bytes of
        `arrays` out, (response, [Received, ...]) back (see
        _streaming.receive for `fields`)."""
        rpc = self._channel.stream_stream(f"/tensorops.v1.TensorOps/{method}")
        try:
            responses = rpc(_streaming.request_messages(first, arrays),
                            timeout=settings.timeout, metadata=self._metadata(settings))
            return _streaming.receive(responses, response_type, fields)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def call(self, method, request, response_type, settings):
        """Method `method` (its name) with a request message built by the
        caller; the response parsed as `response_type`."""
        rpc = self._channel.unary_unary(
            f"/tensorops.v1.TensorOps/{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_type.FromString)
        if method == "RegisterSharedMemory":
            self._hold_shared_memory(settings)
        return self._call(rpc, request, settings)

    def _fill(self, name, request, spec, dtype, settings):
        request.input.CopyFrom(_codec.to_wire(spec))
        if dtype is not None:
            request.dtype = _codec.wire_dtype(dtype)
        if self._streams(settings, _streaming.byte_size(dtype or spec.dtype, spec.shape)):
            stream_request = getattr(pb, f"{name}StreamRequest")(request=request)
            _, (output,) = self._stream(
                f"{name}Stream", stream_request, [], getattr(pb, f"{name}StreamResponse"),
                lambda response: [("output", response.output)], settings)
            return output
        return self._call(getattr(self._stub, name), request, settings).output

    def zeros_like(self, spec, dtype, settings):
        return self._fill("ZerosLike", pb.ZerosLikeRequest(), spec, dtype, settings)

    def ones_like(self, spec, dtype, settings):
        return self._fill("OnesLike", pb.OnesLikeRequest(), spec, dtype, settings)

    def topk(self, x, k, dim, largest, sorted, save_for_backward, settings):
        request = pb.TopKRequest(k=k, dim=dim, largest=largest, sorted=sorted,
                                 save_for_backward=save_for_backward)
        if self._streams(settings, max(x.data.nbytes, _streaming.topk_result_bytes(
                x.dtype, x.shape, k, dim))):
            request.input.CopyFrom(_codec.to_wire(x._replace(data=None)))
            response, (values, indices) = self._stream(
                "TopKStream", pb.TopKStreamRequest(request=request), [x.data],
                pb.TopKStreamResponse,
                lambda response: [("values", response.values),
                                  ("indices", response.indices)], settings)
            return values, indices, response.session_id
        request.input.CopyFrom(_codec.to_wire(x))
        response = self._call(self._stub.TopK, request, settings)
        return response.values, response.indices, response.session_id

    def select(self, op, x, fields, settings):
        """Selection op `op` ("Sort", ...) of `x`, its request built from
        `fields`. Unary only (no streamed form yet)."""
        request = getattr(pb, f"{op}Request")(**fields)
        request.input.CopyFrom(_codec.to_wire(x))
        response = self._call(getattr(self._stub, op), request, settings)
        return response.values, response.indices, response.session_id

    def _backward(self, request, tensors, result_bytes, settings):
        """Backward with `request` and its `tensors` (Prepared, in field
        order: grad_values, then indices when stateless)."""
        if self._streams(settings, max(result_bytes,
                                       sum(t.data.nbytes for t in tensors))):
            for field, tensor in zip(("grad_values", "indices"), tensors):
                getattr(request, field).CopyFrom(_codec.to_wire(tensor._replace(data=None)))
            _, (grad_input,) = self._stream(
                "BackwardStream", pb.BackwardStreamRequest(request=request),
                [t.data for t in tensors], pb.BackwardStreamResponse,
                lambda response: [("grad_input", response.grad_input)], settings)
            return grad_input
        for field, tensor in zip(("grad_values", "indices"), tensors):
            getattr(request, field).CopyFrom(_codec.to_wire(tensor))
        return self._call(self._stub.Backward, request, settings).grad_input

    def backward(self, grad, session_id, retain_session, settings):
        request = pb.BackwardRequest(session_id=session_id, retain_session=retain_session)
        try:
            return self._backward(request, [grad], 0, settings)
        except ResourceExhaustedError as error:
            # Only the server knows the session's input shape, so a small
            # gradient can have a result past its message limit. A refused
            # Backward leaves the session usable: when the choice was ours,
            # stream instead.
            if settings.stream is not None or "--max_message_bytes" not in error.details:
                raise
        return self._backward(pb.BackwardRequest(session_id=session_id,
                                                 retain_session=retain_session),
                              [grad], 0, settings._replace(stream=True))

    def stateless_backward(self, grad, indices, input_shape, dim, keepdim, settings):
        request = pb.BackwardRequest(input_shape=input_shape, dim=dim)
        if not keepdim:  # unset means true, for servers before the field
            request.keepdim = False
        return self._backward(request, [grad, indices],
                              _streaming.byte_size(grad.dtype, input_shape), settings)

    def release_session(self, session_id, settings):
        self._call(self._stub.ReleaseSession,
                   pb.ReleaseSessionRequest(session_id=session_id), settings)

    def server_info(self, settings):
        return self._call(self._stub.GetServerInfo, pb.GetServerInfoRequest(), settings)

    def health(self, service, settings):
        return _decode_health_response(
            self._call(self._health_check, _encode_health_request(service), settings))
