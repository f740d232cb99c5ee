"""Telemetry: the OpenTelemetry operator's values, the gateway collector and per-tenant Instrumentation.

Pure functions of the spec returning plain dicts. How a signal finds its tenant:

* Workloads in tenant namespaces send OTLP to the gateway collector on 4317/4318. Whatever
  `agentplane.tenant` they claim is deleted; `k8s_attributes` sets it again from the
  platform-owned `agentplane.io/tenant` label of the namespace the connection comes from
  (pod association by connection IP only, so no resource attribute can point at another pod).
* The agent gateway sends its own telemetry on 4319/4320, which only the gateway namespace
  may reach. One gateway request belongs to one tenant, so the tenant is an attribute of
  each span, data point or log record; `groupbyattrs` lifts it to the resource.
* One routing connector per signal sends each resource to its tenant's pipeline. A missing
  or unknown tenant matches no route and goes to the platform pipeline, never to a tenant.
"""

from __future__ import annotations

from agentplane import namespaces
from agentplane.spec.platform import LABEL_AGENT, LABEL_MANAGED_BY, LABEL_TENANT, MANAGED_BY, PlatformSpec, TeamSpec
from agentplane.spec.sections.telemetry import Backend

Obj = dict

NAMESPACE = namespaces.TELEMETRY
# Object names of the operator chart, whatever the release is called: some of its templates name
# the webhook certificate's Secret after the chart `name`, others after the `fullname`; pinning
# the full name to the chart name keeps them in agreement.
OPERATOR_FULLNAME = "opentelemetry-operator"
COLLECTOR_NAME = "gateway"
# The operator names a collector's Service `<name>-collector`; its pods carry these labels.
COLLECTOR_SERVICE = f"{COLLECTOR_NAME}-collector"
COLLECTOR_POD_LABELS = {
    "app.kubernetes.io/managed-by": "opentelemetry-operator",
    "app.kubernetes.io/instance": f"{NAMESPACE}.{COLLECTOR_NAME}",
    "app.kubernetes.io/component": "opentelemetry-collector",
}
SERVICE_ACCOUNT = "gateway-collector"
K8S_ATTRIBUTES_ROLE = "agentplane-telemetry-k8s-attributes"
INSTRUMENTATION_NAME = "agentplane"

WORKLOAD_GRPC_PORT, WORKLOAD_HTTP_PORT = namespaces.TELEMETRY_PORTS
GATEWAY_GRPC_PORT, GATEWAY_HTTP_PORT = namespaces.TELEMETRY_GATEWAY_PORTS
HEALTH_PORT = 13133

# The resource attribute every signal is routed by; set only by the collector.
TENANT_ATTRIBUTE = "agentplane.tenant"
AGENT_ATTRIBUTE = "agentplane.agent"
TIER_ATTRIBUTE = "agentplane.tier"
SIGNALS = ("traces", "metrics", "logs")
# The platform pipeline's tenant ID at the default backend. Team names cannot start with
# `agentplane-` (namespaces.RESERVED_PREFIXES), so it never collides with a team's.
PLATFORM_TENANT_ID = "agentplane-platform"
HEADERS_MOUNT = "/etc/agentplane/otlp-headers"

# Zero-code instrumentation: the operator injects the SDK into pods whose namespace or pod
# carries `instrumentation.opentelemetry.io/inject-<language>`; a pod's value overrides the
# namespace's. Python is on for every pod of a tenant namespace; Node.js, Java and .NET are
# one pod annotation away. Go is not offered: its eBPF sidecar needs privileges that Pod
# Security `restricted` forbids.
INJECT_ANNOTATION = "instrumentation.opentelemetry.io/inject-{language}"
DEFAULT_LANGUAGE = "python"
SUPPORTED_LANGUAGES = ("python", "nodejs", "java", "dotnet")


def _host() -> str:
    return f"{COLLECTOR_SERVICE}.{NAMESPACE}.svc"


