"""tensorops-load against a real tensorops-server (and the bench echo server).

Checks the JSON report: counts match --total, every response of every RPC
kind is correct (--check compares with the local CPU result), statistics are
consistent (percentiles ordered, histogram sums to the count), errors land in
the status and error distributions, and --duration and --rps bound the run.
"""

import json
import os
import re
import subprocess
import sys
import time
import unittest

from server_process import ServerTestCase

LOAD = os.environ["TENSOROPS_LOAD"]
ECHO = os.environ["TENSOROPS_ECHO"]


def run_load(address, *flags, expect_rc=0):
    done = subprocess.run([LOAD, f"--address={address}", "--format=json",
                           *flags], capture_output=True, text=True, timeout=60)
    if done.returncode != expect_rc:
        raise AssertionError(f"rc {done.returncode}:\n{done.stdout}\n"
                             f"{done.stderr}")
    return json.loads(done.stdout)


class EchoServer:
    def __init__(self):
        self.process = subprocess.Popen([ECHO, "--address=127.0.0.1:0"],
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        line = self.process.stderr.readline()
        match = re.search(r"serving echo on (\S+:\d+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"echo server did not start: {line!r}")
        self.address = match.group(1)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class LoadToolTest(ServerTestCase):
    def assert_consistent(self, report, count):
        self.assertEqual(report["count"], count)
        self.assertGreater(report["rps"], 0)
        latencies = [p["latency_ms"] for p in report["latency_distribution"]]
        self.assertEqual([p["percentage"] for p in report["latency_distribution"]],
                         [10, 25, 50, 75, 90, 95, 99, 99.9])
        self.assertEqual(latencies, sorted(latencies))
        self.assertLessEqual(report["fastest_ms"], latencies[0])
        self.assertGreaterEqual(report["slowest_ms"], latencies[-1])
        self.assertLessEqual(report["fastest_ms"], report["average_ms"])
        self.assertLessEqual(report["average_ms"], report["slowest_ms"])
        self.assertEqual(sum(b["count"] for b in report["histogram"]), count)
        self.assertEqual(len(report["histogram"]), 10)

    def test_every_call_kind_checked(self):
        for call, flags in [("zeros_like", ["--shape=3,4", "--dtype=int32"]),
                            ("ones_like", ["--shape=5", "--dtype=float16"]),
                            ("topk", ["--shape=4,100", "--k=7"]),
                            ("topk", ["--shape=2,50", "--k=3", "--dtype=bfloat16"]),
                            ("backward", ["--shape=4,100", "--k=7"]),
                            ("chain", ["--shape=8,1000", "--k=5"]),
                            ("health", [])]:
            with self.subTest(call=call, flags=flags):
                report = run_load(self.server.address, f"--call={call}",
                                  "--total=60", "--concurrency=3",
                                  "--connections=2", "--check", *flags)
                self.assertEqual(report["call"], call)
                self.assertEqual(report["status_code_distribution"], {"OK": 60})
                self.assertEqual(report["error_distribution"], {})
                self.assert_consistent(report, 60)

    def test_server_errors_are_counted_with_their_messages(self):
        # k > size: every call fails with INVALID_ARGUMENT, exit status 1.
        report = run_load(self.server.address, "--call=topk", "--shape=2,3",
                          "--k=9", "--total=20", expect_rc=1)
        self.assertEqual(report["status_code_distribution"],
                         {"INVALID_ARGUMENT": 20})
        [(message, count)] = report["error_distribution"].items()
        self.assertEqual(count, 20)
        self.assertIn("k = 9", message)

    def test_unreachable_server_is_reported_not_hung(self):
        report = run_load("127.0.0.1:1", "--call=health", "--total=5",
                          "--timeout=2s", expect_rc=1)
        self.assertEqual(report["status_code_distribution"], {"UNAVAILABLE": 5})

    def test_duration_bounds_the_run(self):
        started = time.monotonic()
        report = run_load(self.server.address, "--call=zeros_like",
                          "--duration=0.5s", "--concurrency=2")
        self.assertLess(time.monotonic() - started, 5)
        self.assertGreater(report["count"], 0)
        self.assertLess(report["total_s"], 1.5)

    def test_rps_limits_the_rate(self):
        report = run_load(self.server.address, "--call=health", "--rps=40",
                          "--duration=1s", "--concurrency=4")
        # Scheduled starts at 0, 1/40 s, ... before the 1 s mark.
        self.assertLessEqual(report["count"], 40)
        self.assertGreaterEqual(report["count"], 30)

    def test_echo_of_topk_bytes(self):
        echo = EchoServer()
        try:
            report = run_load(echo.address, "--call=echo", "--shape=16,1000",
                              "--k=5", "--total=30")
        finally:
            echo.stop()
        self.assertEqual(report["status_code_distribution"], {"OK": 30})
        self.assertGreater(report["request_bytes"], 16 * 1000 * 4)

    def test_warmup_is_not_recorded(self):
        report = run_load(self.server.address, "--call=topk", "--warmup=25",
                          "--total=10", "--check")
        self.assert_consistent(report, 10)

    def test_bad_flags_exit_2(self):
        done = subprocess.run([LOAD, "--call=nope"], capture_output=True,
                              text=True, timeout=10)
        self.assertEqual(done.returncode, 2)
        self.assertIn("unknown 'nope'", done.stderr)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
