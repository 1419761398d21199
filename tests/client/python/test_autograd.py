"""tensorops.torch.topk against local torch.topk autograd, and the lifetime
of the server sessions it saves."""

import gc
import random
import unittest

import tensorops
from server_process import ClientTestCase

try:
    import torch
    import tensorops.torch as ttorch
except ImportError:
    torch = None


@unittest.skipIf(torch is None, "python3-torch is not installed")
class AutogradTest(ClientTestCase):
    def setUp(self):
        gc.collect()
        self.sessions_before = self.session_count()

    def assert_no_session_left(self):
        gc.collect()
        self.assertEqual(self.session_count(), self.sessions_before)

    def test_seed_example(self):
        x = torch.tensor([3.0, 1.0, 4.0, 2.0], requires_grad=True)
        values, indices = ttorch.topk(x, 2, client=self.client)
        self.assertEqual(str(values.detach()), "tensor([4., 3.])")
        self.assertEqual(str(indices), "tensor([2, 0])")
        self.assertEqual(self.session_count(), self.sessions_before + 1)
        values.backward(torch.tensor([0.1, 0.2]))
        self.assertEqual(str(x.grad), "tensor([0.2000, 0.0000, 0.1000, 0.0000])")
        self.assert_no_session_left()

    def test_losses_give_the_same_grad_as_torch_topk(self):
        rng = random.Random(3)
        gen = torch.Generator().manual_seed(3)
        for case in range(40):
            dtype = rng.choice([torch.float32, torch.float64])
            shape = tuple(rng.randint(1, 6) for _ in range(rng.randint(1, 3)))
            base = torch.randn(shape, generator=gen, dtype=dtype)  # no ties
            dim = rng.randrange(-base.dim(), base.dim())
            k = rng.randint(0, base.shape[dim])
            largest, sorted_ = rng.random() < 0.5, rng.random() < 0.5
            weights = torch.randn(base.shape[:dim % base.dim()] + (k,) +
                                  base.shape[dim % base.dim() + 1:], generator=gen, dtype=dtype)

            grads = []
            for topk in (torch.topk,
                         lambda *args: ttorch.topk(*args, client=self.client)):
                x = base.clone().requires_grad_()
                # A loss that uses values non-linearly and indices as data.
                values, indices = topk(x * 2.0, k, dim, largest, sorted_)
                if not sorted_:  # line the two unsorted orders up
                    values = values.gather(dim, torch.argsort(indices, dim=dim))
                loss = (values * values * weights).sum() + values.sum()
                loss.backward()
                grads.append(x.grad)
            with self.subTest(case=case, shape=shape, dim=dim, k=k, largest=largest,
                              sorted=sorted_):
                self.assertTrue(torch.equal(grads[0], grads[1]))
                self.assertEqual(grads[1].dtype, dtype)
        self.assert_no_session_left()

    def test_freed_graph_releases_the_session(self):
        x = torch.randn(5, 4, requires_grad=True)
        result = ttorch.topk(x, 2, dim=0, client=self.client)
        self.assertEqual(self.session_count(), self.sessions_before + 1)
        del result
        self.assert_no_session_left()

    def test_retained_graph_backs_up_twice(self):
        base = torch.randn(3, 6, dtype=torch.float64)
        grads = []
        for topk in (torch.topk, lambda *args: ttorch.topk(*args, client=self.client)):
            x = base.clone().requires_grad_()
            values, _ = topk(x, 2)
            loss = (values ** 3).sum()
            loss.backward(retain_graph=True)
            loss.backward()  # accumulates a second, identical gradient
            grads.append(x.grad)
        self.assertTrue(torch.equal(grads[0], grads[1]))
        self.assert_no_session_left()

    def test_no_session_without_grad(self):
        x = torch.randn(8, requires_grad=True)
        with torch.no_grad():
            values, _ = ttorch.topk(x, 3, client=self.client)
        self.assertFalse(values.requires_grad)
        values, indices = ttorch.topk(torch.randn(8), 3, largest=False, client=self.client)
        self.assertFalse(values.requires_grad)
        self.assertEqual(self.session_count(), self.sessions_before)
        expected = torch.topk(x.detach(), 3)
        self.assertTrue(torch.equal(ttorch.topk(x.detach(), 3, client=self.client).values,
                                    expected.values))

    def test_bfloat16_and_float16_gradients(self):
        for dtype in (torch.bfloat16, torch.float16):
            x = torch.tensor([[0.5, -1.0, 2.0, 0.25]], dtype=dtype, requires_grad=True)
            values, _ = ttorch.topk(x, 2, client=self.client)
            values.backward(torch.tensor([[1.5, -0.5]], dtype=dtype))
            self.assertEqual(x.grad.dtype, dtype)
            self.assertTrue(torch.equal(
                x.grad, torch.tensor([[-0.5, 0.0, 1.5, 0.0]], dtype=dtype)))
        self.assert_no_session_left()

    def test_server_errors_surface_from_forward(self):
        x = torch.randn(4, requires_grad=True)
        with self.assertRaises(tensorops.InvalidArgumentError):
            ttorch.topk(x, 5, client=self.client)
        self.assert_no_session_left()


if __name__ == "__main__":
    unittest.main()