# Where tenant workloads send OTLP (the injected SDKs use HTTP/protobuf).
WORKLOAD_OTLP_GRPC_ENDPOINT = f"http://{_host()}:{WORKLOAD_GRPC_PORT}"
WORKLOAD_OTLP_HTTP_ENDPOINT = f"http://{_host()}:{WORKLOAD_HTTP_PORT}"
# Where the agent gateway sends its own telemetry, each record naming its tenant in TENANT_ATTRIBUTE.
GATEWAY_OTLP_GRPC_ENDPOINT = f"http://{_host()}:{GATEWAY_GRPC_PORT}"
GATEWAY_OTLP_HTTP_ENDPOINT = f"http://{_host()}:{GATEWAY_HTTP_PORT}"


def _labels(extra: dict | None = None) -> dict:
    return {LABEL_MANAGED_BY: MANAGED_BY, **(extra or {})}


# --- annotations other pieces put on tenant namespaces and pods ----------------------------


def namespace_annotations() -> dict[str, str]:
    """For the tenant Namespace: inject the Python SDK, configured by the namespace's `agentplane`
    Instrumentation (named, so an Instrumentation a team adds cannot take over)."""
    return {INJECT_ANNOTATION.format(language=DEFAULT_LANGUAGE): INSTRUMENTATION_NAME}


def opt_out_annotations() -> dict[str, str]:
    """For the pods of an agent whose team file says `instrumentation: false`."""
    return {INJECT_ANNOTATION.format(language=DEFAULT_LANGUAGE): "false"}


def opted_out_agents(team: TeamSpec) -> tuple[str, ...]:
    """Agents (= ServiceAccounts) whose pods must carry opt_out_annotations()."""
    return tuple(agent.name for agent in team.agents if not agent.instrumentation)


# --- the operator ----------------------------------------------------------------------------


def operator_values(spec: PlatformSpec, issuer_name: str) -> dict:
    image = spec.env.telemetry.collector_image
    return {
        "fullnameOverride": OPERATOR_FULLNAME,
        "manager": {
            # The operator stamps this image into every collector it runs.
            "collectorImage": {"repository": image.repository, "tag": image.tag},
        },
        "admissionWebhooks": {
            # The webhook's serving certificate comes from the platform CA; cert-manager's
            # CA injector writes the CA bundle into the webhook configurations.
            "certManager": {
                "enabled": True,
                "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer_name},
            },
            "autoGenerateCert": {"enabled": False},
        },
    }


# --- the gateway collector -------------------------------------------------------------------


def collector_rbac() -> list[Obj]:
    """What `k8s_attributes` reads: pods (by IP), their namespaces' labels, and replica sets
    (to name a pod's Deployment)."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE, "labels": _labels()},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": K8S_ATTRIBUTES_ROLE, "labels": _labels()},
            "rules": [
                {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "watch", "list"]},
                {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "watch", "list"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": K8S_ATTRIBUTES_ROLE, "labels": _labels()},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": K8S_ATTRIBUTES_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}],
        },
    ]


def collector_network_policy() -> Obj:
    """Any namespace may send to the workload ports; only the gateway namespace to the gateway
    ports, whose records name their own tenant. (Tenants' egress policies allow only the
    workload ports anyway; this holds for every other namespace too.)"""

    def ports(numbers: tuple[int, ...]) -> list[dict]:
        return [{"protocol": "TCP", "port": port} for port in numbers]

    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{COLLECTOR_SERVICE}-ingress", "namespace": NAMESPACE, "labels": _labels()},
        "spec": {
            "podSelector": {"matchLabels": dict(COLLECTOR_POD_LABELS)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"namespaceSelector": {}}], "ports": ports(namespaces.TELEMETRY_PORTS)},
                {
                    "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespaces.GATEWAY}}}],
                    "ports": ports(namespaces.TELEMETRY_GATEWAY_PORTS),
                },
            ],
        },
    }


def platform_headers_secret_name() -> str:
    return "platform-otlp-headers"


def tenant_headers_secret_name(team: TeamSpec) -> str:
    return f"tenant-{team.name}-otlp-headers"


def _secret_file_name(header: str) -> str:
    # Header names may hold characters a Secret key may not; keys are [-._a-zA-Z0-9].
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in header.lower())


def _headers_secret(name: str, values: dict[str, str], labels: dict) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": _labels(labels)},
        "type": "Opaque",
        "stringData": values,
    }


def platform_headers_secret(spec: PlatformSpec) -> Obj | None:
    """The default backend's credential headers, file per header; None when it has none."""
    backend = spec.env.telemetry.default_backend
    if backend is None or not backend.headers:
        return None
    values = {
        _secret_file_name(header): secret.deploy_value for header, secret in sorted(backend.headers.items())
    }
    return _headers_secret(platform_headers_secret_name(), values, {})


