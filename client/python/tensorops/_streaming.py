"""Streamed calls on grpcio (TopKStream and the like), for the grpcio
transport; the native one streams in the C++ client.

The protocol is the comment above TopKStreamRequest in tensor_ops.proto:
the client sends the unary request with its tensors' dtype and shape only,
then their bytes in `chunk` messages, and half-closes; the server answers
with the unary response (tensors without data), then its tensors' bytes in
chunks, then the status. Messages travel as raw bytes here: a chunk is
encoded by hand from a slice of the input's buffer (one copy per chunk, and
a np.memmap input is read chunk by chunk), and each received chunk is copied
once into the result's array.
"""

import collections
import math

import grpc
import numpy as np

from google.protobuf.message import DecodeError

from tensorops import _codec
from tensorops._errors import TensorOpsError
from tensorops.v1 import tensor_ops_pb2 as pb

# The server's preferred chunk size (GetServerInfo's stream_chunk_bytes).
CHUNK_BYTES = 2 << 20

# Calls whose tensors (request or result) are larger than this stream them,
# unless a call says otherwise: past 2 GiB no message can carry them, and
# well before the server's unary limit (600 MiB by default) a unary call
# holds whole copies of them on both sides.
DEFAULT_THRESHOLD_BYTES = 256 << 20

# The tag of `chunk` (field 2, length-delimited) in every stream message.
_CHUNK_TAG = 0x12

# The wire dtypes a result may have.
_WIRE_DTYPES = {wire for wire in pb.DType.values() if wire != pb.DTYPE_UNSPECIFIED}


class Received(collections.namedtuple("Received", ["dtype", "shape", "data"])):
    """A streamed result tensor: its dtype name, shape (a tuple), and a
    NumPy uint8 array holding its bytes."""


def byte_size(dtype, shape):
    return math.prod(shape) * _codec.dtype_size(dtype)


def topk_result_bytes(dtype, shape, k, dim):
    """Bytes of topk's values and indices (0 for arguments the server will
    refuse): a float16 input's int64 indices take 4x its bytes."""
    if not shape:
        elements = min(max(k, 0), 1)
    else:
        if not -len(shape) <= dim < len(shape) or k < 0:
            return 0
        along = shape[dim]
        elements = 0 if along == 0 else math.prod(shape) // along * min(k, along)
    return elements * (_codec.dtype_size(dtype) + 8)


def _varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data, pos):
    value, shift = 0, 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise _internal("the server sent a malformed stream message (bad varint)")


def _internal(message):
    return TensorOpsError(grpc.StatusCode.INTERNAL, message)


def request_messages(first, arrays, chunk_bytes=CHUNK_BYTES):
    """The serialized messages of a streamed request: `first` (a
    *StreamRequest whose `request` is set), then the bytes of `arrays`
    (C-contiguous NumPy arrays, in field order) in chunks."""
    yield first.SerializeToString()
    for array in arrays:
        if array.nbytes == 0:
            continue
        view = memoryview(array.reshape(-1).view(np.uint8))
        for start in range(0, len(view), chunk_bytes):
            part = view[start:start + chunk_bytes]
            yield b"".join((bytes((_CHUNK_TAG,)), _varint(len(part)), part))


class _Sink:
    """The result tensors a streamed response's first message describes,
    filled in order from its chunks."""

    def __init__(self, fields):
        self.results = []
        for name, header in fields:
            dtype = _codec.wire_name(header.dtype) if header.dtype in _WIRE_DTYPES else None
            shape = tuple(header.shape)
            if dtype is None or any(d < 0 for d in shape):
                raise _internal(f"the server's stream described a malformed tensor {name}: "
                                f"dtype {header.dtype}, shape {list(shape)}")
            if header.data or header.HasField("shared_memory"):
                raise _internal(f"the server's stream response carries {name} bytes in its "
                                "first message; expected them in chunks")
            self.results.append(Received(dtype, shape,
                                         np.empty(byte_size(dtype, shape), np.uint8)))
        self.total = sum(result.data.nbytes for result in self.results)
        self.received = 0
        self._tensor = 0
        self._offset = 0

    def append_chunk_message(self, message):
        if not message or message[0] != _CHUNK_TAG:
            raise _internal("the server's stream sent a message that is not a chunk after "
                            "its response; expected chunks only")
        size, pos = _read_varint(message, 1)
        if len(message) - pos != size:
            raise _internal("the server's stream sent a malformed chunk message (its "
                            "length does not match its bytes)")
        if size > self.total - self.received:
            raise _internal("the server's stream sent more bytes than its response's "
                            f"tensors hold: {self.received + size} bytes or more; "
                            f"expected {self.total} bytes")
        self.received += size
        part = memoryview(message)[pos:]
        while part:
            target = self.results[self._tensor].data
            room = target.nbytes - self._offset
            if room == 0:
                self._tensor += 1
                self._offset = 0
                continue
            n = min(room, len(part))
            target[self._offset:self._offset + n] = part[:n]
            self._offset += n
            part = part[n:]


def receive(responses, response_type, fields):
    """(the first message's `response`, [Received, ...]) from the serialized
    messages of a streamed response (a grpcio response iterator, which is
    cancelled if the server strays from the protocol). `fields(response)`
    lists its tensors in field order as (name, tensorops.v1.Tensor)."""
    try:
        first = next(responses, None)
        if first is None:
            raise _internal("the server ended the stream OK without a response")
        try:
            header = response_type.FromString(first)
        except DecodeError:
            raise _internal("the server's first stream message does not parse as "
                            f"{response_type.DESCRIPTOR.full_name}") from None
        if not header.HasField("response"):
            raise _internal("the server's stream did not start with a response; "
                            "expected one before any chunk")
        sink = _Sink(fields(header.response))
        for message in responses:
            sink.append_chunk_message(message)
    except TensorOpsError:
        if hasattr(responses, "cancel"):
            responses.cancel()
        raise
    if sink.received != sink.total:
        raise TensorOpsError(grpc.StatusCode.DATA_LOSS,
                             f"the server ended the stream OK after {sink.received} bytes "
                             f"of its response's {sink.total} bytes")
    return header.response, sink.results
