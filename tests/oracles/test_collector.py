"""The real OpenTelemetry collector validates and runs the platform's generated collector config.

A distribution built from exactly the components the config uses (tests/oracles/build.py):

- ``otelcol validate`` accepts every shipped stack's collector config;
- every component type the configs use is in the distribution (``otelcol components``), so the
  build list cannot fall behind the generator;
- the config runs for real, with each exporter rewritten to a file exporter, listeners, the
  gateway token file and the queue directory moved to temporary loopback ports and paths, and
  ``k8s_attributes`` reading pods from the oracle API server: spans, logs and metrics from two
  tenants' pods (claiming the other tenant), from the gateway (stamping each record's tenant),
  from an address no pod has, and without the gateway token, each land only where they may.

Routes, tenants, receivers, extensions and exporters are all read from the plan's config.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.oracles.harness import built
from tests.oracles.kube import ApiError, Client, free_port
from tests.support.plans import STACKS, example_plan, kubernetes_objects

pytestmark = pytest.mark.oracle

ORACLE = "otelcol"
SIGNALS = ("traces", "logs", "metrics")


def collector_configs(stack: str) -> list[dict[str, Any]]:
    configs = [
        o["spec"]["config"] for o in kubernetes_objects(example_plan(stack)) if o["kind"] == "OpenTelemetryCollector"
    ]
    assert configs, f"{stack}: the plan has no OpenTelemetryCollector"
    return configs


@pytest.fixture(scope="module")
def otelcol() -> Path:
    return built(ORACLE).binary("otelcol")


def _write(config: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=True), encoding="utf-8")
    return path


def test_distribution_has_every_component_the_configs_use(otelcol: Path, oracle_record) -> None:
    listed = yaml.safe_load(
        subprocess.run([str(otelcol), "components"], capture_output=True, text=True, check=True).stdout
    )
    available = {
        kind: {c["name"] for c in listed.get(kind) or []}
        for kind in ("receivers", "processors", "connectors", "exporters", "extensions")
    }
    missing = []
    for stack in STACKS:
        for config in collector_configs(stack):
            for kind, names in available.items():
                for component in config.get(kind) or {}:
                    ok = component.split("/", 1)[0] in names
                    oracle_record(ORACLE, "components of the config are in the distribution", ok)
                    if not ok:
                        missing.append(f"{stack}: {kind} {component}")
    assert not missing, (
        "the collector distribution lacks: "
        + ", ".join(missing)
        + " (add it to COLLECTOR_COMPONENTS in tests/oracles/build.py)"
    )


def collectors(stack: str) -> list[dict[str, Any]]:
    found = [o for o in kubernetes_objects(example_plan(stack)) if o["kind"] == "OpenTelemetryCollector"]
    assert found, f"{stack}: the plan has no OpenTelemetryCollector"
    return found


def localized(collector: dict[str, Any], directory: Path) -> dict[str, Any]:
    """The config with each directory an extension needs (file_storage) moved under ``directory``,
    after checking the collector's pod mounts a volume there (otherwise the queue would sit on the
    container's read-only root filesystem)."""
    config = copy.deepcopy(collector["spec"]["config"])
    mounts = [m["mountPath"] for m in collector["spec"].get("volumeMounts", [])]
    for name, extension in (config.get("extensions") or {}).items():
        if not isinstance(extension, dict) or "directory" not in extension:
            continue
        path = extension["directory"]
        assert any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts), (
            f"extension {name}: directory {path} is on no volume the collector mounts ({mounts})"
        )
        local = directory / name.replace("/", "-")
        local.mkdir(parents=True, exist_ok=True)
        extension["directory"] = str(local)
        if isinstance(extension.get("compaction"), dict) and "directory" in extension["compaction"]:
            extension["compaction"]["directory"] = str(local)
    return config


@pytest.mark.parametrize("stack", STACKS)
def test_collector_validates_the_generated_config(otelcol: Path, oracle_record, tmp_path: Path, stack: str) -> None:
    for index, collector in enumerate(collectors(stack)):
        config = localized(collector, tmp_path / f"dirs-{index}")
        path = _write(config, tmp_path / f"config-{index}.yaml")
        proc = subprocess.run(
            [str(otelcol), "validate", f"--config=file:{path}"], capture_output=True, text=True, timeout=120
        )
        oracle_record(ORACLE, "otelcol validate of each stack's config", proc.returncode == 0)
        assert proc.returncode == 0, f"{stack}: otelcol validate refused the config:\n{proc.stderr[-3000:]}"


