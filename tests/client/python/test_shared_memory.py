"""tensorops.SharedMemory: tensors by reference, results into regions.

Each rule once, over the native transport and (where the call differs) over
grpcio: results match the inline calls', results written to a region are
views of it (no copy), regions are per caller, bounded and cleaned up, and
a truncated region fails the call without harming the server.
"""

import os
import unittest

import numpy as np
import torch

import tensorops
import tensorops.torch
from server_process import ServerProcess


class SharedMemoryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess("--allow_shared_memory",
                                   "--max_shared_memory_regions_per_caller=4")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.client = tensorops.Client(self.server.address)
        self.addCleanup(self.client.close)

    def test_topk_from_and_into_a_region_matches_inline(self):
        rng = np.random.default_rng(1)
        with tensorops.SharedMemory(self.client, 4 << 20) as shm:
            x = shm.empty((64, 3000), np.float32)
            x[...] = rng.standard_normal(x.shape, dtype=np.float32)
            expected = self.client.topk(x.copy(), 9)
            values, indices, _ = self.client.topk(x, 9, out=shm)
            np.testing.assert_array_equal(values, expected.values)
            np.testing.assert_array_equal(indices, expected.indices)
            # The results are the region's bytes, not copies.
            self.assertIsNotNone(shm.offset_of(values))
            self.assertIsNotNone(shm.offset_of(indices))
            self.assertFalse(np.shares_memory(values, expected.values))
            # A region input with inline results.
            inline = self.client.topk(x, 9, dim=0, largest=False)
            reference = torch.topk(torch.from_numpy(x.copy()), 9, dim=0, largest=False)
            np.testing.assert_array_equal(inline.values, reference.values.numpy())
            self.assertIsNone(shm.offset_of(inline.values))

    def test_results_into_given_arrays(self):
        with tensorops.SharedMemory(self.client, 1 << 16) as shm:
            x = shm.empty((4,), np.int32)
            x[...] = [3, 9, 1, 7]
            values = shm.empty((2,), np.int32)
            indices = shm.empty((2,), np.int64)
            result = self.client.topk(x, 2, out=(values, indices))
            self.assertIs(result.values, values)
            np.testing.assert_array_equal(values, [9, 7])
            np.testing.assert_array_equal(indices, [1, 3])
            with self.assertRaises(ValueError):
                self.client.topk(x, 3, out=(values, indices))  # wrong shape

    def test_torch_tensors_and_backward(self):
        with tensorops.SharedMemory(self.client, 1 << 20) as shm:
            x = shm.empty((8, 100), torch.float32, torch=True)
            x.copy_(torch.randn(8, 100, generator=torch.Generator().manual_seed(2)))
            top = self.client.topk(x, 5, save_for_backward=True, out=shm)
            self.assertIsInstance(top.values, torch.Tensor)
            torch.testing.assert_close(top.values, torch.topk(x.clone(), 5).values,
                                       rtol=0, atol=0)
            grad = shm.empty((8, 5), torch.float32, torch=True)
            grad.fill_(1.5)
            grad_input = self.client.backward(grad, top.session_id, input_shape=(8, 100),
                                              out=shm)
            expected = torch.zeros(8, 100).scatter(1, top.indices.clone(), 1.5)
            torch.testing.assert_close(grad_input, expected, rtol=0, atol=0)
            self.assertIsNotNone(shm.offset_of(grad_input))
            # Stateless, with indices from the region too.
            stateless = self.client.backward(grad, indices=top.indices, input_shape=(8, 100))
            torch.testing.assert_close(stateless, expected, rtol=0, atol=0)

    def test_autograd_topk_through_a_region(self):
        with tensorops.SharedMemory(self.client, 1 << 20) as shm:
            x = shm.empty((4, 50), torch.float32, torch=True)
            x.copy_(torch.randn(4, 50, generator=torch.Generator().manual_seed(3)))
            x.requires_grad_(True)
            values, indices = tensorops.torch.topk(x, 3, client=self.client, out=shm)
            self.assertIsNotNone(shm.offset_of(values.detach()))
            values.sum().backward()
            expected = torch.zeros(4, 50).scatter(1, indices, 1.0)
            torch.testing.assert_close(x.grad, expected, rtol=0, atol=0)

    def test_fills_into_a_region(self):
        with tensorops.SharedMemory(self.client, 1 << 16) as shm:
            ones = self.client.ones_like(np.zeros((3, 5), np.float16), out=shm)
            zeros = self.client.zeros_like(np.ones((7,)), dtype="int8", out=shm)
            np.testing.assert_array_equal(ones, np.ones((3, 5), np.float16))
            np.testing.assert_array_equal(zeros, np.zeros(7, np.int8))
            self.assertIsNotNone(shm.offset_of(ones))

    def test_regions_are_listed_and_unregistered(self):
        shm = tensorops.SharedMemory(self.client, 8192, name="listed")
        regions = self.client.list_shared_memory()
        self.assertEqual([(r["name"], r["byte_size"]) for r in regions], [("listed", 8192)])
        shm.close()
        self.assertEqual(self.client.list_shared_memory(), [])
        self.assertFalse(os.path.exists(shm.path))
        with self.assertRaises(tensorops.NotFoundError):
            self.client.unregister_shared_memory("listed")

    def test_another_caller_cannot_use_a_region(self):
        server = _TokenServer()
        self.addCleanup(server.stop)
        alice = tensorops.Client(server.address, auth_token="alice-token-0123456789")
        bob = tensorops.Client(server.address, auth_token="bob-token-0123456789")
        self.addCleanup(alice.close)
        self.addCleanup(bob.close)
        with tensorops.SharedMemory(alice, 4096, name="mine") as shm:
            x = shm.empty((4,), np.float32)
            x[...] = [1, 2, 3, 4]
            self.assertEqual(alice.topk(x, 1).values.tolist(), [4.0])
            request = tensorops.v1.tensor_ops_pb2.TopKRequest(
                input=tensorops.v1.tensor_ops_pb2.Tensor(
                    dtype=1, shape=[4], shared_memory=shm.ref(x)), k=1)
            with self.assertRaises(tensorops.NotFoundError):
                bob._transport.call("TopK", request,
                                    tensorops.v1.tensor_ops_pb2.TopKResponse,
                                    bob._settings(None))
            self.assertEqual(bob.list_shared_memory(), [])

    def test_limits_regions_per_caller(self):
        regions = [tensorops.SharedMemory(self.client, 4096) for _ in range(4)]
        try:
            with self.assertRaises(tensorops.ResourceExhaustedError):
                tensorops.SharedMemory(self.client, 4096)
        finally:
            for region in regions:
                region.close()

    def test_a_full_region_refuses_more_arrays(self):
        with tensorops.SharedMemory(self.client, 1024) as shm:
            shm.empty((200,), np.float32)
            with self.assertRaises(MemoryError):
                shm.empty((100,), np.float32)
            shm.reset()
            shm.empty((256,), np.float32)

    def test_closing_the_client_unregisters_its_regions(self):
        client = tensorops.Client(self.server.address)
        shm = tensorops.SharedMemory(client, 4096)
        client.close()
        self.assertFalse(os.path.exists(shm.path))
        self.assertEqual(self.client.list_shared_memory(), [])

    def test_truncated_region_fails_the_call_and_the_server_serves_on(self):
        with tensorops.SharedMemory(self.client, 1024 * 4000 * 4) as shm:
            x = shm.empty((1024, 4000), np.float32)
            x[...] = 1.0
            os.truncate(shm.path, 4096)
            with self.assertRaises(tensorops.FailedPreconditionError) as raised:
                self.client.topk(x, 3)
            self.assertIn("truncated", raised.exception.details)
            self.assertEqual(self.client.topk(np.arange(5.0), 2).values.tolist(), [4.0, 3.0])

    def test_grpcio_transport_calls_the_same(self):
        import grpc
        channel = grpc.insecure_channel(self.server.address)
        client = tensorops.Client(channel=channel)
        self.addCleanup(channel.close)
        with tensorops.SharedMemory(client, 1 << 16) as shm:
            x = shm.empty((10,), np.float64)
            x[...] = np.arange(10.0)
            values, indices, _ = client.topk(x, 3, out=shm)
            np.testing.assert_array_equal(values, [9, 8, 7])
            self.assertIsNotNone(shm.offset_of(indices))


