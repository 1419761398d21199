"""The tensorops.v1 messages for the project's Python tools, compiled from
proto/ with protoc (Debian's protobuf-compiler) into a temporary directory,
so that a tool needs no build tree.

    sys.path.insert(0, "<repo>/proto")
    import python_protos
    pb = python_protos.load()   # the tensor_ops_pb2 module
    python_protos.service(pb)   # the TensorOps service descriptor
"""

import pathlib
import shutil
import subprocess
import sys
import tempfile

PROTO_DIR = pathlib.Path(__file__).resolve().parent


def load():
    """The tensorops.v1.tensor_ops_pb2 module."""
    gen = tempfile.mkdtemp()
    try:
        subprocess.run(["protoc", f"--proto_path={PROTO_DIR}",
                        f"--python_out={gen}", "tensorops/v1/tensor_ops.proto"],
                       check=True)
        sys.path.insert(0, gen)
        from tensorops.v1 import tensor_ops_pb2  # pylint: disable=import-outside-toplevel
    finally:
        shutil.rmtree(gen)
    return tensor_ops_pb2


def service(pb):
    """The TensorOps service descriptor: its methods in .proto order (their
    index is their position; new methods are appended)."""
    return pb.DESCRIPTOR.services_by_name["TensorOps"]


def load_inference():
    """The Open Inference Protocol's modules (inference/open_inference.proto):
    (open_inference_pb2, open_inference_pb2_grpc), with gRPC stubs from
    Debian's grpc_python_plugin."""
    gen = tempfile.mkdtemp()
    try:
        plugin = shutil.which("grpc_python_plugin") or "/usr/bin/grpc_python_plugin"
        subprocess.run(["protoc", f"--proto_path={PROTO_DIR}", f"--python_out={gen}",
                        f"--grpc_python_out={gen}",
                        f"--plugin=protoc-gen-grpc_python={plugin}",
                        "inference/open_inference.proto"],
                       check=True)
        sys.path.insert(0, gen)
        # pylint: disable=import-outside-toplevel
        from inference import open_inference_pb2, open_inference_pb2_grpc
    finally:
        shutil.rmtree(gen)
    return open_inference_pb2, open_inference_pb2_grpc