# --------------------------------------------------------------------------------------------
# Routing for real
# --------------------------------------------------------------------------------------------
#
# The collector learns a sender's tenant from the Kubernetes API (k8s_attributes, by the
# connection's source address): the check registers pods in the oracle API server whose
# status.podIP is a loopback address, and sends from that address. Two tenants' workload pods
# (127.0.0.2, 127.0.0.3), the platform gateway's pod (127.0.0.4, in the Gateway's namespace) and an
# address no pod has (127.0.0.9).

_TENANT_EQUALS = re.compile(r'attributes\["([^"]+)"\]\s*==\s*"([^"]+)"')
WORKLOAD_IPS = ("127.0.0.2", "127.0.0.3")
GATEWAY_IP = "127.0.0.4"
STRANGER_IP = "127.0.0.9"
GATEWAY_TOKEN = "oracle-gateway-token"


def tenant_routes(config: dict[str, Any]) -> tuple[str, dict[str, dict[str, set[str]]]]:
    """(tenant attribute, signal -> tenant -> exporters its route leads to), from the routing connectors."""
    pipelines = config["service"]["pipelines"]
    routes: dict[str, dict[str, set[str]]] = {}
    attributes = set()
    for name, connector in (config.get("connectors") or {}).items():
        if name.split("/", 1)[0] != "routing":
            continue
        signal = next(p.split("/", 1)[0] for p, spec in pipelines.items() if name in spec.get("exporters", []))
        for route in connector["table"]:
            found = _TENANT_EQUALS.findall(route["condition"])
            assert len(found) == 1 and route.get("context") == "resource", f"{name}: unrecognised route {route}"
            attribute, tenant = found[0]
            attributes.add(attribute)
            exporters = routes.setdefault(signal, {}).setdefault(tenant, set())
            for pipeline in route["pipelines"]:
                exporters.update(e for e in pipelines[pipeline]["exporters"] if e in config["exporters"])
    assert routes and len(attributes) == 1, (
        f"the collector config routes nothing by one tenant attribute ({attributes})"
    )
    return attributes.pop(), routes


def runnable(config: dict[str, Any], out: Path) -> tuple[dict[str, Any], dict[str, Path], dict[str, tuple[int, bool]]]:
    """The config with every exporter a file exporter, listeners on free loopback ports, files in ``out``.

    Returns (config, exporter -> file, receiver -> (OTLP/HTTP port, needs the gateway token))."""
    config = copy.deepcopy(config)
    files: dict[str, Path] = {}
    renamed: dict[str, str] = {}
    exporters = {}
    for index, name in enumerate(sorted(config["exporters"])):
        renamed[name] = f"file/oracle-{index}"
        files[name] = out / f"exporter-{index}.jsonl"
        exporters[renamed[name]] = {"path": str(files[name]), "format": "json", "flush_interval": "100ms"}
    config["exporters"] = exporters
    for pipeline in config["service"]["pipelines"].values():
        pipeline["exporters"] = [renamed.get(e, e) for e in pipeline.get("exporters", [])]
    token_file = out / "gateway-token"
    token_file.write_text(GATEWAY_TOKEN, encoding="utf-8")
    for name, extension in (config.get("extensions") or {}).items():
        extension = extension or {}
        config["extensions"][name] = extension
        if "endpoint" in extension:
            extension["endpoint"] = f"127.0.0.1:{free_port()}"
        if "filename" in extension:  # bearertokenauth: the token the gateway presents
            extension["filename"] = str(token_file)
    ports: dict[str, tuple[int, bool]] = {}
    for name, receiver in config["receivers"].items():
        if name.split("/", 1)[0] != "otlp":
            continue
        protocols = receiver["protocols"]
        assert "http" in protocols, f"receiver {name} has no OTLP/HTTP protocol"
        for protocol, settings in protocols.items():
            port = free_port()
            protocols[protocol] = {**(settings or {}), "endpoint": f"127.0.0.1:{port}"}
            if protocol == "http":
                ports[name] = (port, bool((settings or {}).get("auth")))
    assert ports, "the collector config has no OTLP receiver"
    for name, processor in (config.get("processors") or {}).items():
        if name.split("/", 1)[0] == "k8s_attributes":
            processor["auth_type"] = "kubeConfig"  # in the cluster its ServiceAccount; here the oracle API server
    config["service"]["telemetry"] = {"metrics": {"level": "none"}}
    return config, files, ports


def _post(source_ip: str, port: int, signal: str, body: dict[str, Any], token: str | None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20, source_address=(source_ip, 0))
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", f"/v1/{signal}", json.dumps(body), headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _attrs(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"key": k, "value": {"stringValue": v}} for k, v in values.items()]


