"""Conversion between NumPy arrays / torch tensors and wire tensors.

Wire tensors are raw little-endian, C-order bytes. NumPy has every dtype but
bfloat16, which travels through torch (imported only when needed).
"""

import collections
import functools
import sys

import numpy as np

from tensorops.v1 import tensor_ops_pb2 as pb


def _numpy_dtype(name):
    """The little-endian NumPy dtype called `name`; None where NumPy has none
    (bfloat16)."""
    try:
        return np.dtype(name).newbyteorder("<")
    except TypeError:
        return None


# name -> (wire dtype, little-endian NumPy dtype or None), from the proto's
# DType enum (DTYPE_FLOAT32 is "float32"), so a dtype added there is known
# here too.
_DTYPES = {
    wire_name[len("DTYPE_"):].lower(): (
        wire, _numpy_dtype(wire_name[len("DTYPE_"):].lower()))
    for wire_name, wire in pb.DType.items()
    if wire != pb.DTYPE_UNSPECIFIED
}
_NAME_BY_WIRE = {wire: name for name, (wire, _) in _DTYPES.items()}
_SUPPORTED = ", ".join(_DTYPES)
_BFLOAT16_BITS = np.dtype("<i2")


def _torch():
    """torch if it is installed (imported lazily: it is slow to import)."""
    try:
        import torch
    except ImportError as error:
        raise TypeError("bfloat16 tensors need torch installed") from error
    return torch


def is_torch_tensor(value):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def dtype_name(dtype):
    """Canonical name of a dtype given as a name, NumPy dtype or torch
    dtype, e.g. "float32"."""
    return None if dtype is None else _dtype_name(dtype)


# Cached: working a name out takes a few microseconds, a tenth of a small
# call, and callers use a handful of dtypes.
@functools.lru_cache(maxsize=256)
def _dtype_name(dtype):
    name = str(dtype)
    if name.startswith("torch."):
        name = name[len("torch."):]
    if name not in _DTYPES:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            pass
    if name not in _DTYPES:
        raise TypeError(f"unsupported dtype {dtype!r}; expected one of {_SUPPORTED}")
    return name


def wire_name(wire):
    """The dtype name of a wire DType value."""
    return _NAME_BY_WIRE[wire]


def dtype_size(name):
    """Bytes per element of dtype `name`."""
    return 2 if name == "bfloat16" else _DTYPES[name][1].itemsize


def view_bytes(name, shape, data, as_torch):
    """The array (or torch tensor) of dtype `name` and `shape` viewing the
    buffer `data`, of exactly that many bytes."""
    return _from_bytes(name, shape, data, memoryview(data).nbytes, as_torch)


def wire_dtype(dtype):
    return _DTYPES[dtype_name(dtype)][0]


class Prepared(collections.namedtuple("Prepared", ["dtype", "shape", "data"])):
    """A tensor ready to send: its dtype name, shape (a tuple) and `data`, a
    C-contiguous little-endian NumPy array viewing its bytes (bfloat16 as
    int16), or None when only the dtype and shape travel."""


def prepare(value, with_data=True):
    """`value` (a NumPy array, torch tensor, or anything np.asarray accepts)
    as a Prepared tensor. Contiguous little-endian inputs, read-only and
    memory-mapped arrays included, are viewed in place; others are made
    contiguous (or byte-swapped) once, here."""
    if is_torch_tensor(value):
        name = dtype_name(value.dtype)
        shape = tuple(value.shape)
        if not with_data:
            return Prepared(name, shape, None)
        value = value.detach().cpu().contiguous()
        if name == "bfloat16":
            data = value.view(_torch().int16).numpy()
        else:
            data = value.numpy()
    else:
        data = value if type(value) is np.ndarray else np.asarray(value)
        name = dtype_name(data.dtype)
        shape = data.shape
        if not with_data:
            return Prepared(name, shape, None)
    # bfloat16 travels as its bits (NumPy has no bfloat16).
    wire_layout = _BFLOAT16_BITS if name == "bfloat16" else _DTYPES[name][1]
    data = np.ascontiguousarray(data, dtype=wire_layout)
    return Prepared(name, shape, data)


def to_wire(prepared):
    """A tensorops.v1.Tensor holding a Prepared tensor."""
    tensor = pb.Tensor(dtype=_DTYPES[prepared.dtype][0], shape=prepared.shape)
    if prepared.data is not None:
        tensor.data = prepared.data.tobytes()
    return tensor


def _from_bytes(name, shape, data, nbytes, as_torch):
    """The NumPy array (or torch tensor if `as_torch`, and always for
    bfloat16) of dtype `name` and `shape` viewing `data` (any buffer of
    `nbytes` bytes), which the result keeps alive."""
    if name == "bfloat16":
        torch = _torch()
        if nbytes == 0:
            return torch.empty(shape, dtype=torch.bfloat16)
        return torch.frombuffer(data, dtype=torch.bfloat16).reshape(shape)
    array = np.frombuffer(data, dtype=_DTYPES[name][1]).reshape(shape)
    if as_torch:
        return _torch().from_numpy(array)
    return array


def from_wire(tensor, as_torch):
    """The NumPy array (or torch tensor) that a tensorops.v1.Tensor holds."""
    name = _NAME_BY_WIRE.get(tensor.dtype)
    if name is None:
        raise TypeError(f"the server sent an unknown dtype {tensor.dtype}")
    # A writable copy: results have always been writable arrays.
    return _from_bytes(name, tuple(tensor.shape), bytearray(tensor.data),
                       len(tensor.data), as_torch)


def from_native(result, as_torch):
    """The NumPy array (or torch tensor) viewing a tensorops._native.Result:
    the received bytes themselves, writable, kept alive by the array."""
    return _from_bytes(result.dtype, result.shape, result, result.nbytes, as_torch)
