"""Static checks of the deployment files: they parse, render, and agree.

- deploy/k8s renders with `kubectl kustomize` when $KUBECTL is set (the test
  then checks the rendered objects); without kubectl the same checks run on
  the files that kustomization.yaml lists, parsed with PyYAML.
- deploy/envoy/envoy.yaml, deploy/docker-compose.yml and
  deploy/prometheus/*.yml parse, and the names, ports and the affinity
  header agree across the Dockerfile, Compose, Prometheus, nginx, Envoy and
  Kubernetes files.

Needs $TENSOROPS_SOURCE_DIR and python3-yaml; $KUBECTL optional.
"""

import os
import re
import subprocess
import unittest

import yaml

SOURCE = os.environ["TENSOROPS_SOURCE_DIR"]
DEPLOY = os.path.join(SOURCE, "deploy")
AFFINITY_HEADER = "x-tensorops-affinity"
SERVER_SHUTDOWN_TIMEOUT_S = 10  # the server's --shutdown_timeout default


def read(*parts):
    with open(os.path.join(*parts)) as f:
        return f.read()


def load_kustomization(directory):
    """The objects of a kustomization without kustomize: its resources,
    recursively (no generators, patches or namespace)."""
    kustomization = yaml.safe_load(read(directory, "kustomization.yaml"))
    objects = []
    for resource in kustomization.get("resources", []):
        path = os.path.normpath(os.path.join(directory, resource))
        if os.path.isdir(path):
            objects += load_kustomization(path)
        else:
            objects += [doc for doc in yaml.safe_load_all(read(path)) if doc]
    return objects


def render_k8s():
    kubectl = os.environ.get("KUBECTL")
    if kubectl:
        rendered = subprocess.run([kubectl, "kustomize", os.path.join(DEPLOY, "k8s")],
                                  check=True, capture_output=True, text=True, timeout=60).stdout
        return [doc for doc in yaml.safe_load_all(rendered) if doc], True
    return load_kustomization(os.path.join(DEPLOY, "k8s")), False


def duration_s(flag_value):
    match = re.fullmatch(r"(\d+)s", flag_value)
    assert match, flag_value
    return int(match.group(1))


class KubernetesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objects, cls.rendered = render_k8s()
        print("deploy/k8s " + ("rendered by kubectl kustomize" if cls.rendered
                               else "parsed with PyYAML (no kubectl: not rendered)"))

    def one(self, kind, name):
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        self.assertEqual(len(found), 1, f"{kind}/{name}")
        return found[0]

    def test_kinds(self):
        kinds = sorted(o["kind"] for o in self.objects if o["kind"] != "ConfigMap")
        self.assertEqual(kinds, ["Deployment", "Deployment", "HorizontalPodAutoscaler",
                                 "Namespace", "PodDisruptionBudget", "Service", "Service",
                                 "Service"])
        if self.rendered:
            for o in self.objects:
                if o["kind"] != "Namespace":
                    self.assertEqual(o["metadata"].get("namespace"), "tensorops", o["kind"])

    def test_server_deployment(self):
        deployment = self.one("Deployment", "tensorops")
        pod = deployment["spec"]["template"]
        self.assertEqual(deployment["spec"]["selector"]["matchLabels"].items()
                         - pod["metadata"]["labels"].items(), set())
        (container,) = pod["spec"]["containers"]
        args = dict(arg.split("=", 1) for arg in container["args"])
        self.assertEqual(args["--address"], "0.0.0.0:50051")
        self.assertEqual(args["--metrics_address"], "0.0.0.0:9464")
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        self.assertEqual(ports, {"grpc": 50051, "metrics": 9464})
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            self.assertEqual(container[probe]["grpc"]["port"], 50051, probe)
        for kind in ("requests", "limits"):
            self.assertEqual(set(container["resources"][kind]), {"cpu", "memory"})
        # The drain (after the preStop delay) ends before the kubelet kills.
        pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
        self.assertEqual(pre_stop[0], "sleep")
        drain = duration_s(args.get("--shutdown_timeout", f"{SERVER_SHUTDOWN_TIMEOUT_S}s"))
        self.assertGreater(pod["spec"]["terminationGracePeriodSeconds"],
                           drain + int(pre_stop[1]))
        self.assertTrue(pod["spec"]["securityContext"]["runAsNonRoot"])

    def test_services_hpa_pdb_select_the_server(self):
        pod_labels = self.one("Deployment", "tensorops")["spec"]["template"]["metadata"]["labels"]
        for name in ("tensorops", "tensorops-headless"):
            selector = self.one("Service", name)["spec"]["selector"]
            self.assertLessEqual(selector.items(), pod_labels.items(), name)
        self.assertEqual(self.one("Service", "tensorops-headless")["spec"]["clusterIP"], "None")
        pdb = self.one("PodDisruptionBudget", "tensorops")
        self.assertLessEqual(pdb["spec"]["selector"]["matchLabels"].items(), pod_labels.items())
        hpa = self.one("HorizontalPodAutoscaler", "tensorops")
        self.assertEqual(hpa["spec"]["scaleTargetRef"],
                         {"apiVersion": "apps/v1", "kind": "Deployment", "name": "tensorops"})
        self.assertLessEqual(hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])

    def test_envoy_targets_the_headless_service(self):
        envoy = yaml.safe_load(read(DEPLOY, "envoy", "envoy.yaml"))
        (cluster,) = envoy["static_resources"]["clusters"]
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"][
            "address"]["socket_address"]
        self.assertEqual(address, {"address": "tensorops-headless.tensorops.svc.cluster.local",
                                   "port_value": 50051})
        self.one("Service", "tensorops-headless")
        envoy_pod = self.one("Deployment", "tensorops-envoy")["spec"]["template"]["spec"]
        (volume,) = envoy_pod["volumes"]
        config_maps = [o["metadata"]["name"] for o in self.objects if o["kind"] == "ConfigMap"]
        if self.rendered:
            # kustomize generated the ConfigMap and rewrote the reference.
            self.assertEqual(config_maps, [volume["configMap"]["name"]])
            (config_map,) = [o for o in self.objects if o["kind"] == "ConfigMap"]
            self.assertEqual(yaml.safe_load(config_map["data"]["envoy.yaml"]), envoy)


