"""A real tensorops-server for the Python tests.

The binary comes from $TENSOROPS_SERVER (set by CMake/ctest). It listens on
127.0.0.1 at a port it picks itself (--address=127.0.0.1:0); the port is read
back from its start-up log line. Metrics are disabled.
"""

import os
import re
import subprocess
import tempfile
import time
import unittest

_SERVING_ON = re.compile(r"serving .* on [^ ]*:(\d+)")


class ServerProcess:
    def __init__(self, *flags):
        binary = os.environ.get("TENSOROPS_SERVER")
        if not binary:
            raise RuntimeError("set TENSOROPS_SERVER to the tensorops-server binary")
        # A file, not a pipe: nobody reads the log after start-up.
        self._log = tempfile.NamedTemporaryFile(prefix="tensorops-server-", suffix=".log")
        self._process = subprocess.Popen(
            [binary, "--address=127.0.0.1:0", "--metrics_address=", "--threads=2",
             "--shutdown_timeout=1s", *flags],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        deadline = time.monotonic() + 20
        while True:
            with open(self._log.name) as log:
                text = log.read()
            match = _SERVING_ON.search(text)
            if match:
                self.port = int(match.group(1))
                self.address = f"127.0.0.1:{self.port}"
                return
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{binary} did not start:\n{text}")
            time.sleep(0.01)

    def stop(self):
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()


class ServerTestCase(unittest.TestCase):
    """Tests that share one server, started for the class with SERVER_FLAGS
    and stopped after its last test (even when set-up fails half way)."""

    SERVER_FLAGS = ()

    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(*cls.SERVER_FLAGS)
        cls.addClassCleanup(cls.server.stop)


class ClientTestCase(ServerTestCase):
    """A ServerTestCase with a tensorops.Client connected to its server:
    through the native extension (where built), or with OVER_GRPCIO through
    a grpc.Channel of the test's own (the package's grpcio transport)."""

    CLIENT_TIMEOUT = 10
    OVER_GRPCIO = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import tensorops  # the load tests use the server alone

        if cls.OVER_GRPCIO:
            import grpc

            channel = grpc.insecure_channel(cls.server.address)
            cls.addClassCleanup(channel.close)
            cls.client = tensorops.Client(channel=channel, timeout=cls.CLIENT_TIMEOUT)
        else:
            cls.client = tensorops.Client(cls.server.address, timeout=cls.CLIENT_TIMEOUT)
        cls.addClassCleanup(cls.client.close)

    def session_count(self):
        return self.client.server_info()["session_count"]
