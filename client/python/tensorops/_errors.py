"""Exceptions for failed calls, carrying the gRPC status code."""

import grpc


class TensorOpsError(Exception):
    """A call failed; `code` is the grpc.StatusCode, `details` the server's
    message."""

    def __init__(self, code, details):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class InvalidArgumentError(TensorOpsError, ValueError):
    """INVALID_ARGUMENT: the request was malformed (k or dim out of range,
    shape mismatch, ...)."""


class NotFoundError(TensorOpsError, LookupError):
    """NOT_FOUND: an unknown, expired, evicted or released session."""


class FailedPreconditionError(TensorOpsError):
    """FAILED_PRECONDITION: a session already consumed by a Backward."""


class ResourceExhaustedError(TensorOpsError):
    """RESOURCE_EXHAUSTED: a result or session larger than the server
    allows."""


class DeadlineExceededError(TensorOpsError, TimeoutError):
    """DEADLINE_EXCEEDED: the call's timeout passed."""


class UnavailableError(TensorOpsError, ConnectionError):
    """UNAVAILABLE: the server cannot be reached or is shutting down."""


class UnauthenticatedError(TensorOpsError):
    """UNAUTHENTICATED: the server wants a bearer token (or a client
    certificate) the call did not carry, or does not accept it."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
}


_CODE_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def from_code(number, details):
    """The TensorOpsError (subclass) for a status code given by its number
    (grpc::StatusCode, absl::StatusCode: the same numbers)."""
    code = _CODE_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)
    return _BY_CODE.get(code, TensorOpsError)(code, details)


def from_rpc_error(error):
    """The TensorOpsError (subclass) for a grpc.RpcError."""
    code = error.code()
    return _BY_CODE.get(code, TensorOpsError)(code, error.details() or "")