class EnvoyTest(unittest.TestCase):
    def test_ring_hash_on_the_affinity_header(self):
        envoy = yaml.safe_load(read(DEPLOY, "envoy", "envoy.yaml"))
        (listener,) = envoy["static_resources"]["listeners"]
        (chain,) = listener["filter_chains"]
        (manager,) = chain["filters"]
        routes = manager["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
        (route,) = routes
        (cluster,) = envoy["static_resources"]["clusters"]
        self.assertEqual(route["route"]["cluster"], cluster["name"])
        self.assertEqual(route["route"]["hash_policy"],
                         [{"header": {"header_name": AFFINITY_HEADER}}])
        self.assertEqual(cluster["lb_policy"], "RING_HASH")
        self.assertIn("grpc_health_check", cluster["health_checks"][0])
        options = cluster["typed_extension_protocol_options"][
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        self.assertIn("http2_protocol_options", options["explicit_http_config"])


class NginxTest(unittest.TestCase):
    def test_consistent_hash_on_the_affinity_header(self):
        conf = read(DEPLOY, "nginx", "tensorops-grpc.conf")
        variable = "$http_" + AFFINITY_HEADER.replace("-", "_")
        self.assertIn(f"map {variable} $tensorops_affinity", conf)
        self.assertIn("hash $tensorops_affinity consistent;", conf)
        self.assertIn("grpc_pass grpc://tensorops;", conf)


class ComposePrometheusDockerfileTest(unittest.TestCase):
    def test_they_agree(self):
        compose = yaml.safe_load(read(DEPLOY, "docker-compose.yml"))
        server = compose["services"]["tensorops"]
        self.assertEqual(server["build"]["context"], "..")
        self.assertIn("--metrics_address=0.0.0.0:9464", server["command"])
        self.assertIn("./prometheus:/etc/prometheus:ro", compose["services"]["prometheus"]["volumes"])
        prometheus = yaml.safe_load(read(DEPLOY, "prometheus", "prometheus.yml"))
        (job,) = prometheus["scrape_configs"]
        self.assertEqual(job["static_configs"][0]["targets"], ["tensorops:9464"])
        self.assertEqual(job["job_name"], "tensorops")  # the alerts select job="tensorops"
        self.assertIn('job="tensorops"', read(DEPLOY, "prometheus", "alerts.yml"))
        # The cap the alert assumes is the one Compose runs with.
        self.assertIn("--session_cache_bytes=1073741824", server["command"])
        self.assertIn("0.9 * 1073741824", read(DEPLOY, "prometheus", "alerts.yml"))

        dockerfile = read(SOURCE, "Dockerfile")
        self.assertRegex(dockerfile, r"(?m)^EXPOSE 50051 9464$")
        self.assertRegex(dockerfile, r"(?m)^USER (?!0|root)\S+$")
        self.assertRegex(dockerfile, r'(?m)^  CMD \["tensorops", .*"health"\]$')
        for option in ("TESTS", "BENCH"):
            self.assertIn(f"-DTENSOROPS_BUILD_{option}=OFF", dockerfile)
        self.assertIn("-DTENSOROPS_WITH_TORCH=OFF", dockerfile)
        self.assertEqual(dockerfile.count("\nFROM "), 2)


if __name__ == "__main__":
    unittest.main()
