"""tensorops.Client: the service's calls on NumPy arrays and torch tensors."""

import collections

import grpc

from tensorops import _codec
from tensorops._errors import from_rpc_error
from tensorops.v1 import tensor_ops_pb2 as pb
from tensorops.v1 import tensor_ops_pb2_grpc as pb_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"

TopKResult = collections.namedtuple("TopKResult", ["values", "indices", "session_id"])
TopKResult.__doc__ = """torch.topk's (values, indices), plus the session id
that Backward takes when the call saved one (else None)."""

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


# The metadata key load balancers hash on (deploy/nginx, deploy/envoy).
AFFINITY_METADATA_KEY = "x-tensorops-affinity"


class Client:
    """A connection to a tensorops server.

    Tensors go in as NumPy arrays, torch tensors, or anything np.asarray
    takes (Python lists follow NumPy's dtype rules: floats are float64).
    Results are NumPy arrays, or torch tensors when the input was one
    (and always for bfloat16, which NumPy lacks).

    Every failed call raises a tensorops.TensorOpsError subclass whose
    `code` is the grpc.StatusCode and `details` the server's message.
    """

    def __init__(self, address=DEFAULT_ADDRESS, timeout=30.0, *, channel=None,
                 affinity_key=None, auth_token=None, tls=False, tls_ca=None,
                 tls_cert=None, tls_key=None, tls_server_name=None):
        """`timeout`: default deadline of each call in seconds (None for
        none). `channel`: an existing grpc.Channel to use instead of
        connecting to `address`. `affinity_key`: sent on every call as
        `x-tensorops-affinity` metadata, which the shipped load balancer
        configs hash on, so a session's TopK and Backward reach the same
        replica. `auth_token`: sent as `authorization: Bearer <token>` (for
        servers with --auth_tokens_file). TLS: `tls=True` verifies the server
        with the system's CAs, `tls_ca` (a PEM file path) with those CAs;
        `tls_cert` and `tls_key` (PEM file paths) present a client
        certificate for mutual TLS; `tls_server_name` is the name the
        server's certificate must carry when it is not the address's host.
        Any TLS argument implies tls=True."""
        if channel is None:
            options = [
                # The server's limit (600 MiB by default) is the one that matters.
                ("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1),
            ]
            if tls or tls_ca or tls_cert or tls_key or tls_server_name:
                if bool(tls_cert) != bool(tls_key):
                    raise ValueError("tls_cert and tls_key go together (a client "
                                     "certificate needs its private key)")

                def read(path):
                    if path is None:
                        return None
                    with open(path, "rb") as f:
                        return f.read()

                credentials = grpc.ssl_channel_credentials(
                    root_certificates=read(tls_ca),
                    private_key=read(tls_key),
                    certificate_chain=read(tls_cert))
                if tls_server_name:
                    options.append(("grpc.ssl_target_name_override", tls_server_name))
                channel = grpc.secure_channel(address, credentials, options=options)
            else:
                channel = grpc.insecure_channel(address, options=options)
            self._owns_channel = True
        else:
            self._owns_channel = False
        self._channel = channel
        self._stub = pb_grpc.TensorOpsStub(channel)
        self._health_check = channel.unary_unary("/grpc.health.v1.Health/Check")
        self.address = address
        self.timeout = timeout
        self.affinity_key = affinity_key
        self.auth_token = auth_token

    def close(self):
        if self._owns_channel:
            self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _call(self, method, request, timeout):
        try:
            metadata = []
            if self.affinity_key is not None:
                metadata.append((AFFINITY_METADATA_KEY, str(self.affinity_key)))
            if self.auth_token is not None:
                metadata.append(("authorization", "Bearer " + str(self.auth_token)))
            return method(request, timeout=self.timeout if timeout is None else timeout,
                          metadata=metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def zeros_like(self, x, dtype=None, *, timeout=None):
        """torch.zeros_like(x, dtype=dtype). Only x's dtype and shape are
        sent."""
        request = pb.ZerosLikeRequest(input=_codec.to_wire(x, with_data=False))
        if dtype is not None:
            request.dtype = _codec.wire_dtype(dtype)
        response = self._call(self._stub.ZerosLike, request, timeout)
        return _codec.from_wire(response.output, _codec.is_torch_tensor(x))

    def ones_like(self, x, dtype=None, *, timeout=None):
        """torch.ones_like(x, dtype=dtype)."""
        request = pb.OnesLikeRequest(input=_codec.to_wire(x, with_data=False))
        if dtype is not None:
            request.dtype = _codec.wire_dtype(dtype)
        response = self._call(self._stub.OnesLike, request, timeout)
        return _codec.from_wire(response.output, _codec.is_torch_tensor(x))

    def topk(self, x, k, dim=-1, largest=True, sorted=True, *, save_for_backward=False, timeout=None):
        """torch.topk(x, k, dim, largest, sorted) as a TopKResult(values,
        indices, session_id). With save_for_backward the server keeps what
        backward() needs under session_id; release it with
        release_session() if backward() will not be called."""
        request = pb.TopKRequest(
            input=_codec.to_wire(x),
            k=k,
            dim=dim,
            largest=largest,
            sorted=sorted,
            save_for_backward=save_for_backward,
        )
        response = self._call(self._stub.TopK, request, timeout)
        as_torch = _codec.is_torch_tensor(x)
        return TopKResult(
            _codec.from_wire(response.values, as_torch),
            _codec.from_wire(response.indices, as_torch),
            response.session_id or None,
        )

    def backward(self, grad_values, session_id=None, *, retain_session=False,
                 indices=None, input_shape=None, dim=-1, timeout=None):
        """The gradient of topk's input given `grad_values` (the gradient of
        its values).

        Either from a saved session (`session_id`; consumed unless
        `retain_session`), or stateless from topk's `indices`, its input's
        `input_shape` and `dim`.
        """
        request = pb.BackwardRequest(grad_values=_codec.to_wire(grad_values))
        if session_id is not None:
            if indices is not None or input_shape is not None:
                raise ValueError("pass either session_id or indices and input_shape, not both")
            request.session_id = session_id
            request.retain_session = retain_session
        else:
            if indices is None or input_shape is None:
                raise ValueError("backward needs session_id, or both indices and input_shape")
            if retain_session:
                raise ValueError("retain_session needs session_id")
            request.indices.CopyFrom(_codec.to_wire(indices))
            request.input_shape.extend(int(d) for d in input_shape)
            request.dim = dim
        response = self._call(self._stub.Backward, request, timeout)
        return _codec.from_wire(response.grad_input, _codec.is_torch_tensor(grad_values))

    def release_session(self, session_id, *, timeout=None):
        """Frees a saved session. NotFoundError if the server holds none."""
        self._call(self._stub.ReleaseSession, pb.ReleaseSessionRequest(session_id=session_id), timeout)

    def server_info(self, *, timeout=None):
        """The server's version, backend, limits and session counts as a
        dict."""
        response = self._call(self._stub.GetServerInfo, pb.GetServerInfoRequest(), timeout)
        return {name: getattr(response, name) for name in response.DESCRIPTOR.fields_by_name}

    def health(self, service="", *, timeout=None):
        """grpc.health.v1 status of `service` ("" for the whole server):
        "SERVING", "NOT_SERVING", ..."""
        response = self._call(self._health_check, _encode_health_request(service), timeout)
        return _decode_health_response(response)
