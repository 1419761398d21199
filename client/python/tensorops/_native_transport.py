"""Client calls on the C++ client (the tensorops._native extension).

Inputs are passed to it as buffers it reads in place; results are
_native.Result objects, which the codec views without copying. The
extension releases the GIL while a call is in flight.
"""

from tensorops import _codec
from tensorops._errors import from_code
from tensorops.v1 import tensor_ops_pb2 as pb

try:
    from tensorops import _native
except ImportError:  # not built (no pybind11), or a sanitizer build
    _native = None


def available():
    return _native is not None


class NativeTransport:
    def __init__(self, address, auth_token, tls, root_certs, cert_chain,
                 private_key, server_name, stream_threshold_bytes):
        """`tls`: whether to use TLS; the PEM contents (bytes or None) and
        `server_name` apply only with it. Calls whose tensors are larger than
        `stream_threshold_bytes` stream them (the C++ client decides, unless
        a call's settings.stream says)."""
        def text(pem):
            return None if pem is None else pem.decode()

        self._client = self._call(
            _native.Client, address, auth_token, tls, text(root_certs),
            text(cert_chain), text(private_key), server_name,
            int(stream_threshold_bytes))

    @staticmethod
    def _call(function, *args):
        try:
            return function(*args)
        except _native.CallError as error:
            code, message = error.args
            raise from_code(code, message) from None

    @staticmethod
    def _options(settings):
        return _native.CallOptions(settings.timeout, settings.affinity_key,
                                   settings.stream)

    decode = staticmethod(_codec.from_native)

    def close(self):
        self._client.close()

    def zeros_like(self, spec, dtype, settings):
        return self._call(self._client.zeros_like, spec.dtype, spec.shape, dtype,
                          self._options(settings))

    def ones_like(self, spec, dtype, settings):
        return self._call(self._client.ones_like, spec.dtype, spec.shape, dtype,
                          self._options(settings))

    def topk(self, x, k, dim, largest, sorted, save_for_backward, settings):
        return self._call(self._client.topk, x.data, x.dtype, x.shape, k, dim,
                          largest, sorted, save_for_backward, self._options(settings))

    def select(self, op, x, fields, settings):
        """Selection op `op` ("Sort", ...) of `x` with the request fields in
        `fields` (dim, k, keepdim, descending, stable, save_for_backward)."""
        return self._call(self._client.select, op, x.data, x.dtype, x.shape,
                          fields.get("k", 1), fields["dim"], fields.get("keepdim", False),
                          fields.get("descending", False), fields.get("stable", False),
                          fields["save_for_backward"], self._options(settings))

    def backward(self, grad, session_id, retain_session, settings):
        return self._call(self._client.backward, grad.data, grad.dtype, grad.shape,
                          session_id, retain_session, self._options(settings))

    def stateless_backward(self, grad, indices, input_shape, dim, keepdim, settings):
        return self._call(self._client.stateless_backward, grad.data, grad.dtype,
                          grad.shape, indices.data, indices.dtype, indices.shape,
                          input_shape, dim, keepdim, self._options(settings))

    def call(self, method, request, response_type, settings):
        """Method `method` (its name) with a request message built by the
        caller; the response parsed as `response_type`."""
        return response_type.FromString(self._call(
            self._client.call, method, request.SerializeToString(),
            self._options(settings)))

    def release_session(self, session_id, settings):
        self._call(self._client.release_session, session_id, self._options(settings))

    def server_info(self, settings):
        return pb.GetServerInfoResponse.FromString(
            self._call(self._client.server_info, self._options(settings)))

    def health(self, service, settings):
        return self._call(self._client.health, service, self._options(settings))
