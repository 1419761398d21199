"""tensorops.Client against a real server: the issue's examples, dtypes,
sessions, health and error mapping."""

import os
import unittest
from unittest import mock

import grpc
import numpy as np

import tensorops
from server_process import ClientTestCase

try:
    import torch
except ImportError:  # the NumPy half still runs
    torch = None

needs_torch = unittest.skipIf(torch is None, "python3-torch is not installed")

UNKNOWN_SESSION = "0" * 32  # well-formed, never issued


class ClientTest(ClientTestCase):
    def test_seed_examples_with_numpy(self):
        zeros = self.client.zeros_like(np.array([[1, 2, 3], [4, 5, 6]]))
        self.assertEqual(zeros.dtype, np.int64)
        np.testing.assert_array_equal(zeros, np.zeros((2, 3), np.int64))

        values, indices, session_id = self.client.topk(
            np.array([3.0, 1.0, 4.0, 2.0], np.float32), 2, save_for_backward=True)
        self.assertEqual(values.dtype, np.float32)
        np.testing.assert_array_equal(values, [4.0, 3.0])
        np.testing.assert_array_equal(indices, [2, 0])
        self.assertEqual(indices.dtype, np.int64)

        grad = self.client.backward(np.array([0.1, 0.2], np.float32), session_id)
        np.testing.assert_array_equal(grad, np.array([0.2, 0.0, 0.1, 0.0], np.float32))

    @needs_torch
    def test_seed_examples_with_torch(self):
        result = self.client.topk(torch.tensor([3.0, 1.0, 4.0, 2.0]), 2)
        self.assertIsInstance(result.values, torch.Tensor)
        self.assertEqual(str(result.values), "tensor([4., 3.])")
        self.assertEqual(str(result.indices), "tensor([2, 0])")
        self.assertIsNone(result.session_id)
        grad = self.client.backward(
            torch.tensor([0.1, 0.2]), indices=result.indices, input_shape=[4])
        self.assertEqual(str(grad), "tensor([0.2000, 0.0000, 0.1000, 0.0000])")

    def test_the_address_defaults_to_tensorops_address(self):
        with mock.patch.dict(os.environ, {"TENSOROPS_ADDRESS": self.server.address}):
            with tensorops.Client(timeout=10) as client:
                self.assertEqual(client.address, self.server.address)
                self.assertEqual(client.health(), "SERVING")
        with mock.patch.dict(os.environ, {"TENSOROPS_ADDRESS": ""}):
            with tensorops.Client(timeout=10) as client:
                self.assertEqual(client.address, "127.0.0.1:50051")

    def test_every_numpy_dtype_round_trips(self):
        for dtype in [np.float32, np.float64, np.float16, np.int8, np.int16, np.int32,
                      np.int64, np.uint8, np.bool_]:
            with self.subTest(dtype=dtype):
                x = np.arange(6).reshape(2, 3).astype(dtype)
                ones = self.client.ones_like(x)
                self.assertEqual(ones.dtype, np.dtype(dtype))
                np.testing.assert_array_equal(ones, np.ones((2, 3), dtype))
                top = self.client.topk(x.astype(np.float32) if dtype == np.bool_ else x, 1)
                self.assertEqual(top.values.shape, (2, 1))

    def test_result_dtype_and_non_contiguous_or_big_endian_input(self):
        x = np.arange(12, dtype=">i4").reshape(3, 4).T  # big-endian, transposed
        values, indices, _ = self.client.topk(x, 2, dim=1)
        np.testing.assert_array_equal(values, [[8, 4], [9, 5], [10, 6], [11, 7]])
        np.testing.assert_array_equal(indices, [[2, 1]] * 4)
        zeros = self.client.zeros_like(x, dtype="float16")
        self.assertEqual(zeros.dtype, np.float16)
        self.assertEqual(zeros.shape, (4, 3))

    @needs_torch
    def test_bfloat16_travels_as_torch(self):
        x = torch.tensor([[0.5, -2.0, 3.25]], dtype=torch.bfloat16)
        values, indices, _ = self.client.topk(x, 2)
        self.assertEqual(values.dtype, torch.bfloat16)
        self.assertTrue(torch.equal(values, torch.tensor([[3.25, 0.5]], dtype=torch.bfloat16)))
        ones = self.client.ones_like(np.zeros((0, 2)), dtype=torch.bfloat16)
        self.assertEqual((ones.dtype, tuple(ones.shape)), (torch.bfloat16, (0, 2)))

    def test_sessions_are_consumed_retained_and_released(self):
        before = self.session_count()
        _, _, session_id = self.client.topk(np.array([1.0, 5.0, 2.0]), 1, save_for_backward=True)
        self.assertEqual(self.session_count(), before + 1)
        for _ in range(2):
            grad = self.client.backward(np.array([1.0]), session_id, retain_session=True)
            np.testing.assert_array_equal(grad, [0.0, 1.0, 0.0])
        self.client.release_session(session_id)
        self.assertEqual(self.session_count(), before)
        with self.assertRaises(tensorops.NotFoundError):
            self.client.release_session(session_id)

    def test_health_and_server_info(self):
        self.assertEqual(self.client.health(), "SERVING")
        self.assertEqual(self.client.health("tensorops.v1.TensorOps"), "SERVING")
        info = self.client.server_info()
        self.assertEqual(info["compute_threads"], 2)
        self.assertTrue(info["version"])
        # The package's version is the project's, which the server reports.
        self.assertEqual(tensorops.__version__, info["version"])

    def test_error_mapping(self):
        cases = [
            (lambda: self.client.topk(np.array([1.0, 2.0]), 5),
             tensorops.InvalidArgumentError, grpc.StatusCode.INVALID_ARGUMENT, ValueError),
            (lambda: self.client.topk(np.array([1.0, 2.0]), 1, dim=3),
             tensorops.InvalidArgumentError, grpc.StatusCode.INVALID_ARGUMENT, ValueError),
            (lambda: self.client.topk(np.array([True]), 1),
             tensorops.InvalidArgumentError, grpc.StatusCode.INVALID_ARGUMENT, ValueError),
            (lambda: self.client.backward(np.array([1.0]), UNKNOWN_SESSION),
             tensorops.NotFoundError, grpc.StatusCode.NOT_FOUND, LookupError),
            # 16 MB cannot travel in a millisecond (tiny timeouts alone are
            # not reliably enforced by grpcio before a fast reply arrives).
            (lambda: self.client.topk(np.zeros(4_000_000, np.float32), 3, timeout=1e-3),
             tensorops.DeadlineExceededError, grpc.StatusCode.DEADLINE_EXCEEDED, TimeoutError),
            (lambda: self.client.health("no.such.Service"),
             tensorops.NotFoundError, grpc.StatusCode.NOT_FOUND, LookupError),
        ]
        for call, error_type, code, builtin in cases:
            with self.subTest(code=code), self.assertRaises(error_type) as caught:
                call()
            self.assertEqual(caught.exception.code, code)
            self.assertIsInstance(caught.exception, builtin)
            self.assertIsInstance(caught.exception, tensorops.TensorOpsError)
            self.assertTrue(caught.exception.details)
            self.assertIn(caught.exception.details, str(caught.exception))

    def test_consumed_session_is_failed_precondition(self):
        _, _, session_id = self.client.topk(np.array([1.0, 5.0]), 1, save_for_backward=True)
        self.client.backward(np.array([1.0]), session_id)
        with self.assertRaises(tensorops.FailedPreconditionError) as caught:
            self.client.backward(np.array([1.0]), session_id)
        self.assertEqual(caught.exception.code, grpc.StatusCode.FAILED_PRECONDITION)

    def test_errors_carry_the_servers_message(self):
        # The same request through the generated stub gives the same details.
        from tensorops.v1 import tensor_ops_pb2 as pb
        from tensorops.v1 import tensor_ops_pb2_grpc as pb_grpc

        with grpc.insecure_channel(self.server.address) as channel:
            request = pb.TopKRequest(
                input=pb.Tensor(dtype=pb.DTYPE_FLOAT64, shape=[2],
                                data=np.array([1.0, 2.0]).tobytes()), k=5)
            with self.assertRaises(grpc.RpcError) as raw:
                pb_grpc.TensorOpsStub(channel).TopK(request, timeout=10)
        with self.assertRaises(tensorops.TensorOpsError) as wrapped:
            self.client.topk(np.array([1.0, 2.0]), 5)
        self.assertEqual(wrapped.exception.details, raw.exception.details())

    def test_unreachable_server_is_unavailable(self):
        with tensorops.Client("127.0.0.1:1", timeout=5) as client:
            with self.assertRaises(tensorops.UnavailableError) as caught:
                client.health()
        self.assertIsInstance(caught.exception, ConnectionError)

    def test_local_argument_mistakes(self):
        with self.assertRaises(TypeError):
            self.client.zeros_like(np.zeros(2, np.complex64))
        with self.assertRaises(TypeError):
            self.client.zeros_like(np.zeros(2), dtype="complex64")
        with self.assertRaises(ValueError):
            self.client.backward(np.ones(1))
        with self.assertRaises(ValueError):
            self.client.backward(np.ones(1), "id", indices=np.zeros(1, np.int64), input_shape=[2])


class GrpcioClientTest(ClientTest):
    """Every ClientTest again through a caller's own grpc.Channel (the grpcio
    transport)."""

    OVER_GRPCIO = True

    def test_calls_go_through_the_callers_channel(self):
        self.assertEqual(self.client.transport, "grpcio")


if __name__ == "__main__":
    unittest.main()
