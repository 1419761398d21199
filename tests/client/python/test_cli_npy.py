"""The tensorops CLI's .npy and JSON formats against NumPy's own reader and
writer ($TENSOROPS_CLI is the binary)."""

import json
import os
import subprocess
import tempfile
import unittest

import numpy as np

from server_process import ServerTestCase

DTYPES = ["<f4", "<f8", "<f2", "|i1", "<i2", "<i4", "<i8", "|u1", "|b1"]


def tensorops(*args):
    result = subprocess.run([os.environ["TENSOROPS_CLI"], *args], capture_output=True,
                            text=True, timeout=30)
    return result


def sample(descr, shape, rng):
    dtype = np.dtype(descr)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind == "f":
        array = (rng.standard_normal(shape) * 100).astype(dtype)
        if array.size:
            array.flat[0] = np.nan
            array.flat[-1] = -np.inf
        return array
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


class CliNpyTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.rng = np.random.default_rng(11)

    def tearDown(self):
        self.dir.cleanup()

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def test_numpy_files_round_trip_through_the_cli(self):
        cases = [(descr, (2, 3, 5), (1, 0)) for descr in DTYPES] + [
            ("<f4", (), (1, 0)), ("<i8", (2, 0, 4), (1, 0)), ("<f8", (3,), (2, 0)),
            ("|b1", (4, 1), (2, 0))]
        for descr, shape, version in cases:
            with self.subTest(descr=descr, shape=shape, version=version):
                array = sample(descr, shape, self.rng)
                source = self.path("in.npy")
                with open(source, "wb") as f:
                    np.lib.format.write_array(f, array, version=version)
                copy = self.path("out.npy")
                result = tensorops("print", source, f"--output=npy:{copy}")
                self.assertEqual(result.returncode, 0, result.stderr)
                loaded = np.load(copy)
                self.assertEqual(loaded.dtype, array.dtype)
                self.assertEqual(loaded.shape, array.shape)
                self.assertEqual(loaded.tobytes(), array.tobytes())

    def test_fortran_order_and_unsupported_dtypes_are_refused(self):
        np.save(self.path("f.npy"), np.asfortranarray(np.ones((2, 3))))
        np.save(self.path("u4.npy"), np.ones(3, np.uint32))
        np.save(self.path("big.npy"), np.ones(3, ">f4"))
        for name, message in [("f.npy", "Fortran"), ("u4.npy", "not supported"),
                              ("big.npy", "big-endian")]:
            result = tensorops("print", self.path(name))
            self.assertEqual(result.returncode, 1)
            self.assertIn(message, result.stderr)

    def test_bfloat16_files_are_raw_two_byte_voids(self):
        bits = np.array([0x3F80, 0xC000, 0x7F80], dtype="<u2")  # 1, -2, inf
        np.save(self.path("bf16.npy"), bits.view("|V2"))
        result = tensorops("print", self.path("bf16.npy"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "tensor([ 1., -2., inf], dtype=torch.bfloat16)\n")
        result = tensorops("print", "[0.5, 3]", "--dtype=bfloat16",
                           f"--output=npy:{self.path('out.npy')}")
        self.assertEqual(result.returncode, 0, result.stderr)
        loaded = np.load(self.path("out.npy"))
        self.assertEqual(loaded.dtype, np.dtype("V2"))
        self.assertEqual(loaded.view("<u2").tolist(), [0x3F00, 0x4040])

    def test_json_output_reads_back_with_pythons_json(self):
        for descr in DTYPES:
            with self.subTest(descr=descr):
                array = sample(descr, (2, 3), self.rng)
                np.save(self.path("a.npy"), array)
                result = tensorops("print", self.path("a.npy"), "--output=json")
                self.assertEqual(result.returncode, 0, result.stderr)
                decoded = json.loads(result.stdout)
                self.assertEqual(decoded["dtype"], np.dtype(descr).name)
                self.assertEqual(decoded["shape"], [2, 3])
                np.testing.assert_array_equal(np.array(decoded["data"], dtype=descr), array)


class CliServerNpyTest(ServerTestCase):
    def test_topk_reads_and_writes_npy(self):
        with tempfile.TemporaryDirectory() as tmp:
            x = np.array([[3.0, 1.0, 4.0, 2.0], [0.5, 9.0, -1.0, 8.0]], dtype=np.float64)
            np.save(os.path.join(tmp, "x.npy"), x)
            values_path = os.path.join(tmp, "values.npy")
            indices_path = os.path.join(tmp, "indices.npy")
            result = tensorops("topk", os.path.join(tmp, "x.npy"), "--k=2",
                               f"--address={self.server.address}",
                               f"--output=npy:{values_path},{indices_path}")
            self.assertEqual(result.returncode, 0, result.stderr)
            np.testing.assert_array_equal(np.load(values_path), [[4.0, 3.0], [9.0, 8.0]])
            self.assertEqual(np.load(values_path).dtype, np.float64)
            np.testing.assert_array_equal(np.load(indices_path), [[2, 0], [1, 3]])


if __name__ == "__main__":
    unittest.main()