def tenant_headers_secret(team: TeamSpec, spec: PlatformSpec) -> Obj | None:
    """A team's credential headers for its own backend, from its secret stack config; None without any."""
    if team.telemetry is None or not team.telemetry.headers:
        return None
    available = spec.env.telemetry.tenant_headers.get(team.name, {})
    values = {}
    for header, key in sorted(team.telemetry.headers.items()):
        secret = available[key]  # presence checked when the config was loaded
        values[_secret_file_name(header)] = secret.deploy_value
    return _headers_secret(tenant_headers_secret_name(team), values, {LABEL_TENANT: team.name})


def _header_reference(secret_name: str, header: str) -> str:
    # Expanded by the collector's `file` config provider at start-up: the value never sits in the CR.
    return f"${{file:{HEADERS_MOUNT}/{secret_name}/{_secret_file_name(header)}}}"


def _otlp_exporter(protocol: str, endpoint: str, headers: dict[str, str]) -> tuple[str, dict]:
    """(component type, settings) of an OTLP exporter to `endpoint`."""
    settings: dict = {"endpoint": endpoint}
    if protocol == "grpc" and endpoint.startswith("http://"):
        settings["tls"] = {"insecure": True}  # explicit: an http:// gRPC endpoint is plaintext
    if headers:
        settings["headers"] = headers
    return ("otlp_grpc" if protocol == "grpc" else "otlp_http"), settings


def _default_backend_exporter(backend: Backend | None, tenant_id: str) -> tuple[str, dict]:
    if backend is None:
        # Nothing configured: count what arrives, export nothing (no payloads in the log).
        return "debug", {"verbosity": "basic"}
    headers = {header: _header_reference(platform_headers_secret_name(), header) for header in sorted(backend.headers)}
    if backend.tenant_header is not None:
        headers[backend.tenant_header] = tenant_id
    return _otlp_exporter(backend.protocol, backend.endpoint, headers)


def _tenant_exporter(team: TeamSpec, spec: PlatformSpec) -> tuple[str, dict]:
    own = team.telemetry
    if own is None:
        return _default_backend_exporter(spec.env.telemetry.default_backend, team.name)
    headers = {header: _header_reference(tenant_headers_secret_name(team), header) for header in sorted(own.headers)}
    return _otlp_exporter(own.protocol, own.endpoint, headers)


def tenant_pipeline(signal: str, team: str) -> str:
    return f"{signal}/tenant-{team}"


def platform_pipeline(signal: str) -> str:
    return f"{signal}/platform"


def tenant_exporter_id(kind: str, team: str) -> str:
    return f"{kind}/tenant-{team}"


def routing_condition(team: str) -> str:
    # Team names are DNS labels: nothing in them needs quoting in OTTL.
    return f'attributes["{TENANT_ATTRIBUTE}"] == "{team}"'