def otlp_body(signal: str, marker: str, resource: dict[str, str], record: dict[str, str], seq: int) -> dict[str, Any]:
    now = time.time_ns()
    res = {"attributes": _attrs({"service.name": "oracle", **resource})}
    if signal == "traces":
        span = {
            "traceId": f"{seq:032x}",
            "spanId": f"{seq:016x}",
            "name": marker,
            "kind": 1,
            "startTimeUnixNano": str(now),
            "endTimeUnixNano": str(now + 1000),
            "attributes": _attrs(record),
        }
        return {"resourceSpans": [{"resource": res, "scopeSpans": [{"scope": {"name": "oracle"}, "spans": [span]}]}]}
    if signal == "logs":
        log = {"timeUnixNano": str(now), "body": {"stringValue": marker}, "attributes": _attrs(record)}
        return {"resourceLogs": [{"resource": res, "scopeLogs": [{"scope": {"name": "oracle"}, "logRecords": [log]}]}]}
    point = {"asInt": "1", "timeUnixNano": str(now), "attributes": _attrs(record)}
    metric = {"name": marker, "gauge": {"dataPoints": [point]}}
    return {
        "resourceMetrics": [{"resource": res, "scopeMetrics": [{"scope": {"name": "oracle"}, "metrics": [metric]}]}]
    }


def markers_in(path: Path) -> set[str]:
    return set(re.findall(r"oracle-m[0-9]+-[a-z]+", path.read_text(encoding="utf-8"))) if path.exists() else set()


