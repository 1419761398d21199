"""The Python client and the CLI against servers with TLS, mutual TLS and
bearer tokens: the options reach the server, and failures map to the right
exceptions and exit codes."""

import os
import shutil
import subprocess
import tempfile
import unittest
from unittest import mock

import numpy as np

import tensorops
from server_process import ServerProcess

TOKEN = "python-token-0123456789abcdef"
OTHER_TOKEN = "other-token-0123456789abcdef"


def make_certs():
    directory = tempfile.mkdtemp(prefix="tensorops-certs-")
    subprocess.run([os.environ["TENSOROPS_MAKE_TEST_CERTS"], directory], check=True,
                   stdout=subprocess.DEVNULL)
    return directory


class SecureServerTest(unittest.TestCase):
    """One server with mutual TLS and bearer tokens."""

    @classmethod
    def setUpClass(cls):
        cls.certs = make_certs()
        cls.tokens = os.path.join(cls.certs, "tokens")
        with open(cls.tokens, "w") as f:
            f.write(f"{TOKEN}\n{OTHER_TOKEN}\n")
        cls.server = ServerProcess(
            f"--tls_cert={cls.pem('server.pem')}", f"--tls_key={cls.pem('server.key')}",
            f"--tls_client_ca={cls.pem('ca.pem')}", f"--auth_tokens_file={cls.tokens}")
        # The certificate names localhost, not 127.0.0.1's reverse name.
        cls.address = f"localhost:{cls.server.port}"

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.certs)

    @classmethod
    def pem(cls, name):
        return os.path.join(cls.certs, name)

    def client(self, who="alice", token=TOKEN, **kwargs):
        options = dict(tls_ca=self.pem("ca.pem"), auth_token=token, timeout=10)
        if who:
            options.update(tls_cert=self.pem(f"{who}.pem"), tls_key=self.pem(f"{who}.key"))
        options.update(kwargs)
        return tensorops.Client(self.address, **options)

    def test_a_client_with_certificate_and_token_is_served(self):
        with self.client() as client:
            top = client.topk(np.array([3.0, 1.0, 4.0, 2.0], np.float32), 2)
            np.testing.assert_array_equal(top.indices, [2, 0])
            self.assertEqual(client.health(), "SERVING")

    def test_without_a_token_calls_are_unauthenticated_but_health_is_open(self):
        with self.client(token=None) as client:
            with self.assertRaises(tensorops.UnauthenticatedError) as raised:
                client.zeros_like(np.zeros(3))
            self.assertEqual(raised.exception.code.name, "UNAUTHENTICATED")
            self.assertIn("authorization: Bearer", raised.exception.details)
            self.assertEqual(client.health(), "SERVING")

    def test_the_token_defaults_to_tensorops_auth_token(self):
        with mock.patch.dict(os.environ, {"TENSOROPS_AUTH_TOKEN": TOKEN}):
            with self.client(token=None) as client:
                np.testing.assert_array_equal(client.zeros_like(np.ones(3)), np.zeros(3))

    def test_without_a_client_certificate_nothing_gets_through(self):
        with self.client(who=None) as client:
            with self.assertRaises(tensorops.TensorOpsError) as raised:
                client.zeros_like(np.zeros(3), timeout=5)
            self.assertEqual(raised.exception.code.name, "UNAVAILABLE")

    def test_sessions_belong_to_their_caller(self):
        with self.client() as alice, self.client(who="bob", token=OTHER_TOKEN) as bob:
            top = alice.topk(np.array([3.0, 1.0, 4.0, 2.0], np.float32), 2,
                             save_for_backward=True)
            with self.assertRaises(tensorops.TensorOpsError) as raised:
                bob.backward(np.ones(2, np.float32), top.session_id)
            self.assertEqual(raised.exception.code.name, "NOT_FOUND")
            grad = alice.backward(np.array([0.5, 0.25], np.float32), top.session_id)
            np.testing.assert_array_equal(grad, [0.25, 0.0, 0.5, 0.0])

    def test_tls_options_are_checked(self):
        with self.assertRaises(ValueError):
            tensorops.Client(self.address, tls_cert=self.pem("alice.pem"))

    def cli(self, *args, env_token=None):
        env = dict(os.environ)
        env.pop("TENSOROPS_AUTH_TOKEN", None)
        if env_token:
            env["TENSOROPS_AUTH_TOKEN"] = env_token
        return subprocess.run(
            [os.environ["TENSOROPS_CLI"], f"--address={self.address}",
             f"--tls-ca={self.pem('ca.pem')}", *args],
            capture_output=True, text=True, env=env, timeout=60)

    def test_the_cli_passes_certificates_and_tokens(self):
        token_file = os.path.join(self.certs, "my-token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        cert = [f"--tls-cert={self.pem('alice.pem')}", f"--tls-key={self.pem('alice.key')}"]
        done = self.cli("topk", "[3., 1., 4., 2.]", "--k", "2", *cert,
                        f"--auth-token-file={token_file}")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("indices=tensor([2, 0])", done.stdout)

        from_env = self.cli("zeros-like", "[1, 2]", *cert, env_token=TOKEN)
        self.assertEqual(from_env.returncode, 0, from_env.stderr)
        self.assertIn("tensor([0, 0])", from_env.stdout)

        no_token = self.cli("zeros-like", "[1, 2]", *cert)
        self.assertEqual(no_token.returncode, 1)
        self.assertIn("UNAUTHENTICATED", no_token.stderr)

        health = self.cli("health", *cert)
        self.assertEqual(health.returncode, 0, health.stderr)

        half = self.cli("health", f"--tls-cert={self.pem('alice.pem')}")
        self.assertEqual(half.returncode, 2)
        self.assertIn("private key", half.stderr)


class TlsOnlyServerTest(unittest.TestCase):
    """Server-side TLS without client certificates or tokens."""

    @classmethod
    def setUpClass(cls):
        cls.certs = make_certs()
        cls.server = ServerProcess(f"--tls_cert={cls.certs}/server.pem",
                                   f"--tls_key={cls.certs}/server.key")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.certs)

    def test_tls_with_a_server_name_override(self):
        # Connecting by IP and checking the certificate's name explicitly.
        with tensorops.Client(self.server.address, timeout=10,
                              tls_ca=f"{self.certs}/ca.pem",
                              tls_server_name="localhost") as client:
            np.testing.assert_array_equal(client.ones_like(np.zeros(2, np.int8)), [1, 1])

    def test_a_plaintext_client_cannot_connect(self):
        with tensorops.Client(self.server.address, timeout=5) as client:
            with self.assertRaises(tensorops.TensorOpsError) as raised:
                client.zeros_like(np.zeros(3))
            self.assertEqual(raised.exception.code.name, "UNAVAILABLE")

    def test_a_client_trusting_another_ca_cannot_connect(self):
        with tensorops.Client(self.server.address, timeout=5,
                              tls_ca=f"{self.certs}/rogue-ca.pem",
                              tls_server_name="localhost") as client:
            with self.assertRaises(tensorops.TensorOpsError) as raised:
                client.zeros_like(np.zeros(3))
            self.assertEqual(raised.exception.code.name, "UNAVAILABLE")


if __name__ == "__main__":
    unittest.main()
