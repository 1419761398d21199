"""tensorops.Client on the native extension: tensors cross without
Python-level copies, and calls in flight release the GIL."""

import os
import socket
import tempfile
import threading
import time
import tracemalloc
import unittest

import numpy as np

import tensorops
from server_process import ClientTestCase
from tensorops import _native_transport

needs_native = unittest.skipUnless(_native_transport.available(),
                                   "tensorops._native is not built (no pybind11)")

# 64 MiB of float32: large enough that a copy stands out from the few
# kilobytes a call allocates in Python.
BIG_SHAPE = (256, 65536)
BIG_BYTES = 4 * BIG_SHAPE[0] * BIG_SHAPE[1]


def peak_python_allocation(call):
    """The most memory Python (and NumPy, which reports to tracemalloc)
    held at once during `call()`, above what it held before."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def buffer_owner(array):
    """The object at the end of an array's base chain."""
    owner = array
    while True:
        if isinstance(owner, np.ndarray) and owner.base is not None:
            owner = owner.base
        elif isinstance(owner, memoryview):
            owner = owner.obj
        else:
            return owner


class NativeTransportTest(ClientTestCase):
    def test_the_built_extension_is_used(self):
        if os.environ.get("TENSOROPS_NATIVE_BUILT") != "1":
            self.skipTest("the build has no tensorops._native")
        self.assertEqual(self.client.transport, "native")


@needs_native
class ZeroCopyTest(ClientTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.big = np.random.default_rng(7).standard_normal(BIG_SHAPE, dtype=np.float32)

    def test_results_view_the_received_bytes(self):
        values, indices, _ = self.client.topk(self.big, 3)
        for result in (values, indices):
            self.assertIsInstance(buffer_owner(result), _native_transport._native.Result)
            self.assertTrue(result.flags.writeable)
        np.testing.assert_array_equal(values, -np.sort(-self.big, axis=1)[:, :3])

    def test_a_contiguous_input_is_sent_from_its_own_memory(self):
        peak = peak_python_allocation(lambda: self.client.topk(self.big, 1))
        self.assertLess(peak, BIG_BYTES // 16)

    def test_read_only_and_memory_mapped_inputs_are_not_copied(self):
        read_only = self.big.view()
        read_only.flags.writeable = False
        with tempfile.NamedTemporaryFile() as file:
            self.big.tofile(file.name)
            mapped = np.memmap(file.name, dtype=np.float32, mode="r", shape=BIG_SHAPE)
            for name, array in (("read-only", read_only), ("memmap", mapped)):
                with self.subTest(name):
                    peak = peak_python_allocation(lambda: self.client.topk(array, 1))
                    self.assertLess(peak, BIG_BYTES // 16)
                    np.testing.assert_array_equal(self.client.topk(array, 1).values,
                                                  self.big.max(axis=1, keepdims=True))
            del mapped

    def test_a_strided_input_is_made_contiguous_once(self):
        every_other_column = self.big[:, ::2]
        peak = peak_python_allocation(lambda: self.client.topk(every_other_column, 1))
        self.assertGreaterEqual(peak, BIG_BYTES // 2)
        self.assertLess(peak, BIG_BYTES // 2 + BIG_BYTES // 16)

    def test_the_grpcio_transport_copies_and_the_check_sees_it(self):
        # The measurement itself can fail: through grpcio the tensor is
        # copied into bytes, then into the request.
        import grpc

        with grpc.insecure_channel(self.server.address) as channel:
            over_grpcio = tensorops.Client(channel=channel, timeout=30)
            peak = peak_python_allocation(lambda: over_grpcio.topk(self.big, 1))
        self.assertGreater(peak, BIG_BYTES)


@needs_native
class GilReleaseTest(unittest.TestCase):
    """Calls to a listener that never answers wait out their deadline: with
    the GIL released, four threads wait at once rather than in turn."""

    DEADLINE_S = 1.0

    def setUp(self):
        self.listener = socket.socket()
        self.addCleanup(self.listener.close)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        port = self.listener.getsockname()[1]
        self.client = tensorops.Client(f"127.0.0.1:{port}", timeout=self.DEADLINE_S)
        self.addCleanup(self.client.close)

    def test_four_threads_wait_out_their_deadlines_together(self):
        errors = []

        def call():
            try:
                self.client.topk(np.ones(1000, np.float32), 1)
            except tensorops.TensorOpsError as error:
                errors.append(error)

        threads = [threading.Thread(target=call) for _ in range(4)]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - start
        self.assertEqual([type(e) for e in errors], [tensorops.DeadlineExceededError] * 4)
        # In turn they would take 4 deadlines.
        self.assertLess(elapsed, 2.5 * self.DEADLINE_S)

    def test_close_while_a_call_is_in_flight(self):
        outcome = []

        def call():
            try:
                self.client.health()
            except tensorops.TensorOpsError as error:
                outcome.append(type(error))

        caller = threading.Thread(target=call)
        caller.start()
        # The channel connects on its first call: once the listener sees
        # the connection, the call is in flight.
        self.listener.settimeout(10)
        connection, _ = self.listener.accept()
        self.addCleanup(connection.close)
        self.client.close()
        caller.join()
        self.assertEqual(outcome, [tensorops.DeadlineExceededError])
        with self.assertRaises(ValueError):
            self.client.health()


if __name__ == "__main__":
    unittest.main()
