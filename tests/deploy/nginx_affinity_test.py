"""Scale-out through nginx: 3 tensorops-server replicas behind
deploy/nginx/tensorops-grpc.conf (consistent hash on x-tensorops-affinity).

- 200 TopK(save_for_backward) + Backward(session) chains, each with its own
  affinity key, all succeed through nginx, and the sessions spread over all
  replicas (each session lives on exactly one, found by asking each replica
  directly).
- After one replica stops, Backward for the sessions that lived on it fails
  with NOT_FOUND or UNAVAILABLE and a message, while every other session
  still works; new chains (on the lost replica's keys too) succeed.
- Stateless Backward (indices + input_shape) succeeds through nginx and on
  every replica directly.

Needs $TENSOROPS_SERVER, $NGINX, $TENSOROPS_SOURCE_DIR, and on PYTHONPATH
the generated stubs and tests/client/python (server_process).
"""

import os
import shutil
import tempfile
import time
import unittest

import grpc
import numpy as np

from processes import Process, free_port, nginx_config, wait_for_port
from server_process import ServerProcess
from tensorops.v1 import tensor_ops_pb2 as pb
from tensorops.v1 import tensor_ops_pb2_grpc as pb_grpc

AFFINITY_HEADER = "x-tensorops-affinity"
CHAINS = 200
SHAPE = (4, 16)
K = 3
TIMEOUT = 10.0


def to_proto(array):
    dtype = {np.float32: pb.DTYPE_FLOAT32, np.int64: pb.DTYPE_INT64}[array.dtype.type]
    return pb.Tensor(dtype=dtype, shape=array.shape,
                     data=np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())


def from_proto(tensor):
    dtype = {pb.DTYPE_FLOAT32: "<f4", pb.DTYPE_INT64: "<i8"}[tensor.dtype]
    return np.frombuffer(tensor.data, dtype=dtype).reshape(tuple(tensor.shape))


def expected_grad(grad, indices):
    out = np.zeros(SHAPE, dtype=np.float32)
    np.put_along_axis(out, indices, grad, axis=-1)
    return out


class Chain:
    """One forward + backward chain: its input, affinity key and session."""

    def __init__(self, index, rng):
        self.key = f"chain-{index}"
        # A permutation per row: no ties, so the top-k is unambiguous.
        self.x = np.stack([rng.permutation(SHAPE[1]) for _ in range(SHAPE[0])]).astype(np.float32)
        self.grad = rng.standard_normal((SHAPE[0], K)).astype(np.float32)
        self.indices = np.argsort(-self.x, axis=-1, kind="stable")[:, :K]
        self.session_id = None
        self.owner = None

    def metadata(self):
        return ((AFFINITY_HEADER, self.key),)


