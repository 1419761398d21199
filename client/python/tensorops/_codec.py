"""Conversion between NumPy arrays / torch tensors and wire tensors.

Wire tensors are raw little-endian, C-order bytes. NumPy has every dtype but
bfloat16, which travels through torch (imported only when needed).
"""

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
    if dtype is None:
        return None
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


def wire_dtype(dtype):
    return _DTYPES[dtype_name(dtype)][0]


def to_wire(value, with_data=True):
    """A tensorops.v1.Tensor holding `value` (a NumPy array, torch tensor, or
    anything np.asarray accepts)."""
    tensor = pb.Tensor()
    if is_torch_tensor(value):
        value = value.detach().cpu().contiguous()
        name = dtype_name(value.dtype)
        shape = tuple(value.shape)
        if with_data:
            if name == "bfloat16":
                data = value.view(_torch().int16).numpy().tobytes()
            else:
                data = value.numpy().astype(_DTYPES[name][1], copy=False).tobytes()
    else:
        array = np.asarray(value)
        name = dtype_name(array.dtype)
        shape = array.shape
        if with_data:
            data = np.ascontiguousarray(array, dtype=_DTYPES[name][1]).tobytes()
    tensor.dtype = _DTYPES[name][0]
    tensor.shape.extend(shape)
    if with_data:
        tensor.data = data
    return tensor


def from_wire(tensor, as_torch):
    """The NumPy array (or torch tensor if `as_torch`, and always for
    bfloat16) that a tensorops.v1.Tensor holds."""
    name = _NAME_BY_WIRE.get(tensor.dtype)
    if name is None:
        raise TypeError(f"the server sent an unknown dtype {tensor.dtype}")
    shape = tuple(tensor.shape)
    if name == "bfloat16":
        torch = _torch()
        if not tensor.data:
            return torch.empty(shape, dtype=torch.bfloat16)
        return torch.frombuffer(bytearray(tensor.data), dtype=torch.bfloat16).reshape(shape)
    array = np.frombuffer(tensor.data, dtype=_DTYPES[name][1]).reshape(shape).copy()
    if as_torch:
        return _torch().from_numpy(array)
    return array