def collector_config(spec: PlatformSpec) -> dict:
    """The gateway collector's configuration, as data (the operator renders it to YAML)."""
    receivers = {
        "otlp": {
            "protocols": {
                "grpc": {"endpoint": f"0.0.0.0:{WORKLOAD_GRPC_PORT}"},
                "http": {"endpoint": f"0.0.0.0:{WORKLOAD_HTTP_PORT}"},
            }
        },
        "otlp/gateway": {
            "protocols": {
                "grpc": {"endpoint": f"0.0.0.0:{GATEWAY_GRPC_PORT}"},
                "http": {"endpoint": f"0.0.0.0:{GATEWAY_HTTP_PORT}"},
            }
        },
    }
    processors = {
        # First, so a burst is refused before anything else holds it in memory.
        "memory_limiter": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20},
        # Whatever tenant a sender claims for itself is dropped; the collector sets it.
        "resource/strip-tenant": {"attributes": [{"key": TENANT_ATTRIBUTE, "action": "delete"}]},
        "k8s_attributes": {
            "auth_type": "serviceAccount",
            "passthrough": False,
            # Only the connection's source IP identifies the pod: resource attributes are the
            # sender's word, and would let one tenant's pod claim another tenant's pod.
            "pod_association": [{"sources": [{"from": "connection"}]}],
            "extract": {
                "metadata": ["k8s.namespace.name", "k8s.pod.name", "k8s.pod.uid", "k8s.deployment.name"],
                "labels": [
                    {"tag_name": TENANT_ATTRIBUTE, "key": LABEL_TENANT, "from": "namespace"},
                    {"tag_name": AGENT_ATTRIBUTE, "key": LABEL_AGENT, "from": "pod"},
                ],
            },
        },
        # The gateway serves every tenant: each record carries its tenant; make it the resource's.
        "groupbyattrs/tenant": {"keys": [TENANT_ATTRIBUTE]},
        "batch": {},
    }
    workload_processors = ["memory_limiter", "resource/strip-tenant", "k8s_attributes", "batch"]
    gateway_processors = ["memory_limiter", "resource/strip-tenant", "groupbyattrs/tenant", "batch"]

    exporters: dict[str, dict] = {}
    platform_kind, platform_settings = _default_backend_exporter(spec.env.telemetry.default_backend, PLATFORM_TENANT_ID)
    platform_exporter = f"{platform_kind}/platform"
    exporters[platform_exporter] = platform_settings
    tenant_exporters: dict[str, str] = {}
    for team in spec.teams:
        kind, settings = _tenant_exporter(team, spec)
        tenant_exporters[team.name] = tenant_exporter_id(kind, team.name)
        exporters[tenant_exporters[team.name]] = settings

    connectors: dict[str, dict] = {}
    pipelines: dict[str, dict] = {}
    for signal in SIGNALS:
        if spec.teams:
            router = f"routing/{signal}"
            connectors[router] = {
                # Unmatched (no or unknown tenant) and unevaluable records: the platform pipeline.
                "default_pipelines": [platform_pipeline(signal)],
                "error_mode": "ignore",
                "table": [
                    {"context": "resource", "condition": routing_condition(team.name), "pipelines": [tenant_pipeline(signal, team.name)]}
                    for team in spec.teams
                ],
            }
            inbound_exporters = [router]
        else:
            router = None
            inbound_exporters = [platform_exporter]  # a routing table may not be empty
        pipelines[f"{signal}/workloads"] = {"receivers": ["otlp"], "processors": workload_processors, "exporters": inbound_exporters}
        pipelines[f"{signal}/gateway"] = {"receivers": ["otlp/gateway"], "processors": gateway_processors, "exporters": inbound_exporters}
        if router is not None:
            pipelines[platform_pipeline(signal)] = {"receivers": [router], "exporters": [platform_exporter]}
            for team in spec.teams:
                pipelines[tenant_pipeline(signal, team.name)] = {"receivers": [router], "exporters": [tenant_exporters[team.name]]}

    config = {
        "extensions": {"health_check": {"endpoint": f"0.0.0.0:{HEALTH_PORT}"}},
        "receivers": receivers,
        "processors": processors,
        "exporters": exporters,
        "service": {"extensions": ["health_check"], "pipelines": pipelines},
    }
    if connectors:
        config["connectors"] = connectors
    return config


