#!/usr/bin/python3
"""Writes the seed corpus of tests/fuzz/request_fuzzer.cc.

Each seed is the fuzzer's input layout: a kind byte (the method's index in
the TensorOps service, or a scenario), a chunk-size byte, then the
serialized message (see the comment at the top of request_fuzzer.cc).
The seeds cover every request and dtype, the topk code paths (short and long
rows, inner > 1, k >= n/4, ties, NaN and signed zeros, 0-d and empty
tensors), the backward paths, and typical invalid requests; the fuzzer
mutates from there.

Run from anywhere with Debian's python3-protobuf and protoc:
  /usr/bin/python3 tests/fuzz/make_corpus.py
It replaces the generated seeds of tests/fuzz/corpus/request_fuzzer/ (names
without '-'; the others are findings kept as regression inputs) and prints
how many seeds it wrote.
"""

import math
import pathlib
import random
import struct
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fuzz" / "corpus" / "request_fuzzer"



sys.path.insert(0, str(ROOT / "proto"))
import python_protos  # pylint: disable=wrong-import-position

pb = python_protos.load()
# Kind bytes (see request_fuzzer.cc): a method's index in the service, or a
# scenario from 128 up.
_METHODS = python_protos.service(pb).methods_by_name
ZEROS, ONES, TOPK, BACKWARD, RELEASE, INFO = (
    _METHODS[name].index for name in ("ZerosLike", "OnesLike", "TopK",
                                      "Backward", "ReleaseSession",
                                      "GetServerInfo"))
SORT, KTHVALUE, MAX, MIN, MEDIAN = (
    _METHODS[name].index for name in ("Sort", "KthValue", "Max", "Min",
                                      "Median"))
TOPK_STREAM, BACKWARD_STREAM, ZEROS_STREAM, ONES_STREAM = (
    _METHODS[name].index for name in ("TopKStream", "BackwardStream",
                                      "ZerosLikeStream", "OnesLikeStream"))
SESSION = 128
# Chunk-size bytes the seeds cycle through (chunks of 1 + byte bytes).
CHUNK_BYTES = (0, 6, 63, 255)

# dtype name -> (wire enum, struct format of one element)
DTYPES = {
    "float32": (pb.DTYPE_FLOAT32, "<f"),
    "float64": (pb.DTYPE_FLOAT64, "<d"),
    "float16": (pb.DTYPE_FLOAT16, "<e"),
    "bfloat16": (pb.DTYPE_BFLOAT16, None),
    "int8": (pb.DTYPE_INT8, "<b"),
    "int16": (pb.DTYPE_INT16, "<h"),
    "int32": (pb.DTYPE_INT32, "<i"),
    "int64": (pb.DTYPE_INT64, "<q"),
    "uint8": (pb.DTYPE_UINT8, "<B"),
    "bool": (pb.DTYPE_BOOL, "<?"),
}


def encode(dtype, values):
    if dtype == "bfloat16":
        # The upper half of the float32.
        return b"".join(struct.pack("<f", v)[2:] for v in values)
    fmt = DTYPES[dtype][1]
    return b"".join(struct.pack(fmt, v) for v in values)


def tensor(dtype, shape, values=None, data=None):
    t = pb.Tensor(dtype=DTYPES[dtype][0], shape=shape)
    if data is not None:
        t.data = data
    elif values is not None:
        t.data = encode(dtype, values)
    return t


def count(shape):
    return math.prod(shape)


def sample(dtype, n, rng):
    if dtype in ("float32", "float64", "float16", "bfloat16"):
        return [rng.choice([rng.uniform(-4, 4), float(rng.randint(-3, 3))])
                for _ in range(n)]
    if dtype == "bool":
        return [rng.random() < 0.5 for _ in range(n)]
    if dtype == "uint8":
        return [rng.randint(0, 255) for _ in range(n)]
    bits = {"int8": 7, "int16": 15, "int32": 31, "int64": 63}[dtype]
    return [rng.choice([rng.randint(-5, 5),
                        rng.randint(-(1 << bits), (1 << bits) - 1)])
            for _ in range(n)]