class NginxAffinityTest(unittest.TestCase):
    def setUp(self):
        self.work_dir = tempfile.mkdtemp(prefix="tensorops-nginx-")
        os.chmod(self.work_dir, 0o755)
        self.addCleanup(shutil.rmtree, self.work_dir, ignore_errors=True)
        self.replicas = []
        for _ in range(3):
            replica = ServerProcess("--session_ttl=5m")
            self.addCleanup(replica.stop)
            self.replicas.append(replica)
        snippet_path = os.path.join(
            os.environ["TENSOROPS_SOURCE_DIR"], "deploy", "nginx", "tensorops-grpc.conf")
        with open(snippet_path) as snippet:
            config = nginx_config(snippet.read(), free_port(),
                                  [replica.port for replica in self.replicas], self.work_dir)
        self.nginx_port = int(config.split("listen 127.0.0.1:")[1].split()[0])
        config_path = os.path.join(self.work_dir, "nginx.conf")
        with open(config_path, "w") as out:
            out.write(config)
        self.nginx = Process([os.environ["NGINX"], "-p", self.work_dir, "-c", config_path,
                              "-e", os.path.join(self.work_dir, "error.log")],
                             os.path.join(self.work_dir, "nginx.out"))
        self.addCleanup(self.nginx.stop)
        wait_for_port(self.nginx_port, self.nginx.process, os.path.join(self.work_dir, "error.log"))
        self.channels = []
        self.lb = self._stub(f"127.0.0.1:{self.nginx_port}")
        self.direct = [self._stub(replica.address) for replica in self.replicas]

    def _stub(self, address):
        channel = grpc.insecure_channel(address)
        self.addCleanup(channel.close)
        return pb_grpc.TensorOpsStub(channel)

    def _backward_session(self, stub, chain, metadata=None):
        response = stub.Backward(
            pb.BackwardRequest(session_id=chain.session_id, grad_values=to_proto(chain.grad),
                               retain_session=True),
            metadata=metadata, timeout=TIMEOUT)
        np.testing.assert_array_equal(from_proto(response.grad_input),
                                      expected_grad(chain.grad, chain.indices))

    def _run_chain(self, chain, retain):
        response = self.lb.TopK(pb.TopKRequest(input=to_proto(chain.x), k=K, save_for_backward=True),
                                metadata=chain.metadata(), timeout=TIMEOUT)
        np.testing.assert_array_equal(from_proto(response.indices), chain.indices)
        self.assertTrue(response.session_id)
        chain.session_id = response.session_id
        response = self.lb.Backward(
            pb.BackwardRequest(session_id=chain.session_id, grad_values=to_proto(chain.grad),
                               retain_session=retain),
            metadata=chain.metadata(), timeout=TIMEOUT)
        np.testing.assert_array_equal(from_proto(response.grad_input),
                                      expected_grad(chain.grad, chain.indices))

    def _stateless_backward(self, stub, chain):
        response = stub.Backward(
            pb.BackwardRequest(grad_values=to_proto(chain.grad), indices=to_proto(chain.indices),
                               input_shape=SHAPE, dim=-1),
            timeout=TIMEOUT)
        np.testing.assert_array_equal(from_proto(response.grad_input),
                                      expected_grad(chain.grad, chain.indices))

    def _owner(self, chain, alive):
        """The replica that holds chain's session, asked directly."""
        owners = []
        for index in alive:
            try:
                self._backward_session(self.direct[index], chain)
                owners.append(index)
            except grpc.RpcError as error:
                self.assertEqual(error.code(), grpc.StatusCode.NOT_FOUND, error.details())
        self.assertEqual(len(owners), 1, f"{chain.key}: session on replicas {owners}")
        return owners[0]

    def test_affinity_failover_and_stateless_backward(self):
        rng = np.random.default_rng(6)
        chains = [Chain(i, rng) for i in range(CHAINS)]
        started = time.monotonic()
        for chain in chains:
            self._run_chain(chain, retain=True)
        # The same key reaches the same replica again: a second Backward
        # through nginx finds the session.
        for chain in chains:
            self._backward_session(self.lb, chain, chain.metadata())
        for chain in chains:
            chain.owner = self._owner(chain, alive=range(3))
        per_replica = [sum(chain.owner == i for chain in chains) for i in range(3)]
        print(f"{CHAINS} chains in {time.monotonic() - started:.2f} s; sessions per replica: "
              f"{per_replica}")
        for count in per_replica:
            self.assertGreaterEqual(count, CHAINS // 10, per_replica)

        for index, stub in enumerate(self.direct):
            with self.subTest(replica=index):
                self._stateless_backward(stub, chains[index])
        for chain in chains[:30]:
            self._stateless_backward(self.lb, chain)

        victim = max(range(3), key=lambda i: per_replica[i])
        self.replicas[victim].stop()
        lost = [chain for chain in chains if chain.owner == victim]
        kept = [chain for chain in chains if chain.owner != victim]
        failures = {}
        for chain in lost:
            with self.assertRaises(grpc.RpcError, msg=chain.key) as caught:
                self._backward_session(self.lb, chain, chain.metadata())
            code = caught.exception.code()
            self.assertIn(code, (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE),
                          caught.exception.details())
            self.assertTrue(caught.exception.details())
            failures.setdefault(code.name, caught.exception.details())
        for chain in kept:
            self._backward_session(self.lb, chain, chain.metadata())
        print(f"replica {victim} stopped: {len(lost)} sessions lost ({failures}), "
              f"{len(kept)} still served")

        # The lost keys move to the remaining replicas: new chains on them work.
        for chain in lost:
            self._run_chain(chain, retain=False)
        for chain in chains[:30]:
            self._stateless_backward(self.lb, chain)
        for index in range(3):
            if index != victim:
                self._stateless_backward(self.direct[index], chains[0])

    def test_clients_send_the_affinity_key(self):
        """The Python Client and the CLI carry the key on TopK and Backward.

        Without it nginx hashes on the request id, so with 3 replicas about
        two thirds of these Backward calls would miss their session."""
        import subprocess

        import tensorops

        lb_address = f"127.0.0.1:{self.nginx_port}"
        rng = np.random.default_rng(7)
        for index in range(30):
            chain = Chain(1000 + index, rng)
            with tensorops.Client(lb_address, timeout=TIMEOUT, affinity_key=chain.key) as client:
                top = client.topk(chain.x, K, save_for_backward=True)
                np.testing.assert_array_equal(top.indices, chain.indices)
                grad = client.backward(chain.grad, top.session_id)
                np.testing.assert_array_equal(grad, expected_grad(chain.grad, chain.indices))

        cli = [os.environ["TENSOROPS_CLI"], f"--address={lb_address}"]
        for index in range(10):
            key = f"--affinity-key=cli-{index}"
            out = subprocess.run(cli + [key, "topk", "[3.,1.,4.,2.]", "--k", "2", "--save"],
                                 check=True, capture_output=True, text=True).stdout
            session = out.strip().splitlines()[-1].split("=", 1)[1]
            out = subprocess.run(cli + [key, "backward", "[0.1,0.2]", "--session", session],
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout.strip(), "tensor([0.2000, 0.0000, 0.1000, 0.0000])")


if __name__ == "__main__":
    unittest.main()
