"""A real Prometheus (Debian's) on loopback scrapes a real tensorops-server.

Prometheus loads deploy/prometheus/alerts.yml, scrapes the server every
second, and the test waits (bounded) for up == 1, then makes TopK calls with
the tensorops CLI and waits until Prometheus sees the request counter reach
the number of calls made.

Needs $TENSOROPS_SERVER, $TENSOROPS_CLI, $PROMETHEUS, $TENSOROPS_SOURCE_DIR.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from processes import Process, free_port, http_get, wait_for_port

_SERVING_ON = re.compile(r"serving .* on [^ ]*:(\d+), metrics on http://[^ ]*:(\d+)/metrics")
TOPK_CALLS = 3
# Metric names in a PromQL expression (ours and the standard process ones).
_METRIC_NAME = re.compile(r"\b((?:tensorops|process)_[a-z_]+)\b")


class PrometheusScrapeTest(unittest.TestCase):
    def setUp(self):
        self.work_dir = tempfile.mkdtemp(prefix="tensorops-prometheus-")
        self.addCleanup(shutil.rmtree, self.work_dir, ignore_errors=True)
        self.server = Process(
            [os.environ["TENSOROPS_SERVER"], "--address=127.0.0.1:0",
             "--metrics_address=127.0.0.1:0", "--threads=1", "--shutdown_timeout=1s"],
            os.path.join(self.work_dir, "server.log"))
        self.addCleanup(self.server.stop)
        deadline = time.monotonic() + 15
        while not (match := _SERVING_ON.search(self.server.log())):
            if self.server.process.poll() is not None or time.monotonic() > deadline:
                self.fail(f"tensorops-server did not start:\n{self.server.log()}")
            time.sleep(0.02)
        self.grpc_address = f"127.0.0.1:{match.group(1)}"
        metrics_target = f"127.0.0.1:{match.group(2)}"

        alerts = os.path.join(os.environ["TENSOROPS_SOURCE_DIR"], "deploy", "prometheus",
                              "alerts.yml")
        config = os.path.join(self.work_dir, "prometheus.yml")
        with open(config, "w") as out:
            out.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [{json.dumps(alerts)}]
scrape_configs:
  - job_name: tensorops
    static_configs:
      - targets: [{json.dumps(metrics_target)}]
""")
        self.prometheus_port = free_port()
        self.prometheus = Process(
            [os.environ["PROMETHEUS"], f"--config.file={config}",
             f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
             f"--storage.tsdb.path={self.work_dir}/data"],
            os.path.join(self.work_dir, "prometheus.log"))
        self.addCleanup(self.prometheus.stop)
        wait_for_port(self.prometheus_port, self.prometheus.process, self.prometheus.log_path)
        # The port opens before the TSDB is loaded (503 until then).
        deadline = time.monotonic() + 15
        while True:
            try:
                http_get(f"http://127.0.0.1:{self.prometheus_port}/-/ready")
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.fail(f"Prometheus not ready:\n{self.prometheus.log()}")
                time.sleep(0.1)

    def query(self, promql):
        url = (f"http://127.0.0.1:{self.prometheus_port}/api/v1/query?"
               + urllib.parse.urlencode({"query": promql}))
        body = json.loads(http_get(url))
        self.assertEqual(body["status"], "success", body)
        return [float(sample["value"][1]) for sample in body["data"]["result"]]

    def wait_for(self, promql, predicate, timeout=15.0):
        deadline = time.monotonic() + timeout
        while True:
            values = self.query(promql)
            if values and predicate(values[0]):
                return values[0]
            if time.monotonic() > deadline:
                self.fail(f"{promql} is {values} after {timeout} s\n"
                          f"prometheus log:\n{self.prometheus.log()[-3000:]}")
            time.sleep(0.25)

    def test_scrapes_server_and_sees_requests(self):
        started = time.monotonic()
        self.wait_for('up{job="tensorops"}', lambda up: up == 1)
        # Before any call the server has counted no TopK.
        self.assertEqual(self.query('tensorops_requests_total{method="TopK"}'), [])
        for _ in range(TOPK_CALLS):
            subprocess.run([os.environ["TENSOROPS_CLI"], f"--address={self.grpc_address}",
                            "topk", "[[3, 1, 2]]", "--k=2"],
                           check=True, stdout=subprocess.DEVNULL, timeout=10)
        self.wait_for('sum(tensorops_requests_total{job="tensorops",method="TopK",code="OK"})',
                      lambda count: count == TOPK_CALLS)
        self.wait_for('tensorops_request_duration_seconds_count{method="TopK"}',
                      lambda count: count == TOPK_CALLS)

        # The shipped alert rules loaded, and none fires for a healthy server.
        rules = json.loads(http_get(f"http://127.0.0.1:{self.prometheus_port}/api/v1/rules"))
        alert_names = {rule["name"] for group in rules["data"]["groups"]
                       for rule in group["rules"] if rule["type"] == "alerting"}
        self.assertEqual(alert_names, {"TensorOpsInstanceDown", "TensorOpsHighErrorRatio",
                                       "TensorOpsHighLatencyP99", "TensorOpsSessionCacheNearCap"})
        self.assertEqual(self.query("ALERTS"), [])
        print(f"up == 1 and {TOPK_CALLS} TopK calls seen by Prometheus in "
              f"{time.monotonic() - started:.1f} s")

        # The shipped Grafana dashboard: every panel's query is valid PromQL
        # here, and every metric it reads is one the server exports.
        dashboard_path = os.path.join(os.environ["TENSOROPS_SOURCE_DIR"], "deploy",
                                      "grafana", "tensorops-dashboard.json")
        with open(dashboard_path) as f:
            dashboard = json.load(f)
        metrics_read = set()
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                self.query(target["expr"])  # asserts status "success"
                metrics_read |= set(_METRIC_NAME.findall(target["expr"]))
        self.assertIn("process_resident_memory_bytes", metrics_read)
        for name in sorted(metrics_read):
            self.wait_for(f'count({{__name__="{name}",job="tensorops"}})',
                          lambda count: count >= 1)


if __name__ == "__main__":
    unittest.main()