# A child process that registers a region as alice, says so, and waits to be
# killed. argv[1]: the address; argv[2]: "native" or "grpcio".
_HOLDER = """
import sys, time, grpc, tensorops
address, transport = sys.argv[1], sys.argv[2]
token = "alice-token-0123456789"
if transport == "grpcio":
    client = tensorops.Client(channel=grpc.insecure_channel(address), auth_token=token)
else:
    client = tensorops.Client(address, auth_token=token)
shm = tensorops.SharedMemory(client, 4096, name="held")
print(shm.path, flush=True)
time.sleep(600)
"""


class SharedMemoryHoldTest(unittest.TestCase):
    """Regions live as long as their client: past the idle timeout while its
    process runs, and unmapped soon after it is killed (no unregister)."""

    @classmethod
    def setUpClass(cls):
        cls.server = _TokenServer("--shared_memory_idle_timeout=100ms",
                                  "--shared_memory_release_grace=200ms")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def check_killed_holder_loses_its_region(self, transport):
        import subprocess
        import sys
        import time
        holder = subprocess.Popen([sys.executable, "-c", _HOLDER, self.server.address, transport],
                                  stdout=subprocess.PIPE, text=True)
        self.addCleanup(holder.stdout.close)
        self.addCleanup(holder.wait)
        self.addCleanup(holder.kill)
        path = holder.stdout.readline().strip()
        self.assertTrue(path, "the holder did not register its region")
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        alice = tensorops.Client(self.server.address, auth_token="alice-token-0123456789")
        self.addCleanup(alice.close)
        time.sleep(0.5)  # five idle timeouts without a call of alice's
        self.assertEqual([r["name"] for r in alice.list_shared_memory()], ["held"])
        self.assertEqual(alice.server_info()["caller_shared_memory_holds"], 1)
        holder.kill()  # no unregister, no close: the connection just goes
        holder.wait()
        give_up = time.monotonic() + 60  # not a timing check: it must happen
        while alice.list_shared_memory() and time.monotonic() < give_up:
            time.sleep(0.01)
        self.assertEqual(alice.list_shared_memory(), [])

    def test_native_client(self):
        self.check_killed_holder_loses_its_region("native")

    def test_grpcio_client(self):
        self.check_killed_holder_loses_its_region("grpcio")


class SharedMemoryOffTest(unittest.TestCase):
    def test_off_by_default(self):
        server = ServerProcess()
        self.addCleanup(server.stop)
        with tensorops.Client(server.address) as client:
            with self.assertRaises(tensorops.FailedPreconditionError):
                tensorops.SharedMemory(client, 4096)
            self.assertEqual([name for name in os.listdir("/dev/shm")
                              if name.startswith(f"tensorops-{os.getpid()}-")], [])


def _TokenServer(*flags):
    import tempfile
    tokens = tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False)
    tokens.write("alice-token-0123456789\nbob-token-0123456789\n")
    tokens.close()
    server = ServerProcess("--allow_shared_memory", f"--auth_tokens_file={tokens.name}",
                           *flags)
    stop = server.stop

    def stop_and_remove():
        stop()
        os.unlink(tokens.name)
    server.stop = stop_and_remove
    return server


if __name__ == "__main__":
    unittest.main()
