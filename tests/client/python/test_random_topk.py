"""Hundreds of random topk (and backward) calls through tensorops.Client,
compared with local torch.topk: values exactly; indices exactly where no
ties decide them, and by our tie rule (lower index first) where they do."""

import random
import unittest

import numpy as np

from server_process import ClientTestCase

try:
    import torch
except ImportError:
    torch = None

CASES = 600
FLOATS = ["float32", "float64", "float16", "bfloat16"]
INTS = ["int8", "int16", "int32", "int64", "uint8"]


def as_float64(t):
    """Values for comparisons (float16/bfloat16 widen exactly)."""
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t.double().numpy() if t.dtype.is_floating_point else t.numpy().astype(np.float64)


def slices(array, dim):
    """The 1-D slices along `dim` as rows of a 2-D array."""
    if array.ndim == 0:
        return array.reshape(1, 1)
    moved = np.moveaxis(array, dim, -1)
    return moved.reshape(int(np.prod(moved.shape[:-1])), moved.shape[-1])


def has_ties(row):
    finite = np.sort(row[~np.isnan(row)])
    return np.isnan(row).sum() > 1 or bool(np.any(finite[1:] == finite[:-1]))


def same_values(a, b):
    """Equal as numbers, NaN matching NaN (so -0.0 equals 0.0)."""
    a, b = as_float64(a), as_float64(b)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def same_bits(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype == torch.bfloat16:
        return torch.equal(a.view(torch.int16), b.view(torch.int16))
    return a.numpy().tobytes() == b.numpy().tobytes()


def random_input(rng, gen, case):
    rank = rng.choice([0, 1, 1, 2, 2, 3, 4])
    if case % 60 == 59:  # now and then a larger tensor (the vectorized paths)
        shape = rng.choice([(3000,), (6, 700), (500, 5)])
    else:
        shape = tuple(rng.choice([0] + [rng.randint(1, 9)] * 12) for _ in range(rank))
    name = rng.choice(FLOATS + INTS)
    dtype = getattr(torch, name)
    numel = int(np.prod(shape)) if shape else 1
    kind = rng.random()
    if kind < 0.6:
        # Distinct values: a permutation, exactly representable in every dtype.
        limit = 256 if name in ("int8", "uint8", "bfloat16") else 2048
        count = min(numel, limit)
        base = torch.randperm(max(count, 1), generator=gen)[:count]
        values = base[torch.randint(0, max(count, 1), (numel,), generator=gen)] if count < numel \
            else base
        if name != "uint8":
            values = values - count // 2
        x = values.reshape(shape).to(dtype)
        if name in FLOATS and rng.random() < 0.5:
            x = x * 0.25
    elif kind < 0.8 and name in FLOATS:
        x = (torch.randn(shape, generator=gen, dtype=torch.float64) * 10 ** rng.randint(-3, 3)).to(dtype)
    else:
        # Ties on purpose, plus NaN, infinities and signed zeros for floats.
        x = torch.randint(0, 4, shape, generator=gen).to(dtype)
        if name in FLOATS and numel:
            flat = x.view(-1)
            for _ in range(rng.randint(1, 3)):
                flat[rng.randrange(numel)] = rng.choice(
                    [float("nan"), float("inf"), -float("inf"), -0.0, 0.0])
    return x


def reference_topk(x, k, dim, largest, sorted_):
    if x.dtype == torch.float16:  # PyTorch 1.13's CPU topk lacks float16
        values, indices = torch.topk(x.float(), k, dim, largest, sorted_)
        return values.half(), indices
    return torch.topk(x, k, dim, largest, sorted_)


@unittest.skipIf(torch is None, "python3-torch is not installed")
class RandomTopKTest(ClientTestCase):
    CLIENT_TIMEOUT = 20

    def check_case(self, x, k, dim, largest, sorted_):
        ours = self.client.topk(x, k, dim, largest, sorted_)
        values, indices = ours.values, ours.indices
        ref_values, ref_indices = reference_topk(x, k, dim, largest, sorted_)
        self.assertEqual(values.dtype, x.dtype)
        self.assertEqual(indices.dtype, torch.int64)
        self.assertEqual(tuple(values.shape), tuple(ref_values.shape))
        self.assertEqual(tuple(indices.shape), tuple(ref_values.shape))
        gathered = x.gather(dim, indices) if x.dim() else x
        # The values are the input's elements at the indices, bit for bit.
        self.assertTrue(same_bits(values, gathered))
        x_rows = slices(as_float64(x), dim)
        idx_rows = slices(indices.numpy(), dim)
        ref_idx_rows = slices(ref_indices.numpy(), dim)
        ties = [has_ties(row) for row in x_rows]
        if sorted_:
            self.assertTrue(same_values(values, ref_values))
        for row, (x_row, ours_row, ref_row) in enumerate(zip(x_rows, idx_rows, ref_idx_rows)):
            self.assertEqual(len(set(ours_row.tolist())), len(ours_row))
            if not sorted_:
                # The selection, in increasing index order.
                self.assertTrue(np.all(np.diff(ours_row) > 0))
                ref_row = np.sort(ref_row)
                self.assertTrue(same_values(torch.from_numpy(np.sort(x_row[ours_row])),
                                            torch.from_numpy(np.sort(x_row[ref_row]))))
            if not ties[row]:
                np.testing.assert_array_equal(ours_row, ref_row)
            else:
                self.check_tie_rule(x_row, ours_row, largest)
        return ours, ties

    def check_tie_rule(self, row, selected, largest):
        """Among equal values the lower index is selected (and first)."""
        def key(i):
            v = row[i]
            # NaN ranks above +inf: first when largest, last when smallest.
            if np.isnan(v):
                return (0 if largest else 2, 0.0, i)
            return (1, -v if largest else v, i)
        best_first = sorted(range(len(row)), key=key)
        chosen = set(selected.tolist())
        expected = best_first[:len(selected)]
        self.assertEqual(chosen, set(expected))

    def test_random_cases_match_torch(self):
        rng = random.Random(2024)
        gen = torch.Generator().manual_seed(2024)
        checked = tie_free = 0
        for case in range(CASES):
            x = random_input(rng, gen, case)
            if x.dim() == 0:
                dim, k = rng.choice([0, -1]), rng.randint(0, 1)
            else:
                dim = rng.randrange(-x.dim(), x.dim())
                size = x.shape[dim]
                k = rng.choice([0, size, rng.randint(0, size), min(size, rng.randint(1, 3))])
            largest, sorted_ = rng.random() < 0.6, rng.random() < 0.7
            with self.subTest(case=case, dtype=x.dtype, shape=tuple(x.shape), k=k, dim=dim,
                              largest=largest, sorted=sorted_):
                _, ties = self.check_case(x, k, dim, largest, sorted_)
                checked += 1
                tie_free += not any(ties)
        self.assertGreaterEqual(checked, 500)
        self.assertGreaterEqual(tie_free, 250)

    def test_random_backward_matches_torch_autograd(self):
        rng = random.Random(7)
        gen = torch.Generator().manual_seed(7)
        for case in range(80):
            dtype = rng.choice([torch.float32, torch.float64])
            shape = tuple(rng.randint(1, 7) for _ in range(rng.randint(1, 3)))
            x = torch.randn(shape, generator=gen, dtype=dtype)
            dim = rng.randrange(-x.dim(), x.dim())
            k = rng.randint(0, x.shape[dim])
            largest, sorted_ = rng.random() < 0.5, rng.random() < 0.5
            xr = x.clone().requires_grad_()
            ref_values, _ = torch.topk(xr, k, dim, largest, sorted_)
            grad = torch.randn(ref_values.shape, generator=gen, dtype=dtype)
            ref_values.backward(grad)
            use_session = case % 2 == 0
            top = self.client.topk(x, k, dim, largest, sorted_, save_for_backward=use_session)
            # The gradient lines up with our values' order (same as torch's
            # when sorted; reorder it for unsorted).
            ours_grad = grad
            if not sorted_:
                _, ref_indices = torch.topk(x, k, dim, largest, sorted_)
                order = torch.argsort(ref_indices, dim=dim)
                ours_grad = grad.gather(dim, order)
            with self.subTest(case=case, shape=shape, dim=dim, k=k, session=use_session):
                if use_session:
                    grad_input = self.client.backward(ours_grad, top.session_id)
                else:
                    grad_input = self.client.backward(ours_grad, indices=top.indices,
                                                      input_shape=x.shape, dim=dim)
                self.assertTrue(same_bits(grad_input, xr.grad))


if __name__ == "__main__":
    unittest.main()
