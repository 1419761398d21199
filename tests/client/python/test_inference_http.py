"""The Open Inference Protocol over HTTP/REST (--http_address): every route
with Python's http.client, results compared with torch, and bad requests."""

import http.client
import json
import os
import re
import tempfile
import unittest

import numpy as np

from server_process import ServerProcess

try:
    import torch
except ImportError:  # pragma: no cover - Debian's python3-torch is expected
    torch = None

_HTTP_ON = re.compile(r"HTTP/REST at http://[^ ]*:(\d+)/v2")



def start_server(*flags):
    """A server with the HTTP front on a port it picked itself (port 0)."""
    server = ServerProcess("--http_address=127.0.0.1:0", *flags)
    with open(server._log.name) as log:  # pylint: disable=protected-access
        match = _HTTP_ON.search(log.read())
    if not match:
        server.stop()
        raise RuntimeError("the server did not log its HTTP port")
    server.http_port = int(match.group(1))
    return server


class HttpCase(unittest.TestCase):
    FLAGS = ()

    @classmethod
    def setUpClass(cls):
        cls.server = start_server(*cls.FLAGS)
        cls.addClassCleanup(cls.server.stop)

    def call(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.http_port,
                                                timeout=10)
        try:
            data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
            connection.request(method, path, body=data, headers=headers or {})
            response = connection.getresponse()
            text = response.read().decode()
            return response.status, json.loads(text) if text else None
        finally:
            connection.close()