def _header_secrets(spec: PlatformSpec) -> list[str]:
    names = []
    backend = spec.env.telemetry.default_backend
    if backend is not None and backend.headers:
        names.append(platform_headers_secret_name())
    names += [tenant_headers_secret_name(t) for t in spec.teams if t.telemetry is not None and t.telemetry.headers]
    return names


def collector_pod_selector() -> dict[str, str]:
    """The labels the operator selects the collector's pods by
    (open-telemetry/opentelemetry-operator@v0.158.0:internal/manifests/manifestutils/labels.go SelectorLabels)."""
    return {
        "app.kubernetes.io/managed-by": "opentelemetry-operator",
        "app.kubernetes.io/instance": f"{NAMESPACE}.{COLLECTOR_NAME}",
        "app.kubernetes.io/part-of": "opentelemetry",
        "app.kubernetes.io/component": "opentelemetry-collector",
    }


def collector(spec: PlatformSpec) -> Obj:
    settings = spec.env.telemetry.collector
    resources = settings.resources
    secrets = _header_secrets(spec)
    body: dict = {
        "mode": "deployment",
        "replicas": settings.replicas,
        "serviceAccount": SERVICE_ACCOUNT,
        "resources": {
            "requests": {"cpu": resources.requests.cpu, "memory": resources.requests.memory},
            "limits": {"cpu": resources.limits.cpu, "memory": resources.limits.memory},
        },
        # Pod Security `restricted`; the contrib image runs as a non-root numeric user.
        "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
        "config": collector_config(spec),
        # The operator makes the PDB, selecting by collector_pod_selector() (resilience: at most
        # one replica evicted at a time); replicas prefer different nodes.
        "podDisruptionBudget": {"maxUnavailable": 1},
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": collector_pod_selector()}, "topologyKey": "kubernetes.io/hostname"}}
                ]
            }
        },
    }
    if secrets:
        body["volumes"] = [{"name": name, "secret": {"secretName": name}} for name in secrets]
        body["volumeMounts"] = [{"name": name, "mountPath": f"{HEADERS_MOUNT}/{name}", "readOnly": True} for name in secrets]
    return {
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": COLLECTOR_NAME, "namespace": NAMESPACE, "labels": _labels()},
        "spec": body,
    }


# --- per tenant ------------------------------------------------------------------------------


def instrumentation(team: TeamSpec, spec: PlatformSpec) -> Obj:
    """How the operator configures the SDK it injects into the team's pods."""
    sampler = spec.env.telemetry.sampler
    sampler_spec = {"type": sampler.type}
    if sampler.argument is not None:
        sampler_spec["argument"] = sampler.argument
    return {
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "Instrumentation",
        "metadata": {"name": INSTRUMENTATION_NAME, "namespace": team.namespace, "labels": _labels({LABEL_TENANT: team.name})},
        "spec": {
            "exporter": {"endpoint": WORKLOAD_OTLP_HTTP_ENDPOINT},
            "propagators": ["tracecontext", "baggage"],
            "sampler": sampler_spec,
            "resource": {
                "addK8sUIDAttributes": True,
                # Informational: the collector replaces the tenant with the namespace's own label.
                "resourceAttributes": {TENANT_ATTRIBUTE: team.name, TIER_ATTRIBUTE: team.tier.name},
            },
            # service.name/version from the pod's app.kubernetes.io/name and /version labels.
            "defaults": {"useLabelsForResourceAttributes": True},
            # Every injected SDK speaks OTLP over HTTP to the workload port.
            "env": [{"name": "OTEL_EXPORTER_OTLP_PROTOCOL", "value": "http/protobuf"}],
            # The injected init containers copy the SDK into a shared volume; they must pass
            # Pod Security `restricted` whatever the app container's own context is.
            "initContainerSecurityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        },
    }
