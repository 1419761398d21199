"""The install and its Debian packages, as someone outside the project
uses them.

- InstallTest: `cmake --install <build> --prefix <tmp>` lays out the server,
  the CLI, the C++ client (static libraries, headers, CMake package) and
  the Python package; tests/deploy/cmake_consumer, an outside project,
  configures with find_package(tensorops) against that prefix alone, builds,
  and its TopK on the installed tensorops-server prints the right values and
  indices; the installed Python package does the same TopK.
- PackagesTest: `cpack -G DEB` (the build's CPackConfig.cmake, into a
  temporary directory) makes tensorops-server, tensorops-client and
  python3-tensorops, each with its files and Depends.

Needs $TENSOROPS_BUILD_DIR (a built tree), $CMAKE_COMMAND, $CPACK_COMMAND,
$CMAKE_GENERATOR, $CMAKE_CXX_COMPILER, $TENSOROPS_SOURCE_DIR, and
tests/client/python (server_process) on PYTHONPATH.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from server_process import ServerProcess

# cmake_consumer/main.cc's input, [[3, 1, 4, 1.5], [9, 2, 6, 5]], k=2.
EXPECTED_OUTPUT = "row 0: values 4 3 indices 2 0\nrow 1: values 9 6 indices 0 2\n"


def run(args, timeout, **kwargs):
    """Runs args; fails with its output when it exits non-zero."""
    result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=timeout, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout}\n{result.stderr}")
    return result.stdout


class InstallTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tensorops-install-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.prefix = os.path.join(self.tmp, "prefix")
        run([os.environ["CMAKE_COMMAND"], "--install", os.environ["TENSOROPS_BUILD_DIR"],
             "--prefix", self.prefix], timeout=120)

    def installed(self, pattern):
        matches = glob.glob(os.path.join(self.prefix, pattern))
        self.assertTrue(matches, f"nothing installed as {pattern}")
        return matches[0]

    def test_layout(self):
        for pattern in ["bin/tensorops-server", "bin/tensorops",
                        "lib*/libtensorops_client.a", "lib*/libtensorops_core.a",
                        "lib*/libtensorops_proto_messages.a",
                        "lib*/cmake/tensorops/tensoropsConfig.cmake",
                        "lib*/cmake/tensorops/tensoropsConfigVersion.cmake",
                        "lib*/cmake/tensorops/tensorops-targets.cmake",
                        "include/client/tensor_ops_client.h", "include/core/tensor.h",
                        "include/proto/outgoing_message.h",
                        "include/tensorops/v1/tensor_ops.pb.h",
                        "include/tensorops/v1/tensor_ops.grpc.pb.h",
                        "lib/python3/dist-packages/tensorops/__init__.py",
                        "lib/python3/dist-packages/tensorops/v1/tensor_ops_pb2.py"]:
            with self.subTest(pattern=pattern):
                self.installed(pattern)
        # Nothing of the build or source tree leaks into the package.
        with open(self.installed("lib*/cmake/tensorops/tensorops-targets.cmake")) as targets:
            text = targets.read()
        for tree in (os.environ["TENSOROPS_BUILD_DIR"], os.environ["TENSOROPS_SOURCE_DIR"]):
            self.assertNotIn(os.path.realpath(tree), text)

    def test_cmake_consumer_calls_the_installed_server(self):
        consumer_build = os.path.join(self.tmp, "consumer")
        source = os.path.join(os.environ["TENSOROPS_SOURCE_DIR"], "tests", "deploy",
                              "cmake_consumer")
        run([os.environ["CMAKE_COMMAND"], "-S", source, "-B", consumer_build,
             "-G", os.environ["CMAKE_GENERATOR"], "-DCMAKE_BUILD_TYPE=Release",
             f"-DCMAKE_CXX_COMPILER={os.environ['CMAKE_CXX_COMPILER']}",
             f"-DCMAKE_PREFIX_PATH={self.prefix}"], timeout=120)
        run([os.environ["CMAKE_COMMAND"], "--build", consumer_build], timeout=240)

        os.environ["TENSOROPS_SERVER"] = os.path.join(self.prefix, "bin", "tensorops-server")
        server = ServerProcess()
        self.addCleanup(server.stop)
        output = run([os.path.join(consumer_build, "topk_example"), server.address], timeout=30)
        self.assertEqual(output, EXPECTED_OUTPUT)

        # The installed Python package, on its own (no source or build tree),
        # through its native extension where one was built.
        script = ("import sys, numpy as np, tensorops\n"
                  "with tensorops.Client(sys.argv[1], timeout=10) as client:\n"
                  "    x = np.array([[3, 1, 4, 1.5], [9, 2, 6, 5]], np.float32)\n"
                  "    top = client.topk(x, k=2)\n"
                  "    print(top.values.tolist())\n"
                  "    print(top.indices.tolist())\n"
                  "    print(client.transport)\n")
        env = dict(os.environ, PYTHONPATH=self.installed("lib/python3/dist-packages"),
                   PYTHONDONTWRITEBYTECODE="1")
        output = run([sys.executable, "-c", script, server.address], timeout=30, env=env,
                     cwd=self.tmp).splitlines()
        self.assertEqual(output[:2], ["[[4.0, 3.0], [9.0, 6.0]]", "[[2, 0], [0, 2]]"])
        native = glob.glob(os.path.join(self.prefix, "lib/python3/dist-packages/tensorops",
                                        "_native*.so"))
        self.assertEqual(output[2], "native" if native else "grpcio")


class PackagesTest(unittest.TestCase):
    def test_debian_packages(self):
        tmp = tempfile.mkdtemp(prefix="tensorops-cpack-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        build = os.environ["TENSOROPS_BUILD_DIR"]
        run([os.environ["CPACK_COMMAND"], "-G", "DEB",
             "--config", os.path.join(build, "CPackConfig.cmake"), "-B", tmp],
            timeout=240, cwd=build)
        expected = {
            "tensorops-server": (["./usr/bin/tensorops-server"], ["libgrpc++"]),
            "tensorops-client": (["./usr/bin/tensorops", "/libtensorops_client.a",
                                  "./usr/include/client/tensor_ops_client.h",
                                  "./usr/include/tensorops/v1/tensor_ops.pb.h",
                                  "/cmake/tensorops/tensoropsConfig.cmake"],
                                 ["libgrpc++-dev", "libprotobuf-dev", "libabsl-dev",
                                  "libtbb-dev"]),
            "python3-tensorops": (["./usr/lib/python3/dist-packages/tensorops/__init__.py",
                                   "./usr/lib/python3/dist-packages/tensorops/v1/"
                                   "tensor_ops_pb2_grpc.py"],
                                  ["python3-grpcio", "python3-numpy"]),
        }
        for package, (files, depends) in expected.items():
            with self.subTest(package=package):
                (deb,) = glob.glob(os.path.join(tmp, f"{package}_*.deb"))
                self.assertEqual(run(["dpkg-deb", "-f", deb, "Package"], timeout=30).strip(),
                                 package)
                listed = run(["dpkg-deb", "-c", deb], timeout=30)
                for path in files:
                    self.assertIn(path, listed)
                # Depends is dpkg-shlibdeps' list plus ours, e.g.
                # "libgrpc++1.51, ..., libtbb-dev".
                package_depends = run(["dpkg-deb", "-f", deb, "Depends"], timeout=30)
                for name in depends:
                    self.assertIn(name, package_depends)
                # The binaries' libraries, found by dpkg-shlibdeps (the Python
                # package has a binary only with its native extension).
                if shutil.which("dpkg-shlibdeps") and package != "python3-tensorops":
                    self.assertIn("libc6", package_depends)


if __name__ == "__main__":
    unittest.main()
