"""The Open Inference Protocol (KServe v2) over gRPC, on the server's port:
stubs generated from proto/inference/open_inference.proto call every RPC
and every model, and the results are compared with torch."""

import os
import pathlib
import sys
import tempfile
import unittest

import grpc
import numpy as np

from server_process import ServerProcess, ServerTestCase

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "proto"))
import python_protos  # noqa: E402  pylint: disable=wrong-import-position

pb, pb_grpc = python_protos.load_inference()

try:
    import torch
except ImportError:  # pragma: no cover - Debian's python3-torch is expected
    torch = None

DATATYPES = {np.float32: "FP32", np.float64: "FP64", np.int64: "INT64",
             np.int32: "INT32", np.uint8: "UINT8"}


def raw_input(request, name, array):
    tensor = request.inputs.add(name=name, datatype=DATATYPES[array.dtype.type],
                                shape=list(array.shape))
    request.raw_input_contents.append(np.ascontiguousarray(array).tobytes())
    return tensor


def outputs_of(response):
    """{name: ndarray} from raw_output_contents."""
    kinds = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64,
             "INT32": np.int32, "UINT8": np.uint8, "BOOL": np.bool_}
    result = {}
    for tensor, raw in zip(response.outputs, response.raw_output_contents):
        result[tensor.name] = np.frombuffer(raw, dtype=kinds[tensor.datatype]).reshape(
            tuple(tensor.shape))
    return result


class InferenceProtocolTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = grpc.insecure_channel(cls.server.address)
        cls.addClassCleanup(cls.channel.close)
        cls.stub = pb_grpc.GRPCInferenceServiceStub(cls.channel)
        cls.rng = np.random.default_rng(7)

    def infer(self, model, inputs, **parameters):
        request = pb.ModelInferRequest(model_name=model, id=f"req-{model}")
        for name, array in inputs.items():
            raw_input(request, name, array)
        for key, value in parameters.items():
            param = request.parameters[key]
            if isinstance(value, bool):
                param.bool_param = value
            elif isinstance(value, int):
                param.int64_param = value
            else:
                param.string_param = value
        return self.stub.ModelInfer(request, timeout=10)

    def assert_code(self, code, call, *args, contains="", **kwargs):
        with self.assertRaises(grpc.RpcError) as raised:
            call(*args, **kwargs)
        self.assertEqual(raised.exception.code(), code, raised.exception.details())
        self.assertIn(contains, raised.exception.details())

    def test_server_health_and_metadata(self):
        self.assertTrue(self.stub.ServerLive(pb.ServerLiveRequest()).live)
        self.assertTrue(self.stub.ServerReady(pb.ServerReadyRequest()).ready)
        metadata = self.stub.ServerMetadata(pb.ServerMetadataRequest())
        self.assertEqual(metadata.name, "tensorops")
        self.assertRegex(metadata.version, r"^\d+\.\d+\.\d+")

    def test_every_model_is_ready_and_described(self):
        expected = {
            "zeros_like": (["input"], ["output"]),
            "ones_like": (["input"], ["output"]),
            "topk": (["input"], ["values", "indices"]),
            "sort": (["input"], ["values", "indices"]),
            "kthvalue": (["input"], ["values", "indices"]),
            "max": (["input"], ["values", "indices"]),
            "min": (["input"], ["values", "indices"]),
            "median": (["input"], ["values", "indices"]),
            "topk_backward": (["grad_values", "indices"], ["grad_input"]),
        }
        for model, (inputs, outputs) in expected.items():
            with self.subTest(model=model):
                self.assertTrue(self.stub.ModelReady(pb.ModelReadyRequest(name=model)).ready)
                meta = self.stub.ModelMetadata(pb.ModelMetadataRequest(name=model))
                self.assertEqual(meta.name, model)
                self.assertEqual(list(meta.versions), ["1"])
                self.assertEqual([t.name for t in meta.inputs], inputs)
                self.assertEqual([t.name for t in meta.outputs], outputs)

    def test_unknown_model_or_version_is_not_found(self):
        self.assert_code(grpc.StatusCode.NOT_FOUND, self.stub.ModelReady,
                         pb.ModelReadyRequest(name="resnet"), contains="topk")
        self.assert_code(grpc.StatusCode.NOT_FOUND, self.stub.ModelMetadata,
                         pb.ModelMetadataRequest(name="topk", version="2"))
        self.assert_code(grpc.StatusCode.NOT_FOUND, self.infer, "resnet",
                         {"input": np.zeros(3, np.float32)})

    @unittest.skipIf(torch is None, "needs torch")
    def test_topk_matches_torch_and_echoes_the_id(self):
        x = self.rng.standard_normal((6, 40)).astype(np.float32)
        for largest in (True, False):
            response = self.infer("topk", {"input": x}, k=5, dim=-1, largest=largest)
            self.assertEqual(response.id, "req-topk")
            self.assertEqual(response.model_name, "topk")
            out = outputs_of(response)
            expected = torch.topk(torch.from_numpy(x), 5, dim=-1, largest=largest)
            np.testing.assert_array_equal(out["values"], expected.values.numpy())
            np.testing.assert_array_equal(out["indices"], expected.indices.numpy())
            self.assertEqual(response.outputs[1].datatype, "INT64")
            self.assertNotIn("session_id", response.parameters)

    def test_typed_contents_are_taken(self):
        request = pb.ModelInferRequest(model_name="topk")
        request.inputs.add(name="input", datatype="FP32", shape=[5],
                           contents=pb.InferTensorContents(fp32_contents=[1, 5, 2, 4, 3]))
        request.parameters["k"].int64_param = 2
        out = outputs_of(self.stub.ModelInfer(request))
        np.testing.assert_array_equal(out["values"], [5, 4])
        np.testing.assert_array_equal(out["indices"], [1, 3])
        request = pb.ModelInferRequest(model_name="max")
        request.inputs.add(name="input", datatype="INT8", shape=[2, 2],
                           contents=pb.InferTensorContents(int_contents=[-3, 7, 9, -128]))
        request.parameters["dim"].int64_param = 1
        response = self.stub.ModelInfer(request)
        self.assertEqual(response.outputs[0].datatype, "INT8")
        self.assertEqual(np.frombuffer(response.raw_output_contents[0], np.int8).tolist(), [7, 9])

    def test_requested_outputs_only(self):
        request = pb.ModelInferRequest(model_name="topk")
        raw_input(request, "input", np.array([3, 1, 2], np.float32))
        request.parameters["k"].int64_param = 1
        request.outputs.add(name="indices")
        response = self.stub.ModelInfer(request)
        self.assertEqual([t.name for t in response.outputs], ["indices"])
        self.assertEqual(np.frombuffer(response.raw_output_contents[0], np.int64).tolist(), [0])

    @unittest.skipIf(torch is None, "needs torch")
    def test_topk_session_then_backward_matches_autograd(self):
        x = self.rng.standard_normal((4, 30)).astype(np.float32)
        response = self.infer("topk", {"input": x}, k=3, dim=1, save_for_backward=True)
        session = response.parameters["session_id"].string_param
        self.assertTrue(session)
        grad = self.rng.standard_normal((4, 3)).astype(np.float32)
        backward = self.infer("topk_backward", {"grad_values": grad}, session_id=session)
        t = torch.from_numpy(x).requires_grad_()
        torch.topk(t, 3, dim=1).values.backward(torch.from_numpy(grad))
        np.testing.assert_array_equal(outputs_of(backward)["grad_input"], t.grad.numpy())
        # Consumed: a second Backward on it is refused.
        self.assert_code(grpc.StatusCode.FAILED_PRECONDITION, self.infer, "topk_backward",
                         {"grad_values": grad}, session_id=session)

    @unittest.skipIf(torch is None, "needs torch")
    def test_stateless_backward_matches_scatter(self):
        grad = self.rng.standard_normal((3, 2)).astype(np.float32)
        indices = np.array([[4, 0], [1, 2], [3, 3]], np.int64)
        response = self.infer("topk_backward", {"grad_values": grad, "indices": indices},
                              input_shape="3,5", dim=1)
        expected = torch.zeros(3, 5).scatter(1, torch.from_numpy(indices),
                                             torch.from_numpy(grad))
        np.testing.assert_array_equal(outputs_of(response)["grad_input"], expected.numpy())

    @unittest.skipIf(torch is None, "needs torch")
    def test_selection_models_match_torch(self):
        x = torch.from_numpy(self.rng.integers(0, 6, (5, 9)).astype(np.float32))
        cases = {
            "sort": (dict(dim=1, descending=True, stable=True),
                     torch.sort(x, dim=1, descending=True, stable=True)),
            "kthvalue": (dict(k=3, dim=1, keepdim=True), None),
            "max": (dict(dim=0), torch.max(x, dim=0)),
            "min": (dict(dim=1, keepdim=True), torch.min(x, dim=1, keepdim=True)),
            "median": (dict(dim=1), torch.median(x, dim=1)),
        }
        for model, (params, expected) in cases.items():
            with self.subTest(model=model):
                out = outputs_of(self.infer(model, {"input": x.numpy()}, **params))
                if expected is None:  # kthvalue's index among ties is arbitrary
                    expected = torch.kthvalue(x, 3, dim=1, keepdim=True)
                    np.testing.assert_array_equal(out["values"], expected.values.numpy())
                    picked = torch.gather(x, 1, torch.from_numpy(out["indices"].copy()))
                    np.testing.assert_array_equal(picked.numpy(), out["values"])
                    continue
                np.testing.assert_array_equal(out["values"], expected.values.numpy())
                np.testing.assert_array_equal(out["indices"], expected.indices.numpy())

    @unittest.skipIf(torch is None, "needs torch")
    def test_max_session_backward_puts_the_dim_back(self):
        x = self.rng.standard_normal((3, 4)).astype(np.float32)
        response = self.infer("max", {"input": x}, dim=1, save_for_backward=True)
        session = response.parameters["session_id"].string_param
        grad = np.array([1, 2, 3], np.float32)
        backward = self.infer("topk_backward", {"grad_values": grad}, session_id=session)
        t = torch.from_numpy(x).requires_grad_()
        torch.max(t, dim=1).values.backward(torch.from_numpy(grad))
        np.testing.assert_array_equal(outputs_of(backward)["grad_input"], t.grad.numpy())

    def test_fills_with_a_dtype_parameter(self):
        request = pb.ModelInferRequest(model_name="ones_like")
        request.inputs.add(name="input", datatype="BF16", shape=[2, 3])  # no data needed
        request.parameters["dtype"].string_param = "INT32"
        response = self.stub.ModelInfer(request)
        self.assertEqual(response.outputs[0].datatype, "INT32")
        self.assertEqual(list(response.outputs[0].shape), [2, 3])
        self.assertEqual(np.frombuffer(response.raw_output_contents[0], np.int32).tolist(),
                         [1] * 6)
        request.model_name = "zeros_like"
        request.parameters["dtype"].string_param = "bfloat16"  # torch's names too
        response = self.stub.ModelInfer(request)
        self.assertEqual(response.outputs[0].datatype, "BF16")
        self.assertEqual(response.raw_output_contents[0], bytes(12))

    def test_bad_requests_get_invalid_argument_with_our_messages(self):
        x = np.arange(4, dtype=np.float32)
        bad = [
            (dict(k=9), "k"),                       # the request layer's own check
            (dict(k=1, kk=2), "takes no parameter 'kk'"),
            (dict(k="two"), "must be an integer"),
            (dict(k=1, largest=3), "must be a boolean"),
        ]
        for params, message in bad:
            with self.subTest(params=params):
                self.assert_code(grpc.StatusCode.INVALID_ARGUMENT, self.infer, "topk",
                                 {"input": x}, contains=message, **params)
        self.assert_code(grpc.StatusCode.INVALID_ARGUMENT, self.infer, "topk",
                         {"x": x}, contains="no input 'x'", k=1)

    def test_malformed_tensors_are_refused(self):
        def request_with(**tensor):
            request = pb.ModelInferRequest(model_name="topk")
            request.parameters["k"].int64_param = 1
            request.inputs.add(name="input", **tensor)
            return request

        cases = [
            (request_with(datatype="FP16", shape=[2],
                          contents=pb.InferTensorContents(fp32_contents=[1, 2])),
             "raw_input_contents"),
            (request_with(datatype="BYTES", shape=[1]), "expected one of"),
            (request_with(datatype="FP32", shape=[3],
                          contents=pb.InferTensorContents(fp32_contents=[1, 2])),
             "expect 3"),
            (request_with(datatype="UINT8", shape=[1],
                          contents=pb.InferTensorContents(uint_contents=[300])),
             "out of its datatype's range"),
        ]
        wrong_size = request_with(datatype="FP32", shape=[3])
        wrong_size.raw_input_contents.append(bytes(8))
        cases.append((wrong_size, "12"))
        two_raw = request_with(datatype="FP32", shape=[1])
        two_raw.raw_input_contents.extend([bytes(4), bytes(4)])
        cases.append((two_raw, "one per input"))
        unknown_output = request_with(datatype="FP32", shape=[1])
        unknown_output.raw_input_contents.append(bytes(4))
        unknown_output.outputs.add(name="scores")
        cases.append((unknown_output, "no output 'scores'"))
        for request, message in cases:
            with self.subTest(message=message):
                self.assert_code(grpc.StatusCode.INVALID_ARGUMENT, self.stub.ModelInfer,
                                 request, contains=message)

    def test_bytes_that_are_not_a_request_are_invalid_argument(self):
        call = self.channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        self.assert_code(grpc.StatusCode.INVALID_ARGUMENT, call, b"\xff\xff\xff",
                         contains="ModelInferRequest")


class InferenceProtocolTokenTest(unittest.TestCase):
    """ModelInfer takes the same bearer tokens as TensorOps."""

    def test_infer_needs_a_token_when_tokens_are_configured(self):
        with tempfile.TemporaryDirectory() as directory:
            tokens = os.path.join(directory, "tokens")
            with open(tokens, "w") as f:
                f.write("secret-token-0001\n")
            server = ServerProcess(f"--auth_tokens_file={tokens}")
            self.addCleanup(server.stop)
            with grpc.insecure_channel(server.address) as channel:
                stub = pb_grpc.GRPCInferenceServiceStub(channel)
                request = pb.ModelInferRequest(model_name="zeros_like")
                request.inputs.add(name="input", datatype="FP32", shape=[2])
                with self.assertRaises(grpc.RpcError) as raised:
                    stub.ModelInfer(request, timeout=10)
                self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
                response = stub.ModelInfer(
                    request, timeout=10,
                    metadata=[("authorization", "Bearer secret-token-0001")])
                self.assertEqual(response.raw_output_contents[0], bytes(8))
                # Health and metadata answer without one, as gRPC health does.
                self.assertTrue(stub.ServerLive(pb.ServerLiveRequest()).live)


if __name__ == "__main__":
    unittest.main()
