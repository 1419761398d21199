#!/usr/bin/python3
"""Writes the ghz configs of this directory (deterministic inputs).

    deploy/ghz/generate.py            # rewrites deploy/ghz/*.json

The inputs are float32 tensors with values from a fixed seed, base64-encoded
as protobuf's JSON mapping wants for `bytes`. The methods come from the
proto's TensorOps service: each has a config here or a reason in NO_CONFIG,
so a method added to the proto fails this script until it has one. Edit the
tables below and rerun rather than editing the JSON by hand;
tests/load/ghz_configs_test.py checks every config against the proto.
"""

import base64
import json
import os
import pathlib
import random
import struct
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "proto"))
import python_protos  # pylint: disable=wrong-import-position

SERVICE = python_protos.service(python_protos.load())
HOST = "127.0.0.1:50051"
# Methods without a load config, and why.
NO_CONFIG = {
    "ReleaseSession": "needs a session id from a TopK of the same run",
    "GetServerInfo": "not a data-path call",
    "RegisterSharedMemory": "needs a shared memory object on the server's host",
    "UnregisterSharedMemory": "needs a registered region",
    "ListSharedMemory": "not a data-path call",
    # ghz sends one JSON request per call; a streamed call's later messages
    # carry raw chunks (bench/streamed_topk_bench.py measures those).
    "TopKStream": "streamed: header then raw chunks",
    "BackwardStream": "streamed: header then raw chunks",
    "ZerosLikeStream": "streamed: header then raw chunks",
    "OnesLikeStream": "streamed: header then raw chunks",
}


def float32_tensor(shape, seed):
    rng = random.Random(seed)
    count = 1
    for dim in shape:
        count *= dim
    data = struct.pack(f"<{count}f", *(rng.uniform(-1, 1) for _ in range(count)))
    return {"dtype": "DTYPE_FLOAT32", "shape": [str(d) for d in shape],
            "data": base64.b64encode(data).decode()}


def int64_tensor(shape, values):
    data = struct.pack(f"<{len(values)}q", *values)
    return {"dtype": "DTYPE_INT64", "shape": [str(d) for d in shape],
            "data": base64.b64encode(data).decode()}


def config(method, data, total=20000, concurrency=8, **extra):
    if method not in SERVICE.methods_by_name:
        raise SystemExit(f"{method} is not a method of {SERVICE.full_name}")
    result = {
        "call": f"{SERVICE.full_name}.{method}",
        "host": HOST,
        "insecure": True,
        "total": total,
        "concurrency": concurrency,
        "connections": 1,
        "timeout": "20s",
        "data": data,
    }
    result.update(extra)
    return result


CONFIGS = {
    # Only dtype and shape travel: the server builds the result.
    "zeros_like.json": config("ZerosLike", {
        "input": {"dtype": "DTYPE_FLOAT32", "shape": ["2", "3"]}}),
    "ones_like.json": config("OnesLike", {
        "input": {"dtype": "DTYPE_FLOAT32", "shape": ["64", "1024"]},
        "dtype": "DTYPE_FLOAT16"}),
    "topk_small.json": config("TopK", {
        "input": float32_tensor([2, 3], seed=1), "k": "2"}),
    # 8 x 4096 float32 = 128 KiB per request; larger inputs make the JSON
    # unwieldy: use tensorops-load --shape for those.
    "topk_large.json": config("TopK", {
        "input": float32_tensor([8, 4096], seed=2), "k": "50",
        "dim": "-1", "largest": True, "sorted": True},
        total=2000, concurrency=4,
        **{"max-recv-message-size": "64MB", "max-send-message-size": "64MB"}),
    # The selection family on the same 8 x 4096 input as topk_large.
    "sort.json": config("Sort", {
        "input": float32_tensor([8, 4096], seed=2), "descending": True},
        total=2000, concurrency=4,
        **{"max-recv-message-size": "64MB", "max-send-message-size": "64MB"}),
    "kthvalue.json": config("KthValue", {
        "input": float32_tensor([8, 4096], seed=2), "k": "100"},
        total=2000, concurrency=4,
        **{"max-send-message-size": "64MB"}),
    "max.json": config("Max", {
        "input": float32_tensor([8, 4096], seed=2), "dim": "-1"},
        total=2000, concurrency=4, **{"max-send-message-size": "64MB"}),
    "min.json": config("Min", {
        "input": float32_tensor([8, 4096], seed=2), "dim": "0", "keepdim": True},
        total=2000, concurrency=4, **{"max-send-message-size": "64MB"}),
    "median.json": config("Median", {
        "input": float32_tensor([8, 4096], seed=2)},
        total=2000, concurrency=4, **{"max-send-message-size": "64MB"}),
    # Stateless: indices, input shape and dim come with the request, so no
    # session (and no TopK before it) is needed.
    "backward_stateless.json": config("Backward", {
        "grad_values": float32_tensor([2, 2], seed=3),
        "indices": int64_tensor([2, 2], [2, 0, 1, 2]),
        "input_shape": ["2", "3"],
        "dim": "-1"}),
}


def main():
    covered = {content["call"].rsplit(".", 1)[1] for content in CONFIGS.values()}
    missing = [m.name for m in SERVICE.methods
               if m.name not in covered and m.name not in NO_CONFIG]
    if missing:
        raise SystemExit(f"no ghz config (or NO_CONFIG reason) for: "
                         f"{', '.join(missing)}")
    here = os.path.dirname(os.path.abspath(__file__))
    for name, content in CONFIGS.items():
        with open(os.path.join(here, name), "w") as out:
            json.dump(content, out, indent=2)
            out.write("\n")


if __name__ == "__main__":
    main()
