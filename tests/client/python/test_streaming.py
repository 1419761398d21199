"""Streamed calls (TopKStream and the like) from tensorops.Client, on both
transports: results equal torch's, memory maps are sent without being read
whole, the client streams by itself past its threshold, and
tensorops.torch's autograd works through them.

The server takes unary messages of at most 1 MiB, so a call that works on
the tensors here can only have streamed."""

import os
import subprocess
import tempfile
import tracemalloc
import unittest

import numpy as np

import tensorops
from server_process import ClientTestCase, ServerTestCase
from tensorops import _codec, _native_transport

try:
    import torch
    import tensorops.torch as ttorch
except ImportError:
    torch = None

needs_torch = unittest.skipIf(torch is None, "python3-torch is not installed")

MESSAGE_LIMIT = 1 << 20
HALF_TYPES = () if torch is None else (torch.float16, torch.bfloat16)


def peak_python_allocation(call):
    """The most memory Python and NumPy held at once during `call()`."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def distinct_rows(shape, dtype, seed):
    """A tensor whose rows along the last dim are permutations of 0..n-1:
    no ties, and exact in float16 and bfloat16 for n <= 256."""
    gen = torch.Generator().manual_seed(seed)
    rows = torch.argsort(torch.rand(shape, generator=gen), dim=-1)
    return (rows - shape[-1] // 2).to(dtype)


def torch_topk(x, k, dim, largest=True, sorted=True):
    """torch.topk, computed in float32 for the half types (which torch's CPU
    topk may lack; exact for their values)."""
    if x.dtype in HALF_TYPES:
        values, indices = torch.topk(x.float(), k, dim, largest, sorted)
        return values.to(x.dtype), indices
    return torch.topk(x, k, dim, largest, sorted)


def torch_grad(x, k, dim, grad):
    """x's gradient through torch.topk(x, k, dim) for an upstream `grad`."""
    leaf = (x.float() if x.dtype in HALF_TYPES else x).clone().requires_grad_()
    values, _ = torch.topk(leaf, k, dim)
    values.backward(grad.to(leaf.dtype))
    return leaf.grad.to(x.dtype)


