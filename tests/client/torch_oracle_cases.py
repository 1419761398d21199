"""Prints test cases whose expected answers come from PyTorch itself, one per
line, tab-separated, for torch_oracle_test.cc to check our C++ code against:

  print    DTYPE  SHAPE  HEX            REPR      repr(tensor) with \\ and
                                                  newlines escaped
  literal  DTYPE  TEXT   TORCH_DTYPE    SHAPE  HEX
                                                  torch.tensor(eval(TEXT),
                                                  dtype=DTYPE or "-" for none)
  convert  F32BITS  F16BITS  BF16BITS             float32 -> float16/bfloat16

SHAPE is comma-separated (empty for 0-d), HEX the little-endian bytes.
Deterministic (fixed seeds). Run with Debian's /usr/bin/python3 (python3-torch).
"""

import math
import random
import sys

import torch

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
NAMES = {dtype: name for name, dtype in DTYPES.items()}


def tensor_hex(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes().hex()


def shape_text(shape):
    return ",".join(str(d) for d in shape)


def escape(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def emit(*fields):
    sys.stdout.write("\t".join(fields) + "\n")


def emit_print(t):
    emit("print", NAMES[t.dtype], shape_text(t.shape), tensor_hex(t), escape(repr(t)))


def print_cases():
    gen = torch.Generator().manual_seed(1234)
    fixed = [
        torch.tensor([[0, 0, 0], [0, 0, 0]]),
        torch.tensor([4.0, 3.0]),
        torch.tensor([2, 0]),
        torch.tensor([0.2, 0.0, 0.1, 0.0]),
        torch.tensor(7.0),
        torch.tensor(-3),
        torch.tensor(True),
        torch.tensor(0.5, dtype=torch.float64),
        torch.tensor(float("nan")),
        torch.tensor(1e-9),
        torch.tensor([]),
        torch.tensor([], dtype=torch.int64),
        torch.zeros(0, 2),
        torch.zeros(2, 0, 3, dtype=torch.float16),
        torch.zeros(0, dtype=torch.bool),
        torch.tensor([True, False, True]),
        torch.tensor([[True], [False]]),
        torch.tensor([1.0, float("nan"), float("inf"), -float("inf")]),
        torch.tensor([float("nan"), float("nan")]),
        torch.tensor([float("inf"), 0.0]),
        torch.tensor([-0.0, 0.0]),
        torch.tensor([-0.0, 1.5]),
        torch.tensor([0.0, 0.0, 0.0]),
        torch.tensor([1e-5, 1.0]),
        torch.tensor([1e8, 1.0]),
        torch.tensor([1e9, 1.0]),
        torch.tensor([123456789.0]),
        torch.tensor([1000.0, 1.0]),
        torch.tensor([1001.0, 1.0]),
        torch.tensor([0.001, 1.0]),
        torch.tensor([0.0001, 0.5]),
        torch.tensor([0.00009, 0.5]),
        torch.tensor([2.5, 3.5, -2.5]),
        torch.tensor([0.00005, 0.00015]),
        torch.tensor([1.23456789e20, -5.0]),
        torch.tensor([1e300, 1e-300], dtype=torch.float64),
        torch.tensor([1e-320, 1.0], dtype=torch.float64),
        torch.tensor([65504.0, -65504.0, 6e-8], dtype=torch.float16),
        torch.tensor([0.1, 0.2, 0.3], dtype=torch.bfloat16),
        torch.tensor([1, 2, 3], dtype=torch.int8),
        torch.tensor([-128, 127], dtype=torch.int8),
        torch.tensor([0, 255], dtype=torch.uint8),
        torch.tensor([-32768, 5], dtype=torch.int16),
        torch.tensor([2**31 - 1, -(2**31)], dtype=torch.int32),
        torch.tensor([2**63 - 1, -(2**63)]),
        torch.arange(30),
        torch.arange(100) * 1000,
        torch.arange(1000),
        torch.arange(1001),
        torch.arange(2000.0),
        torch.arange(40 * 40).reshape(40, 40),
        torch.arange(3 * 500.0).reshape(3, 500),
        torch.arange(10 * 10 * 11).reshape(10, 10, 11),
        torch.arange(7 * 7 * 7 * 7).reshape(7, 7, 7, 7) - 1000,
        torch.arange(24).reshape(2, 3, 4),
        torch.arange(16.0).reshape(1, 2, 2, 2, 2),
        torch.ones(1, 1, 1),
        torch.full((3, 40), 1.5),
        torch.full((2, 2000), 2.0, dtype=torch.float64),
        torch.tensor([True] * 1200),
        torch.linspace(-1, 1, 50),
        torch.linspace(-1, 1, 50, dtype=torch.float64).reshape(5, 10),
        torch.logspace(-10, 10, 21),
        torch.logspace(-10, 10, 21, dtype=torch.float64).reshape(3, 7),
    ]
    for t in fixed:
        emit_print(t)
    # Random tensors: shapes, dtypes and magnitudes of every kind.
    shapes = [(), (1,), (5,), (13,), (29,), (2, 3), (4, 1), (1, 9), (6, 7), (2, 3, 4),
              (3, 1, 5), (2, 2, 2, 2), (17, 3), (3, 17), (40,), (2, 50), (1001,),
              (8, 130), (11, 11, 11)]
    rng = random.Random(99)
    for case in range(260):
        shape = shapes[case % len(shapes)]
        name = rng.choice(list(DTYPES))
        dtype = DTYPES[name]
        if dtype.is_floating_point:
            scale = 10.0 ** rng.randint(-12, 12)
            t = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
            mode = rng.random()
            if mode < 0.2:
                t = t.round()
            elif mode < 0.3:
                t = (t / scale * 4).round() / 4
            if rng.random() < 0.15 and t.numel() > 0:
                flat = t.view(-1)
                flat[rng.randrange(flat.numel())] = rng.choice(
                    [float("nan"), float("inf"), -float("inf"), 0.0, -0.0])
            t = t.to(dtype)
        elif dtype == torch.bool:
            t = torch.rand(shape, generator=gen) < 0.5
        else:
            info = torch.iinfo(dtype)
            bound = min(info.max, 10 ** rng.randint(1, 18))
            low = max(info.min, -bound)
            t = torch.randint(low, bound, shape, generator=gen, dtype=torch.int64).to(dtype)
        emit_print(t)


LITERALS = [
    ("-", "[[1, 2, 3], [4, 5, 6]]"),
    ("-", "[3., 1., 4., 2.]"),
    ("-", "[1, 2.5]"),
    ("-", "[True, False]"),
    ("-", "[True, 2]"),
    ("-", "[True, 2.0]"),
    ("-", "[]"),
    ("-", "[[], []]"),
    ("-", "[[[]]]"),
    ("-", "7"),
    ("-", "7."),
    ("-", "-0.0"),
    ("-", "[.5, -.25, 1e3, 2E-2, +3]"),
    ("-", "[nan, inf, -inf]"),
    ("-", "[0.1, 1e-46, 3.5e38, 1e39]"),
    ("-", "[9223372036854775807, -9223372036854775808]"),
    ("float64", "[0.1, 1e-310, 1e308]"),
    ("float64", "[1, 2]"),
    ("float16", "[0.1, 65504, 65519.99, 65520, 6e-8, 2e-8, 3e-8]"),
    ("float16", "[1, 2049, 2051]"),
    ("bfloat16", "[0.1, 1.00390625, 1.01171875, 3.4e38, 1e39]"),
    ("bfloat16", "[nan, -inf]"),
    ("float32", "[16777217, 1]"),
    ("float32", "[True, False]"),
    ("int8", "[-128, 127, 0]"),
    ("int16", "[[1], [-32768]]"),
    ("int32", "[2147483647]"),
    ("int64", "[True, 5]"),
    ("uint8", "[0, 255]"),
    ("bool", "[0, 1, 2, -1, 0.0, 0.5, nan]"),
]


def literal_cases():
    names = {"nan": float("nan"), "inf": float("inf")}
    for dtype_name, text in LITERALS:
        data = eval(text, {"__builtins__": {}}, names)  # noqa: S307 (test data)
        dtype = None if dtype_name == "-" else DTYPES[dtype_name]
        t = torch.tensor(data, dtype=dtype)
        emit("literal", dtype_name, text, NAMES[t.dtype], shape_text(t.shape), tensor_hex(t))


def convert_cases():
    rng = random.Random(7)
    values = [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, 1e10, -1e10,
              6e-8, 2.9802322e-8, 2.9802326e-8, 5.96e-8, 1e-8, 1.0009765625,
              1.00048828125, 1.00146484375, 3.4e38, float("inf"), -float("inf"),
              1.00390625, 1.01171875, 1.0078125]
    bits = [torch.tensor(v, dtype=torch.float32).view(torch.int32).item() & 0xFFFFFFFF
            for v in values]
    for _ in range(3000):
        exponent = rng.choice([rng.randrange(256), rng.randrange(97, 144)])
        if exponent == 255:
            continue  # no NaN: vectorized and scalar conversions differ in payload
        bits.append((rng.randrange(2) << 31) | (exponent << 23) | rng.randrange(1 << 23))
    for b in bits:
        f = torch.tensor([b if b < 2**31 else b - 2**32], dtype=torch.int32).view(torch.float32)
        half = f.to(torch.float16).view(torch.int16).item() & 0xFFFF
        bf16 = f.to(torch.bfloat16).view(torch.int16).item() & 0xFFFF
        emit("convert", f"{b:08x}", f"{half:04x}", f"{bf16:04x}")


if __name__ == "__main__":
    print_cases()
    literal_cases()
    convert_cases()
