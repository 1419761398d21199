"""tensorops.Client: the service's calls on NumPy arrays and torch tensors."""

import collections

from tensorops import _codec, _grpcio_transport, _native_transport
from tensorops._grpcio_transport import AFFINITY_METADATA_KEY  # noqa: F401 (re-exported)

DEFAULT_ADDRESS = "127.0.0.1:50051"

TopKResult = collections.namedtuple("TopKResult", ["values", "indices", "session_id"])
TopKResult.__doc__ = """torch.topk's (values, indices), plus the session id
that Backward takes when the call saved one (else None)."""

# What one call is sent with: its deadline in seconds (None for none) and
# its affinity key (None for none).
_CallSettings = collections.namedtuple("_CallSettings", ["timeout", "affinity_key"])


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

    Every failed call raises a tensorops.TensorOpsError subclass whose
    `code` is the grpc.StatusCode and `details` the server's message.
    """

    def __init__(self, address=DEFAULT_ADDRESS, timeout=30.0, *, channel=None,
                 affinity_key=None, auth_token=None, tls=False, tls_ca=None,
                 tls_cert=None, tls_key=None, tls_server_name=None):
        """`timeout`: default deadline of each call in seconds (None for
        none). `channel`: an existing grpc.Channel to call through (grpcio)
        instead of connecting to `address`. `affinity_key`: sent on every
        call as `x-tensorops-affinity` metadata, which the shipped load
        balancer configs hash on, so a session's TopK and Backward reach the
        same replica. `auth_token`: sent as `authorization: Bearer <token>`
        (for servers with --auth_tokens_file). TLS: `tls=True` verifies the
        server with the system's CAs, `tls_ca` (a PEM file path) with those
        CAs; `tls_cert` and `tls_key` (PEM file paths) present a client
        certificate for mutual TLS; `tls_server_name` is the name the
        server's certificate must carry when it is not the address's host.
        Any TLS argument implies tls=True."""
        token = None if auth_token is None else str(auth_token)
        if channel is not None:
            self._transport = _grpcio_transport.GrpcioTransport(channel, False, token)
        else:
            tls = bool(tls or tls_ca or tls_cert or tls_key or tls_server_name)
            if bool(tls_cert) != bool(tls_key):
                raise ValueError("tls_cert and tls_key go together (a client "
                                 "certificate needs its private key)")
            pems = (_read(tls_ca), _read(tls_cert), _read(tls_key)) if tls else (None,) * 3
            if _native_transport.available():
                self._transport = _native_transport.NativeTransport(
                    address, token, tls, *pems, tls_server_name)
            else:
                self._transport = _grpcio_transport.GrpcioTransport(
                    _grpcio_transport.connect(address, tls, *pems, tls_server_name),
                    True, token)
        self._closed = False
        self.address = address
        self.timeout = timeout
        self.affinity_key = affinity_key
        self.auth_token = auth_token

    @property
    def transport(self):
        """"native" (the C++ client) or "grpcio"."""
        return "grpcio" if isinstance(self._transport, _grpcio_transport.GrpcioTransport) \
            else "native"

    def close(self):
        """Closes the connection (not a channel passed in). Calls afterwards
        raise ValueError."""
        if not self._closed:
            self._closed = True
            self._transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _settings(self, timeout):
        if self._closed:
            raise ValueError("the client is closed")
        key = self.affinity_key
        return _CallSettings(self.timeout if timeout is None else timeout,
                             None if key is None else str(key))

    def zeros_like(self, x, dtype=None, *, timeout=None):
        """torch.zeros_like(x, dtype=dtype). Only x's dtype and shape are
        sent."""
        return self._fill(self._transport.zeros_like, x, dtype, timeout)

    def ones_like(self, x, dtype=None, *, timeout=None):
        """torch.ones_like(x, dtype=dtype)."""
        return self._fill(self._transport.ones_like, x, dtype, timeout)

    def _fill(self, call, x, dtype, timeout):
        spec = _codec.prepare(x, with_data=False)
        output = call(spec, _codec.dtype_name(dtype), self._settings(timeout))
        return self._transport.decode(output, _codec.is_torch_tensor(x))

    def topk(self, x, k, dim=-1, largest=True, sorted=True, *, save_for_backward=False, timeout=None):
        """torch.topk(x, k, dim, largest, sorted) as a TopKResult(values,
        indices, session_id). With save_for_backward the server keeps what
        backward() needs under session_id; release it with
        release_session() if backward() will not be called."""
        settings = self._settings(timeout)
        values, indices, session_id = self._transport.topk(
            _codec.prepare(x), k, dim, largest, sorted, save_for_backward, settings)
        as_torch = _codec.is_torch_tensor(x)
        decode = self._transport.decode
        return TopKResult(decode(values, as_torch), decode(indices, as_torch),
                          session_id or None)

    def backward(self, grad_values, session_id=None, *, retain_session=False,
                 indices=None, input_shape=None, dim=-1, timeout=None):
        """The gradient of topk's input given `grad_values` (the gradient of
        its values).

        Either from a saved session (`session_id`; consumed unless
        `retain_session`), or stateless from topk's `indices`, its input's
        `input_shape` and `dim`.
        """
        settings = self._settings(timeout)
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
                [int(d) for d in input_shape], dim, settings)
        return self._transport.decode(grad_input, _codec.is_torch_tensor(grad_values))

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
