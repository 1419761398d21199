#!/usr/bin/python3
"""Streamed TopK past 2 GiB: tensorops.Client.topk of a float32 np.memmap
(default [40960, 32768], 5.4 GB) k=8 against torch.topk of the same rows,
with the server's peak RSS; and, on one server in the same run, a
[1024, 32000] TopK streamed and unary (medians of --rounds calls), through
this Python client and through the C++ client beside a bare unary echo of
the same bytes (tensorops-bench-stream against tensorops-bench-echo, found
next to the server in the build tree).

  /usr/bin/python3 bench/streamed_topk_bench.py --server build/server/tensorops-server \
      [--rows 40960 --cols 32768 --dir /tmp]

Needs PYTHONPATH with client/python and build/client/python. Prints a
markdown table for docs/PERFORMANCE.md.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time

import numpy as np
import torch

import tensorops


def start_server(command):
    process = subprocess.Popen(
        command + ["--address=127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        match = re.search(r"serving .* on [^ ]*:(\d+)", line)
        if match:
            return process, f"127.0.0.1:{match.group(1)}"
    raise RuntimeError(f"{command[0]} did not start")


def cpp_against_echo(build, address, rounds):
    """The C++ client's streamed and unary TopK of [1024,32000] k=50 beside
    a bare unary echo of the same bytes, interleaved in one process."""
    echo, echo_address = start_server(
        [os.path.join(build, "bench/echo/tensorops-bench-echo")])
    try:
        output = subprocess.run(
            [os.path.join(build, "bench/stream/tensorops-bench-stream"),
             f"--server={address}", f"--echo={echo_address}",
             "--shape=1024,32000", "--k=50", f"--rounds={rounds}"],
            check=True, capture_output=True, text=True).stdout
    finally:
        echo.terminate()
        echo.wait()
    return json.loads(output)


def peak_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def write_memmap(path, rows, cols, block=1024):
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                      shape=(rows, cols))
    rng = np.random.default_rng(20261203)
    for start in range(0, rows, block):
        stop = min(rows, start + block)
        array[start:stop] = rng.standard_normal((stop - start, cols),
                                                dtype=np.float32)
    array.flush()
    del array
    return np.load(path, mmap_mode="r")


def median_ms(function, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--rows", type=int, default=40960)
    parser.add_argument("--cols", type=int, default=32768)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())

    process, address = start_server([args.server, "--metrics_address="])
    build = os.path.dirname(os.path.dirname(os.path.abspath(args.server)))
    try:
        client = tensorops.Client(address, timeout=3600)
        # The medium case, streamed and unary, side by side.
        rng = np.random.default_rng(1)
        medium = rng.standard_normal((1024, 32000), dtype=np.float32)
        client.topk(medium, 50, stream=True)
        client.topk(medium, 50, stream=False)
        streamed_ms = median_ms(lambda: client.topk(medium, 50, stream=True),
                                args.rounds)
        unary_ms = median_ms(lambda: client.topk(medium, 50, stream=False),
                             args.rounds)
        torch_ms = median_ms(lambda: torch.topk(torch.from_numpy(medium), 50),
                             args.rounds)
        cpp = cpp_against_echo(build, address, args.rounds)
        rss_before = peak_rss_bytes(process.pid)

        with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
            path = os.path.join(scratch, "big.npy")
            big = write_memmap(path, args.rows, args.cols)
            start = time.perf_counter()
            result = client.topk(big, args.k)
            call_s = time.perf_counter() - start
            rss = peak_rss_bytes(process.pid)
            equal = True
            start = time.perf_counter()
            for first in range(0, args.rows, 2048):
                rows = torch.from_numpy(np.asarray(big[first:first + 2048]))
                values, indices = torch.topk(rows, args.k)
                equal &= np.array_equal(result.values[first:first + 2048],
                                        values.numpy())
                equal &= np.array_equal(result.indices[first:first + 2048],
                                        indices.numpy())
            torch_s = time.perf_counter() - start
            size = big.nbytes
            del big
    finally:
        process.terminate()
        process.wait()

    print(f"Machine: {platform.node()}, {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d')}")
    print()
    print("| case | figure |")
    print("|---|---:|")
    print(f"| Client.topk of a float32 memmap [{args.rows},{args.cols}] "
          f"({size / 1e9:.1f} GB) k={args.k}, streamed | {call_s:.1f} s |")
    print(f"| torch.topk of the same rows (read from the memmap) | "
          f"{torch_s:.1f} s |")
    print(f"| equal to torch.topk row for row (values and indices) | "
          f"{'yes' if equal else 'NO'} |")
    print(f"| server peak RSS (VmHWM) after it | {rss / 2**20:.0f} MiB "
          f"(before it: {rss_before / 2**20:.0f} MiB) |")
    print(f"| [1024,32000] k=50 streamed / unary / local torch.topk, "
          f"median of {args.rounds} | {streamed_ms:.1f} / {unary_ms:.1f} / "
          f"{torch_ms:.1f} ms |")
    print(f"| [1024,32000] k=50 through the C++ client, medians of "
          f"{cpp['calls_each']} calls each, interleaved: bare unary echo / "
          f"streamed / unary | {cpp['echo_ms']:.1f} / {cpp['streamed_ms']:.1f}"
          f" / {cpp['unary_ms']:.1f} ms |")
    print(f"| streamed / echo, unary / echo (C++ client) | "
          f"{cpp['streamed_over_echo']:.2f}x, {cpp['unary_over_echo']:.2f}x |")
    if not equal:
        raise SystemExit("results differ from torch.topk")


if __name__ == "__main__":
    main()
