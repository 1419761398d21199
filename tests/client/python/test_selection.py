"""Client.sort/kthvalue/max/min/median and tensorops.torch's differentiable
forms against local torch, on both transports' shared Client API."""

import gc
import random
import unittest

import numpy as np

import tensorops
from server_process import ClientTestCase

try:
    import torch
    import tensorops.torch as ttorch
except ImportError:
    torch = None


@unittest.skipIf(torch is None, "python3-torch is not installed")
class SelectionTest(ClientTestCase):
    def test_results_equal_torch_with_and_without_keepdim(self):
        rng = random.Random(5)
        gen = torch.Generator().manual_seed(5)
        for case in range(60):
            shape = tuple(rng.randint(1, 5) for _ in range(rng.randint(1, 3)))
            # Ties and NaN, where every op's indices are defined.
            x = torch.randint(-3, 3, shape, generator=gen).float()
            x[x == 2] = float("nan")
            dim = rng.randrange(-x.dim(), x.dim())
            keepdim = rng.random() < 0.5
            with self.subTest(case=case, shape=shape, dim=dim, keepdim=keepdim):
                for name, ours, theirs in (
                        ("sort", lambda: self.client.sort(x, dim, True),
                         lambda: torch.sort(x, dim=dim, descending=True, stable=True)),
                        ("max", lambda: self.client.max(x, dim, keepdim),
                         lambda: torch.max(x, dim, keepdim)),
                        ("min", lambda: self.client.min(x, dim, keepdim),
                         lambda: torch.min(x, dim, keepdim)),
                        ("median", lambda: self.client.median(x, dim, keepdim),
                         lambda: torch.median(x, dim, keepdim))):
                    got, want = ours(), theirs()
                    self.assertTrue(torch.equal(got.values.isnan(), want.values.isnan()), name)
                    self.assertTrue(torch.equal(got.values.nan_to_num(), want.values.nan_to_num()),
                                    name)
                    self.assertTrue(torch.equal(got.indices, want.indices), name)
                    self.assertIsNone(got.session_id)

    def test_kthvalue_returns_the_lowest_index_of_its_value(self):
        x = np.array([[3, 1, 2, 2], [0, 5, -1, 5]], dtype=np.int32)
        result = self.client.kthvalue(x, 3, -1)
        np.testing.assert_array_equal(result.values, [2, 5])
        np.testing.assert_array_equal(result.indices, [2, 1])
        self.assertIsInstance(result.values, np.ndarray)

    def test_client_results_are_selection_results(self):
        result = self.client.median(np.array([3.0, 1.0, 2.0], np.float32))
        self.assertIsInstance(result, tensorops.SelectionResult)
        self.assertEqual(repr(result).split("(")[0], "SelectionResult")
        self.assertIsNone(result.session_id)

    def test_refusals_raise_invalid_argument(self):
        with self.assertRaisesRegex(tensorops.InvalidArgumentError, "k <= 2"):
            self.client.kthvalue(np.array([1.0, 2.0]), 3)
        with self.assertRaisesRegex(tensorops.InvalidArgumentError, "bool"):
            self.client.median(np.array([True, False]))
        with self.assertRaisesRegex(tensorops.InvalidArgumentError, "size 0"):
            self.client.max(np.zeros((2, 0), np.float32))

    def test_stateless_backward_of_a_reduction(self):
        result = self.client.max(np.array([[1.0, 4.0], [3.0, 2.0]]), 1)
        grad = self.client.backward(np.array([10.0, 20.0]), indices=result.indices,
                                    input_shape=[2, 2], dim=1, keepdim=False)
        np.testing.assert_array_equal(grad, [[0, 10], [20, 0]])

    def test_autograd_matches_torch_for_every_op(self):
        gen = torch.Generator().manual_seed(7)
        base = torch.randn(4, 6, generator=gen, dtype=torch.float64)  # no ties
        weights = torch.randn(4, 6, generator=gen, dtype=torch.float64)
        ops = (
            ("sort", lambda f, x: f(x, 1, True).values, torch.sort, ttorch.sort),
            ("kthvalue", lambda f, x: f(x, 3, 0, True).values, torch.kthvalue,
             ttorch.kthvalue),
            ("max", lambda f, x: f(x, 0).values, torch.max, ttorch.max),
            ("min", lambda f, x: f(x, -1, True).values, torch.min, ttorch.min),
            ("median", lambda f, x: f(x, 1).values, torch.median, ttorch.median),
        )
        for name, apply, local, remote in ops:
            with self.subTest(op=name):
                grads = []
                for f in (local, lambda *args: remote(*args, client=self.client)):
                    x = base.clone().requires_grad_()
                    values = apply(f, x * 2.0)
                    w = weights.flatten()[:values.numel()].reshape(values.shape)
                    (values * values * w).sum().backward()
                    grads.append(x.grad)
                self.assertTrue(torch.equal(grads[0], grads[1]), name)
        gc.collect()

    def test_results_are_torch_return_types(self):
        x = torch.tensor([[2.0, 1.0]], requires_grad=True)
        self.assertIsInstance(ttorch.max(x, client=self.client), torch.return_types.max)
        self.assertIsInstance(ttorch.sort(x, client=self.client), torch.return_types.sort)


if __name__ == "__main__":
    unittest.main()