class _StreamingTests:
    SERVER_FLAGS = (f"--max_message_bytes={MESSAGE_LIMIT}",)
    CLIENT_TIMEOUT = 60

    def client_with(self, **options):
        """Another client of the test's transport, with `options`."""
        if self.OVER_GRPCIO:
            import grpc

            channel = grpc.insecure_channel(self.server.address)
            self.addCleanup(channel.close)
            client = tensorops.Client(channel=channel, timeout=60, **options)
        else:
            client = tensorops.Client(self.server.address, timeout=60, **options)
        self.addCleanup(client.close)
        return client

    @needs_torch
    def test_topk_equals_torch(self):
        cases = [
            (torch.randn(300, 40000, generator=torch.Generator().manual_seed(1)), 5, -1),
            (torch.randn(300, 40000, generator=torch.Generator().manual_seed(2)), 3, 0),
            (torch.randn(7, 13, 11, dtype=torch.float64), 4, 1),
            (distinct_rows((50, 200), torch.float16, 3), 10, -1),
            (distinct_rows((50, 200), torch.bfloat16, 4), 200, 1),
            (distinct_rows((4, 3, 100), torch.float32, 5), 1, -1),
            (torch.tensor([3.0, 1.0, 4.0, 2.0]), 2, 0),
            (torch.tensor(5.0, dtype=torch.float64), 1, -1),
        ]
        for x, k, dim in cases:
            for largest, sorted_ in ((True, True), (False, True), (True, False)):
                with self.subTest(dtype=x.dtype, shape=tuple(x.shape), k=k, dim=dim,
                                  largest=largest, sorted=sorted_):
                    result = self.client.topk(x, k, dim, largest, sorted_, stream=True)
                    values, indices = torch_topk(x, k, dim, largest, sorted_)
                    if not sorted_:  # the server's unsorted order: by index
                        order = torch.argsort(indices, dim=dim)
                        values = values.gather(dim, order)
                        indices = indices.gather(dim, order)
                    self.assertEqual(result.values.dtype, x.dtype)
                    self.assertTrue(torch.equal(result.values, values))
                    self.assertTrue(torch.equal(result.indices, indices))
                    self.assertIsNone(result.session_id)

    @needs_torch
    def test_numpy_results_are_numpy(self):
        x = np.random.default_rng(6).standard_normal((400, 1000))
        result = self.client.topk(x, 3, stream=True)
        self.assertIsInstance(result.values, np.ndarray)
        expected = torch.topk(torch.from_numpy(x), 3)
        np.testing.assert_array_equal(result.values, expected.values.numpy())
        np.testing.assert_array_equal(result.indices, expected.indices.numpy())
        result.values[0, 0] = 1.0  # writable, as unary results are

    @needs_torch
    def test_backward_equals_autograd(self):
        for dtype, shape, k, dim in ((torch.float32, (300, 4000), 30, -1),
                                     (torch.float64, (6, 40, 5), 7, 1),
                                     (torch.float16, (60, 200), 20, -1),
                                     (torch.bfloat16, (200, 30), 5, 0)):
            with self.subTest(dtype=dtype, shape=shape):
                if dtype in HALF_TYPES:
                    x = distinct_rows(shape[::-1] if dim == 0 else shape, dtype, 7)
                    x = x.t().contiguous() if dim == 0 else x
                else:
                    # Distinct values: with ties the selected positions (and
                    # so the gradient) may rightly differ from torch's.
                    count = int(np.prod(shape))
                    x = (torch.randperm(count) - count // 2).reshape(shape).to(dtype)
                top = self.client.topk(x, k, dim, save_for_backward=True, stream=True)
                self.assertIsNotNone(top.session_id)
                grad = torch.randn(tuple(top.values.shape)).to(dtype)
                expected = torch_grad(x, k, dim, grad)

                stateless = self.client.backward(grad, indices=top.indices,
                                                 input_shape=x.shape, dim=dim, stream=True)
                self.assertTrue(torch.equal(stateless, expected))
                session = self.client.backward(grad, top.session_id, stream=True)
                self.assertEqual(stateless.dtype, dtype)
                self.assertTrue(torch.equal(session, expected))
                with self.assertRaises(tensorops.FailedPreconditionError):
                    self.client.backward(grad, top.session_id, stream=True)

    @needs_torch
    def test_zeros_and_ones_like_equal_torch(self):
        for dtype, shape, out in ((torch.float32, (1000, 3000), None),
                                  (torch.bool, (3, 5), None),
                                  (torch.int64, (2, 3), torch.bfloat16),
                                  (torch.float16, (), torch.float64),
                                  (torch.bfloat16, (7, 0), None)):
            x = torch.empty(shape, dtype=dtype)
            with self.subTest(dtype=dtype, shape=shape, out=out):
                zeros = self.client.zeros_like(x, dtype=out, stream=True)
                ones = self.client.ones_like(x, dtype=out, stream=True)
                self.assertTrue(torch.equal(zeros, torch.zeros_like(x, dtype=out)))
                self.assertTrue(torch.equal(ones, torch.ones_like(x, dtype=out)))

    def test_empty_tensors_stream(self):
        top = self.client.topk(np.zeros((3, 0), np.float32), 0, stream=True)
        self.assertEqual(top.values.shape, (3, 0))
        self.assertEqual(top.indices.dtype, np.int64)
        none = self.client.topk(np.ones((2, 3), np.float32), 0, stream=True)
        self.assertEqual(none.values.shape, (2, 0))
        grad = self.client.backward(np.zeros((2, 0), np.float32),
                                    indices=np.zeros((2, 0), np.int64),
                                    input_shape=(2, 3), dim=1, stream=True)
        np.testing.assert_array_equal(grad, np.zeros((2, 3), np.float32))
        self.assertEqual(self.client.zeros_like(np.zeros(0), stream=True).shape, (0,))

    @needs_torch
    def test_memory_maps_are_sent_without_being_read_whole(self):
        rows, columns = 1250, 10000  # 50 MB of float32
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "input.f32")
            mapped = np.memmap(path, dtype=np.float32, mode="w+", shape=(rows, columns))
            rng = np.random.default_rng(8)
            for start in range(0, rows, 125):
                mapped[start:start + 125] = rng.standard_normal((125, columns))
            mapped.flush()
            del mapped
            mapped = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, columns))
            self.assertTrue(np.shares_memory(_codec.prepare(mapped).data, mapped))
            results = []
            peak = peak_python_allocation(
                lambda: results.append(self.client.topk(mapped, 4, stream=True)))
            # grpcio copies a chunk (2 MiB) at a time; the native client none.
            self.assertLess(peak, rows * columns * 4 // 4)
            expected = torch.topk(torch.from_numpy(np.array(mapped)), 4)
            np.testing.assert_array_equal(results[0].values, expected.values.numpy())
            np.testing.assert_array_equal(results[0].indices, expected.indices.numpy())

            automatic = self.client_with(stream_threshold_bytes=1 << 20).topk(mapped, 4)
            np.testing.assert_array_equal(automatic.indices, expected.indices.numpy())

    @needs_torch
    def test_the_threshold_chooses_streaming(self):
        # 4 MB: over the server's unary limit; distinct values (no ties).
        x = (torch.randperm(10**6) - 500000).float().reshape(1000, 1000)
        with self.assertRaises(tensorops.ResourceExhaustedError):
            self.client.topk(x, 5)  # the default threshold: unary
        with self.assertRaises(tensorops.ResourceExhaustedError):
            self.client_with(stream_threshold_bytes=1024).topk(x, 5, stream=False)

        eager = self.client_with(stream_threshold_bytes=512 << 10)
        self.assertEqual(eager.stream_threshold_bytes, 512 << 10)
        result = eager.topk(x, 5, save_for_backward=True)
        expected = torch.topk(x, 5)
        self.assertTrue(torch.equal(result.values, expected.values))
        self.assertTrue(torch.equal(result.indices, expected.indices))
        # The result decides too: 200k int64 indices of a 400 KB float16
        # input are 1.6 MB.
        half = distinct_rows((1000, 200), torch.float16, 9)
        self.assertTrue(torch.equal(eager.topk(half, 200).indices,
                                    torch_topk(half, 200, -1)[1]))
        grad = torch.ones(1000, 5)
        expected_grad = torch_grad(x, 5, -1, grad)
        self.assertTrue(torch.equal(eager.backward(grad, result.session_id), expected_grad))
        self.assertTrue(torch.equal(
            eager.backward(grad, indices=result.indices, input_shape=x.shape), expected_grad))
        self.assertTrue(torch.equal(eager.ones_like(x), torch.ones_like(x)))
        self.assertTrue(torch.equal(eager.zeros_like(x), torch.zeros_like(x)))
        # Small calls stay unary (the server would refuse nothing either way).
        self.assertEqual(eager.topk(np.array([3.0, 1.0]), 1).indices.tolist(), [0])

    @needs_torch
    def test_autograd_through_streaming(self):
        eager = self.client_with(stream_threshold_bytes=1 << 16)
        base = torch.randn(200, 3000, dtype=torch.float64)
        for stream, client in ((None, eager), (True, self.client)):
            with self.subTest(stream=stream):
                grads = []
                for topk in (torch.topk,
                             lambda *a: ttorch.topk(*a, client=client, stream=stream)):
                    x = base.clone().requires_grad_()
                    values, indices = topk(x * 3.0, 40, -1)
                    (values * values).sum().backward()
                    grads.append(x.grad)
                self.assertTrue(torch.equal(grads[0], grads[1]))
        # Through a retained graph the second pass is stateless.
        x = base.clone().requires_grad_()
        values, _ = ttorch.topk(x, 40, client=eager)
        values.sum().backward(retain_graph=True)
        values.sum().backward()
        self.assertTrue(torch.equal(x.grad, torch_grad(base, 40, -1, torch.ones(200, 40)) * 2))

    def test_stream_takes_true_false_or_none(self):
        with self.assertRaises(TypeError):
            self.client.topk(np.ones(3), 1, stream="yes")
        with self.assertRaises(ValueError):
            tensorops.Client(self.server.address, stream_threshold_bytes=-1)
        self.assertEqual(self.client.topk(np.ones(3), 1, stream=False).indices.tolist(), [0])

    def test_errors_are_the_servers(self):
        with self.assertRaises(tensorops.InvalidArgumentError):
            self.client.topk(np.ones(4, np.float32), 5, stream=True)
        with self.assertRaises(tensorops.NotFoundError):
            self.client.backward(np.ones(1, np.float32), "0" * 32, stream=True)
        with self.assertRaises(tensorops.DeadlineExceededError):
            self.client.topk(np.ones(4, np.float32), 1, stream=True, timeout=-1)


@unittest.skipUnless(os.environ.get("TENSOROPS_CLI"), "set TENSOROPS_CLI to the CLI binary")
class CliStreamingTest(ServerTestCase):
    """The CLI streams .npy inputs past its --stream-threshold."""

    SERVER_FLAGS = (f"--max_message_bytes={MESSAGE_LIMIT}",)

    def cli(self, *args):
        return subprocess.run([os.environ["TENSOROPS_CLI"], f"--address={self.server.address}",
                               *args], capture_output=True, text=True, timeout=60)

    def test_npy_files_past_the_threshold_stream(self):
        x = np.random.default_rng(12).standard_normal((1000, 1000)).astype(np.float32)
        with tempfile.TemporaryDirectory() as directory:
            names = [os.path.join(directory, name) for name in ("x.npy", "v.npy", "i.npy")]
            np.save(names[0], x)
            output = f"--output=npy:{names[1]},{names[2]}"
            refused = self.cli("topk", names[0], "--k=3", output)
            self.assertEqual(refused.returncode, 1)
            self.assertIn("RESOURCE_EXHAUSTED", refused.stderr)
            done = self.cli("topk", names[0], "--k=3", output, "--stream-threshold=1024")
            self.assertEqual(done.returncode, 0, done.stderr)
            order = np.argsort(-x, axis=-1, kind="stable")[:, :3]
            np.testing.assert_array_equal(np.load(names[2]), order)
            np.testing.assert_array_equal(np.load(names[1]),
                                          np.take_along_axis(x, order, -1))
            ones = os.path.join(directory, "ones.npy")
            done = self.cli("ones-like", names[0], f"--output=npy:{ones}",
                            "--stream-threshold=1024")
            self.assertEqual(done.returncode, 0, done.stderr)
            np.testing.assert_array_equal(np.load(ones), np.ones_like(x))


@unittest.skipUnless(_native_transport.available(), "tensorops._native is not built")
class NativeStreamingTest(_StreamingTests, ClientTestCase):
    def test_the_native_transport_is_used(self):
        self.assertEqual(self.client.transport, "native")


class GrpcioStreamingTest(_StreamingTests, ClientTestCase):
    OVER_GRPCIO = True

    def test_the_grpcio_transport_is_used(self):
        self.assertEqual(self.client.transport, "grpcio")


if __name__ == "__main__":
    unittest.main()
