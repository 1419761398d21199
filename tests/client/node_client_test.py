"""ctest node.client_test: client/node/test.js against a real tensorops-server.

Starts the server with the Python tests' helper (tests/client/python/
server_process.py: --address=127.0.0.1:0, the port read back from its log),
runs `node client/node/test.js` with TENSOROPS_ADDRESS set to it, and stops
the server. Fails (never skips) when node or client/node/node_modules is
missing: scripts/setup.sh installs both.

Environment: TENSOROPS_SERVER (the server binary, set by ctest) and
TENSOROPS_NODE (the node binary; default: node on PATH).
"""

import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "python"))

from server_process import ServerProcess  # noqa: E402

NODE_CLIENT = os.path.join(HERE, "..", "..", "client", "node")
SETUP_HINT = "run scripts/setup.sh (it installs nodejs and npm, then runs npm ci in client/node)"


def fail(message):
    print(f"node.client_test: FAILED: {message}; {SETUP_HINT}", file=sys.stderr)
    return 1


def main():
    name = os.environ.get("TENSOROPS_NODE") or "node"
    node = shutil.which(name)
    if node is None:
        return fail(f"{name} not found (is Node.js installed?)")
    for package in ("@grpc/grpc-js", "@grpc/proto-loader"):
        if not os.path.isfile(os.path.join(NODE_CLIENT, "node_modules", package, "package.json")):
            return fail(f"client/node/node_modules lacks {package}")
    server = ServerProcess()
    try:
        env = dict(os.environ, TENSOROPS_ADDRESS=server.address)
        env.pop("TENSOROPS_AUTH_TOKEN", None)  # the server runs without tokens
        return subprocess.run([node, "test.js"], cwd=NODE_CLIENT, env=env, timeout=120).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