def _register_pod(client: Client, namespace: str, name: str, ip: str, labels: dict[str, str]) -> dict[str, Any]:
    """A pod the API server admits in a restricted namespace, with ``ip`` as its address."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/app:1",
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }
    deadline = time.monotonic() + 60
    while True:  # the namespace's default ServiceAccount may still be on its way
        try:
            client.apply(pod, manager="oracle")
            break
        except ApiError as error:
            if time.monotonic() > deadline or "service account" not in error.message:
                raise
            time.sleep(0.5)
    client.request(
        "PATCH",
        client.path_for(pod) + "/status",
        {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}},
        "application/merge-patch+json",
    )
    return pod


def _unregister_pods(client: Client, pods: list[dict[str, Any]]) -> None:
    """Remove the check's pods: the next stack reuses their addresses."""
    for pod in pods:
        client.request(
            "DELETE", client.path_for(pod), {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
        )
    for pod in pods:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.get(pod)
            except ApiError as error:
                if error.status == 404:
                    break
                raise
            assert time.monotonic() < deadline, f"pod {pod['metadata']['name']} not deleted"
            time.sleep(0.2)


@pytest.mark.parametrize("stack", STACKS)
def test_collector_routes_each_tenant_only_to_its_own_pipeline(
    otelcol: Path, kube_cluster: Client, oracle_record, tmp_path: Path, stack: str
) -> None:
    plan = example_plan(stack)
    objects = kubernetes_objects(plan)
    for namespace in (o for o in objects if o["kind"] == "Namespace"):
        kube_cluster.apply(namespace, manager="oracle")
    gateway_namespaces = sorted({o["metadata"]["namespace"] for o in objects if o["kind"] == "Gateway"})
    assert len(gateway_namespaces) == 1, f"{stack}: Gateways in {gateway_namespaces}"
    for index, collector in enumerate(collectors(stack)):
        source = localized(collector, tmp_path / f"dirs-{index}")
        attribute, routes = tenant_routes(source)
        teams = {t: info for t, info in plan["teams"].items() if info["agents"]}
        tenants = sorted(t for t in routes["traces"] if t in teams)[:2]
        assert len(tenants) == 2, f"{stack}: the check needs two routed tenants with agents, has {tenants}"
        senders = {}
        pods = []
        for tenant, ip in zip(tenants, WORKLOAD_IPS, strict=True):
            agent = sorted(teams[tenant]["agents"])[0]
            name = f"oracle-{stack}-{index}-{agent}"
            pods.append(
                _register_pod(kube_cluster, teams[tenant]["namespace"], name, ip, {"agentplane.io/agent": agent})
            )
            senders[tenant] = ip
        pods.append(
            _register_pod(
                kube_cluster, gateway_namespaces[0], f"oracle-{stack}-{index}-gateway", GATEWAY_IP, {"app": "gateway"}
            )
        )

        out = tmp_path / f"collector-{index}"
        out.mkdir()
        config, files, ports = runnable(source, out)
        path = _write(config, out / "config.yaml")
        log = out / "collector.log"
        env = {**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)}
        process = subprocess.Popen(
            [str(otelcol), f"--config=file:{path}"], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env
        )
        expected: dict[str, str | None] = {}  # marker -> the one tenant it may reach (None: none)
        failures: list[str] = []
        try:
            _wait_listening([p for p, _ in ports.values()], process, log)
            seq = 0

            # Called only within this iteration; the defaults bind this collector's ports and records.
            def send(
                source_ip: str,
                receiver: str,
                signal: str,
                resource: dict,
                record: dict,
                may_reach: str | None,
                ports: dict[str, tuple[int, bool]] = ports,
                failures: list[str] = failures,
                expected: dict[str, str | None] = expected,
            ) -> None:
                nonlocal seq
                seq += 1
                marker = f"oracle-m{seq}-{signal}"
                port, needs_token = ports[receiver]
                status = _post(
                    source_ip,
                    port,
                    signal,
                    otlp_body(signal, marker, resource, record, seq),
                    GATEWAY_TOKEN if needs_token else None,
                )
                ok = status == 200
                oracle_record(ORACLE, "OTLP accepted from permitted senders", ok)
                if not ok:
                    failures.append(f"{receiver} refused {signal} from {source_ip}: HTTP {status}")
                expected[marker] = may_reach

            for receiver, (port, needs_token) in sorted(ports.items()):
                for signal in SIGNALS:
                    if needs_token:
                        # The gateway stamps each record with the tenant it served; a resource-level claim is dropped.
                        for tenant in tenants:
                            other = next(t for t in tenants if t != tenant)
                            send(GATEWAY_IP, receiver, signal, {attribute: other}, {attribute: tenant}, tenant)
                        # Without the token, nobody reaches the gateway port.
                        status = _post(
                            senders[tenants[0]],
                            port,
                            signal,
                            otlp_body(signal, "oracle-m0-untokened", {}, {attribute: tenants[1]}, 0),
                            None,
                        )
                        ok = status in (401, 403)
                        oracle_record(ORACLE, "gateway port refuses senders without the token", ok)
                        if not ok:
                            failures.append(f"{receiver} accepted {signal} without the gateway token: HTTP {status}")
                    else:
                        # A workload is its pod's tenant, whatever it claims.
                        for tenant in tenants:
                            other = next(t for t in tenants if t != tenant)
                            send(
                                senders[tenant],
                                receiver,
                                signal,
                                {attribute: other, "k8s.pod.uid": "forged"},
                                {attribute: other},
                                tenant,
                            )
                        # A sender no pod has reaches no tenant, whatever it claims.
                        send(
                            STRANGER_IP,
                            receiver,
                            signal,
                            {attribute: tenants[0], "k8s.pod.uid": "forged"},
                            {attribute: tenants[0]},
                            None,
                        )
            _wait_delivered(files, set(expected), process, log)
        finally:
            process.terminate()
            process.wait(timeout=30)
            _unregister_pods(kube_cluster, pods)

        tenant_of_exporter = {
            e: (signal, tenant) for signal, by_tenant in routes.items() for tenant, es in by_tenant.items() for e in es
        }
        reached: dict[str, set[str]] = {marker: set() for marker in expected}
        for exporter, file in files.items():
            for marker in markers_in(file):
                if marker in reached and exporter in tenant_of_exporter:
                    reached[marker].add(tenant_of_exporter[exporter][1])
        for marker, may_reach in sorted(expected.items()):
            want = {may_reach} if may_reach else set()
            ok = reached[marker] == want
            oracle_record(ORACLE, "OTLP records land only in their own tenant's pipeline", ok)
            if not ok:
                failures.append(f"{marker}: reached tenants {sorted(reached[marker])}, expected {sorted(want)}")
        assert not failures, f"{stack}: routing failures:\n" + "\n".join(failures) + f"\n(collector log {log})"


def _wait_listening(ports: list[int], process: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    pending = set(ports)
    while pending and time.monotonic() < deadline:
        assert process.poll() is None, f"collector exited {process.returncode}:\n{log.read_text()[-3000:]}"
        for port in list(pending):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    pending.discard(port)
        time.sleep(0.2)
    assert not pending, f"collector not listening on {sorted(pending)} after {timeout} s:\n{log.read_text()[-3000:]}"


def _wait_delivered(
    files: dict[str, Path], markers: set[str], process: subprocess.Popen, log: Path, timeout: float = 30.0
) -> None:
    """Every record sent shows up in some exporter's file (the default pipelines catch the rest)."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        assert process.poll() is None, f"collector exited {process.returncode}:\n{log.read_text()[-3000:]}"
        seen = set().union(*(markers_in(f) for f in files.values()))
        if markers <= seen:
            return
        time.sleep(0.3)
    raise AssertionError(f"records never exported: {sorted(markers - seen)}\n{log.read_text()[-3000:]}")
