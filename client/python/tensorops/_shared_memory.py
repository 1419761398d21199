"""tensorops.SharedMemory: same-host tensors that never travel through gRPC.

A region is a POSIX shared memory object that this process creates and the
server maps (RegisterSharedMemory). Arrays allocated in it go to the server
by reference, and results can be written into it: a 131 MB TopK then moves
a few hundred bytes over gRPC.
"""

import mmap
import os
import sys
import uuid

import numpy as np

from tensorops import _codec
from tensorops.v1 import tensor_ops_pb2 as pb

# Where Linux keeps POSIX shared memory objects (shm_open opens the file
# of the same name there).
_SHM_DIR = "/dev/shm"

# Arrays are placed on this alignment (a cache line), which is also a
# multiple of every dtype's size, as the server requires.
_ALIGNMENT = 64


def _address(value):
    """The first byte's address of a C-contiguous NumPy array or torch
    tensor, or None for other layouts."""
    if _codec.is_torch_tensor(value):
        if value.device.type != "cpu" or not value.is_contiguous():
            return None
        return value.data_ptr()
    if isinstance(value, np.ndarray) and value.flags.c_contiguous:
        return value.__array_interface__["data"][0]
    return None


def _nbytes(value):
    if _codec.is_torch_tensor(value):
        return value.numel() * value.element_size()
    return value.nbytes


class SharedMemory:
    """A shared memory region of `byte_size` bytes registered with `client`'s
    server as `name` (by default the object's own name).

        with tensorops.SharedMemory(client, 256 << 20) as shm:
            x = shm.empty((1024, 32000), np.float32)
            x[...] = logits
            values, indices, _ = client.topk(x, 50, out=shm)

    empty() places NumPy arrays (or torch tensors with torch=True, and for
    bfloat16) in the region; client calls send those by reference, and with
    out=shm their results are placed in the region too and returned as
    views of it. reset() makes the whole region free again (arrays given
    out before then are overwritten by later ones). close() unregisters the
    region and removes the object; arrays still viewing it stay valid until
    they go. The server must run with --allow_shared_memory, on this host.
    """

    def __init__(self, client, byte_size, name=None, *, timeout=None):
        byte_size = int(byte_size)
        if byte_size < 1:
            raise ValueError("byte_size must be at least 1")
        object_name = f"tensorops-{os.getpid()}-{uuid.uuid4().hex[:16]}"
        self.key = "/" + object_name
        self.path = os.path.join(_SHM_DIR, object_name)
        self.name = object_name if name is None else str(name)
        self.byte_size = byte_size
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, byte_size)
            self._mmap = mmap.mmap(fd, byte_size)
        except BaseException:
            os.unlink(self.path)
            raise
        finally:
            os.close(fd)
        self._bytes = np.frombuffer(self._mmap, dtype=np.uint8, count=byte_size)
        self._base = self._bytes.__array_interface__["data"][0]
        self._next = 0
        self._client = client
        try:
            client.register_shared_memory(self.name, key=self.key, byte_size=byte_size,
                                          timeout=timeout)
        except BaseException:
            self._destroy()
            raise
        client._regions[self.name] = self

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return (f"tensorops.SharedMemory(name={self.name!r}, key={self.key!r}, "
                f"byte_size={self.byte_size}, used={self._next})")

    def empty(self, shape, dtype, *, torch=False):
        """An uninitialized C-contiguous array of `shape` and `dtype` in the
        region (a torch tensor with torch=True or for bfloat16).
        MemoryError when the region has no room left."""
        name = _codec.dtype_name(dtype)
        shape = tuple(int(d) for d in shape)
        count = 1
        for dim in shape:
            count *= dim
        itemsize = _codec.dtype_size(name)
        offset = -(-self._next // _ALIGNMENT) * _ALIGNMENT
        if offset + count * itemsize > self.byte_size:
            raise MemoryError(
                f"shared memory region {self.name} has {self.byte_size - offset} bytes "
                f"free; a {name} array of shape {shape} needs {count * itemsize}")
        self._next = offset + count * itemsize
        window = self._bytes[offset:offset + count * itemsize]
        return _codec.view_bytes(name, shape, window, torch)

    def reset(self):
        """Frees the whole region for empty() again."""
        self._next = 0

    def offset_of(self, value):
        """The offset of array or tensor `value` in the region if it lies
        there, C-contiguous, whole; else None."""
        if self._bytes is None:
            return None
        address = _address(value)
        if address is None:
            return None
        offset = address - self._base
        if offset < 0 or offset + _nbytes(value) > self.byte_size:
            return None
        return offset

    def ref(self, value):
        """A tensorops.v1.SharedMemoryRef for `value` (which must lie in the
        region)."""
        offset = self.offset_of(value)
        if offset is None:
            raise ValueError(f"the array does not lie in shared memory region {self.name}")
        return pb.SharedMemoryRef(region=self.name, offset=offset, byte_size=_nbytes(value))

    def close(self):
        """Unregisters the region (if the client is still open) and removes
        the object."""
        if self._bytes is None:
            return
        client, self._client = self._client, None
        if client is not None:
            client._regions.pop(self.name, None)
            if not client.closed:
                try:
                    client.unregister_shared_memory(self.name, timeout=5.0)
                except Exception:  # noqa: BLE001 (gone already: idle, server restarted)
                    pass
        self._destroy()

    def _destroy(self):
        self._bytes = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        try:
            self._mmap.close()
        except BufferError:
            # Arrays still view the mapping; it goes with the last of them.
            pass

    def __del__(self):
        if sys.is_finalizing():
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
