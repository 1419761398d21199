"""Keeps deploy/ghz/*.json from rotting.

For every config: `call` names a method of tensorops.v1.TensorOps, `data`
parses into that method's request message under protobuf's JSON mapping
(what ghz does with it), every tensor in it has exactly shape x dtype-size
bytes, and a real server answers the parsed request with OK.
"""

import glob
import json
import os
import re
import sys
import unittest

import grpc
from google.protobuf import json_format

from tensorops.v1 import tensor_ops_pb2
from tensorops.v1 import tensor_ops_pb2_grpc
from server_process import ServerTestCase

GHZ_DIR = os.path.join(os.environ["TENSOROPS_SOURCE_DIR"], "deploy", "ghz")
SERVICE = tensor_ops_pb2.DESCRIPTOR.services_by_name["TensorOps"]
# ghz accepts "package.Service.Method" and "package.Service/Method".
CALL = re.compile(r"^tensorops\.v1\.TensorOps[./](\w+)$")
DTYPE_BYTES = {"DTYPE_FLOAT32": 4, "DTYPE_FLOAT64": 8, "DTYPE_FLOAT16": 2,
               "DTYPE_BFLOAT16": 2, "DTYPE_INT8": 1, "DTYPE_INT16": 2,
               "DTYPE_INT32": 4, "DTYPE_INT64": 8, "DTYPE_UINT8": 1,
               "DTYPE_BOOL": 1}


def configs():
    paths = sorted(glob.glob(os.path.join(GHZ_DIR, "*.json")))
    if not paths:
        raise AssertionError(f"no ghz configs in {GHZ_DIR}")
    for path in paths:
        with open(path) as f:
            yield os.path.basename(path), json.load(f)


def tensors(message):
    """Every set tensorops.v1.Tensor field of a request, with its name."""
    for field, value in message.ListFields():
        if isinstance(value, tensor_ops_pb2.Tensor):
            yield field.name, value


class GhzConfigsTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = grpc.insecure_channel(
            cls.server.address,
            options=[("grpc.max_receive_message_length", -1),
                     ("grpc.max_send_message_length", -1)])
        cls.addClassCleanup(cls.channel.close)

    def parse(self, name, config):
        match = CALL.match(config.get("call", ""))
        self.assertIsNotNone(match, f"{name}: bad call {config.get('call')!r}")
        method = SERVICE.methods_by_name.get(match.group(1))
        self.assertIsNotNone(method, f"{name}: no method {match.group(1)}")
        request_class = getattr(tensor_ops_pb2, method.input_type.name)
        # ignore_unknown_fields=False: a renamed field fails here.
        request = json_format.ParseDict(config["data"], request_class())
        return method, request

    def test_every_config_parses_and_has_consistent_tensors(self):
        methods = set()
        for name, config in configs():
            with self.subTest(config=name):
                self.assertNotIn("proto", config,
                                 "configs rely on server reflection")
                self.assertTrue(config.get("insecure"))
                method, request = self.parse(name, config)
                methods.add(method.name)
                for field, tensor in tensors(request):
                    dtype = tensor_ops_pb2.DType.Name(tensor.dtype)
                    count = 1
                    for dim in tensor.shape:
                        count *= dim
                    if tensor.data or method.name not in ("ZerosLike",
                                                          "OnesLike"):
                        self.assertEqual(len(tensor.data),
                                         count * DTYPE_BYTES[dtype],
                                         f"{name}: {field} size")
        self.assertTrue({"ZerosLike", "OnesLike", "TopK", "Backward", "Sort", "KthValue",
                         "Max", "Min", "Median"} <= methods,
                        f"missing configs, have {sorted(methods)}")

    def test_server_answers_every_config_with_ok(self):
        for name, config in configs():
            with self.subTest(config=name):
                method, request = self.parse(name, config)
                call = self.channel.unary_unary(
                    f"/{SERVICE.full_name}/{method.name}",
                    request_serializer=lambda m: m.SerializeToString(),
                    response_deserializer=getattr(
                        tensor_ops_pb2, method.output_type.name).FromString)
                response = call(request, timeout=20)
                self.assertTrue(response.ListFields(), f"{name}: empty reply")

    def test_a_wrong_field_name_is_caught(self):
        # The check above can fail: an unknown field is a parse error.
        with self.assertRaises(json_format.ParseError):
            json_format.ParseDict({"input": {"dtyp": "DTYPE_FLOAT32"}},
                                  tensor_ops_pb2.TopKRequest())


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
