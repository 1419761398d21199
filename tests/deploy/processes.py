"""Processes the deploy tests start (nginx, Prometheus) and small helpers.

Every process is started with a deadline and stopped by stop(): the tests
leave nothing running, pass or fail.
"""

import os
import socket
import subprocess
import time
import urllib.request


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, log_path, timeout=15.0):
    """Waits until 127.0.0.1:port accepts connections, or fails with the log."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            with open(log_path, errors="replace") as log:
                text = log.read()
            raise RuntimeError(f"{process.args[0]} is not listening on {port}:\n{text}")
        time.sleep(0.05)


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


class Process:
    """A child process with its output in a log file."""

    def __init__(self, args, log_path):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self, timeout=10.0):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def log(self):
        with open(self.log_path, errors="replace") as log:
            return log.read()


def nginx_config(snippet, listen_port, replica_ports, work_dir):
    """A whole nginx.conf around deploy/nginx's http{} snippet.

    The snippet's replica block and listen port are replaced by the test's;
    everything else (the affinity map, the consistent hash, the grpc
    settings) is used as shipped.
    """
    begin = "    # replicas: one line each (tests/deploy rewrites this block).\n"
    end = "    # end of replicas\n"
    head, rest = snippet.split(begin)
    _, tail = rest.split(end)
    replicas = "".join(
        f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in replica_ports)
    http = head + replicas + tail
    if "    listen 50051 http2;\n" not in http:
        raise ValueError("the nginx snippet's `listen 50051 http2;` line moved")
    http = http.replace("    listen 50051 http2;\n", f"    listen 127.0.0.1:{listen_port} http2;\n")
    # Running as root, nginx's workers would switch to `nobody`, which cannot
    # enter the test's private temp dir.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}daemon off;\nmaster_process on;\nworker_processes 1;\n"
        f"pid {work_dir}/nginx.pid;\nerror_log {work_dir}/error.log info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log {work_dir}/access.log;\n"
        f"  client_body_temp_path {work_dir}/client_body;\n"
        f"  proxy_temp_path {work_dir}/proxy;\n"
        f"  fastcgi_temp_path {work_dir}/fastcgi;\n"
        f"  uwsgi_temp_path {work_dir}/uwsgi;\n"
        f"  scgi_temp_path {work_dir}/scgi;\n"
        f"{http}\n}}\n")