class InferenceHttpTest(HttpCase):
    FLAGS = ("--log_requests",)

    def test_infer_calls_are_logged_as_model_infer(self):
        status, _ = self.call("POST", "/v2/models/zeros_like/infer", {
            "inputs": [{"name": "input", "shape": [3], "datatype": "INT8"}]})
        self.assertEqual(status, 200)
        with open(self.server._log.name) as log:  # pylint: disable=protected-access
            self.assertRegex(log.read(), r"call ModelInfer OK .* caller anonymous")

    def test_health_and_metadata_routes(self):
        self.assertEqual(self.call("GET", "/v2/health/live"), (200, {"live": True}))
        self.assertEqual(self.call("GET", "/v2/health/ready"), (200, {"ready": True}))
        status, body = self.call("GET", "/v2")
        self.assertEqual(status, 200)
        self.assertEqual(body["name"], "tensorops")
        status, body = self.call("GET", "/v2/models/topk")
        self.assertEqual(status, 200)
        self.assertEqual([t["name"] for t in body["outputs"]], ["values", "indices"])
        self.assertEqual(body["versions"], ["1"])
        self.assertEqual(self.call("GET", "/v2/models/topk/versions/1/ready"),
                         (200, {"name": "topk", "ready": True}))
        status, body = self.call("GET", "/v2/models/resnet/ready")
        self.assertEqual(status, 404)
        self.assertIn("topk_backward", body["error"])
        status, body = self.call("GET", "/v3/nothing")
        self.assertEqual(status, 404)
        self.assertIn("no route", body["error"])

    @unittest.skipIf(torch is None, "needs torch")
    def test_topk_infer_matches_torch(self):
        x = np.random.default_rng(3).standard_normal((3, 8)).astype(np.float32)
        status, body = self.call("POST", "/v2/models/topk/infer", {
            "id": "r1",
            "parameters": {"k": 3, "dim": 1, "largest": False},
            "inputs": [{"name": "input", "shape": [3, 8], "datatype": "FP32",
                        "data": x.tolist()}],  # nested arrays are taken
        })
        self.assertEqual(status, 200, body)
        self.assertEqual(body["id"], "r1")
        expected = torch.topk(torch.from_numpy(x), 3, dim=1, largest=False)
        values, indices = body["outputs"]
        self.assertEqual((values["name"], values["datatype"], values["shape"]),
                         ("values", "FP32", [3, 3]))
        np.testing.assert_array_equal(np.array(values["data"], np.float32),
                                      expected.values.numpy().ravel())
        self.assertEqual(indices["data"], expected.indices.numpy().ravel().tolist())

    @unittest.skipIf(torch is None, "needs torch")
    def test_session_and_backward_over_rest(self):
        x = [[1.0, 7.0, 3.0, 5.0], [2.0, 0.0, 9.0, 4.0]]
        status, body = self.call("POST", "/v2/models/topk/infer", {
            "parameters": {"k": 2, "save_for_backward": True},
            "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                        "data": sum(x, [])}]})
        self.assertEqual(status, 200, body)
        session = body["parameters"]["session_id"]
        status, body = self.call("POST", "/v2/models/topk_backward/infer", {
            "parameters": {"session_id": session},
            "inputs": [{"name": "grad_values", "shape": [2, 2], "datatype": "FP32",
                        "data": [10, 20, 30, 40]}]})
        self.assertEqual(status, 200, body)
        t = torch.tensor(x, requires_grad=True)
        torch.topk(t, 2).values.backward(torch.tensor([[10.0, 20.0], [30.0, 40.0]]))
        self.assertEqual(body["outputs"][0]["data"], t.grad.ravel().tolist())
        status, body = self.call("POST", "/v2/models/topk_backward/infer", {
            "parameters": {"session_id": session},
            "inputs": [{"name": "grad_values", "shape": [2, 2], "datatype": "FP32",
                        "data": [1, 2, 3, 4]}]})
        self.assertEqual(status, 409, body)  # consumed by the first Backward

    def test_selection_and_fill_models(self):
        status, body = self.call("POST", "/v2/models/median/infer", {
            "parameters": {"dim": 0},
            "inputs": [{"name": "input", "shape": [5], "datatype": "INT64",
                        "data": [2, 1, 1, 1, 3]}]})
        self.assertEqual(status, 200, body)
        self.assertEqual([o["data"] for o in body["outputs"]], [[1], [3]])  # torch: index 3
        status, body = self.call("POST", "/v2/models/ones_like/infer", {
            "parameters": {"dtype": "BF16"},
            "inputs": [{"name": "input", "shape": [2], "datatype": "BOOL"}]})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["outputs"][0]["datatype"], "BF16")
        self.assertEqual(body["outputs"][0]["data"], [1.0, 1.0])
        status, body = self.call("POST", "/v2/models/max/infer", {
            "parameters": {"dim": 0},
            "inputs": [{"name": "input", "shape": [3], "datatype": "FP16",
                        "data": [0.5, 1e9, -2]}]})  # 1e9 rounds to inf in FP16
        self.assertEqual(status, 200, body)
        self.assertEqual(body["outputs"][0]["data"], ["inf"])

    def test_bad_requests_get_400_with_a_message(self):
        cases = [
            ("not json", "not JSON"),
            ({"inputs": 3}, "inputs must be an array"),
            ({"inputs": [{"name": "input", "shape": [2], "datatype": "FP32",
                          "data": [1, "x"]}], "parameters": {"k": 1}}, "not a FP32 value"),
            ({"inputs": [{"name": "input", "shape": [3], "datatype": "FP32",
                          "data": [1, 2]}], "parameters": {"k": 1}}, "12 bytes"),
            ({"inputs": [{"name": "input", "shape": [2], "datatype": "FP32",
                          "data": [1, 2]}], "parameters": {"k": 5}}, "k"),
            ({"inputs": [{"name": "input", "shape": [2], "datatype": "UINT8",
                          "data": [1, 256]}], "parameters": {"k": 1}}, "not a UINT8"),
            ({"inputs": [{"name": "input", "shape": [2], "datatype": "FP32",
                          "data": [1, 2]}], "parameters": {"k": [1]}}, "boolean, a number"),
        ]
        for body, message in cases:
            with self.subTest(message=message):
                status, reply = self.call("POST", "/v2/models/topk/infer", body)
                self.assertEqual(status, 400, reply)
                self.assertIn(message, reply["error"])
        status, reply = self.call("POST", "/v2/models/nope/infer", {"inputs": []})
        self.assertEqual(status, 404, reply)


class InferenceHttpLimitsTest(HttpCase):
    FLAGS = ("--max_message_bytes=4096",)

    def test_a_body_over_the_message_limit_gets_413(self):
        body = {"inputs": [{"name": "input", "shape": [2000], "datatype": "FP32",
                            "data": [1.5] * 2000}], "parameters": {"k": 1}}
        status, reply = self.call("POST", "/v2/models/topk/infer", body)
        self.assertEqual(status, 413)
        self.assertIn("--max_message_bytes", reply["error"])


class InferenceHttpTokenTest(HttpCase):
    TOKEN = "http-token-000001"

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory()  # pylint: disable=consider-using-with
        cls.addClassCleanup(cls.directory.cleanup)
        tokens = os.path.join(cls.directory.name, "tokens")
        with open(tokens, "w") as f:
            f.write(cls.TOKEN + "\n")
        cls.FLAGS = (f"--auth_tokens_file={tokens}",)
        super().setUpClass()

    def test_infer_needs_the_bearer_token(self):
        body = {"inputs": [{"name": "input", "shape": [2], "datatype": "FP32"}]}
        status, reply = self.call("POST", "/v2/models/zeros_like/infer", body)
        self.assertEqual(status, 401, reply)
        status, reply = self.call("POST", "/v2/models/zeros_like/infer", body,
                                  {"Authorization": "Bearer wrong-token-00001"})
        self.assertEqual(status, 401, reply)
        status, reply = self.call("POST", "/v2/models/zeros_like/infer", body,
                                  {"Authorization": f"Bearer {self.TOKEN}"})
        self.assertEqual(status, 200, reply)
        self.assertEqual(reply["outputs"][0]["data"], [0.0, 0.0])
        self.assertEqual(self.call("GET", "/v2/health/ready")[0], 200)  # open


if __name__ == "__main__":
    unittest.main()