seeds = {}


def add(name, kind, message):
    seeds[name] = (bytes([kind, CHUNK_BYTES[len(seeds) % len(CHUNK_BYTES)]]) +
                   message.SerializeToString())


def add_session(name, topk, backward):
    first = topk.SerializeToString()
    assert len(first) < 1 << 16
    seeds[name] = (bytes([SESSION, 0]) + struct.pack("<H", len(first)) + first +
                   backward.SerializeToString())


def topk_output_shape(shape, k, dim):
    if not shape:
        return []
    out = list(shape)
    out[dim] = k
    return out


def main():
    rng = random.Random(20240611)

    # ZerosLike / OnesLike: every dtype, with and without data, dtype
    # overrides, 0-d and empty shapes.
    for name in DTYPES:
        shape = [2, 3]
        add(f"zeros_{name}", ZEROS, pb.ZerosLikeRequest(
            input=tensor(name, shape, sample(name, 6, rng))))
        add(f"ones_{name}_nodata", ONES,
            pb.OnesLikeRequest(input=tensor(name, [4])))
    add("ones_scalar_to_bfloat16", ONES, pb.OnesLikeRequest(
        input=tensor("int32", [], [7]), dtype=pb.DTYPE_BFLOAT16))
    add("zeros_empty_to_float16", ZEROS, pb.ZerosLikeRequest(
        input=tensor("float32", [3, 0, 2]), dtype=pb.DTYPE_FLOAT16))
    add("ones_missing_input", ONES, pb.OnesLikeRequest(dtype=pb.DTYPE_INT8))
    add("zeros_bad_dtype", ZEROS, pb.ZerosLikeRequest(
        input=tensor("float32", [1], [1.0]), dtype=99))
    add("zeros_huge_empty", ZEROS, pb.ZerosLikeRequest(
        input=tensor("float32", [1 << 62, 1 << 62, 0])))
    add("ones_too_large", ONES,
        pb.OnesLikeRequest(input=tensor("float64", [1 << 40])))

    # TopK: every dtype, short rows, long rows (threshold and radix paths),
    # strided slices (inner > 1), both orders, unsorted.
    for name in DTYPES:
        if name == "bool":
            continue
        values = sample(name, 24, rng)
        add(f"topk_{name}_rows", TOPK, pb.TopKRequest(
            input=tensor(name, [4, 6], values), k=3))
        add(f"topk_{name}_dim0_smallest", TOPK, pb.TopKRequest(
            input=tensor(name, [4, 6], values), k=2, dim=0, largest=False,
            sorted=False))
    # Seeds stay under the 4 KiB -max_len that scripts/check-sanitizers.sh
    # gives the fuzzer.
    add("topk_float32_long_row", TOPK, pb.TopKRequest(
        input=tensor("float32", [1000], sample("float32", 1000, rng)), k=7))
    add("topk_int16_long_row_radix", TOPK, pb.TopKRequest(
        input=tensor("int16", [2, 900], sample("int16", 1800, rng)), k=250,
        sorted=False))
    add("topk_int16_inner", TOPK, pb.TopKRequest(
        input=tensor("int16", [3, 40, 5], sample("int16", 600, rng)), k=10,
        dim=1))
    add("topk_float64_inner_radix", TOPK, pb.TopKRequest(
        input=tensor("float64", [2, 50, 3], sample("float64", 300, rng)),
        k=30, dim=-2, largest=False))
    specials = [math.nan, -0.0, 0.0, math.inf, -math.inf, 1.0, 1.0, -math.nan,
                0.0, -0.0, 2.5, math.nan]
    for name in ("float32", "float64", "float16", "bfloat16"):
        add(f"topk_{name}_specials", TOPK, pb.TopKRequest(
            input=tensor(name, [12], specials), k=6))
        add(f"topk_{name}_specials_smallest", TOPK, pb.TopKRequest(
            input=tensor(name, [3, 4], specials), k=3, largest=False))
    add("topk_ties", TOPK, pb.TopKRequest(
        input=tensor("int32", [10], [5, 1, 5, 5, 2, 5, 1, 5, 0, 5]), k=4))
    add("topk_scalar_k1", TOPK,
        pb.TopKRequest(input=tensor("float32", [], [3.5]), k=1))
    add("topk_scalar_k0", TOPK,
        pb.TopKRequest(input=tensor("int64", [], [-2]), k=0, dim=-1))
    add("topk_empty_dim", TOPK,
        pb.TopKRequest(input=tensor("float32", [0, 3], []), k=0, dim=0))
    add("topk_empty_other", TOPK,
        pb.TopKRequest(input=tensor("uint8", [3, 0, 4], []), k=2))
    add("topk_huge_empty", TOPK, pb.TopKRequest(
        input=tensor("float32", [1 << 62, 1 << 62, 0], []), k=0))
    add("topk_huge_empty_inner", TOPK, pb.TopKRequest(
        input=tensor("int8", [0, 1 << 62, 1 << 62], []), k=1, dim=1))
    add("topk_save", TOPK, pb.TopKRequest(
        input=tensor("float32", [2, 5], sample("float32", 10, rng)), k=2,
        save_for_backward=True))
    # Refused: bool, k and dim out of range, short data, negative dim size,
    # overflowing shape, no input.
    add("topk_bool", TOPK, pb.TopKRequest(
        input=tensor("bool", [3], [True, False, True]), k=1))
    add("topk_k_too_big", TOPK,
        pb.TopKRequest(input=tensor("int8", [3], [1, 2, 3]), k=4))
    add("topk_bad_dim", TOPK,
        pb.TopKRequest(input=tensor("int8", [3], [1, 2, 3]), k=1, dim=-2))
    add("topk_short_data", TOPK, pb.TopKRequest(
        input=tensor("float32", [3], data=b"\0" * 11), k=1))
    add("topk_negative_dim", TOPK,
        pb.TopKRequest(input=tensor("float32", [-1, 3], []), k=1))
    add("topk_overflow", TOPK,
        pb.TopKRequest(input=tensor("float32", [1 << 62, 4], []), k=1))
    add("topk_no_input", TOPK, pb.TopKRequest(k=1))

    # The selection family: every dtype (bool where taken), rows and
    # strided slices, keepdim both ways, specials, ties, 0-d and empty
    # tensors, and the refusals (bool, k, size-0 reductions, no input).
    selection_ops = (("sort", SORT, pb.SortRequest),
                     ("kthvalue", KTHVALUE, pb.KthValueRequest),
                     ("max", MAX, pb.MaxRequest), ("min", MIN, pb.MinRequest),
                     ("median", MEDIAN, pb.MedianRequest))

    def selection(op, request_type, x, dim=None, keepdim=False, **extra):
        fields = dict(input=x, save_for_backward=True, **extra)
        if dim is not None:
            fields["dim"] = dim
        if op == "kthvalue":
            fields.setdefault("k", 2)
        if op != "sort":
            fields["keepdim"] = keepdim
        return request_type(**fields)

    for op, kind, request_type in selection_ops:
        for name in DTYPES:
            if name == "bool" and op in ("kthvalue", "median"):
                continue
            values = sample(name, 24, rng)
            add(f"{op}_{name}_rows", kind,
                selection(op, request_type, tensor(name, [4, 6], values)))
            add(f"{op}_{name}_dim0", kind,
                selection(op, request_type, tensor(name, [4, 6], values), dim=0,
                          keepdim=True, **({"descending": True} if op == "sort"
                                           else {})))
        for name in ("float32", "float16", "bfloat16", "float64"):
            add(f"{op}_{name}_specials", kind, selection(
                op, request_type, tensor(name, [3, 4], specials), dim=-1))
        add(f"{op}_ties_inner", kind, selection(
            op, request_type, tensor("int8", [2, 5, 3], [1, 0] * 15), dim=1))
        add(f"{op}_scalar", kind, selection(
            op, request_type, tensor("float32", [], [2.5]), dim=0,
            **({"k": 1} if op == "kthvalue" else {})))
        add(f"{op}_empty_dim", kind, selection(
            op, request_type, tensor("float32", [2, 0], []), dim=1))
        add(f"{op}_empty_other", kind, selection(
            op, request_type, tensor("int16", [0, 3], []), dim=1))
        add(f"{op}_bad_dim", kind, selection(
            op, request_type, tensor("int8", [3], [1, 2, 3]), dim=1))
        add(f"{op}_no_input", kind, request_type())
    add("kthvalue_k_too_big", KTHVALUE, pb.KthValueRequest(
        input=tensor("int8", [3], [1, 2, 3]), k=4))
    add("kthvalue_k_zero", KTHVALUE, pb.KthValueRequest(
        input=tensor("int8", [3], [1, 2, 3]), k=0))
    add("median_bool", MEDIAN, pb.MedianRequest(
        input=tensor("bool", [3], [True, False, True])))
    add("sort_float32_long_row", SORT, pb.SortRequest(
        input=tensor("float32", [900], sample("float32", 900, rng))))
    add("max_int16_long_row", MAX, pb.MaxRequest(
        input=tensor("int16", [1, 1800], sample("int16", 1800, rng))))
    add("backward_reduction_stateless", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float32", [2], [1.0, 2.0]),
        indices=tensor("int64", [2], [1, 0]), input_shape=[2, 3], dim=1,
        keepdim=False))
    add("backward_reduction_bad_rank", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float32", [2, 1], [1.0, 2.0]),
        indices=tensor("int64", [2, 1], [1, 0]), input_shape=[2, 3], dim=1,
        keepdim=False))

    # Stateless Backward: each grad dtype, dims, repeated indices (last
    # wins), an out-of-range index, 0-d, empty, and refused shapes.
    for name in ("float32", "float64", "float16", "bfloat16"):
        add(f"backward_{name}", BACKWARD, pb.BackwardRequest(
            grad_values=tensor(name, [2, 2], [0.5, -1.0, 2.0, 0.25]),
            indices=tensor("int64", [2, 2], [3, 0, 1, 2]),
            input_shape=[2, 4]))
    add("backward_dim0", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float32", [1, 3], [1.0, 2.0, 3.0]),
        indices=tensor("int64", [1, 3], [2, 0, 1]), input_shape=[3, 3],
        dim=0))
    add("backward_inner", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float64", [2, 2, 3], sample("float64", 12, rng)),
        indices=tensor("int64", [2, 2, 3], [rng.randint(0, 4)
                                            for _ in range(12)]),
        input_shape=[2, 5, 3], dim=1))
    add("backward_repeated", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float32", [4], [1.0, 2.0, 3.0, 4.0]),
        indices=tensor("int64", [4], [1, 1, 0, 1]), input_shape=[3]))
    add("backward_out_of_range", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float32", [2], [1.0, 2.0]),
        indices=tensor("int64", [2], [0, 5]), input_shape=[4]))
    add("backward_negative_index", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float16", [2, 1], [1.0, 2.0]),
        indices=tensor("int64", [2, 1], [0, -1]), input_shape=[2, 3]))
    add("backward_scalar", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float32", [], [1.5]),
        indices=tensor("int64", [], [0]), dim=0))
    add("backward_empty", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float32", [0, 3], []),
        indices=tensor("int64", [0, 3], []), input_shape=[0, 5]))
    add("backward_huge_empty", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float32", [1 << 62, 1 << 62, 0], []),
        indices=tensor("int64", [1 << 62, 1 << 62, 0], []),
        input_shape=[1 << 62, 1 << 62, 0], dim=1))
    add("backward_int_grad", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("int32", [1], [1]),
        indices=tensor("int64", [1], [0]), input_shape=[2]))
    add("backward_int32_indices", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float32", [1], [1.0]),
        indices=tensor("int32", [1], [0]), input_shape=[2]))
    add("backward_shape_mismatch", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float32", [2, 3], [0.0] * 6),
        indices=tensor("int64", [2, 3], [0] * 6), input_shape=[3, 3]))
    add("backward_too_large", BACKWARD, pb.BackwardRequest(
        grad_values=tensor("float32", [1], [1.0]),
        indices=tensor("int64", [1], [0]), input_shape=[1 << 40]))
    add("backward_session_and_indices", BACKWARD, pb.BackwardRequest(
        session_id="abc", grad_values=tensor("float32", [1], [1.0]),
        indices=tensor("int64", [1], [0]), input_shape=[2]))

    add("release_session", RELEASE, pb.ReleaseSessionRequest(session_id="s"))
    add("release_session_empty", RELEASE, pb.ReleaseSessionRequest())
    add("server_info", INFO, pb.GetServerInfoRequest())

    # TopK saved for backward, then Backward on the session.
    cases = [("float32", [2, 6], 3, -1), ("float16", [4, 3], 2, 0),
             ("bfloat16", [3, 4, 2], 2, 1), ("float64", [], 1, 0),
             ("int32", [1, 200], 60, 1)]
    for i, (name, shape, k, dim) in enumerate(cases):
        topk = pb.TopKRequest(
            input=tensor(name, shape, sample(name, count(shape), rng)), k=k,
            dim=dim, save_for_backward=True)
        out = topk_output_shape(shape, k, dim)
        grad_dtype = name if name != "int32" else "float32"
        backward = pb.BackwardRequest(
            session_id="s", grad_values=tensor(
                grad_dtype, out, sample(grad_dtype, count(out), rng)))
        add_session(f"session_{i}_{name}", topk, backward)
    add_session("session_bad_grad_shape", pb.TopKRequest(
        input=tensor("float32", [4], [1.0, 2.0, 3.0, 4.0]), k=2,
        save_for_backward=True), pb.BackwardRequest(
            session_id="s", grad_values=tensor("float32", [3], [1.0] * 3)))
    add_session("session_with_indices", pb.TopKRequest(
        input=tensor("float32", [4], [1.0, 2.0, 3.0, 4.0]), k=2,
        save_for_backward=True), pb.BackwardRequest(
            session_id="s", grad_values=tensor("float32", [2], [1.0, 1.0]),
            input_shape=[4]))

    # Streamed calls' messages: requests (tensors without data, and one
    # with), chunks, neither, too large.
    add("stream_topk_request", TOPK_STREAM, pb.TopKStreamRequest(
        request=pb.TopKRequest(input=tensor("float32", [64, 1000]), k=3)))
    add("stream_topk_dim0", TOPK_STREAM, pb.TopKStreamRequest(
        request=pb.TopKRequest(input=tensor("float16", [1 << 20, 600]), k=1,
                               dim=0)))
    add("stream_topk_with_data", TOPK_STREAM, pb.TopKStreamRequest(
        request=pb.TopKRequest(input=tensor("float32", [2], [1.0, 2.0]), k=1)))
    add("stream_topk_chunk", TOPK_STREAM, pb.TopKStreamRequest(chunk=b"x" * 40))
    add("stream_topk_empty", TOPK_STREAM, pb.TopKStreamRequest())
    add("stream_backward_stateless", BACKWARD_STREAM, pb.BackwardStreamRequest(
        request=pb.BackwardRequest(grad_values=tensor("float32", [4, 2]),
                                   indices=tensor("int64", [4, 2]),
                                   input_shape=[4, 9])))
    add("stream_backward_session", BACKWARD_STREAM, pb.BackwardStreamRequest(
        request=pb.BackwardRequest(session_id="s",
                                   grad_values=tensor("bfloat16", [3]))))
    add("stream_zeros_huge", ZEROS_STREAM, pb.ZerosLikeStreamRequest(
        request=pb.ZerosLikeRequest(input=tensor("float32", [1 << 40]))))
    add("stream_ones_chunk", ONES_STREAM, pb.OnesLikeStreamRequest(chunk=b""))

    # Seeds named with a '-' are fuzzer findings kept as regression inputs
    # (written by hand in this layout): they stay.
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        if "-" not in old.name:
            old.unlink()
    for name, data in sorted(seeds.items()):
        assert len(data) <= 4096, name
        (OUT / name).write_bytes(data)
    print(f"wrote {len(seeds)} seeds ({sum(map(len, seeds.values()))} bytes) "
          f"to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
