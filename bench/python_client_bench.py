#!/usr/bin/python3
"""TopK from Python against the C++ client, side by side in one run.

    /usr/bin/python3 bench/python_client_bench.py [--build build]
        [--rounds 3] [--update docs/PERFORMANCE.md]

Starts one tensorops-server and times, per case and in interleaved rounds:
the C++ client (tensorops-load, concurrency 1), tensorops.Client on the
native extension, tensorops.Client over grpcio (a grpc.Channel passed in:
the transport before the extension), and local torch.topk on 2 threads.
Each figure is the median over rounds of each round's p50 latency. Then
the throughput of 4 Python threads sharing one client against 1 thread.

Prints a Markdown section; with --update, replaces the section between
the markers below in that file.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

BEGIN = "<!-- python_client_bench: begin -->"
END = "<!-- python_client_bench: end -->"

# (shape, k, calls per round)
CASES = [((1024, 32000), 50, 12), ((64, 32000), 50, 100), ((2, 3), 2, 2000)]
THROUGHPUT_SHAPE, THROUGHPUT_K, THROUGHPUT_CALLS = (64, 32000), 50, 160


def start_server(binary):
    log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log")
    process = subprocess.Popen(
        [binary, "--address=127.0.0.1:0", "--metrics_address=", "--allow_shared_memory"],
        stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        match = re.search(r"serving .* on [^ ]*:(\d+)", open(log.name).read())
        if match:
            return process, f"127.0.0.1:{match.group(1)}", log
        time.sleep(0.05)
    process.kill()
    sys.exit(f"{binary} did not start:\n{open(log.name).read()}")


def p50_ms(call, calls, warmup):
    for _ in range(warmup):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def cpp_p50_ms(load, address, shape, k, calls, warmup):
    output = subprocess.run(
        [load, f"--address={address}", "--call=topk", f"--shape={','.join(map(str, shape))}",
         f"--k={k}", "--concurrency=1", f"--total={calls}", f"--warmup={warmup}",
         "--format=json"], check=True, capture_output=True, text=True).stdout
    report = json.loads(output)
    if report["status_code_distribution"] != {"OK": calls}:
        sys.exit(f"tensorops-load failed: {report['status_code_distribution']}")
    return next(row["latency_ms"] for row in report["latency_distribution"]
                if row["percentage"] == 50)


def torch_p50_ms(shape, k, calls, warmup):
    """torch.topk's p50 on 2 threads, in a process of its own: torch's
    OpenMP threads spin after each call, which would slow whatever this
    process and the server run next."""
    script = (
        "import sys, statistics, time, numpy as np, torch\n"
        "torch.set_num_threads(2)\n"
        f"x = torch.from_numpy(np.random.default_rng(1).standard_normal({shape!r}, "
        "dtype=np.float32))\n"
        f"for _ in range({warmup}): torch.topk(x, {k})\n"
        "times = []\n"
        f"for _ in range({calls}):\n"
        "    start = time.perf_counter(); torch.topk(x, %d)\n"
        "    times.append(time.perf_counter() - start)\n"
        "print(statistics.median(times) * 1e3)\n" % k)
    return float(subprocess.run([sys.executable, "-c", script], check=True,
                                capture_output=True, text=True).stdout)


def calls_per_second(client, x, threads, calls):
    """Throughput of `threads` threads sharing `client`, `calls` in all."""
    each = calls // threads

    def run():
        for _ in range(each):
            client.topk(x, THROUGHPUT_K)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return each * threads / (time.perf_counter() - start)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--update", help="Markdown file whose marked section to replace")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.abspath(args.build)
    sys.path[:0] = [os.path.join(root, "client/python"), os.path.join(build, "client/python")]
    import grpc

    import tensorops

    server, address, log = start_server(os.path.join(build, "server/tensorops-server"))
    load = os.path.join(build, "bench/load/tensorops-load")
    try:
        native = tensorops.Client(address, timeout=60)
        if native.transport != "native":
            sys.exit("tensorops._native is not built: build with pybind11-dev installed")
        channel = grpc.insecure_channel(address, options=[
            ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])
        over_grpcio = tensorops.Client(channel=channel, timeout=60)
        rng = np.random.default_rng(1)
        inputs = {shape: rng.standard_normal(shape, dtype=np.float32) for shape, _, _ in CASES}
        columns = ("cpp", "native", "grpcio", "torch", "shm")
        figures = {(shape, column): [] for shape, _, _ in CASES for column in columns}
        # Each case's input, values and indices in one shared memory region.
        region_bytes = sum(x.nbytes + 12 * x.shape[0] * k + 256 for (_, k, _), x in
                           zip(CASES, inputs.values()))
        shm = tensorops.SharedMemory(native, region_bytes)
        in_region = {}
        for shape, k, _ in CASES:
            x = shm.empty(shape, np.float32)
            x[...] = inputs[shape]
            out = (shm.empty((shape[0], k), np.float32), shm.empty((shape[0], k), np.int64))
            in_region[shape] = (x, out)
        for _ in range(args.rounds):
            for shape, k, calls in CASES:
                x = inputs[shape]
                warmup = max(2, calls // 20)
                figures[shape, "cpp"].append(cpp_p50_ms(load, address, shape, k, calls, warmup))
                figures[shape, "native"].append(
                    p50_ms(lambda: native.topk(x, k), calls, warmup))
                figures[shape, "grpcio"].append(
                    p50_ms(lambda: over_grpcio.topk(x, k), max(3, calls // 4), warmup))
                figures[shape, "torch"].append(torch_p50_ms(shape, k, calls, warmup))
                x_shm, out = in_region[shape]
                figures[shape, "shm"].append(
                    p50_ms(lambda: native.topk(x_shm, k, out=out), calls, warmup))
        shm.close()
        x = inputs[THROUGHPUT_SHAPE]
        throughput = {}
        for name, client in (("native", native), ("grpcio", over_grpcio)):
            calls = THROUGHPUT_CALLS if name == "native" else THROUGHPUT_CALLS // 4
            for threads in (1, 4):
                throughput[name, threads] = statistics.median(
                    calls_per_second(client, x, threads, calls) for _ in range(args.rounds))
        native.close()
        over_grpcio.close()
        channel.close()
    finally:
        server.terminate()
        server.wait()
        log.close()

    median = {key: statistics.median(values) for key, values in figures.items()}
    lines = [
        BEGIN,
        f"Measured by `bench/python_client_bench.py` on {time.strftime('%Y-%m-%d')}: "
        f"{cpu_name()}, {os.cpu_count()} CPUs; one tensorops-server (default "
        f"flags and --allow_shared_memory), float32 standard normal input, each "
        f"figure the median over {args.rounds} interleaved rounds of that round's "
        f"p50 latency (ms). Shared memory: input in a tensorops.SharedMemory "
        f"region, values and indices written into it.",
        "",
        "| TopK | C++ client (`tensorops-load`) | Python, native | Python / C++ "
        "| Python over grpcio (before) | local `torch.topk`, 2 threads "
        "| Python, shared memory | shared memory / torch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for shape, k, _ in CASES:
        cpp, ours, old, local, shared = (median[shape, column] for column in columns)
        lines.append(f"| [{','.join(map(str, shape))}] k={k} | {cpp:.3f} | {ours:.3f} | "
                     f"**{ours / cpp:.2f}x** | {old:.3f} | {local:.3f} | {shared:.3f} | "
                     f"**{shared / local:.2f}x** |")
    shape_text = ",".join(map(str, THROUGHPUT_SHAPE))
    lines += [
        "",
        f"Throughput of threads sharing one client, TopK [{shape_text}] k={THROUGHPUT_K} "
        "(calls/s, median of rounds):",
        "",
        "| transport | 1 thread | 4 threads | 4 / 1 |",
        "|---|---:|---:|---:|",
    ]
    for name in ("native", "grpcio"):
        one, four = throughput[name, 1], throughput[name, 4]
        lines.append(f"| {name} | {one:.1f} | {four:.1f} | {four / one:.2f}x |")
    lines.append(END)
    section = "\n".join(lines)
    print(section)
    if args.update:
        text = open(args.update).read()
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        with open(args.update, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
