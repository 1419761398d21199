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
