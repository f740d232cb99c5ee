"""The real OpenTelemetry collector validates and runs the platform's generated collector config.

A distribution built from exactly the components the config uses (tests/oracles/build.py):

- ``otelcol validate`` accepts every shipped stack's collector config;
- every component type the configs use is in the distribution (``otelcol components``), so the
  build list cannot fall behind the generator;
- the config, with each exporter rewritten to a file exporter and listeners moved to free
  loopback ports, runs for real (``k8s_attributes`` against the oracle API server): spans, logs
  and metrics sent for two tenants through every OTLP receiver, plus records carrying a forged
  resource-level tenant attribute, land only in their own tenant's pipeline; forged ones in none.

Routes, tenants, receivers and exporters are all read from the plan's config.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.oracles.conftest import built
from tests.oracles.kube import Client, free_port
from tests.support.plans import STACKS, example_plan, kubernetes_objects

pytestmark = pytest.mark.oracle

ORACLE = "otelcol"
SIGNALS = ("traces", "logs", "metrics")
_CONDITION = re.compile(r'^attributes\["([^"]+)"\]\s*==\s*"([^"]+)"$')


def collector_configs(stack: str) -> list[dict[str, Any]]:
    configs = [o["spec"]["config"] for o in kubernetes_objects(example_plan(stack)) if o["kind"] == "OpenTelemetryCollector"]
    assert configs, f"{stack}: the plan has no OpenTelemetryCollector"
    return configs


@pytest.fixture(scope="module")
def otelcol() -> Path:
    return built(ORACLE).binary("otelcol")


def _write(config: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=True), encoding="utf-8")
    return path


def test_distribution_has_every_component_the_configs_use(otelcol: Path, oracle_record) -> None:
    listed = yaml.safe_load(subprocess.run([str(otelcol), "components"], capture_output=True, text=True, check=True).stdout)
    available = {kind: {c["name"] for c in listed.get(kind) or []} for kind in ("receivers", "processors", "connectors", "exporters", "extensions")}
    missing = []
    for stack in STACKS:
        for config in collector_configs(stack):
            for kind, names in available.items():
                for component in config.get(kind) or {}:
                    ok = component.split("/", 1)[0] in names
                    oracle_record(ORACLE, "components of the config are in the distribution", ok)
                    if not ok:
                        missing.append(f"{stack}: {kind} {component}")
    assert not missing, "the collector distribution lacks: " + ", ".join(missing) + " (add it to COLLECTOR_COMPONENTS in tests/oracles/build.py)"


@pytest.mark.parametrize("stack", STACKS)
def test_collector_validates_the_generated_config(otelcol: Path, oracle_record, tmp_path: Path, stack: str) -> None:
    for index, config in enumerate(collector_configs(stack)):
        path = _write(config, tmp_path / f"config-{index}.yaml")
        proc = subprocess.run([str(otelcol), "validate", f"--config=file:{path}"], capture_output=True, text=True, timeout=120)
        oracle_record(ORACLE, "otelcol validate of each stack's config", proc.returncode == 0)
        assert proc.returncode == 0, f"{stack}: otelcol validate refused the config:\n{proc.stderr[-3000:]}"


# --------------------------------------------------------------------------------------------
# Routing for real
# --------------------------------------------------------------------------------------------

def tenant_routes(config: dict[str, Any]) -> dict[str, dict[str, set[str]]]:
    """signal -> tenant -> exporters of the pipelines its route leads to (from routing connectors)."""
    pipelines = config["service"]["pipelines"]
    routes: dict[str, dict[str, set[str]]] = {}
    for name, connector in (config.get("connectors") or {}).items():
        if name.split("/", 1)[0] != "routing":
            continue
        signal = next(p.split("/", 1)[0] for p, spec in pipelines.items() if name in spec.get("exporters", []))
        for route in connector["table"]:
            match = _CONDITION.match(route["condition"].strip())
            assert match and route.get("context") == "resource", f"routing/{name}: unrecognised route {route}"
            exporters = routes.setdefault(signal, {}).setdefault(match.group(2), set())
            for pipeline in route["pipelines"]:
                exporters.update(pipelines[pipeline]["exporters"])
    assert routes, "the collector config routes nothing by tenant"
    return routes


def tenant_attribute(config: dict[str, Any]) -> str:
    keys = set()
    for name, connector in (config.get("connectors") or {}).items():
        if name.split("/", 1)[0] == "routing":
            keys |= {_CONDITION.match(r["condition"].strip()).group(1) for r in connector["table"]}
    assert len(keys) == 1, f"routing on {keys or 'no attribute'}: expected one tenant attribute"
    return keys.pop()


def runnable(config: dict[str, Any], out: Path, kubeconfig: Path | None) -> tuple[dict[str, Any], dict[str, Path], dict[str, int]]:
    """The config with every exporter a file exporter, listeners on free loopback ports.

    Returns (config, exporter name -> file, receiver name -> OTLP/HTTP port)."""
    config = copy.deepcopy(config)
    files: dict[str, Path] = {}
    renamed: dict[str, str] = {}
    exporters = {}
    for index, name in enumerate(sorted(config["exporters"])):
        new = f"file/oracle-{index}"
        files[name] = out / f"exporter-{index}.jsonl"
        renamed[name] = new
        exporters[new] = {"path": str(files[name]), "format": "json", "flush_interval": "100ms"}
    config["exporters"] = exporters
    for pipeline in config["service"]["pipelines"].values():
        pipeline["exporters"] = [renamed.get(e, e) for e in pipeline.get("exporters", [])]
    http_ports: dict[str, int] = {}
    for name, receiver in config["receivers"].items():
        assert name.split("/", 1)[0] == "otlp", f"receiver {name}: the routing check speaks OTLP only"
        protocols = receiver["protocols"]
        assert "http" in protocols, f"receiver {name} has no OTLP/HTTP protocol"
        for protocol in protocols:
            port = free_port()
            protocols[protocol] = {**(protocols[protocol] or {}), "endpoint": f"127.0.0.1:{port}"}
            if protocol == "http":
                http_ports[name] = port
    for name, extension in (config.get("extensions") or {}).items():
        if "endpoint" in (extension or {}):
            extension["endpoint"] = f"127.0.0.1:{free_port()}"
    for name, processor in (config.get("processors") or {}).items():
        if name.split("/", 1)[0] == "k8s_attributes":
            # In the cluster it reads pods through its ServiceAccount; here through the oracle API server.
            assert kubeconfig is not None
            processor["auth_type"] = "kubeConfig"
    config.setdefault("service", {}).setdefault("telemetry", {})["metrics"] = {"level": "none"}
    return config, files, http_ports


def _post(port: int, signal: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/{signal}", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, f"OTLP/HTTP {signal} on {port}: {response.status}"


def _attrs(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"key": k, "value": {"stringValue": v}} for k, v in values.items()]


def otlp_body(signal: str, marker: str, resource: dict[str, str], record: dict[str, str], seq: int) -> dict[str, Any]:
    now = time.time_ns()
    res = {"attributes": _attrs({"service.name": "oracle", **resource})}
    if signal == "traces":
        span = {"traceId": f"{seq:032x}", "spanId": f"{seq:016x}", "name": marker, "kind": 1,
                "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000), "attributes": _attrs(record)}
        return {"resourceSpans": [{"resource": res, "scopeSpans": [{"scope": {"name": "oracle"}, "spans": [span]}]}]}
    if signal == "logs":
        log = {"timeUnixNano": str(now), "body": {"stringValue": marker}, "attributes": _attrs(record)}
        return {"resourceLogs": [{"resource": res, "scopeLogs": [{"scope": {"name": "oracle"}, "logRecords": [log]}]}]}
    point = {"asInt": "1", "timeUnixNano": str(now), "attributes": _attrs(record)}
    metric = {"name": marker, "gauge": {"dataPoints": [point]}}
    return {"resourceMetrics": [{"resource": res, "scopeMetrics": [{"scope": {"name": "oracle"}, "metrics": [metric]}]}]}


_MARKER = re.compile(r"oracle-[a-z]+-[A-Za-z0-9_./-]+-(?:record|forged|none)-[a-z0-9-]+")


def markers_in(path: Path) -> set[str]:
    return set(_MARKER.findall(path.read_text(encoding="utf-8"))) if path.exists() else set()


@pytest.mark.parametrize("stack", STACKS)
def test_collector_routes_each_tenant_only_to_its_own_pipeline(otelcol: Path, kube_cluster: Client, oracle_record,
                                                               tmp_path: Path, stack: str) -> None:
    for index, source in enumerate(collector_configs(stack)):
        routes = tenant_routes(source)
        attribute = tenant_attribute(source)
        tenants = sorted(routes["traces"])
        assert len(tenants) >= 2, f"{stack}: routes for {tenants}: the check needs two tenants"
        tenant_a, tenant_b = tenants[:2]
        out = tmp_path / f"collector-{index}"
        out.mkdir()
        config, files, http_ports = runnable(source, out, kube_cluster.kubeconfig)
        path = _write(config, out / "config.yaml")
        log = out / "collector.log"
        env = {**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)}
        process = subprocess.Popen([str(otelcol), f"--config=file:{path}"], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
        try:
            _wait_listening(http_ports, process, log)
            sent: dict[str, tuple[str, str | None]] = {}  # marker -> (signal, tenant it may reach)
            seq = 1
            for receiver, port in sorted(http_ports.items()):
                for signal in SIGNALS:
                    for tenant in (tenant_a, tenant_b):
                        rname = receiver.replace("/", ".")
                        # The tenant as a record attribute, as the gateway stamps it: may reach this tenant only.
                        marker = f"oracle-{signal}-{rname}-record-{tenant}"
                        _post(port, signal, otlp_body(signal, marker, {}, {attribute: tenant}, seq))
                        sent[marker] = (signal, tenant)
                        seq += 1
                        # A forged resource attribute from a workload: must reach no tenant.
                        marker = f"oracle-{signal}-{rname}-forged-{tenant}"
                        _post(port, signal, otlp_body(signal, marker, {attribute: tenant}, {}, seq))
                        sent[marker] = (signal, None)
                        seq += 1
            _wait_delivered(files, set(sent), process, log)
        finally:
            process.terminate()
            process.wait(timeout=30)
        failures = []
        tenant_exporters = {exporter: (signal, tenant) for signal, by_tenant in routes.items()
                            for tenant, exporters in by_tenant.items() for exporter in exporters}
        reached: dict[str, set[str]] = {t: set() for t in (tenant_a, tenant_b)}
        for exporter, file in files.items():
            for marker in markers_in(file):
                signal, allowed = sent[marker]
                if exporter not in tenant_exporters:
                    continue
                route_signal, tenant = tenant_exporters[exporter]
                ok = allowed == tenant and route_signal == signal
                oracle_record(ORACLE, "OTLP records land only in their own tenant's pipeline", ok)
                if not ok:
                    failures.append(f"{marker} reached {tenant}'s exporter {exporter}")
                elif tenant in reached:
                    reached[tenant].add(signal)
        for tenant, signals in reached.items():
            ok = signals == set(SIGNALS)
            oracle_record(ORACLE, "each tenant receives its own spans, logs and metrics", ok)
            if not ok:
                failures.append(f"tenant {tenant} received its own records only for {sorted(signals)}, not {sorted(SIGNALS)}")
        assert not failures, f"{stack}: routing failures:\n" + "\n".join(failures) + f"\n(collector log {log})"


def _wait_listening(ports: dict[str, int], process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    import socket
    deadline = time.monotonic() + timeout
    pending = set(ports.values())
    while pending and time.monotonic() < deadline:
        assert process.poll() is None, f"collector exited {process.returncode}:\n{log.read_text()[-3000:]}"
        for port in list(pending):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    pending.discard(port)
        time.sleep(0.2)
    assert not pending, f"collector not listening on {sorted(pending)} after {timeout} s:\n{log.read_text()[-3000:]}"


def _wait_delivered(files: dict[str, Path], markers: set[str], process: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
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
